package otlp

// Metric names: the prometheus translation's unit and type suffixes.

import "github.com/sluicehq/sluice/messages"

// name is the Prometheus name of a metric: as it is with the keep translation, else with its
// unit's suffix (unless the name already ends with it), "_ratio" for a gauge of unit "1", and
// typeSuffix ("_total" for counters).
func (p *Parser) name(dst *messages.Rows, name, unit, typeSuffix []byte, gauge bool) []byte {
	if !p.suffixes {
		return name
	}
	var buf [64]byte
	u := unitSuffix(buf[:0], unit)
	if string(unit) == "1" && gauge {
		u = append(buf[:0], sufRatio...)
	}
	base := name
	if len(typeSuffix) > 0 && hasSuffix(base, typeSuffix) {
		base = base[:len(base)-len(typeSuffix)] // the unit goes before _total
	}
	if len(u) > 0 && hasSuffix(base, u) {
		u = u[:0]
	}
	if len(u) == 0 && len(base)+len(typeSuffix) == len(name) {
		return name
	}
	return dst.Append(base, u, typeSuffix)
}

// unit is a metric's unit as its metadata gives it: Prometheus' word for it ("seconds",
// "bytes_per_second") with the prometheus translation, as it is with keep.
func (p *Parser) unit(dst *messages.Rows, unit []byte) []byte {
	if !p.suffixes || len(unit) == 0 {
		return unit
	}
	if w, ok := unitWords[string(unit)]; ok { // the common units: no arena, no building
		return w
	}
	var buf [64]byte
	u := unitSuffix(buf[:0], unit)
	if len(u) < 2 {
		return nil
	}
	return dst.Append(u[1:])
}

func hasSuffix(s, suf []byte) bool {
	return len(s) >= len(suf) && string(s[len(s)-len(suf):]) == string(suf)
}

// units maps UCUM units (as OpenTelemetry semantic conventions use them) to Prometheus' words.
var units = map[string]string{
	"d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds", "us": "microseconds",
	"ns": "nanoseconds", "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "GiBy": "gibibytes",
	"TiBy": "tebibytes", "KBy": "kilobytes", "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes",
	"m": "meters", "V": "volts", "A": "amperes", "J": "joules", "W": "watts", "g": "grams", "Cel": "celsius",
	"Hz": "hertz", "%": "percent",
}

// unitWords is units with its words as bytes, for metadata.
var unitWords = func() map[string][]byte {
	m := make(map[string][]byte, len(units))
	for k, v := range units {
		m[k] = []byte(v)
	}
	return m
}()

// perUnits maps the denominator of a rate unit ("By/s") to its word.
var perUnits = map[string]string{"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year"}

// unitSuffix appends "_<unit>" for unit to b ("_bytes_per_second" for "By/s"; annotations in
// braces and "1" add nothing).
func unitSuffix(b, unit []byte) []byte {
	main, per := unit, []byte(nil)
	for i, c := range unit {
		if c == '/' {
			main, per = unit[:i], unit[i+1:]
			break
		}
	}
	word := func(b, u []byte, table map[string]string) []byte {
		if len(u) == 0 || u[0] == '{' || string(u) == "1" {
			return b
		}
		if w, ok := table[string(u)]; ok {
			return append(b, w...)
		}
		for _, c := range u { // an unknown unit is kept when it is a plain word
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
				return b
			}
		}
		return append(b, u...)
	}
	start := len(b)
	b = append(b, '_')
	b = word(b, main, units)
	if w := word(nil, per, perUnits); len(w) > 0 {
		if len(b) > start+1 {
			b = append(b, '_')
		}
		b = append(b, "per_"...)
		b = word(b, per, perUnits)
	}
	if len(b) == start+1 {
		return b[:start]
	}
	return b
}
