package actors

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/hashicorp/go-hclog"
)

// slogHandler bridges log/slog (which protoactor logs through) into go-hclog.
type slogHandler struct {
	log   hclog.Logger
	attrs []any
	group string
}

// newSlogHandler returns a slog.Handler that writes to log.
func newSlogHandler(log hclog.Logger) *slogHandler { return &slogHandler{log: log} }

// Enabled implements slog.Handler.
func (h *slogHandler) Enabled(_ context.Context, l slog.Level) bool {
	switch {
	case l >= slog.LevelError:
		return h.log.IsError()
	case l >= slog.LevelWarn:
		return h.log.IsWarn()
	case l >= slog.LevelInfo:
		return h.log.IsInfo()
	default:
		return h.log.IsDebug()
	}
}

// Handle implements slog.Handler.
func (h *slogHandler) Handle(_ context.Context, r slog.Record) error {
	args := make([]any, 0, len(h.attrs)+2*r.NumAttrs())
	args = append(args, h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		args = append(args, h.key(a.Key), a.Value.Resolve().Any())
		return true
	})
	switch {
	case r.Level >= slog.LevelError:
		h.log.Error(r.Message, args...)
	case r.Level >= slog.LevelWarn:
		h.log.Warn(r.Message, args...)
	case r.Level >= slog.LevelInfo:
		h.log.Info(r.Message, args...)
	default:
		h.log.Debug(r.Message, args...)
	}
	return nil
}

func (h *slogHandler) key(k string) string {
	if h.group == "" {
		return k
	}
	return h.group + "." + k
}

// WithAttrs implements slog.Handler.
func (h *slogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := &slogHandler{log: h.log, group: h.group, attrs: append([]any(nil), h.attrs...)}
	for _, a := range attrs {
		n.attrs = append(n.attrs, h.key(a.Key), a.Value.Resolve().Any())
	}
	return n
}

// WithGroup implements slog.Handler.
func (h *slogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &slogHandler{log: h.log, attrs: h.attrs, group: h.key(name)}
}

// logPanics is receiver middleware that logs a panic with its stack trace and re-panics, so that
// supervision proceeds as usual.
func logPanics(log hclog.Logger) actor.ReceiverMiddleware {
	return func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
			defer func() {
				if r := recover(); r != nil {
					log.Error("actor panicked; its supervisor restarts it", "actor", c.Self().Id,
						"panic", fmt.Sprint(r), "message", fmt.Sprintf("%T", env.Message), "stack", string(debug.Stack()))
					if pr, ok := c.Actor().(panicRecorder); ok {
						pr.recordPanic(r)
					}
					panic(r)
				}
			}()
			next(c, env)
		}
	}
}

// panicRecorder is an actor that wants to know why it failed (its Restarting handler runs next).
type panicRecorder interface{ recordPanic(reason any) }
