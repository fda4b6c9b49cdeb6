package main

import (
	"flag"
	"os"
	"strings"
	"testing"
	"time"
)

var updateREADME = flag.Bool("update-readme", false, "rewrite the README's command list from the command table")

const (
	commandsBegin = "<!-- commands: generated from cmd/sluice/commands.go; go test ./cmd/sluice -run TestREADMECommandList -update-readme -->\n"
	commandsEnd   = "<!-- /commands -->"
)

// TestREADMECommandList: the README's command list is the command table's, so a command added,
// renamed or described differently cannot leave the README behind.
func TestREADMECommandList(t *testing.T) {
	const path = "../../README.md"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	i, j := strings.Index(readme, commandsBegin), strings.Index(readme, commandsEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md has no command list between %q and %q", strings.TrimSpace(commandsBegin), commandsEnd)
	}
	got, want := readme[i+len(commandsBegin):j], markdownCommands()
	if got == want {
		return
	}
	if *updateREADME {
		if err := os.WriteFile(path, []byte(readme[:i+len(commandsBegin)]+want+readme[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("README.md's command list differs from the command table; run with -update-readme.\nREADME:\n%s\ntable:\n%s", got, want)
}

// TestHelpExitsZero: every command's -h, `sluice help COMMAND` and `sluice -h` print the command's
// heading and exit 0; an unknown command or flag exits 1.
func TestHelpExitsZero(t *testing.T) {
	for _, c := range commands {
		code, out, errs := run(c.name, "-h")
		if code != 0 {
			t.Errorf("sluice %s -h: exit %d\n%s%s", c.name, code, out, errs)
		}
		if c.name != "help" && !strings.Contains(out+errs, "usage: sluice "+c.name) {
			t.Errorf("sluice %s -h does not start with its usage line:\n%s%s", c.name, out, errs)
		}
		if c.name == "help" {
			continue
		}
		code, out, errs = run("help", c.name)
		if code != 0 || !strings.Contains(out, "usage: sluice "+c.name) {
			t.Errorf("sluice help %s: exit %d\n%s%s", c.name, code, out, errs)
		}
	}
	if code, out, _ := run("-h"); code != 0 || !strings.Contains(out, "version") {
		t.Errorf("sluice -h: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{{"help", "bogus"}, {"validate", "-bogus"}, {"tail", "-bogus"}} {
		if code, _, _ := run(args...); code != 1 {
			t.Errorf("%v: exit %d, want 1", args, code)
		}
	}
	if code, out, _ := run("version"); code != 0 || !strings.HasPrefix(out, "sluice ") {
		t.Errorf("sluice version: exit %d, %q", code, out)
	}
}

// TestRedriveReasonCheckedFirst: a reason Sluice never dead-letters for is refused with the list of
// reasons before any connection is tried (here to a port nobody listens on), not after.
func TestRedriveReasonCheckedFirst(t *testing.T) {
	start := time.Now()
	code, _, errs := run("redrive", "-brokers", "127.0.0.1:1", "-from", "dead", "-reason", "bogus")
	if code != 1 || !strings.Contains(errs, `-reason "bogus" is not a reason`) || !strings.Contains(errs, "unparseable") {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if strings.Contains(errs, "cannot reach Kafka") || time.Since(start) > 2*time.Second {
		t.Fatalf("redrive tried Kafka before checking -reason (%s): %s", time.Since(start), errs)
	}
}
