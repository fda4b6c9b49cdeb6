package fastnum

import (
	"math"
	"strconv"
	"testing"
)

func TestParseFloat64MatchesStrconv(t *testing.T) {
	f := func(s string) {
		t.Helper()
		got, err := ParseFloat64([]byte(s))
		want, werr := strconv.ParseFloat(s, 64)
		if werr != nil {
			if ne, ok := werr.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
				werr = nil
			}
		}
		if (err != nil) != (werr != nil) {
			t.Fatalf("%q: err=%v, strconv err=%v", s, err, werr)
		}
		if err == nil && !(got == want || math.IsNaN(got) && math.IsNaN(want)) {
			t.Fatalf("%q: got %v, strconv %v", s, got, want)
		}
	}
	for _, s := range []string{"0", "1", "-1", "+1", "1.5", "-0.25", "123456789012345",
		"1234567890123456789", "0.1", "0.000001", "00012.50", "1e3", "1.5E-7", "NaN", "+Inf",
		"-Inf", "inf", "1e400", ".5", "5.", "-.5", "", "-", "+", ".", "1..2", "abc", "1x",
		"12.34.5", "0x1p-2", "3.14159265358979"} {
		f(s)
	}
}

func TestParseInt64(t *testing.T) {
	f := func(s string, want int64, ok bool) {
		t.Helper()
		got, err := ParseInt64([]byte(s))
		if (err == nil) != ok || (ok && got != want) {
			t.Fatalf("%q: got %d, %v; want %d ok=%v", s, got, err, want, ok)
		}
	}
	f("0", 0, true)
	f("1700000000", 1700000000, true)
	f("-42", -42, true)
	f("+7", 7, true)
	f("", 0, false)
	f("-", 0, false)
	f("12a", 0, false)
	f("1.5", 0, false)
	f("1700000000000000000", 1700000000000000000, true) // nanoseconds
	f("9223372036854775807", 9223372036854775807, true)
	f("-9223372036854775808", -9223372036854775808, true)
	f("9223372036854775808", 0, false)
	f("9999999999999999999", 0, false)
	f("12345678901234567890", 0, false)
}

func FuzzParseFloat64(f *testing.F) {
	for _, s := range []string{"1", "1.5", "-0.0", "1e10", "NaN", "123456789.123456"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseFloat64([]byte(s))
		if err != nil {
			return
		}
		want, werr := strconv.ParseFloat(s, 64)
		if werr != nil {
			if ne, ok := werr.(*strconv.NumError); !ok || ne.Err != strconv.ErrRange {
				t.Fatalf("%q accepted (%v) but strconv rejects it: %v", s, got, werr)
			}
		}
		if !(got == want || math.IsNaN(got) && math.IsNaN(want)) {
			t.Fatalf("%q: got %v, strconv %v", s, got, want)
		}
	})
}

func TestLeadingDigits(t *testing.T) {
	f := func(s string, limit, wantN int64, wantDigits int, wantOK bool) {
		t.Helper()
		n, d, ok := LeadingDigits([]byte(s), limit)
		if ok != wantOK || (ok && (n != wantN || d != wantDigits)) {
			t.Errorf("LeadingDigits(%q, %d) = %d, %d, %v; want %d, %d, %v", s, limit, n, d, ok, wantN, wantDigits, wantOK)
		}
	}
	f("", 100, 0, 0, true)
	f("x12", 100, 0, 0, true)
	f("42", 100, 42, 2, true)
	f("42.5", 100, 42, 2, true)
	f("0007x", 100, 7, 4, true)
	f("100", 100, 100, 3, true)
	f("101", 100, 0, 0, false)
	f("99999999999999999999999", 1<<40, 0, 0, false) // stops before an overflow
}

func TestFractionMillis(t *testing.T) {
	f := func(s string, want int64, wantOK bool) {
		t.Helper()
		if got, ok := FractionMillis([]byte(s)); ok != wantOK || (ok && got != want) {
			t.Errorf("FractionMillis(%q) = %d, %v; want %d, %v", s, got, ok, want, wantOK)
		}
	}
	f("5", 500, true)
	f("05", 50, true)
	f("123", 123, true)
	f("1239", 123, true) // cut, not rounded
	f("", 0, false)
	f("1x", 0, false)
	f("123x", 0, false) // digits past the third are still checked
}
