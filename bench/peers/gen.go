package main

import (
	"strconv"
	"time"
)

// metrics are the measurements of the generated lines (Telegraf plugins' shapes).
var metrics = []string{"sys_cpu", "sys_mem", "sys_disk", "net_if", "app_http", "app_db", "jvm_heap", "docker_container"}

// fields are every line's fields: each its own series, as Telegraf's cpu plugin writes them.
var fields = []string{"usage_user", "usage_system", "usage_idle"}

// gen makes the input: lines of series/3 tag sets in turn, each line 4 tags and 3 fields, and a
// timestamp that grows by a millisecond each time the tag sets come round, so every (series,
// timestamp) is distinct.
type gen struct {
	keys, perRecord int
	base            int64 // unix ms
	cached          [][]byte
}

func newGen(series, perRecord int, base time.Time) *gen {
	return &gen{keys: max(1, series/len(fields)), perRecord: perRecord, base: base.UnixMilli()}
}

// records returns the input's records, lines lines in all (made once).
func (g *gen) records(lines int) [][]byte {
	if g.cached != nil {
		return g.cached
	}
	var out [][]byte
	var b []byte
	for i := 0; i < lines; i++ {
		k := i % g.keys
		metric := metrics[k%len(metrics)]
		host := k / len(metrics)
		b = append(b, metric...)
		b = append(b, ",host=web"...)
		b = strconv.AppendInt(b, int64(host), 10)
		b = append(b, ",dc=us-east-1,env=prod,service=svc"...)
		b = strconv.AppendInt(b, int64(host%20), 10)
		v := float64(i%1000) * 0.25
		for f, field := range fields {
			if f == 0 {
				b = append(b, ' ')
			} else {
				b = append(b, ',')
			}
			b = append(b, field...)
			b = append(b, '=')
			b = strconv.AppendFloat(b, v+float64(f), 'f', -1, 64)
		}
		b = append(b, ' ')
		b = strconv.AppendInt(b, (g.base+int64(i/g.keys))*1e6, 10)
		b = append(b, '\n')
		if (i+1)%g.perRecord == 0 {
			out = append(out, b)
			b = nil
		}
	}
	g.cached = out
	return out
}
