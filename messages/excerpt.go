package messages

import (
	"strconv"
	"unicode/utf8"
)

// Excerpt is what logs and tools show of some input: at most n bytes of b, every byte that is not
// printable UTF-8 (control characters, invalid sequences) escaped as in a Go string literal, and
// "…" when b was longer. Binary junk never reaches a terminal raw.
func Excerpt(b []byte, n int) string {
	cut := len(b) > n
	if cut {
		b = b[:n]
	}
	out := make([]byte, 0, len(b)+8)
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && size == 1:
			out = append(out, `\x`...)
			out = append(out, "0123456789abcdef"[b[0]>>4], "0123456789abcdef"[b[0]&15])
		case r == '\\':
			out = append(out, `\\`...)
		case strconv.IsPrint(r) || r == ' ':
			out = append(out, b[:size]...)
		default:
			q := strconv.QuoteRuneToASCII(r) // 'x' with the escape inside
			out = append(out, q[1:len(q)-1]...)
		}
		b = b[size:]
	}
	if cut {
		out = append(out, "…"...)
	}
	return string(out)
}
