# Static binary on distroless, run as non-root.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /sluice ./cmd/sluice

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /sluice /sluice
COPY examples/sluice.hcl /etc/sluice/sluice.hcl
USER nonroot:nonroot
EXPOSE 9464
ENTRYPOINT ["/sluice"]
CMD ["run", "-config", "/etc/sluice/sluice.hcl"]
