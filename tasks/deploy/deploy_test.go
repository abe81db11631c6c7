package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	dynfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	clienttesting "k8s.io/client-go/testing"

	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/prepare"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/tasks/internal/apply"
	"github.com/kbrun/kbrun/tasks/internal/batchjob"
	"github.com/kbrun/kbrun/tasks/internal/fakeclock"
	"github.com/kbrun/kbrun/tasks/internal/fakewatch"
	"github.com/kbrun/kbrun/tasks/internal/waitnote"
)

var deployGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}

func deployment(gen, observed int64, replicas, updated, available int32) *unstructured.Unstructured {
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ones", Generation: gen, UID: "d-uid"},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "kbrun.local/busybox:1.35"}}}}},
		Status: appsv1.DeploymentStatus{ObservedGeneration: observed, Replicas: updated, UpdatedReplicas: updated, AvailableReplicas: available, ReadyReplicas: available},
	}
	m, _ := runtime.DefaultUnstructuredConverter.ToUnstructured(d)
	return &unstructured.Unstructured{Object: m}
}

func webPod(name string, mutate func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ones", Labels: map[string]string{"app": "web"}, CreationTimestamp: metav1.Now()},
		Status:     corev1.PodStatus{Phase: corev1.PodPending},
	}
	if mutate != nil {
		mutate(p)
	}
	return p
}

func newWaiter(t *testing.T, d *unstructured.Unstructured, pods ...runtime.Object) (*waiter, *dynfake.FakeDynamicClient, *fake.Clientset) {
	t.Helper()
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{deployGVR: "DeploymentList"}, d)
	typed := fake.NewSimpleClientset(pods...)
	mapping := &meta.RESTMapping{Resource: deployGVR, GroupVersionKind: deployGVR.GroupVersion().WithKind("Deployment"), Scope: meta.RESTScopeNamespace}
	w := &waiter{
		c:   &kube.Clients{Typed: typed, Dynamic: dyn},
		env: &task.Env{Stdout: io.Discard, Stderr: io.Discard, Logf: func(string, ...any) {}},
		ap: apply.Applied{Ref: kube.ObjectRef{GVR: deployGVR, Kind: "Deployment", Namespace: "ones", Name: "web"},
			Mapping: mapping, Object: d},
		grace: 30 * time.Second, failFast: true,
	}
	return w, dyn, typed
}

func TestWaitUntilRolledOut(t *testing.T) {
	_ = scheme.Scheme
	w, dyn, _ := newWaiter(t, deployment(1, 0, 1, 0, 0), webPod("web-a", func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	}))
	opened := fakewatch.Opened(dyn, "deployments")
	go func() {
		<-opened
		if _, err := dyn.Resource(deployGVR).Namespace("ones").Update(context.Background(), deployment(1, 1, 1, 1, 1), metav1.UpdateOptions{}); err != nil {
			t.Error(err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := w.wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(r.pods, ",") != "web-a" || strings.Join(r.images, ",") != "kbrun.local/busybox:1.35" {
		t.Fatalf("result %+v", r)
	}
}

func TestWaitFailsFastOnImagePullBackOff(t *testing.T) {
	w, _, typed := newWaiter(t, deployment(1, 1, 1, 1, 0), webPod("web-a", nil))
	typed.CoreV1().Events("ones").Create(context.Background(), &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "e1", Namespace: "ones"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web-a", Namespace: "ones"},
		Type:           "Warning", Reason: "Failed", Message: `Failed to pull image "nope:1": not found`, LastTimestamp: metav1.Now(),
	}, metav1.CreateOptions{})
	opened := fakewatch.Opened(typed, "pods")
	go func() {
		<-opened
		if _, err := typed.CoreV1().Pods("ones").Update(context.Background(), webPod("web-a", func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: `Back-off pulling image "nope:1"`}}}}
		}), metav1.UpdateOptions{}); err != nil {
			t.Error(err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	_, err := w.wait(ctx)
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("err = %v after %v", err, time.Since(start))
	}
	for _, want := range []string{"deployment ones/web cannot roll out: pod ones/web-a container app is stuck in ImagePullBackOff", `Back-off pulling image "nope:1"`, "latest events of the pod:", `Warning Failed`, `Failed to pull image "nope:1": not found`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%s", want, err)
		}
	}
}

