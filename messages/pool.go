package messages

import (
	"context"
	"sync"
	"sync/atomic"
)

// Pool is a fixed set of preallocated items. It never allocates after NewPool: Get blocks (or
// TryGet fails) when every item is in use, which is how Sluice bounds memory and applies
// backpressure.
type Pool[T any] struct {
	name string
	free chan T
	size int

	hasWaiters atomic.Bool
	mu         sync.Mutex
	waiters    []func()
}

// NewPool creates size items with mk.
func NewPool[T any](name string, size int, mk func() T) *Pool[T] {
	p := &Pool[T]{name: name, free: make(chan T, size), size: size}
	for i := 0; i < size; i++ {
		p.free <- mk()
	}
	return p
}

// Name is the pool's name, for logs and metrics.
func (p *Pool[T]) Name() string { return p.name }

// Size is the number of items the pool owns.
func (p *Pool[T]) Size() int { return p.size }

// InUse is the number of items currently taken from the pool. After a clean shutdown it must be
// zero; anything else is a leak.
func (p *Pool[T]) InUse() int { return p.size - len(p.free) }

// Get takes an item, waiting until one is free or ctx is done. Only for goroutines that may block
// (reader fetch loops), never for actor Receive.
func (p *Pool[T]) Get(ctx context.Context) (T, error) {
	select {
	case it := <-p.free:
		return it, nil
	default:
	}
	select {
	case it := <-p.free:
		return it, nil
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// TryGet takes an item if one is free.
func (p *Pool[T]) TryGet() (T, bool) {
	select {
	case it := <-p.free:
		return it, true
	default:
		var zero T
		return zero, false
	}
}

// GetOrNotify takes an item if one is free; otherwise it registers notify, which is called once
// (from the goroutine that puts an item back) after the next Put. Actors use it to wait for a
// batch without blocking: notify sends them a message.
func (p *Pool[T]) GetOrNotify(notify func()) (T, bool) {
	if it, ok := p.TryGet(); ok {
		return it, true
	}
	p.mu.Lock()
	p.hasWaiters.Store(true)
	select {
	case it := <-p.free: // a Put raced us before hasWaiters was visible
		p.mu.Unlock()
		return it, true
	default:
	}
	p.waiters = append(p.waiters, notify)
	p.mu.Unlock()
	var zero T
	return zero, false
}

// Put returns an item. Callers use the batch's Release instead, which resets it first.
func (p *Pool[T]) Put(it T) {
	select {
	case p.free <- it:
	default:
		panic("messages: pool " + p.name + ": more items returned than it owns")
	}
	if p.hasWaiters.Load() {
		p.mu.Lock()
		ws := p.waiters
		p.waiters = nil
		p.hasWaiters.Store(false)
		p.mu.Unlock()
		for _, w := range ws {
			w()
		}
	}
}
