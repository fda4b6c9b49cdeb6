package main

// The control topic as `sluice run` uses it: read at boot before the pipeline joins its input
// groups, followed while it runs, each new valid version applied like a SIGHUP reload
// (docs/control.md). Precedence: the newest valid control document's blocks replace the file's;
// the blocks it does not hold are the file's; a SIGHUP re-reads the file and puts the document
// back on top.

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/actors"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/control"
	"github.com/sluicehq/sluice/kafkaio"
)

// controlRetry is how often the control topic is tried again when it cannot be read or does not
// exist yet (a metadata request), so that a first version published is applied within seconds.
const controlRetry = time.Second

// controlState is the control topic's side of a running process. The run loop owns it; only
// follow's goroutine touches the Kafka client after boot.
type controlState struct {
	log     hclog.Logger
	file    *config.Config // the config file's settings (what documents go over)
	doc     []byte         // the applied document (nil: none)
	version int64          // its version (0: none)

	client sarama.Client
	next   map[int32]int64 // where boot's read ended (nil: it did not read the topic)
	stop   chan struct{}
	done   chan struct{}
	ctx    context.Context // cancelled by close
	cancel context.CancelFunc

	versionG prometheus.Gauge
	rejected prometheus.Counter
}

func newControlState(file *config.Config, log hclog.Logger) *controlState {
	ctx, cancel := context.WithCancel(context.Background())
	return &controlState{log: log.Named("control"), file: file, stop: make(chan struct{}), done: make(chan struct{}), ctx: ctx, cancel: cancel,
		versionG: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_control_version",
			Help: "Version of the control document this task applied (0: none; the config file alone)."}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_control_rejected_total",
			Help: "Control records rejected: invalid documents (the last good version stays) and records without a version."}),
	}
}

// collectors are the metrics to serve.
func (c *controlState) collectors() []prometheus.Collector {
	return []prometheus.Collector{c.versionG, c.rejected}
}

func (c *controlState) connect(timeout time.Duration) (sarama.Client, error) {
	sc := kafkaio.ConsumerConfig(c.file.Kafka, 0)
	sc.Net.DialTimeout = timeout
	sc.Metadata.Retry.Max = 1
	return sarama.NewClient(c.file.Kafka.Brokers, sc)
}

// boot reads the control topic from the start, within control.timeout, and returns the config to
// start with: the file's with the newest valid document on top, or the file's alone when the
// topic has none or cannot be read (said in the log; follow keeps trying). Without a control
// block it returns the file.
func (c *controlState) boot() *config.Config {
	cc := c.file.Control
	if cc == nil {
		return c.file
	}
	ctx, cancel := context.WithTimeout(context.Background(), cc.Timeout)
	defer cancel()
	type result struct {
		recs   []control.Record
		bad    int
		next   map[int32]int64
		client sarama.Client
		err    error
	}
	done := make(chan result, 1)
	go func() { // sarama's metadata calls take no context: the timeout bounds the wait
		client, err := c.connect(cc.Timeout)
		if err != nil {
			done <- result{err: err}
			return
		}
		recs, bad, next, err := control.ReadAll(ctx, client, cc.Topic)
		if err != nil {
			client.Close()
		}
		done <- result{recs: recs, bad: bad, next: next, client: client, err: err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		r.err = context.Cause(ctx)
		go func() { // a read that outlives the timeout: close what it opens
			if late := <-done; late.err == nil {
				late.client.Close()
			}
		}()
	}
	switch {
	case errors.Is(r.err, control.ErrNoTopic):
		c.log.Warn("the control topic does not exist: starting from the config file; it is read once it does", "topic", cc.Topic)
		return c.file
	case r.err != nil:
		c.log.Warn("cannot read the control topic: starting from the config file; it is read again in the background", "topic", cc.Topic,
			"timeout", cc.Timeout.String(), "error", r.err)
		return c.file
	}
	c.client, c.next = r.client, r.next
	c.countBad(r.bad)
	for _, rec := range control.Newest(r.recs) {
		merged, err := c.validate(rec, c.file)
		if err != nil {
			c.rejected.Inc()
			c.log.Error("control document rejected; trying the version before it", "version", rec.Version, "diagnostics", err.Error())
			continue
		}
		c.applied(rec)
		c.log.Info("control document applied at start", "version", rec.Version, "topic", cc.Topic)
		return merged
	}
	c.log.Info("no control document yet: starting from the config file", "topic", cc.Topic)
	return c.file
}

func (c *controlState) countBad(n int) {
	if n > 0 {
		c.rejected.Add(float64(n))
		c.log.Warn("control records without a valid version header were skipped", "count", n)
	}
}

func (c *controlState) applied(rec control.Record) {
	c.doc, c.version = rec.Doc, rec.Version
	c.versionG.Set(float64(rec.Version))
}

// validate checks a document against a file config and returns the two merged.
func (c *controlState) validate(rec control.Record, file *config.Config) (*config.Config, error) {
	merged, err := config.LoadControl("control:v"+strconv.FormatInt(rec.Version, 10), rec.Doc, file)
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			var b strings.Builder
			ce.Write(&b)
			return nil, errors.New(strings.TrimSpace(b.String()))
		}
		return nil, err
	}
	return merged, nil
}

