package glob

import "testing"

func TestMatch(t *testing.T) {
	f := func(globs []string, name string, want bool) {
		t.Helper()
		m, err := Compile(globs)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Match([]byte(name)); got != want {
			t.Fatalf("%v ~ %q: got %v, want %v", globs, name, got, want)
		}
	}
	f(nil, "anything", false)
	f([]string{"sys.cpu.user"}, "sys.cpu.user", true)
	f([]string{"sys.cpu.user"}, "sys.cpu.user2", false)
	f([]string{"sys.*.user"}, "sys.cpu.user", true)
	f([]string{"sys.*.user"}, "sys.cpu.mem.user", false) // * is one segment
	f([]string{"sys.*.user"}, "sys.user", false)
	f([]string{"sys.*"}, "sys.cpu", true)
	f([]string{"sys.*"}, "sys.cpu.user", false)
	f([]string{"sys.**"}, "sys.cpu.user", true)
	f([]string{"sys.**"}, "sys", true) // ** may match no segment
	f([]string{"sys.**"}, "system.cpu", false)
	f([]string{"**.p99"}, "app.req.latency.p99", true)
	f([]string{"**.p99"}, "p99", true)
	f([]string{"**.p99"}, "app.p999", false)
	f([]string{"app.**.p99"}, "app.p99", true)
	f([]string{"app.**.p99"}, "app.a.b.c.p99", true)
	f([]string{"app.**.p99"}, "app.a.b.c.p98", false)
	f([]string{"**"}, "x.y", true)
	f([]string{"cpu*"}, "cpu0", true)
	f([]string{"cpu*"}, "cpu", true)
	f([]string{"cpu*"}, "cp", false)
	f([]string{"*cpu*.idle"}, "sys_cpu_total.idle", true)
	f([]string{"a*b*c"}, "aXbYc", true)
	f([]string{"a*b*c"}, "aXcYb", false)
	f([]string{"a*b*c"}, "abc", true)
	f([]string{"a.b"}, "a.b.", false)
	f([]string{"a.*"}, "a.", true) // a trailing dot is an empty last segment, which * matches
	f([]string{"x", "test.**"}, "test.y", true)
}

func TestCompileErrors(t *testing.T) {
	for _, g := range []string{"", "a..b", "a.b**", ".a"} {
		if _, err := Compile([]string{g}); err == nil {
			t.Fatalf("%q: want an error", g)
		}
	}
}

func TestMatchAllocatesNothing(t *testing.T) {
	m, _ := Compile([]string{"test.**", "sys.*.idle", "exact.name", "**.debug"})
	names := [][]byte{[]byte("sys.cpu.idle"), []byte("exact.name"), []byte("app.requests.count"), []byte("a.b.c.debug")}
	if n := testing.AllocsPerRun(100, func() {
		for _, nm := range names {
			m.Match(nm)
		}
	}); n != 0 {
		t.Fatalf("Match allocates %.1f times", n)
	}
}
