.PHONY: build test race fuzz bench ci proto run-dev

build:
	go build -o bin/sluice ./cmd/sluice

test:
	go test ./...

race:
	go test -race ./actors/... ./messages/...

bench:
	go test -run '^$$' -bench . -benchmem ./messages/...

ci:
	bash .ci/run

run-dev:
	go run ./cmd/sluice run -dev -dev-rate 100000

# Regenerates proto/prompb from proto/remote.proto (needs protoc and protoc-gen-go).
proto:
	protoc --go_out=. --go_opt=module=github.com/sluicehq/sluice proto/remote.proto