// A pod sandbox the runtime refuses for good (hostUsers: false on a runtime
// without user namespaces) fails the rollout at once, quoting the runtime;
// a sandbox error that may heal (network not ready) waits for the timeout.
func TestWaitFailsFastOnPermanentSandboxError(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		fast bool
	}{
		{"Failed to create pod sandbox: can't set `spec.hostUsers: false`, runtime does not support user namespaces", true},
		{`Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "x": plugin type="bridge" failed`, false},
	} {
		creating := func(p *corev1.Pod) {
			p.UID = "pod-uid"
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}
		}
		w, _, typed := newWaiter(t, deployment(1, 1, 1, 1, 0), webPod("web-a", creating))
		watching := make(chan struct{})
		var once sync.Once
		typed.PrependWatchReactor("events", func(clienttesting.Action) (bool, watch.Interface, error) {
			once.Do(func() { close(watching) })
			return false, nil, nil
		})
		go func() {
			<-watching
			typed.CoreV1().Events("ones").Create(context.Background(), &corev1.Event{
				ObjectMeta:     metav1.ObjectMeta{Name: "e1", Namespace: "ones"},
				InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web-a", Namespace: "ones", UID: "pod-uid"},
				Type:           "Warning", Reason: "FailedCreatePodSandBox", Message: tc.msg, LastTimestamp: metav1.Now(),
			}, metav1.CreateOptions{})
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := w.wait(ctx)
		cancel()
		if err == nil {
			t.Fatalf("%s: no error", tc.msg)
		}
		timedOut := strings.Contains(err.Error(), "before the task timeout")
		if tc.fast == timedOut {
			t.Errorf("%s: fail fast %v, want %v:\n%s", tc.msg, !timedOut, tc.fast, err)
		}
		if !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("the error does not quote the runtime's %q:\n%s", tc.msg, err)
		}
		if tc.fast && !strings.Contains(err.Error(), "deployment ones/web cannot roll out: pod ones/web-a is stuck in FailedCreatePodSandBox: ") {
			t.Errorf("fail-fast message:\n%s", err)
		}
	}
}

func TestWaitTimeoutSaysWhy(t *testing.T) {
	w, _, _ := newWaiter(t, deployment(1, 1, 1, 1, 0), webPod("web-a", func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodRunning
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := w.wait(ctx)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`deployment ones/web was not rolled out before the task timeout: Waiting for deployment "web" rollout to finish: 0 of 1 updated replicas are available...`, "context deadline exceeded", "pods:\n  web-a: Running, not Ready, app running, not ready"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%s", want, err)
		}
	}
}

// A rollout that times out while the API server refuses every list and
// watch says so, with the server's error, instead of only the last status.
func TestWaitTimeoutNamesAnUnreachableServer(t *testing.T) {
	w, dyn, typed := newWaiter(t, deployment(1, 1, 1, 1, 0))
	refuse := func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New(`Get "https://10.250.250.1:6443/apis/apps/v1/namespaces/ones/deployments": dial tcp 10.250.250.1:6443: connect: connection refused`)
	}
	dyn.PrependReactor("list", "*", refuse)
	dyn.PrependWatchReactor("*", func(clienttesting.Action) (bool, watch.Interface, error) {
		return true, nil, errors.New("connection refused")
	})
	typed.PrependReactor("list", "*", refuse)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := w.wait(ctx)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"was not rolled out before the task timeout", "the API server has not answered list/watch requests for", "connect: connection refused", "no pods seen (the API server did not answer)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%s", want, err)
		}
	}
	// A server that answers leaves no such line (TestWaitTimeoutSaysWhy's
	// case): checked here on the same code path.
	w2, _, _ := newWaiter(t, deployment(1, 1, 1, 1, 0))
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	if _, err := w2.wait(ctx2); err == nil || strings.Contains(err.Error(), "has not answered") {
		t.Errorf("answering server: %v", err)
	}
}

