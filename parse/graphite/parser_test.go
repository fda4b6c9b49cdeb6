package graphite

import (
	"strings"
	"testing"

	"github.com/sluicehq/sluice/messages"
	"github.com/sluicehq/sluice/parse/benchlines"
	"github.com/sluicehq/sluice/parse/internal/parsertest"
)

const recTs = int64(1_700_000_999_000)

var (
	dp  = parsertest.DP
	bad = parsertest.Bad
)

func parse(dst *messages.Rows, s []byte) { Parse(dst, s, recTs) }

func TestParse(t *testing.T) {
	var rows messages.Rows
	f := func(s string, wantPoints []messages.Datapoint, wantBad []messages.BadLine) {
		t.Helper()
		parsertest.Check(t, &rows, parse, s, wantPoints, wantBad)
	}
	f("", nil, nil)
	f("\n \r\n", nil, nil)
	f("servers.web01.cpu.user 42.5 1700000000", []messages.Datapoint{dp("servers.web01.cpu.user", 1700000000000, 42.5)}, nil)
	// Missing timestamp or -1: the record's timestamp.
	f("a.b 1", []messages.Datapoint{dp("a.b", recTs, 1)}, nil)
	f("a.b 1 -1", []messages.Datapoint{dp("a.b", recTs, 1)}, nil)
	// Fractional seconds, tabs, several spaces, CRLF, several lines.
	f("a.b\t2   1700000000.25\r\nc.d 3 1700000001\n", []messages.Datapoint{dp("a.b", 1700000000250, 2), dp("c.d", 1700000001000, 3)}, nil)
	// Tagged.
	f("disk.used;host=web01;dc=us-east-1 7 1700000000",
		[]messages.Datapoint{dp("disk.used", 1700000000000, 7, "host", "web01", "dc", "us-east-1")}, nil)
	f("disk.used;k=a=b 7 1700000000", []messages.Datapoint{dp("disk.used", 1700000000000, 7, "k", "a=b")}, nil)
	f("n -1.5e3", []messages.Datapoint{dp("n", recTs, -1500)}, nil)
	// Bad lines never stop the rest.
	f("a.b\nc.d 1 1700000000", []messages.Datapoint{dp("c.d", 1700000000000, 1)}, []messages.BadLine{bad("a.b", "missing value")})
	f("a.b x 1700000000", nil, []messages.BadLine{bad("a.b x 1700000000", "invalid value")})
	f("a.b 1 17x", nil, []messages.BadLine{bad("a.b 1 17x", "invalid timestamp")})
	f("a.b 1 -5", nil, []messages.BadLine{bad("a.b 1 -5", "invalid timestamp")})
	f("a.b 1 1700000000 extra", nil, []messages.BadLine{bad("a.b 1 1700000000 extra", "unexpected field after the timestamp")})
	f("a.b;novalue 1", nil, []messages.BadLine{bad("a.b;novalue 1", "invalid tag: want key=value")})
	f("a.b;k= 1", nil, []messages.BadLine{bad("a.b;k= 1", "invalid tag: want key=value")})
	f(";k=v 1", nil, []messages.BadLine{bad(";k=v 1", "missing metric path")})
	f("a;=v 1", nil, []messages.BadLine{bad("a;=v 1", "invalid tag: want key=value")})
	f("a;k=v;;x=y 1", nil, []messages.BadLine{bad("a;k=v;;x=y 1", "invalid tag: want key=value")})
	// One trailing ';' (with or without tags before it) is tolerated.
	f("a; 1\nb;k=v; 2", []messages.Datapoint{dp("a", recTs, 1), dp("b", recTs, 2, "k", "v")}, nil)
	// Fractions are cut to milliseconds; anything but digits and one '.' is refused.
	f("a 1 1700000000.1239", []messages.Datapoint{dp("a", 1700000000123, 1)}, nil)
	for _, ts := range []string{"1700000000.", ".5", "1700000000.5x", "+1700000000", "1e9", "99999999999999"} {
		f("a 1 "+ts, nil, []messages.BadLine{bad("a 1 "+ts, "invalid timestamp")})
	}
	// A bad tagged line leaves no tags behind for the next row.
	f("a;k=v;bad 1\nb;x=y 2", []messages.Datapoint{dp("b", recTs, 2, "x", "y")}, []messages.BadLine{bad("a;k=v;bad 1", "invalid tag: want key=value")})
}

func TestParseAllocatesNothing(t *testing.T) {
	parsertest.NoAllocs(t, parse, benchlines.Graphite(1000, false), 1000)
	parsertest.NoAllocs(t, parse, benchlines.Graphite(1000, true), 1000)
}

func FuzzParse(f *testing.F) {
	f.Add("servers.web01.cpu.user 42.5 1700000000\n")
	f.Add("disk.used;host=web01;dc=us-east-1 7 1700000000.5\r\na.b 1 -1\n")
	f.Add("a;k=v;bad 1\n\t x 2")
	f.Fuzz(func(t *testing.T, s string) {
		var rows messages.Rows
		Parse(&rows, []byte(s), recTs)
		for _, p := range rows.Points {
			if len(p.Metric) == 0 {
				t.Fatalf("empty metric from %q", s)
			}
			for _, tg := range p.Tags {
				if len(tg.Key) == 0 || len(tg.Value) == 0 {
					t.Fatalf("empty tag from %q", s)
				}
			}
		}
	})
}

// FuzzAddTags checks the one-pass tag scanner against the obvious split-based reading.
func FuzzAddTags(f *testing.F) {
	f.Add("host=web01;dc=us-east-1;env=prod")
	f.Add("k=a=b;x=;;=y;")
	f.Add("aaaaaaa=bbbbbbbb;cccccccc=d;")
	f.Fuzz(func(t *testing.T, s string) {
		var rows messages.Rows
		ok := addTags(&rows, []byte(s))
		got := rows.TagsSince(0)

		var want []messages.Tag
		wantOK := true
		if rest := strings.TrimSuffix(s, ";"); rest != "" {
			for _, seg := range strings.Split(rest, ";") {
				k, v, found := strings.Cut(seg, "=")
				if !found || k == "" || v == "" {
					wantOK = false
					break
				}
				want = append(want, messages.Tag{Key: []byte(k), Value: []byte(v)})
			}
		}
		if ok != wantOK {
			t.Fatalf("addTags(%q) ok = %v, want %v", s, ok, wantOK)
		}
		if !ok {
			return
		}
		if len(got) != len(want) {
			t.Fatalf("addTags(%q) = %d tags, want %d", s, len(got), len(want))
		}
		for i := range want {
			if string(got[i].Key) != string(want[i].Key) || string(got[i].Value) != string(want[i].Value) {
				t.Fatalf("addTags(%q) tag %d = %s=%s, want %s=%s", s, i, got[i].Key, got[i].Value, want[i].Key, want[i].Value)
			}
		}
	})
}