// follow starts the goroutine that follows the topic (from where boot's read ended, or from the
// start when boot could not read it), sending every record to the channel it returns; nil
// without a control block. Stop ends it.
func (c *controlState) follow() <-chan control.Record {
	if c.file.Control == nil {
		close(c.done)
		return nil
	}
	out := make(chan control.Record, 16)
	go func() {
		defer close(c.done)
		topic := c.file.Control.Topic
		warned := false
		for {
			if c.client == nil {
				cl, err := c.connect(controlRetry)
				if err == nil {
					c.client = cl
				}
			}
			if c.client != nil && c.next == nil {
				ctx, cancel := context.WithTimeout(c.ctx, time.Minute)
				recs, bad, next, err := control.ReadAll(ctx, c.client, topic)
				cancel()
				if err == nil {
					c.next = next
					c.countBad(bad)
					for _, r := range recs {
						select {
						case out <- r:
						case <-c.stop:
							return
						}
					}
				} else if !warned {
					warned = true
					c.log.Warn("still cannot read the control topic; the running settings stay", "error", err)
				}
			}
			if c.next != nil {
				f, err := control.Follow(c.client, topic, c.next, func() { c.countBad(1) })
				if err == nil {
					defer f.Close()
					for {
						select {
						case r := <-f.C:
							select {
							case out <- r:
							case <-c.stop:
								return
							}
						case <-c.stop:
							return
						}
					}
				}
				c.log.Warn("cannot follow the control topic; retrying", "error", err)
			}
			select {
			case <-time.After(controlRetry):
			case <-c.stop:
				return
			}
		}
	}()
	return out
}

// close stops following and closes the client, waiting at most a second for the follower (a
// connection attempt in progress is abandoned: shutdown is bounded).
func (c *controlState) close() {
	close(c.stop)
	c.cancel()
	select {
	case <-c.done:
		if c.client != nil {
			c.client.Close()
		}
	case <-time.After(time.Second):
	}
}

// apply takes a record from the topic: a newer valid version is applied like a reload; an
// invalid one is rejected with its diagnostics and the last good version stays.
func (c *controlState) apply(p *actors.Pipeline, rec control.Record, log hclog.Logger) {
	if rec.Version <= c.version {
		return // an old version (the topic read again) or one already applied
	}
	merged, err := c.validate(rec, c.file)
	if err != nil {
		c.rejected.Inc()
		c.log.Error("control document rejected; the running settings stay", "version", rec.Version, "running_version", c.version,
			"diagnostics", err.Error())
		return
	}
	applied, restart, err := p.Reload(merged)
	if err != nil {
		c.rejected.Inc()
		c.log.Error("control document rejected; the running settings stay", "version", rec.Version, "error", err)
		return
	}
	c.applied(rec)
	c.log.Info("control document applied", "version", rec.Version, "applied", strings.Join(applied, ","), "needs_restart", strings.Join(restart, ","))
}

// overFile puts the applied document over a freshly loaded file config (a SIGHUP); when the
// document does not fit the new file, the file alone applies and that is said.
func (c *controlState) overFile(next *config.Config) *config.Config {
	c.file = next
	if c.doc == nil {
		return next
	}
	merged, err := c.validate(control.Record{Version: c.version, Doc: c.doc}, next)
	if err != nil {
		c.log.Error("the applied control document does not fit the reloaded file: the file's settings apply until a new version", "version", c.version,
			"diagnostics", err.Error())
		return next
	}
	return merged
}
