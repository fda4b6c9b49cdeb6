module github.com/sluicehq/sluice/bench/vmcompare

go 1.26.8

require (
	github.com/sluicehq/sluice v0.0.0
	github.com/valyala/fastjson v1.6.4
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/valyala/fasttemplate v1.2.2 // indirect
	github.com/valyala/gozstd v1.21.2 // indirect
	gopkg.in/yaml.v2 v2.4.0 // indirect
)

require (
	github.com/VictoriaMetrics/VictoriaMetrics v1.115.0
	github.com/VictoriaMetrics/metrics v1.45.0 // indirect
	github.com/VictoriaMetrics/metricsql v0.84.3 // indirect
	github.com/valyala/bytebufferpool v1.0.0 // indirect
	github.com/valyala/fastrand v1.1.0 // indirect
	github.com/valyala/histogram v1.2.0 // indirect
	github.com/valyala/quicktemplate v1.8.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
)

replace github.com/sluicehq/sluice => ../..
