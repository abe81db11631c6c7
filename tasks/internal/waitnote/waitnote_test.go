package waitnote

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestMain(m *testing.M) {
	os.Setenv("KUBE_FEATURE_WatchListClient", "false") // fakes do not stream lists
	os.Exit(m.Run())
}

// TestHolding: what keeps an object being deleted, from its own fields.
func TestHolding(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	deleting := func(apiVersion, kind string, at time.Time, fields map[string]any) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": map[string]any{"name": "x"}}}
		for k, v := range fields {
			u.Object[k] = v
		}
		ts := metav1.NewTime(at)
		u.SetDeletionTimestamp(&ts)
		return u
	}
	grace := func(u *unstructured.Unstructured, s int64) *unstructured.Unstructured {
		u.SetDeletionGracePeriodSeconds(&s)
		return u
	}
	fin := func(u *unstructured.Unstructured, fs ...string) *unstructured.Unstructured {
		u.SetFinalizers(fs)
		return u
	}
	onNode := map[string]any{"spec": map[string]any{"nodeName": "n1"}}
	for _, tc := range []struct {
		name string
		obj  *unstructured.Unstructured
		want string
	}{
		{"nil", nil, ""},
		{"pod in its grace period", grace(deleting("v1", "Pod", now.Add(28*time.Second), onNode), 30),
			"its containers have not stopped on SIGTERM; its grace period of 30s ends in 28s, then they get SIGKILL"},
		{"pod past its grace period", grace(deleting("v1", "Pod", now.Add(-3*time.Second), onNode), 30),
			"its grace period of 30s ended 3s ago; waiting for the kubelet on node n1 to confirm its containers stopped"},
		{"pod never scheduled", grace(deleting("v1", "Pod", now.Add(-time.Second), nil), 0),
			"its grace period of 0s is over; the pod was never scheduled, the API server removes it"},
		{"pod with a finalizer", fin(grace(deleting("v1", "Pod", now.Add(10*time.Second), onNode), 30), "example.com/hold"),
			"its containers have not stopped on SIGTERM; its grace period of 30s ends in 10s, then they get SIGKILL; finalizer example.com/hold: the controller that added it has not removed it"},
		{"namespace with content", deleting("v1", "Namespace", now, map[string]any{
			"spec": map[string]any{"finalizers": []any{"kubernetes"}},
			"status": map[string]any{"phase": "Terminating", "conditions": []any{
				map[string]any{"type": "NamespaceDeletionDiscoveryFailure", "status": "False", "message": "All resources successfully discovered"},
				map[string]any{"type": "NamespaceContentRemaining", "status": "True", "message": "Some resources are remaining: pods. has 1 resource instances"},
				map[string]any{"type": "NamespaceFinalizersRemaining", "status": "True", "message": "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"},
			}}}),
			"Some resources are remaining: pods. has 1 resource instances; Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"},
		{"namespace before its controller reported", deleting("v1", "Namespace", now, map[string]any{"spec": map[string]any{"finalizers": []any{"kubernetes"}}}),
			"the namespace controller is deleting what it holds (finalizer kubernetes)"},
		{"claim in use", fin(deleting("v1", "PersistentVolumeClaim", now, nil), "kubernetes.io/pvc-protection"),
			"finalizer kubernetes.io/pvc-protection: a pod still uses the claim"},
		{"foreground", fin(deleting("apps/v1", "Deployment", now, nil), "foregroundDeletion"),
			"finalizer foregroundDeletion: its dependents are deleted first (foreground deletion)"},
		{"a custom kind named Pod is not a pod", fin(deleting("example.com/v1", "Pod", now, nil), "example.com/hold"),
			"finalizer example.com/hold: the controller that added it has not removed it"},
		{"nothing to say", deleting("v1", "ConfigMap", now, nil), "the API server has not removed it yet"},
		{"not marked", &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap"}}, "not marked for deletion yet"},
	} {
		if got := Holding(tc.obj, now); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

// TestHoldingTypedPod: a deploy task's kept watch holds typed pods, which
// carry no apiVersion or kind; their notes still name the grace period.
func TestHoldingTypedPod(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	ts := metav1.NewTime(now.Add(13 * time.Second))
	grace := int64(15)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "stubborn-1", DeletionTimestamp: &ts, DeletionGracePeriodSeconds: &grace},
		Spec:       corev1.PodSpec{NodeName: "n1"},
	}
	want := "its containers have not stopped on SIGTERM; its grace period of 15s ends in 13s, then they get SIGKILL"
	if got := Holding(AsUnstructured(pod, "v1", "Pod"), now); got != want {
		t.Errorf("typed pod:\n got %s\nwant %s", got, want)
	}
	if AsUnstructured(nil, "v1", "Pod") != nil {
		t.Error("AsUnstructured(nil) is not nil")
	}
}

