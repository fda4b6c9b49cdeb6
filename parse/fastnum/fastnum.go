// Package fastnum parses numbers from byte slices without allocating.
package fastnum

import (
	"errors"
	"strconv"
	"unsafe"
)

var errSyntax = errors.New("invalid number")

// ParseInt64 parses an optionally signed decimal integer.
func ParseInt64(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, errSyntax
	}
	neg := false
	i := 0
	switch b[0] {
	case '-':
		neg, i = true, 1
	case '+':
		i = 1
	}
	if i == len(b) || len(b)-i > 19 {
		return 0, errSyntax
	}
	var n uint64
	for ; i < len(b); i++ {
		c := b[i] - '0'
		if c > 9 {
			return 0, errSyntax
		}
		n = n*10 + uint64(c)
	}
	// 19 digits fit in a uint64; beyond int64's range is an error.
	if n > 1<<63-1 && !(neg && n == 1<<63) {
		return 0, errSyntax
	}
	if neg {
		return -int64(n), nil
	}
	return int64(n), nil
}

// float64pow10 holds the powers of ten that float64 represents exactly.
var float64pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// ParseFloat64 parses a float the way strconv.ParseFloat does (including NaN, ±Inf and
// exponents), with a fast path for plain decimals: a mantissa below 2^53 and at most 22 fraction
// digits is exact after one division (Clinger's fast path), so the result is correctly rounded.
func ParseFloat64(b []byte) (float64, error) {
	if len(b) == 0 {
		return 0, errSyntax
	}
	i := 0
	neg := false
	switch b[0] {
	case '-':
		neg, i = true, 1
	case '+':
		i = 1
	}
	var m uint64
	digits, frac := 0, 0
	seenDot, anyDigit := false, false
	for ; i < len(b); i++ {
		c := b[i]
		if c == '.' {
			if seenDot {
				return 0, errSyntax
			}
			seenDot = true
			continue
		}
		if c-'0' > 9 {
			return slow(b)
		}
		anyDigit = true
		if digits == 0 && c == '0' && !seenDot {
			continue // leading zeros
		}
		digits++
		if digits > 15 {
			return slow(b)
		}
		m = m*10 + uint64(c-'0')
		if seenDot {
			frac++
		}
	}
	if !anyDigit {
		return 0, errSyntax // "-", "+", "." and the like
	}
	f := float64(m)
	if frac > 0 {
		f /= float64pow10[frac]
	}
	if neg {
		f = -f
	}
	return f, nil
}

func slow(b []byte) (float64, error) {
	// strconv does not retain its argument (errors clone it), so a zero-copy view is safe.
	f, err := strconv.ParseFloat(unsafe.String(&b[0], len(b)), 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return f, nil // ±Inf or 0 like strconv; validation decides about infinities
		}
		return 0, errSyntax
	}
	return f, nil
}

// LeadingDigits reads the run of decimal digits at the start of b. It returns their value and
// how many there were, or ok false once the value exceeds limit.
func LeadingDigits(b []byte, limit int64) (n int64, digits int, ok bool) {
	for ; digits < len(b); digits++ {
		d := b[digits] - '0'
		if d > 9 {
			break
		}
		if n = n*10 + int64(d); n > limit {
			return 0, digits, false
		}
	}
	return n, digits, true
}

// FractionMillis returns the milliseconds in the digits after a seconds value's '.': the first
// three digits count, further ones must be digits and are cut off. An empty fraction or one with
// a non-digit is refused.
func FractionMillis(frac []byte) (int64, bool) {
	if len(frac) == 0 {
		return 0, false
	}
	var f int64
	for k, c := range frac {
		d := c - '0'
		if d > 9 {
			return 0, false
		}
		if k < 3 {
			f = f*10 + int64(d)
		}
	}
	for k := len(frac); k < 3; k++ {
		f *= 10
	}
	return f, true
}
