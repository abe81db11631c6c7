package delete

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"

	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/tasks/internal/fakeclock"
	"github.com/kbrun/kbrun/tasks/internal/waitnote"
)

// TestWaitGoneSaysWhy: a delete that waits on a pod in its grace period
// says so after waitnote.After, naming the pod and the reason, then every
// waitnote.Every, and ends when the pod is gone.
func TestWaitGoneSaysWhy(t *testing.T) {
	pods := schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	fc := fakeclock.New(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	pod := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "web", "namespace": "ones", "uid": "u1"},
		"spec":     map[string]any{"nodeName": "n1"}}}
	end := metav1.NewTime(fc.Now().Add(30 * time.Second))
	grace := int64(30)
	pod.SetDeletionTimestamp(&end)
	pod.SetDeletionGracePeriodSeconds(&grace)
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{pods: "PodList"}, pod)
	c := &kube.Clients{Dynamic: dyn, Mapper: meta.NewDefaultRESTMapper(nil)}
	lines := make(chan string, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- waitGone(ctx, c, kube.ObjectRef{GVR: pods, Kind: "Pod", Namespace: "ones", Name: "web", UID: "u1"}, fc, func(f string, a ...any) {
			lines <- f
			if len(a) == 1 {
				lines <- a[0].(string)
			}
		})
	}()
	next := func(want time.Duration) {
		t.Helper()
		select {
		case d := <-fc.Set:
			if d != want {
				t.Fatalf("timer of %s, want %s", d, want)
			}
		case err := <-done:
			t.Fatalf("the wait ended: %v", err)
		case <-ctx.Done():
			t.Fatal("no timer set")
		}
	}
	say := func(want string) {
		t.Helper()
		var got string
		for got == "" || got == "%s" {
			select {
			case got = <-lines:
			case <-ctx.Done():
				t.Fatalf("no line; want %s", want)
			}
		}
		if got != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}

	next(waitnote.After)
	fc.Step(waitnote.After)
	say("waiting for pod ones/web to be deleted (2s so far): its containers have not stopped on SIGTERM; its grace period of 30s ends in 28s, then they get SIGKILL")
	next(waitnote.Every)

	fc.Step(waitnote.Every)
	say("waiting for pod ones/web to be deleted (12s so far): its containers have not stopped on SIGTERM; its grace period of 30s ends in 18s, then they get SIGKILL")
	next(waitnote.Every)

	if err := dyn.Resource(pods).Namespace("ones").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("wait: %v", err)
	}
}
