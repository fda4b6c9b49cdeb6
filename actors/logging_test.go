package actors

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestSlogHandlerBridgesToHclog(t *testing.T) {
	var buf bytes.Buffer
	hl := hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Info, Output: &buf, JSONFormat: true})
	l := slog.New(newSlogHandler(hl)).With("system", "abc").WithGroup("actor")
	l.Debug("hidden below the level")
	l.Info("started", "id", 7)
	l.Error("failed", slog.String("reason", "boom"))
	out := buf.String()
	if strings.Contains(out, "hidden") {
		t.Fatalf("debug record passed an info logger: %s", out)
	}
	for _, want := range []string{`"@message":"started"`, `"actor.id":7`, `"system":"abc"`,
		`"@level":"error"`, `"actor.reason":"boom"`} {
		if !strings.Contains(out, want) {
			t.Fatalf("bridged output lacks %s:\n%s", want, out)
		}
	}
	if !newSlogHandler(hl).Enabled(context.Background(), slog.LevelWarn) || newSlogHandler(hl).Enabled(context.Background(), slog.LevelDebug) {
		t.Fatal("Enabled does not follow the hclog level")
	}
}