func TestUnschedulableGrace(t *testing.T) {
	now := time.Now()
	p := webPod("web-a", func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
			Message: "0/1 nodes are available: 1 Insufficient cpu.", LastTransitionTime: metav1.NewTime(now.Add(-10 * time.Second))}}
	})
	w, _, _ := newWaiter(t, deployment(1, 1, 1, 1, 0))
	w.pods, w.rsRev, w.latest = map[string]*corev1.Pod{"web-a": p}, map[string]string{}, w.ap.Object
	w.now = func() time.Time { return now }
	timer := time.NewTimer(time.Hour)
	if err := w.checkPods(context.Background(), timer); err != nil {
		t.Fatalf("failed within the grace: %v", err)
	}
	w.now = func() time.Time { return now.Add(21 * time.Second) }
	err := w.checkPods(context.Background(), timer)
	if err == nil || !strings.Contains(err.Error(), "is stuck in Unschedulable: 0/1 nodes are available: 1 Insufficient cpu. (for more than 30s)") {
		t.Fatalf("err = %v", err)
	}
}

func TestOldRevisionPodDoesNotFailRollout(t *testing.T) {
	d := deployment(2, 2, 1, 1, 0)
	d.SetAnnotations(map[string]string{"deployment.kubernetes.io/revision": "2"})
	crashing := webPod("web-old", func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web-1", Controller: ptr(true), APIVersion: "apps/v1"}}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}
	})
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "ones", Annotations: map[string]string{"deployment.kubernetes.io/revision": "1"}}}
	w, _, _ := newWaiter(t, d, rs)
	w.pods, w.rsRev, w.latest, w.now = map[string]*corev1.Pod{"web-old": crashing}, map[string]string{}, d, time.Now
	if err := w.checkPods(context.Background(), time.NewTimer(time.Hour)); err != nil {
		t.Fatalf("old revision failed the rollout: %v", err)
	}
	w.rsRev["web-1"] = "2"
	if err := w.checkPods(context.Background(), time.NewTimer(time.Hour)); err == nil || !strings.Contains(err.Error(), "CrashLoopBackOff") {
		t.Fatalf("current revision not failed: %v", err)
	}
}

// TestJobStatus: a Job is done when Complete or SuccessTarget (1.31+:
// decided, pods still terminating) and fails at once when Failed or
// FailureTarget, whatever else its status says.
func TestJobStatus(t *testing.T) {
	w := &waiter{ap: apply.Applied{Ref: kube.ObjectRef{Kind: "Job"}}}
	job := func(conds ...map[string]any) *unstructured.Unstructured {
		list := make([]any, len(conds))
		for i, c := range conds {
			list[i] = c
		}
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "batch/v1", "kind": "Job", "metadata": map[string]any{"name": "j"},
			"status": map[string]any{"succeeded": int64(1), "conditions": list}}}
	}
	for _, tc := range []struct {
		conds      []map[string]any
		done       bool
		wantFailed string
	}{
		{[]map[string]any{{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}}, false, "Failed: BackoffLimitExceeded: Job has reached the specified backoff limit"},
		{[]map[string]any{{"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded"}}, false, "FailureTarget: BackoffLimitExceeded"},
		{[]map[string]any{{"type": "SuccessTarget", "status": "True", "reason": "CompletionsReached"}}, true, ""},
		{[]map[string]any{{"type": "Complete", "status": "True"}}, true, ""},
		{[]map[string]any{{"type": "Complete", "status": "False"}, {"type": "Suspended", "status": "True"}}, false, ""},
	} {
		_, done, err := w.rolloutStatus(job(tc.conds...))
		var jf *batchjob.Failed
		switch {
		case tc.wantFailed != "" && (!errors.As(err, &jf) || jf.Cond != tc.wantFailed):
			t.Errorf("%v: err %v, want failed %q", tc.conds, err, tc.wantFailed)
		case tc.wantFailed == "" && (err != nil || done != tc.done):
			t.Errorf("%v: done %v err %v, want done %v", tc.conds, done, err, tc.done)
		}
	}
}

