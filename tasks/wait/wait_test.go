package wait

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/tasks/internal/fakewatch"
)

func TestMain(m *testing.M) {
	os.Setenv("KUBE_FEATURE_WatchListClient", "false") // fakes do not stream lists
	os.Exit(m.Run())
}

func prep(t *testing.T, p map[string]any) *action {
	t.Helper()
	a, err := Type{}.Prepare(task.Params{Value: p, Rendered: true})
	if err != nil {
		t.Fatal(err)
	}
	return a.(*action)
}

func obj(phase string, conds ...map[string]any) *unstructured.Unstructured {
	var cs []any
	for _, c := range conds {
		cs = append(cs, c)
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "p", "namespace": "ones", "labels": map[string]any{"app": "x"}},
		"status": map[string]any{"phase": phase, "conditions": cs},
	}}
}

func TestMet(t *testing.T) {
	a := prep(t, map[string]any{"kind": "pod", "name": "p", "jsonpath": "{.status.phase}", "value": "Running"})
	if ok, _ := a.met(obj("Pending")); ok {
		t.Fatal("Pending met Running")
	}
	if ok, now := a.met(obj("Running")); !ok {
		t.Fatal(now)
	}
	a = prep(t, map[string]any{"kind": "pod", "name": "p", "jsonpath": ".status.phase"})
	if ok, _ := a.met(obj("")); ok {
		t.Fatal("empty phase counted")
	}
	a = prep(t, map[string]any{"kind": "pod", "name": "p", "condition": "Ready"})
	if ok, now := a.met(obj("Running", map[string]any{"type": "Ready", "status": "False"})); ok || now != "conditions Ready=False" {
		t.Fatal(now)
	}
	a = prep(t, map[string]any{"kind": "pod", "name": "p", "condition": "ready=false"})
	if ok, _ := a.met(obj("Running", map[string]any{"type": "Ready", "status": "False"})); !ok {
		t.Fatal("Ready=False not met")
	}
}

func TestPrepareRejects(t *testing.T) {
	for _, p := range []map[string]any{
		{"kind": "pod", "condition": "Ready"},
		{"kind": "pod", "name": "p", "selector": "a=b", "condition": "Ready"},
		{"kind": "pod", "name": "p"},
		{"kind": "pod", "name": "p", "condition": "Ready", "delete": true},
		{"kind": "pod", "name": "p", "condition": "Ready", "value": "x"},
		{"kind": "pod", "name": "p", "jsonpath": "{.status.phase"},
	} {
		if _, err := (Type{}).Prepare(task.Params{Value: p, Rendered: true}); err == nil {
			t.Errorf("accepted %v", p)
		}
	}
}

func TestDescribe(t *testing.T) {
	for p, want := range map[*map[string]any]string{
		{"kind": "deployment", "name": "web", "namespace": "ones", "condition": "Available"}:         "wait until deployment ones/web is Available",
		{"kind": "pods", "selector": "app=web", "jsonpath": "{.status.phase}", "value": "Running"}:   `wait until every pods labelled app=web in <run namespace> has {.status.phase} = "Running"`,
		{"kind": "job", "name": "build", "namespace": "ones", "delete": true}:                        "wait until job ones/build is deleted",
		{"kind": "deployment", "name": "web", "namespace": "ones", "condition": "Progressing=False"}: "wait until deployment ones/web has condition Progressing=False",
	} {
		if got := prep(t, *p).Describe(); got != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
}

func TestRunByWatch(t *testing.T) {
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{gvr: "PodList"}, obj("Pending"))
	rm := meta.NewDefaultRESTMapper(nil)
	rm.Add(schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, meta.RESTScopeNamespace)
	env := &task.Env{Namespace: "ones", Stdout: io.Discard, Stderr: io.Discard, Logf: func(string, ...any) {},
		Kube: kube.StaticProvider{C: &kube.Clients{Dynamic: dyn, Mapper: rm}}}
	a := prep(t, map[string]any{"kind": "pod", "selector": "app=x", "jsonpath": "{.status.phase}", "value": "Running"})
	opened := fakewatch.Opened(dyn, "pods")
	go func() {
		<-opened
		if _, err := dyn.Resource(gvr).Namespace("ones").Update(context.Background(), obj("Running"), metav1.UpdateOptions{}); err != nil {
			t.Error(err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := a.Run(ctx, env)
	if err != nil || out["name"] != "p" {
		t.Fatalf("%v %v", out, err)
	}
	// Timeout names the state.
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	a = prep(t, map[string]any{"kind": "pod", "name": "p", "jsonpath": "{.status.phase}", "value": "Succeeded"})
	_, err = a.Run(ctx, env)
	if err == nil || !strings.Contains(err.Error(), `timed out waiting until pod ones/p has {.status.phase} = "Succeeded"`) || !strings.Contains(err.Error(), `now: p: {.status.phase} = "Running"`) {
		t.Fatalf("err = %v", err)
	}
	// delete of something absent is done at once.
	a = prep(t, map[string]any{"kind": "pod", "name": "gone", "delete": true})
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := a.Run(ctx, env); err != nil {
		t.Fatal(err)
	}
}

// TestWaitJobFailsFast: waiting for a Job to be Complete ends at once when
// it has failed (Failed, or FailureTarget before its pods are gone),
// quoting the failed pod; waiting for Failed itself is a wait like others.
func TestWaitJobFailsFast(t *testing.T) {
	gvr := schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}
	job := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "batch/v1", "kind": "Job", "metadata": map[string]any{"name": "migrate", "namespace": "ones", "uid": "j-uid"},
		"status": map[string]any{"conditions": []any{map[string]any{"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}}},
	}}
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{gvr: "JobList"}, job)
	rm := meta.NewDefaultRESTMapper(nil)
	rm.Add(schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "Job"}, meta.RESTScopeNamespace)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "migrate-x", Namespace: "ones", Labels: map[string]string{"batch.kubernetes.io/controller-uid": "j-uid"}},
		Status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{Name: "m", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 2}}}}}}
	env := &task.Env{Namespace: "ones", Stdout: io.Discard, Stderr: io.Discard, Logf: func(string, ...any) {},
		Kube: kube.StaticProvider{C: &kube.Clients{Dynamic: dyn, Mapper: rm, Typed: fake.NewSimpleClientset(pod)}}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err := prep(t, map[string]any{"kind": "job", "name": "migrate", "condition": "Complete"}).Run(ctx, env)
	if err == nil || time.Since(start) > 10*time.Second ||
		!strings.Contains(err.Error(), "job ones/migrate failed (FailureTarget: BackoffLimitExceeded: Job has reached the specified backoff limit) while waiting until it is Complete") ||
		!strings.Contains(err.Error(), "pod ones/migrate-x container m terminated: Error, exit code 2") {
		t.Fatalf("after %v: %v", time.Since(start), err)
	}
	out, err := prep(t, map[string]any{"kind": "job", "name": "migrate", "condition": "FailureTarget"}).Run(ctx, env)
	if err != nil || out["name"] != "migrate" {
		t.Fatalf("waiting for the failure: %v %v", out, err)
	}
}
