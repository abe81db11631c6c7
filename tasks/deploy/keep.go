package deploy

import (
	"context"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/kbrun/kbrun/engine/kube"
)

var podsGVR = corev1.SchemeGroupVersion.WithResource("pods")

// informerWatch is an informer whose events a waiter reads as a watch.
// When the wait ends, an informer the waiter started is handed to the
// run's Watches, so that later tasks read the pods and the workload from
// it (kube.Watches), or stopped; one it borrowed is left running.
type informerWatch struct {
	inf    cache.SharedIndexInformer
	ch     chan watch.Event
	detach chan struct{}
	reg    cache.ResourceEventHandlerRegistration
	once   sync.Once
	// stop ends an informer the waiter started; release gives back one it
	// borrowed (nil otherwise).
	stop, release func()
}

// startWatch starts an informer over lw, whose objects that sel matches
// the waiter reads; it outlives the task (until kept watches are closed)
// unless end stops it.
func startWatch(lw cache.ListerWatcher, example runtime.Object, sel labels.Selector) *informerWatch {
	inf := cache.NewSharedIndexInformer(lw, example, 0, cache.Indexers{})
	// Registered before the informer starts: it cannot fail.
	w, _ := attach(inf, sel)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		inf.RunWithContext(ctx)
	}()
	w.stop = func() {
		cancel()
		<-done
	}
	return w
}

// borrowWatch reads the objects that sel matches from x, a watch an
// earlier task kept, as a watch of its own would: those x holds first, as
// adds. nil when x has stopped meanwhile.
func borrowWatch(x *kube.Watch, release func(), sel labels.Selector) *informerWatch {
	w, err := attach(x.Informer, sel)
	if err != nil {
		release()
		return nil
	}
	w.release = release
	return w
}

func attach(inf cache.SharedIndexInformer, sel labels.Selector) (*informerWatch, error) {
	w := &informerWatch{inf: inf, ch: make(chan watch.Event), detach: make(chan struct{})}
	send := func(t watch.EventType, o any) {
		if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
			o = d.Obj
		}
		obj, ok := o.(runtime.Object)
		if !ok {
			return
		}
		select {
		case w.ch <- watch.Event{Type: t, Object: obj}:
		case <-w.detach:
		}
	}
	var err error
	// The filter is the server's label selector, applied here: an object
	// that stops matching is deleted for the waiter, as the server says.
	w.reg, err = inf.AddEventHandler(cache.FilteringResourceEventHandler{
		FilterFunc: func(o any) bool {
			if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = d.Obj
			}
			a, err := meta.Accessor(o)
			return err == nil && sel.Matches(labels.Set(a.GetLabels()))
		},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { send(watch.Added, o) },
			UpdateFunc: func(_, o any) { send(watch.Modified, o) },
			DeleteFunc: func(o any) { send(watch.Deleted, o) },
		},
	})
	return w, err
}

// ResultChan is the informer's events (adds for what it holds first).
func (w *informerWatch) ResultChan() <-chan watch.Event { return w.ch }

// store is what the informer has seen.
func (w *informerWatch) store() cache.Store { return w.inf.GetStore() }

// end detaches the waiter, then gives a borrowed informer back, or hands
// the waiter's own to ws as keep describes it (nil: stop it).
func (w *informerWatch) end(ws *kube.Watches, keep *kube.Watch) {
	w.once.Do(func() {
		close(w.detach)
		_ = w.inf.RemoveEventHandler(w.reg)
		switch {
		case w.release != nil:
			w.release()
		case keep == nil:
			w.stop()
		default:
			keep.Informer, keep.Stop = w.inf, w.stop
			ws.Keep(keep)
		}
	})
}

// watchedPods are the pods the waiter's pod watch holds that sel matches
// (copies: the store's objects are shared).
func (w *waiter) watchedPods(sel labels.Selector) []corev1.Pod {
	if w.podStore == nil {
		return nil
	}
	var out []corev1.Pod
	for _, o := range w.podStore.List() {
		if p, ok := o.(*corev1.Pod); ok && sel.Matches(labels.Set(p.Labels)) {
			out = append(out, *p.DeepCopy())
		}
	}
	return out
}

// handOver ends the waiter's two watches: kept for the run's later tasks
// when the workload rolled out, else stopped.
func (w *waiter) handOver(obj, pods *informerWatch, rolledOut bool) {
	var objKeep, podKeep *kube.Watch
	if rolledOut {
		ref := w.ap.Ref
		objKeep = &kube.Watch{GVR: ref.GVR, Namespace: ref.Namespace, Name: ref.Name}
		podKeep = &kube.Watch{GVR: podsGVR, Namespace: ref.Namespace, Every: true}
	}
	for _, x := range []struct {
		w    *informerWatch
		keep *kube.Watch
	}{{obj, objKeep}, {pods, podKeep}} {
		if x.w != nil {
			x.w.end(w.c.Watches, x.keep)
		}
	}
}

// soleReplicaSet is the ReplicaSet of a Deployment's rolled-out pods when
// the pods name one only. A complete rollout (kubectl rollout status's
// judgement) has no active pod of an older revision, so its pods' one
// ReplicaSet is the new one, and no ReplicaSet needs to be read. A
// Deployment's ReplicaSets are named <deployment>-<pod-template-hash>,
// which tells them from those of another Deployment whose selector
// matches the same pods. "" when the pods name none or several (a pod of
// the old revision not yet seen terminating): then they are read.
func soleReplicaSet(deployment string, pods []corev1.Pod) types.UID {
	var uid types.UID
	for i := range pods {
		p := &pods[i]
		owner := metav1.GetControllerOf(p)
		hash := p.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
		if p.DeletionTimestamp != nil || owner == nil || owner.Kind != "ReplicaSet" || hash == "" || owner.Name != deployment+"-"+hash {
			continue
		}
		if uid != "" && owner.UID != uid {
			return ""
		}
		uid = owner.UID
	}
	return uid
}
