package delete

import (
	"context"
	"fmt"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/clock"

	"github.com/kbrun/kbrun/engine/apicall"
	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/tasks/internal/k8s"
	"github.com/kbrun/kbrun/tasks/internal/waitnote"
)

// waitGone waits by watch until the object is gone (or replaced by another
// object with a new UID); when that takes a while it says, at a steady
// pace, what holds the object (waitnote.Holding), as the watch last saw it.
func waitGone(ctx context.Context, c *kube.Clients, ref kube.ObjectRef, clk clock.Clock, logf func(string, ...any)) error {
	if clk == nil {
		clk = clock.RealClock{}
	}
	what := k8s.Describe(ref.Kind, ref.Namespace, ref.Name)
	ri := k8s.Scoped(c.Dynamic.Resource(ref.GVR), ref.Namespace)
	var latest atomic.Pointer[unstructured.Unstructured]
	current := func() *unstructured.Unstructured {
		// A deploy task's kept pod watch holds typed pods: Holding reads
		// unstructured ones.
		if o, seen, _ := c.Watches.Get(ref.GVR, ref.Namespace, ref.Name); seen {
			if u := waitnote.AsUnstructured(o, ref.GVR.GroupVersion().String(), ref.Kind); u != nil {
				return u
			}
		}
		return latest.Load()
	}
	var wait func() error
	if c.Watches.Watching(ref.GVR, ref.Namespace, ref.Name) {
		// A workload deployed by this run has its watch kept: it says when.
		wait = func() error {
			watched, err := c.Watches.WaitGone(ctx, ref.GVR, ref.Namespace, ref.Name, ref.UID)
			if !watched { // the watch stopped meanwhile
				return waitnote.WatchGone(ctx, ri, ref.Name, ref.UID, latest.Store)
			}
			return err
		}
	} else {
		// Most objects are gone as soon as the delete returns (no
		// finalizers, background propagation): one GET says so. Starting a
		// watch costs more (the API server waits for its cache to be fresh
		// before the initial list; BENCHMARKS.md), so it is only started
		// for what is left.
		obj, err := k8s.GetIfExists(ctx, ri, ref.Name)
		if err == nil && (obj == nil || (ref.UID != "" && obj.GetUID() != ref.UID)) {
			return nil
		}
		if obj != nil {
			latest.Store(obj)
		}
		wait = func() error { return waitnote.WatchGone(ctx, ri, ref.Name, ref.UID, latest.Store) }
	}
	why := waitnote.HoldingNow(current)
	if ref.GVR.Group == "" && ref.GVR.Resource == "namespaces" {
		why = waitnote.NamespaceHoldingNow(ctx, func(ctx context.Context) ([]corev1.Pod, error) {
			l, err := c.Typed.CoreV1().Pods(ref.Name).List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			return l.Items, nil
		}, current)
	}
	err := waitnote.Wait(wait, clk, what+" to be deleted", why, logf)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		why := waitnote.Holding(current(), clk.Now())
		if why == "" {
			why = "finalizers or terminating pods?"
		}
		return fmt.Errorf("%s is still there when the task timed out (%s): %w", what, why, context.Cause(ctx))
	}
	return apicall.Classify(err, "watch", what)
}
