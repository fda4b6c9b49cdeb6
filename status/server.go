package status

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// SampleInterval is how often the sampler gathers the registry for rates and the flow history;
// HistoryLen samples are kept (five minutes).
const (
	SampleInterval = 2 * time.Second
	HistoryLen     = 150
	maxEvents      = 100
)

//go:embed page
var page embed.FS

// Server serves the status page and document. Its sampler gathers the registry every
// SampleInterval (what one scrape of /metrics costs, every two seconds, whether anyone looks or
// not); a request gathers it once more.
type Server struct {
	reg     prometheus.Gatherer
	start   time.Time
	version string
	health  func() error
	ready   func() error

	mu      sync.Mutex
	samples [2]sample // the latest two, [1] newest
	history []FlowSample
	events  []Event

	stop chan struct{}
	done chan struct{}
}

type sample struct {
	t   time.Time
	mfs []*dto.MetricFamily
	// flow counters: datapoints in, out and dropped
	in, out, dropped float64
}

// NewServer makes a status server over reg. health and ready are /healthz's and /readyz's
// checks (nil: not running yet).
func NewServer(reg prometheus.Gatherer, version string) *Server {
	return &Server{reg: reg, start: time.Now(), version: version, stop: make(chan struct{}), done: make(chan struct{})}
}

// Checks sets the health and readiness checks, once the pipeline runs.
func (s *Server) Checks(health, ready func() error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.health, s.ready = health, ready
}

// Start runs the sampler until Close.
func (s *Server) Start() {
	s.sample(time.Now())
	go func() {
		defer close(s.done)
		t := time.NewTicker(SampleInterval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case now := <-t.C:
				s.sample(now)
			}
		}
	}()
}

// Close stops the sampler.
func (s *Server) Close() {
	close(s.stop)
	<-s.done
}

func (s *Server) sample(now time.Time) {
	mfs, _ := s.reg.Gather() // a collector's error leaves its families out; the rest is good
	f := index(mfs)
	smp := sample{t: now, mfs: mfs, in: f.sum("sluice_input_datapoints_total"), out: f.sum("sluice_output_datapoints_total"),
		dropped: f.sum("sluice_dropped_total")}
	s.mu.Lock()
	defer s.mu.Unlock()
	if last := s.samples[1]; last.mfs != nil {
		if dt := now.Sub(last.t).Seconds(); dt > 0 {
			s.history = append(s.history, FlowSample{Time: now.UnixMilli(), In: max(0, smp.in-last.in) / dt,
				Out: max(0, smp.out-last.out) / dt, Dropped: max(0, smp.dropped-last.dropped) / dt})
			if len(s.history) > HistoryLen {
				s.history = s.history[len(s.history)-HistoryLen:]
			}
		}
	}
	s.samples[0], s.samples[1] = s.samples[1], smp
}

// Doc gathers the registry now and builds the status document; rates are over the interval from
// the newest sample at least a second old.
func (s *Server) Doc() Doc {
	now := time.Now()
	mfs, _ := s.reg.Gather()
	s.mu.Lock()
	in := Input{Now: now, Start: s.start, Version: s.version, Cur: mfs,
		History: append([]FlowSample(nil), s.history...), Events: append([]Event(nil), s.events...)}
	for i := 1; i >= 0; i-- {
		if smp := s.samples[i]; smp.mfs != nil && now.Sub(smp.t) >= time.Second {
			in.Prev, in.PrevTime = smp.mfs, smp.t
			break
		}
	}
	health, ready := s.health, s.ready
	s.mu.Unlock()
	in.Health, in.Ready = errStarting, errStarting
	if health != nil {
		in.Health, in.Ready = health(), ready()
	}
	return Build(in)
}

var errStarting = errors.New("starting")

// Register adds GET / (the page) and GET /api/v1/status (the document) to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(s.Doc())
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		b, _ := page.ReadFile("page/index.html")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		// The page loads nothing from elsewhere and runs only its own script.
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:")
		_, _ = w.Write(b)
	})
}

// Sink returns the log sink that records recent events: every line at info and above but the
// progress line, with secrets left out. Register it on the process's InterceptLogger.
func (s *Server) Sink() hclog.SinkAdapter { return eventSink{s} }

type eventSink struct{ s *Server }

// quiet are info lines too frequent or too dull to be events.
var quiet = map[string]bool{"progress": true}

func (e eventSink) Accept(name string, level hclog.Level, msg string, args ...interface{}) {
	if level < hclog.Info || quiet[msg] {
		return
	}
	ev := Event{Time: time.Now().UTC(), Level: level.String(), Message: msg}
	for i := 0; i+1 < len(args); i += 2 {
		k, ok := args[i].(string)
		if !ok || secretKey(k) {
			continue
		}
		if ev.Fields == nil {
			ev.Fields = map[string]string{}
		}
		ev.Fields[k] = Redact(fmt.Sprint(args[i+1]))
	}
	if name != "" && name != "sluice" {
		if ev.Fields == nil {
			ev.Fields = map[string]string{}
		}
		ev.Fields["logger"] = strings.TrimPrefix(name, "sluice.")
	}
	s := e.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, ev)
	if len(s.events) > maxEvents {
		s.events = append(s.events[:0], s.events[len(s.events)-maxEvents:]...)
	}
}

// secretKey reports a log field that may hold a secret: it is not shown.
func secretKey(k string) bool {
	k = strings.ToLower(k)
	for _, s := range []string{"password", "token", "secret", "authorization", "header", "credential", "sasl"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

var (
	userinfo    = regexp.MustCompile(`(://)[^/@\s"]+@`)
	secretQuery = regexp.MustCompile(`(?i)([?&](?:[a-z_]*token|[a-z_]*key|password|secret|signature|sig)=)[^&\s"]*`)
)

// Redact removes credentials from URLs in s (user:password@ and token-like query parameters).
func Redact(s string) string {
	s = userinfo.ReplaceAllString(s, "$1")
	return secretQuery.ReplaceAllString(s, "${1}xxxxx")
}
