package deploy

import (
	"context"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/kbrun/kbrun/engine/kube"
)

// informerWatch is an informer whose events a waiter reads as a watch.
// When the wait ends, the informer is handed to the run's Watches, so that
// later tasks read the pods and the workload from it (kube.Watches), or
// stopped.
type informerWatch struct {
	inf    cache.SharedIndexInformer
	ch     chan watch.Event
	detach chan struct{}
	reg    cache.ResourceEventHandlerRegistration
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// startWatch starts an informer over lw; it outlives the task (until kept
// watches are closed) unless end stops it.
func startWatch(lw cache.ListerWatcher, example runtime.Object) *informerWatch {
	w := &informerWatch{
		inf:    cache.NewSharedIndexInformer(lw, example, 0, cache.Indexers{}),
		ch:     make(chan watch.Event),
		detach: make(chan struct{}),
		done:   make(chan struct{}),
	}
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
	// Registered before the informer starts: it cannot fail.
	w.reg, _ = w.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { send(watch.Added, o) },
		UpdateFunc: func(_, o any) { send(watch.Modified, o) },
		DeleteFunc: func(o any) { send(watch.Deleted, o) },
	})
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go func() {
		defer close(w.done)
		w.inf.RunWithContext(ctx)
	}()
	return w
}

// ResultChan is the informer's events (adds for what it lists first).
func (w *informerWatch) ResultChan() <-chan watch.Event { return w.ch }

// store is what the informer has seen.
func (w *informerWatch) store() cache.Store { return w.inf.GetStore() }

// end detaches the waiter, then hands the informer to ws as keep describes
// it (nil: stop it).
func (w *informerWatch) end(ws *kube.Watches, keep *kube.Watch) {
	w.once.Do(func() {
		close(w.detach)
		_ = w.inf.RemoveEventHandler(w.reg)
		stop := func() {
			w.cancel()
			<-w.done
		}
		if keep == nil {
			stop()
			return
		}
		keep.Informer, keep.Stop = w.inf, stop
		ws.Keep(keep)
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
		podKeep = &kube.Watch{GVR: corev1.SchemeGroupVersion.WithResource("pods"), Namespace: ref.Namespace}
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