// TestJobFailureQuotesPod: a failed Job's error names the condition, the
// newest pod whose container failed, its reason and exit code, and the end
// of its log.
func TestJobFailureQuotesPod(t *testing.T) {
	pod := func(name string, age time.Duration, code int32) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ones", Labels: map[string]string{"batch.kubernetes.io/controller-uid": "j-uid"}, CreationTimestamp: metav1.NewTime(time.Now().Add(-age))},
			Status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{Name: "migrate",
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: code, Message: "schema v3 missing"}}}}}}
	}
	typed := fake.NewSimpleClientset(pod("migrate-old", time.Hour, 1), pod("migrate-new", time.Minute, 3))
	w := &waiter{c: &kube.Clients{Typed: typed}, ap: apply.Applied{Ref: kube.ObjectRef{Kind: "Job", Namespace: "ones", Name: "migrate"}}}
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "batch/v1", "kind": "Job",
		"metadata": map[string]any{"name": "migrate", "namespace": "ones", "uid": "j-uid"},
		"spec":     map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"batch.kubernetes.io/controller-uid": "j-uid"}}}}}
	err := w.jobError(context.Background(), u, &batchjob.Failed{Cond: "FailureTarget: BackoffLimitExceeded: Job has reached the specified backoff limit"})
	want := "job ones/migrate failed (FailureTarget: BackoffLimitExceeded: Job has reached the specified backoff limit)\n" +
		"pod ones/migrate-new container migrate terminated: Error, exit code 3: schema v3 missing\nlast lines of its log:\n  | fake logs"
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
}

func TestDescribe(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "t.yaml"), []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: other}\n"), 0o644)
	a, err := Type{}.Prepare(task.Params{Value: map[string]any{"files": []any{"t.yaml"}, "namespace": "ones"}, Dir: dir, Manifests: prepare.Reader(dir, nil)})
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Describe(); got != "deploy t.yaml (deployment other/web) and wait for the rollout" {
		t.Fatal(got)
	}
}

func ptr[T any](v T) *T { return &v }

// The fake clients do not implement watch-list streaming; real API servers do.
func TestMain(m *testing.M) {
	os.Setenv("KUBE_FEATURE_WatchListClient", "false")
	os.Exit(m.Run())
}

// A running pod whose node went NotReady fails the rollout once it has
// not been ready for the grace, naming the node and why; a pod on a Ready
// node that is slow to get ready does not.
func TestNodeNotReadyFailsFast(t *testing.T) {
	now := time.Now()
	p := webPod("web-a", func(p *corev1.Pod) {
		p.Spec.NodeName = "n2"
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.NewTime(now.Add(-10 * time.Second))}}
	})
	node := func(ready corev1.ConditionStatus) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: ready, Reason: "KubeletStopped", Message: "kubelet stopped posting node status",
			LastTransitionTime: metav1.NewTime(now.Add(-15 * time.Second))}}}}
	}
	for _, tc := range []struct {
		ready corev1.ConditionStatus
		fail  bool
	}{{corev1.ConditionUnknown, true}, {corev1.ConditionTrue, false}} {
		w, _, _ := newWaiter(t, deployment(1, 1, 1, 1, 0), node(tc.ready))
		w.pods, w.rsRev, w.latest = map[string]*corev1.Pod{"web-a": p}, map[string]string{}, w.ap.Object
		w.now = func() time.Time { return now }
		timer := time.NewTimer(time.Hour)
		if err := w.checkPods(context.Background(), timer); err != nil {
			t.Fatalf("failed within the grace: %v", err)
		}
		w.now = func() time.Time { return now.Add(21 * time.Second) }
		err := w.checkPods(context.Background(), timer)
		if got := err != nil; got != tc.fail {
			t.Fatalf("node Ready=%s: err = %v, want failure %v", tc.ready, err, tc.fail)
		}
		if tc.fail && !strings.Contains(err.Error(), "its node n2 is not Ready (Ready=Unknown since") {
			t.Errorf("err = %v, want the node and why", err)
		}
	}
}

