package kube

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// Watches keeps a run's watches open after the task that started them, so
// that later tasks read what they need from them instead of asking the API
// server again: the pods a deploy task watched serve the copy, exec and log
// tasks that name one of them, and the watch on each workload serves the
// cleanup that deletes it (is it still the run's? is it gone?). A nil
// *Watches keeps nothing.
type Watches struct {
	mu     sync.Mutex
	kept   []*Watch
	closed bool
}

// Watch is one informer a task hands over.
type Watch struct {
	GVR       schema.GroupVersionResource
	Namespace string
	// Name is set when the informer watches that one object (a field
	// selector on its name): then an object missing from its store is gone.
	Name     string
	Informer cache.SharedIndexInformer
	// Stop ends the informer.
	Stop func()
}

// MaxKept bounds the kept watches (oldest stopped first): a pipeline with
// many deploy tasks keeps the recent ones, which the next tasks use.
const MaxKept = 32

// Keep hands x over; it runs until Close (or until MaxKept newer ones).
func (w *Watches) Keep(x *Watch) {
	if w == nil {
		x.Stop()
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		x.Stop()
		return
	}
	w.kept = append(w.kept, x)
	if len(w.kept) > MaxKept {
		w.kept[0].Stop()
		w.kept = w.kept[1:]
	}
}

// Close stops every kept watch; later Keeps stop theirs at once.
func (w *Watches) Close() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, x := range w.kept {
		x.Stop()
	}
	w.kept, w.closed = nil, true
}

// Get returns the object gvr ns/name as a synced kept watch last saw it.
// seen is false when no kept watch has it; gone is true when a kept watch
// on that very object (Name) no longer has it. A watch on that very object
// answers first: a wider one may not have seen the object's end yet.
func (w *Watches) Get(gvr schema.GroupVersionResource, ns, name string) (obj any, seen, gone bool) {
	if xs := w.covering(gvr, ns, name); len(xs) > 0 {
		o, ok, err := xs[0].Informer.GetStore().GetByKey(key(ns, name))
		if err != nil {
			return nil, false, false
		}
		return o, ok, !ok
	}
	for _, x := range w.covering(gvr, ns, "") {
		if o, ok, err := x.Informer.GetStore().GetByKey(key(ns, name)); err == nil && ok {
			return o, true, false
		}
	}
	return nil, false, false
}

// Watching tells whether a kept watch is on the object gvr ns/name itself:
// then WaitGone waits on it.
func (w *Watches) Watching(gvr schema.GroupVersionResource, ns, name string) bool {
	return len(w.covering(gvr, ns, name)) > 0
}

// WaitGone waits until the object gvr ns/name with uid is gone, as a
// kept watch on that very object sees it. watched is false (and nothing is
// waited for) when no such watch is kept.
func (w *Watches) WaitGone(ctx context.Context, gvr schema.GroupVersionResource, ns, name string, uid types.UID) (watched bool, err error) {
	xs := w.covering(gvr, ns, name)
	if len(xs) == 0 {
		return false, nil
	}
	x := xs[0]
	changed := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	reg, err := x.Informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: poke, UpdateFunc: func(_, o any) { poke(o) }, DeleteFunc: poke,
	})
	if err != nil {
		return false, nil // the informer stopped: the caller asks the API server
	}
	defer func() { _ = x.Informer.RemoveEventHandler(reg) }()
	for {
		o, ok, err := x.Informer.GetStore().GetByKey(key(ns, name))
		if err == nil && (!ok || uidOf(o) != uid) {
			return true, nil
		}
		select {
		case <-ctx.Done():
			return true, context.Cause(ctx)
		case <-changed:
		}
	}
}

// covering returns the synced kept watches of gvr in ns (on object name
// only, when name is given), newest first.
func (w *Watches) covering(gvr schema.GroupVersionResource, ns, name string) []*Watch {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*Watch
	for i := len(w.kept) - 1; i >= 0; i-- {
		x := w.kept[i]
		if x.GVR == gvr && x.Namespace == ns && (name == "" || x.Name == name) && x.Informer.HasSynced() && !x.Informer.IsStopped() {
			out = append(out, x)
		}
	}
	return out
}

func key(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

func uidOf(o any) types.UID {
	if a, err := meta.Accessor(o); err == nil {
		return a.GetUID()
	}
	return ""
}
