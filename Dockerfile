# Static binary on distroless, run as non-root. Checked by integration/dockerfile (BuildKit's parser).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /sluice ./cmd/sluice

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /sluice /sluice
COPY examples/ecs/sluice.hcl /etc/sluice/sluice.hcl
# Metrics and probes on every interface inside the container (examples/ecs/sluice.hcl reads this).
ENV SLUICE_HTTP_ADDRESS=0.0.0.0:9464
USER 65532:65532
EXPOSE 9464
# The image has no shell: the health check is the binary itself probing /healthz.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 CMD ["/sluice", "health"]
ENTRYPOINT ["/sluice"]
CMD ["run", "-config", "/etc/sluice/sluice.hcl"]