// TestRolloutNotes: a rollout that lasts says what it waits for after
// waitnote.After, then every waitnote.Every, without kubectl's "Waiting
// for" twice.
func TestRolloutNotes(t *testing.T) {
	w, _, _ := newWaiter(t, deployment(1, 1, 1, 1, 0))
	fc := fakeclock.New(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	w.clock = fc
	lines := make(chan string, 10)
	w.env.Logf = func(f string, a ...any) { lines <- fmt.Sprintf(f, a...) }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := w.wait(ctx); done <- err }()
	line := func() string {
		t.Helper()
		select {
		case l := <-lines:
			return l
		case err := <-done:
			t.Fatalf("the wait ended: %v", err)
		case <-ctx.Done():
			t.Fatal("no line")
		}
		return ""
	}
	timer := func(want time.Duration) {
		t.Helper()
		if d := <-fc.Set; d != want {
			t.Fatalf("timer of %s, want %s", d, want)
		}
	}
	// The status line comes first: the note then has a status to tell.
	if l := line(); l != `Waiting for deployment "web" rollout to finish: 0 of 1 updated replicas are available...` {
		t.Fatalf("first line %q", l)
	}
	timer(waitnote.After)
	fc.Step(waitnote.After)
	if l, want := line(), "waiting for the rollout of deployment ones/web (2s so far): 0 of 1 updated replicas are available"; l != want {
		t.Errorf("got  %s\nwant %s", l, want)
	}
	timer(waitnote.Every)
	fc.Step(waitnote.Every)
	if l, want := line(), "waiting for the rollout of deployment ones/web (12s so far): 0 of 1 updated replicas are available"; l != want {
		t.Errorf("got  %s\nwant %s", l, want)
	}
	cancel()
	<-done
}

// TestWaitingOn: a note names the pods the rollout waits on, newest
// first: one not ready (why), one terminating (its grace period), at most
// notedPods of them.
func TestWaitingOn(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	w, _, _ := newWaiter(t, deployment(1, 1, 1, 1, 0))
	w.status = `Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...`
	at := func(s int) metav1.Time { return metav1.NewTime(now.Add(time.Duration(s) * time.Second)) }
	grace := int64(30)
	w.pods = map[string]*corev1.Pod{
		"web-new": webPod("web-new", func(p *corev1.Pod) {
			p.CreationTimestamp = at(-1)
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}
		}),
		"web-old": webPod("web-old", func(p *corev1.Pod) {
			p.CreationTimestamp = at(-60)
			end := at(25)
			p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &end, &grace
			p.Spec.NodeName = "n1"
			p.Status.Phase = corev1.PodRunning
		}),
		"web-ready": webPod("web-ready", func(p *corev1.Pod) {
			p.CreationTimestamp = at(-30)
			p.Status.Phase = corev1.PodRunning
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		}),
	}
	want := "1 old replicas are pending termination; pod web-new: Pending, not Ready, app waiting: ContainerCreating; " +
		"pod web-old is terminating: its containers have not stopped on SIGTERM; its grace period of 30s ends in 25s, then they get SIGKILL"
	if got := w.waitingOn(now); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	for i := range 4 {
		name := fmt.Sprintf("web-x%d", i)
		w.pods[name] = webPod(name, func(p *corev1.Pod) { p.CreationTimestamp = at(-100 - i) })
	}
	if got := w.waitingOn(now); strings.Count(got, "pod web-") != notedPods || !strings.HasSuffix(got, "; 3 more pods") {
		t.Errorf("with 6 pods not ready: %s", got)
	}
}
