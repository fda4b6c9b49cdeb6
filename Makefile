.PHONY: build test race fuzz bench vmcompare peers ci proto run-dev

build:
	go build -o bin/sluice ./cmd/sluice

test:
	go test ./...

race:
	go test -race -skip "^(TestCrash|TestFleetChaos|TestFiveKills|TestPartitionMove|TestStaticMembership|TestSIGTERMDuringStart|TestKfake)" ./...

bench:
	go test -run '^$$' -bench . -benchmem ./parse/... ./messages/... ./encode/...

# Sluice's decoders and VictoriaMetrics' parsers on the same bytes (see docs/performance.md).
vmcompare:
	cd bench/vmcompare && go test -run '^$$' -bench . -benchmem -count 10 -benchtime 0.5s | tee /tmp/vmcompare.txt
	benchstat -col /impl -filter '.unit:sec/line' /tmp/vmcompare.txt

# Sluice, Telegraf and vmagent side by side on one input (see docs/performance.md). Builds the
# peers once per machine; needs victoria-metrics on PATH. PEERS_FLAGS: e.g. -rounds 5 -lines 300000.
PEERS_FLAGS ?= -rounds 3
peers: build
	. bench/peers/tools.sh && cd bench/peers && go run . -sluice ../../bin/sluice $(PEERS_FLAGS)

ci:
	bash .ci/run

run-dev:
	go run ./cmd/sluice run -dev -dev-rate 100000

# Regenerates proto/prompb from proto/remote.proto (needs protoc and protoc-gen-go).
proto:
	protoc --go_out=. --go_opt=module=github.com/sluicehq/sluice proto/remote.proto

# Nightly-style fuzzing: every fuzz target for FUZZTIME (5 minutes by default). A crasher lands in
# the package's testdata/fuzz/<Target>/ directory: commit it as a regression case.
FUZZTIME ?= 5m
fuzz:
	@for f in $$(grep -rl --include='*_test.go' '^func Fuzz' actors messages parse glob encode placement config cmd integration); do \
	  dir=$$(dirname $$f); \
	  for fn in $$(grep -h '^func Fuzz' $$f | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
	    echo "fuzz ./$$dir $$fn for $(FUZZTIME)"; \
	    go test ./$$dir -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) || exit 1; \
	  done; \
	done
