package ownership

import (
	"context"
	"sort"
	"sync/atomic"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// leaseWatch watches the Leases of the run's pipeline in its namespace
// from the moment the run's own Lease is made until the run ends: its
// first list is what the background judgement starts from, and cleanup
// reads the others' Leases from it as they are then (one watch instead of a
// list at either end).
type leaseWatch struct {
	inf    cache.SharedIndexInformer
	own    string      // the run's Lease
	others atomic.Bool // a Lease of another run was seen
}

func (r *Run) startLeaseWatch(ctx context.Context, ns string) (*leaseWatch, error) {
	c, err := r.opts.Kube.Clients()
	if err != nil {
		return nil, err
	}
	leases := c.Typed.CoordinationV1().Leases(ns)
	sel := labels.Set{LabelPipeline: r.opts.Pipeline}.String()
	lw := cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = sel
			return leases.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = sel
			return leases.Watch(ctx, o)
		},
	}, c.Typed) // the clientset says whether it serves watch lists (a fake does not)
	w := &leaseWatch{inf: cache.NewSharedIndexInformer(lw, &coordv1.Lease{}, 0, cache.Indexers{})}
	own := r.leaseName()
	w.own = own
	// Registered before the informer runs: it cannot fail.
	_, _ = w.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(o any) {
		if l, ok := o.(*coordv1.Lease); ok && l.Name != own {
			w.others.Store(true)
		}
	}})
	r.bg.Add(1)
	go func() {
		defer r.bg.Done()
		w.inf.RunWithContext(ctx)
	}()
	return w, nil
}

// syncWait bounds the wait for the watch's first list; past it (the list
// keeps failing, e.g. forbidden) the API server is asked directly, and
// says why.
const syncWait = 10 * time.Second

// current returns the Leases as the watch sees them, once it has listed
// them; ok is false when it has not, or was stopped: then ask the API
// server.
func (w *leaseWatch) current(ctx context.Context) (list []coordv1.Lease, ok bool) {
	if w == nil || w.inf.IsStopped() {
		return nil, false
	}
	t := time.NewTimer(syncWait)
	defer t.Stop()
	select {
	case <-w.inf.HasSyncedChecker().Done():
	case <-ctx.Done():
		return nil, false
	case <-t.C:
		return nil, false
	}
	for _, o := range w.inf.GetStore().List() {
		if l, isLease := o.(*coordv1.Lease); isLease {
			list = append(list, *l.DeepCopy())
		}
	}
	// In the API server's order (by name), as a list gives them.
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return list, true
}

// sawOthers reports whether the watch has seen a Lease of another run (of
// the pipeline, in the run's namespace) at any time so far (the store: the
// handler may not have run yet).
func (w *leaseWatch) sawOthers() bool {
	if w == nil {
		return false
	}
	if w.others.Load() {
		return true
	}
	for _, o := range w.inf.GetStore().List() {
		if l, ok := o.(*coordv1.Lease); ok && l.Name != w.own {
			return true
		}
	}
	return false
}
