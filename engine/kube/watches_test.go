package kube

import (
	"context"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

var podsGVR = corev1.SchemeGroupVersion.WithResource("pods")

func podInformer(t *testing.T, cs *fake.Clientset, ns string) (*Watch, func() bool) {
	t.Helper()
	pods := cs.CoreV1().Pods(ns)
	// The fake clientset sends no watch-list bookmark: plain list+watch.
	// Nor does it replay what happened between its list and its watch: wait
	// for the watch too.
	var watching sync.Once
	watched := make(chan struct{})
	inf := cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return pods.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			defer watching.Do(func() { close(watched) })
			return pods.Watch(ctx, o)
		},
	}, cs), &corev1.Pod{}, 0, cache.Indexers{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); inf.RunWithContext(ctx) }()
	<-inf.HasSyncedChecker().Done()
	<-watched
	stopped := false
	return &Watch{GVR: podsGVR, Namespace: ns, Informer: inf, Stop: func() { cancel(); <-done; stopped = true }}, func() bool { return stopped }
}

// Kept watches answer for the objects they hold; one on a single object
// also says when it is gone; Close stops them all, and a nil Watches keeps
// nothing.
func TestWatches(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns", UID: "ua"}})
	ws := &Watches{}
	all, allStopped := podInformer(t, cs, "ns")
	ws.Keep(all)
	if o, seen, gone := ws.Get(podsGVR, "ns", "a"); !seen || gone || o.(*corev1.Pod).UID != "ua" {
		t.Errorf("pod a: %v %v %v", o, seen, gone)
	}
	if _, seen, gone := ws.Get(podsGVR, "ns", "b"); seen || gone {
		t.Errorf("pod b, not there: seen %v gone %v (a watch on many objects cannot say gone)", seen, gone)
	}
	if _, seen, _ := ws.Get(podsGVR, "other", "a"); seen {
		t.Error("pod a seen in another namespace")
	}
	one, _ := podInformer(t, cs, "ns")
	one.Name = "a"
	ws.Keep(one)
	if watched, err := ws.WaitGone(ctx, podsGVR, "ns", "b", ""); watched || err != nil {
		t.Errorf("WaitGone without a watch on b: %v %v", watched, err)
	}
	gone := make(chan error, 1)
	go func() {
		watched, err := ws.WaitGone(ctx, podsGVR, "ns", "a", "ua")
		if !watched && err == nil {
			err = context.Canceled
		}
		gone <- err
	}()
	if err := cs.CoreV1().Pods("ns").Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-gone:
		if err != nil {
			t.Errorf("WaitGone: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WaitGone did not see the deletion")
	}
	if _, seen, g := ws.Get(podsGVR, "ns", "a"); seen || !g {
		t.Errorf("deleted pod a: seen %v gone %v", seen, g)
	}
	ws.Close()
	if !allStopped() {
		t.Error("Close did not stop the kept watches")
	}
	late, lateStopped := podInformer(t, cs, "ns")
	ws.Keep(late)
	if !lateStopped() {
		t.Error("a watch kept after Close runs on")
	}
	var none *Watches
	nw, noneStopped := podInformer(t, cs, "ns")
	none.Keep(nw)
	if _, seen, _ := none.Get(podsGVR, "ns", "a"); seen || !noneStopped() {
		t.Error("a nil Watches keeps watches")
	}
}
