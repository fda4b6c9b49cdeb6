package messages

import "testing"

func TestExcerpt(t *testing.T) {
	f := func(in string, n int, want string) {
		t.Helper()
		if got := Excerpt([]byte(in), n); got != want {
			t.Errorf("Excerpt(%q, %d) = %q, want %q", in, n, got, want)
		}
	}
	f("put sys.cpu 1 2 host=a", 100, "put sys.cpu 1 2 host=a")
	f("abcdef", 3, "abc…")
	f("a\x00b\x1b[31m\n", 100, `a\x00b\x1b[31m\n`)
	f("\xff\xfe ok", 100, `\xff\xfe ok`)
	f(`back\slash`, 100, `back\\slash`)
	f("héllo wörld", 100, "héllo wörld")
	f("é", 1, `\xc3…`) // a cut inside a rune shows the byte it kept
}
