// Package fanout shares one API watch among the tasks of a run, so that
// each does not open its own: every subscriber first gets the objects the
// watch holds as ADDED events, as a fresh watch without a resourceVersion
// would list them, then the watch's events as they come.
package fanout

import (
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// Hub reads one watch for its subscribers.
type Hub struct {
	src    watch.Interface
	cancel func()
	done   chan struct{}

	mu    sync.Mutex
	objs  map[string]runtime.Object // by namespace/name: what the watch holds now
	subs  map[*sub]struct{}
	ended bool
}

// Start reads src until it ends or Stop; cancel (may be nil) is called once
// src has ended, to free what src's request holds.
func Start(src watch.Interface, cancel func()) *Hub {
	h := &Hub{src: src, cancel: cancel, done: make(chan struct{}), objs: map[string]runtime.Object{}, subs: map[*sub]struct{}{}}
	go h.run()
	return h
}

func (h *Hub) run() {
	for ev := range h.src.ResultChan() {
		k, ok := key(ev.Object)
		if !ok {
			continue // an ERROR's Status: the watch ends next
		}
		h.mu.Lock()
		switch ev.Type {
		case watch.Added, watch.Modified:
			h.objs[k] = ev.Object
		case watch.Deleted:
			delete(h.objs, k)
		default:
			h.mu.Unlock()
			continue
		}
		for s := range h.subs {
			s.push(ev)
		}
		h.mu.Unlock()
	}
	if h.cancel != nil {
		h.cancel()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ended = true
	// Before the subscribers see their end: one that subscribes again
	// must find h done, not join it.
	close(h.done)
	for s := range h.subs {
		s.end()
	}
	h.subs = nil
}

// Stop ends the watch; every subscriber's channel closes.
func (h *Hub) Stop() {
	h.src.Stop()
	<-h.done
}

// Done is closed once the watch has ended (Stop, or the API server ended
// it): a subscriber then subscribes to a new hub.
func (h *Hub) Done() <-chan struct{} { return h.done }

// Subscribe returns a watch of h: the objects h holds, then its events.
// Its channel closes when h ends; Stop leaves h running.
func (h *Hub) Subscribe() watch.Interface {
	s := &sub{h: h, wake: make(chan struct{}, 1), stop: make(chan struct{}), ch: make(chan watch.Event)}
	h.mu.Lock()
	for _, o := range h.objs {
		s.push(watch.Event{Type: watch.Added, Object: o})
	}
	if h.ended {
		s.end()
	} else {
		h.subs[s] = struct{}{}
	}
	h.mu.Unlock()
	go s.pump()
	return s
}

func (h *Hub) leave(s *sub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, s)
}

func key(o runtime.Object) (string, bool) {
	a, err := meta.Accessor(o)
	if err != nil || a.GetName() == "" {
		return "", false
	}
	return a.GetNamespace() + "/" + a.GetName(), true
}

// sub queues its events without bound: the hub never waits for a
// subscriber that is busy elsewhere.
type sub struct {
	h    *Hub
	wake chan struct{}
	stop chan struct{}
	ch   chan watch.Event
	once sync.Once

	mu    sync.Mutex
	queue []watch.Event
	ended bool
}

func (s *sub) push(ev watch.Event) {
	s.mu.Lock()
	s.queue = append(s.queue, ev)
	s.mu.Unlock()
	s.poke()
}

func (s *sub) end() {
	s.mu.Lock()
	s.ended = true
	s.mu.Unlock()
	s.poke()
}

func (s *sub) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *sub) pump() {
	defer close(s.ch)
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			ended := s.ended
			s.mu.Unlock()
			if ended {
				return
			}
			select {
			case <-s.wake:
			case <-s.stop:
				return
			}
			continue
		}
		ev := s.queue[0]
		s.queue = s.queue[1:]
		s.mu.Unlock()
		select {
		case s.ch <- ev:
		case <-s.stop:
			return
		}
	}
}

func (s *sub) ResultChan() <-chan watch.Event { return s.ch }

func (s *sub) Stop() {
	s.once.Do(func() {
		close(s.stop)
		s.h.leave(s)
	})
}