// TestNamespaceHolding: a namespace's note names the pods it still holds,
// which its conditions do not.
func TestNamespaceHolding(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	ts := metav1.NewTime(now.Add(9 * time.Second))
	grace := int64(15)
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "x"},
		"spec": map[string]any{"finalizers": []any{"kubernetes"}}}}
	del := metav1.NewTime(now)
	ns.SetDeletionTimestamp(&del)
	pods := []corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{Name: "a", DeletionTimestamp: &ts, DeletionGracePeriodSeconds: &grace}, Spec: corev1.PodSpec{NodeName: "n1"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "b"}}, {ObjectMeta: metav1.ObjectMeta{Name: "c"}}, {ObjectMeta: metav1.ObjectMeta{Name: "d"}},
	}
	for _, tc := range []struct {
		pods []corev1.Pod
		err  error
		want string
	}{
		{pods[:1], nil, "1 pod remaining: a (its containers have not stopped on SIGTERM; its grace period of 15s ends in 9s, then they get SIGKILL); the namespace controller is deleting what it holds (finalizer kubernetes)"},
		{pods, nil, "4 pods remaining: a (its containers have not stopped on SIGTERM; its grace period of 15s ends in 9s, then they get SIGKILL), b, c, 1 more; the namespace controller is deleting what it holds (finalizer kubernetes)"},
		{nil, nil, "the namespace controller is deleting what it holds (finalizer kubernetes)"},
		{pods, errors.New("forbidden"), "the namespace controller is deleting what it holds (finalizer kubernetes)"},
	} {
		list := func(context.Context) ([]corev1.Pod, error) { return tc.pods, tc.err }
		if got := NamespaceHoldingNow(context.Background(), list, func() *unstructured.Unstructured { return ns })(now); got != tc.want {
			t.Errorf("%d pods (err %v):\n got %s\nwant %s", len(tc.pods), tc.err, got, tc.want)
		}
	}
}

// TestNotePace: the first line after After, the next Every later,
// each saying how long the wait has lasted.
func TestNotePace(t *testing.T) {
	fc := clocktesting.NewFakeClock(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	n := New(fc)
	defer n.Stop()
	fired := func() bool {
		select {
		case <-n.C():
			return true
		default:
			return false
		}
	}
	fc.Step(After - time.Millisecond)
	if fired() {
		t.Fatal("a line before After")
	}
	fc.Step(time.Millisecond)
	if !fired() {
		t.Fatal("no line at After")
	}
	if got, want := n.Say("pod a/b to be deleted", "why"), "waiting for pod a/b to be deleted (2s so far): why"; got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	fc.Step(Every - time.Millisecond)
	if fired() {
		t.Fatal("a second line before Every")
	}
	fc.Step(time.Millisecond)
	if !fired() {
		t.Fatal("no second line Every after the first")
	}
	if got := n.Say("x", ""); !strings.HasPrefix(got, "waiting for x (12s so far)") || strings.Contains(got, ":") {
		t.Errorf("second line %q", got)
	}
}

// TestWatchGoneSeesChanges: what the lines say is what the watch last saw:
// a finalizer added while waiting is passed on, and the wait ends when the
// object is deleted.
func TestWatchGoneSeesChanges(t *testing.T) {
	cms := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "held", "namespace": "ones", "uid": "u1"}}}
	other := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "other", "namespace": "ones", "uid": "u2"}}}
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{cms: "ConfigMapList"}, cm, other)
	ri := dyn.Resource(cms).Namespace("ones")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	seen := make(chan *unstructured.Unstructured, 100)
	done := make(chan error, 1)
	go func() {
		done <- WatchGone(ctx, ri, "held", "u1", func(u *unstructured.Unstructured) { seen <- u })
	}()
	if u := <-seen; u.GetName() != "held" || len(u.GetFinalizers()) != 0 {
		t.Fatalf("first seen %v", u.Object)
	}
	held := cm.DeepCopy()
	held.SetFinalizers([]string{"example.com/hold"})
	if _, err := ri.Update(ctx, held, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for u := range seen { // the initial list first, then the update
		if u.GetName() != "held" {
			t.Fatalf("seen %s, not the object waited for", u.GetName())
		}
		if len(u.GetFinalizers()) == 1 {
			break
		}
	}
	// The fake ignores the field selector: another object's change is not ours.
	if err := ri.Delete(ctx, "other", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := ri.Delete(ctx, "held", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("wait: %v", err)
	}
	close(seen)
	for u := range seen {
		if u.GetName() != "held" {
			t.Errorf("seen %s, not the object waited for", u.GetName())
		}
	}
}
