package assert

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/prepare"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/tasks/internal/fakewatch"
)

func TestMain(m *testing.M) {
	os.Setenv("KUBE_FEATURE_WatchListClient", "false") // fakes do not stream lists
	os.Exit(m.Run())
}

func prep(t *testing.T, dir string, p map[string]any) (*action, error) {
	t.Helper()
	a, err := Type{}.Prepare(task.Params{Value: p, Rendered: true, Dir: dir, Manifests: prepare.Reader(dir, nil), Namespace: "ones"})
	if err != nil {
		return nil, err
	}
	return a.(*action), nil
}

func mustPrep(t *testing.T, p map[string]any) *action {
	t.Helper()
	a, err := prep(t, t.TempDir(), p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestPrepareErrors: a bad expectation stops validate, at its line in
// the file (FILE:LINE:COL and the field), or at the manifest parameter.
func TestPrepareErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "expect.yaml"), []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nstatus:\n  readyReplicas: \"${ self >= }\"\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: \"${ self }\"}\n"), 0o644)
	_, err := prep(t, dir, map[string]any{"files": []any{"expect.yaml"}})
	for _, want := range []string{
		`expect.yaml:5:18: status.readyReplicas: CEL expression "self >=": ERROR: <input>:1:8: Syntax error`,
		`expect.yaml:9:18: metadata.name: give the name itself: it says which object to read`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v\nwant %s", err, want)
		}
	}
	_, err = prep(t, dir, map[string]any{"manifest": "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: {$every: {}}}\n"})
	if fp, _ := task.Field(err); err == nil || strings.Join(fp, ".") != "manifest" || !strings.Contains(err.Error(), "line 4: spec.containers.$every: unknown operator $every") {
		t.Errorf("inline: %v", err)
	}
	for p, want := range map[*map[string]any]string{
		{"manifest": "apiVersion: v1\nkind: Pod\n", "stableFor": "5s"}:                 "stableFor goes with absent",
		{"manifest": "apiVersion: v1\nkind: Pod\n", "absent": true, "match": "any"}:    "match goes without absent",
		{"manifest": "apiVersion: v1\nkind: Pod\n", "absent": true, "stableFor": "5x"}: "stableFor",
		{"namespace": "ones"}: "give files or manifest",
	} {
		if _, err := prep(t, dir, *p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: err = %v, want %q", *p, err, want)
		}
	}
}

func TestDescribe(t *testing.T) {
	const two = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n---\napiVersion: v1\nkind: Pod\nmetadata: {labels: {app: web}, namespace: other}\n"
	for p, want := range map[*map[string]any]string{
		{"manifest": two}:                 "assert that deployment ones/web and every pod labelled app=web in other match",
		{"manifest": two, "match": "any"}: "assert that deployment ones/web and a pod labelled app=web in other match",
		{"manifest": two, "absent": true}: "assert that nothing matches deployment ones/web and pods labelled app=web in other",
		{"manifest": "apiVersion: v1\nkind: Pod\n", "absent": true, "stableFor": "30s"}:         "assert for 30s that nothing matches pods in ones",
		{"manifest": "apiVersion: v1\nkind: Pod\nmetadata: {labels: {a: b}}\n", "match": "any"}: "assert that a pod labelled a=b in ones matches",
		// Cluster-scoped: no namespace, whatever the task's.
		{"manifest": "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\n"}: "assert that customresourcedefinition widgets.example.com matches",
	} {
		if got := mustPrep(t, *p).Describe(); got != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
}

var (
	deployGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	podGVR    = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	secretGVR = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
)

func object(t *testing.T, s string) *unstructured.Unstructured {
	t.Helper()
	m, _ := decode(t, s).(map[string]any)
	return &unstructured.Unstructured{Object: m}
}

func cluster(objs ...runtime.Object) (*dynfake.FakeDynamicClient, *task.Env) {
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		deployGVR: "DeploymentList", podGVR: "PodList", secretGVR: "SecretList",
	}, objs...)
	rm := meta.NewDefaultRESTMapper(nil)
	rm.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, meta.RESTScopeNamespace)
	rm.Add(schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, meta.RESTScopeNamespace)
	rm.Add(schema.GroupVersionKind{Version: "v1", Kind: "Secret"}, meta.RESTScopeNamespace)
	env := &task.Env{Namespace: "ones", Stdout: io.Discard, Stderr: io.Discard, Logf: func(string, ...any) {},
		Kube: kube.StaticProvider{C: &kube.Clients{Dynamic: dyn, Mapper: rm}}}
	return dyn, env
}

func deployment(ready int) string {
	return `{apiVersion: apps/v1, kind: Deployment, metadata: {name: web, namespace: ones}, spec: {replicas: 2},
  status: {readyReplicas: ` + string(rune('0'+ready)) + `, conditions: [{type: Progressing, status: "True"}, {type: Available, status: "` + map[bool]string{true: "True", false: "False"}[ready >= 2] + `"}]}}`
}

const rollout = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
status:
  readyReplicas: "${ self >= 2 }"
  conditions: {$any: [{type: Available, status: "True"}]}
`

func run(t *testing.T, a *action, env *task.Env, d time.Duration) (task.Outputs, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return a.Run(ctx, env)
}

// TestRunByWatch: the assert passes on the change that makes the object
// match, seen by watch; the outputs name it.
func TestRunByWatch(t *testing.T) {
	dyn, env := cluster(object(t, deployment(1)))
	opened := fakewatch.Opened(dyn, "deployments")
	go func() {
		<-opened
		if _, err := dyn.Resource(deployGVR).Namespace("ones").Update(context.Background(), object(t, deployment(2)), metav1.UpdateOptions{}); err != nil {
			t.Error(err)
		}
	}()
	out, err := run(t, mustPrep(t, map[string]any{"manifest": rollout}), env, 10*time.Second)
	if err != nil || out["name"] != "web" || len(out["objects"].([]any)) != 1 || out["objects"].([]any)[0] != "deployment/web" {
		t.Fatalf("%v %v", out, err)
	}
}

// TestTimeout: the error says, per expected object, how the closest live
// object differs (testdata/timeout.golden).
func TestTimeout(t *testing.T) {
	_, env := cluster(object(t, deployment(1)),
		object(t, `{apiVersion: v1, kind: Pod, metadata: {name: web-a, namespace: ones, labels: {app: web}}, status: {phase: Running}}`),
		object(t, `{apiVersion: v1, kind: Pod, metadata: {name: web-b, namespace: ones, labels: {app: web}}, status: {phase: Pending}}`),
		object(t, `{apiVersion: v1, kind: Pod, metadata: {name: db, namespace: ones, labels: {app: db}}, status: {phase: Pending}}`))
	var b strings.Builder
	for _, p := range []map[string]any{
		{"manifest": rollout + "---\napiVersion: v1\nkind: Pod\nmetadata: {labels: {app: web}}\nstatus: {phase: Running}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: gone}\n"},
		{"manifest": "apiVersion: v1\nkind: Pod\nmetadata: {labels: {app: web}}\nstatus: {phase: Succeeded}\n", "match": "any"},
		{"manifest": "apiVersion: v1\nkind: Pod\nmetadata: {labels: {app: cache}}\n"},
	} {
		_, err := run(t, mustPrep(t, p), env, 300*time.Millisecond)
		if err == nil {
			t.Fatalf("%v passed", p)
		}
		b.WriteString(err.Error() + "\n\n")
	}
	golden(t, "timeout", b.String())
}

// TestSelectors: by labels, all must match (and one exist), or any one.
func TestSelectors(t *testing.T) {
	_, env := cluster(
		object(t, `{apiVersion: v1, kind: Pod, metadata: {name: web-a, namespace: ones, labels: {app: web}}, status: {phase: Running}}`),
		object(t, `{apiVersion: v1, kind: Pod, metadata: {name: web-b, namespace: ones, labels: {app: web}}, status: {phase: Pending}}`))
	running := "apiVersion: v1\nkind: Pod\nmetadata: {labels: {app: web}}\nstatus: {phase: Running}\n"
	out, err := run(t, mustPrep(t, map[string]any{"manifest": running, "match": "any"}), env, 5*time.Second)
	if err != nil || out["name"] != "web-a" || len(out["names"].([]any)) != 1 {
		t.Errorf("any: %v %v", out, err)
	}
	if _, err := run(t, mustPrep(t, map[string]any{"manifest": running}), env, 300*time.Millisecond); err == nil || !strings.Contains(err.Error(), "1 of 2 differs") {
		t.Errorf("all: %v", err)
	}
	out, err = run(t, mustPrep(t, map[string]any{"manifest": "apiVersion: v1\nkind: Pod\nmetadata: {labels: {app: web}}\nstatus: {phase: \"${ self in ['Running', 'Pending'] }\"}\n"}), env, 5*time.Second)
	if err != nil || len(out["names"].([]any)) != 2 {
		t.Errorf("all with CEL: %v %v", out, err)
	}
}

// TestAbsent: nothing matching is done at once; with stableFor, an object
// that comes to match fails the task at once, quoted, Secret data hidden.
func TestAbsent(t *testing.T) {
	dyn, env := cluster(object(t, `{apiVersion: v1, kind: Secret, metadata: {name: token, namespace: ones, labels: {app: web}}, type: Opaque, data: {token: c2VjcmV0LXZhbHVl}}`))
	if _, err := run(t, mustPrep(t, map[string]any{"manifest": "apiVersion: v1\nkind: Secret\nmetadata: {labels: {app: web}}\ntype: kubernetes.io/tls\n", "absent": true}), env, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	opened := fakewatch.Opened(dyn, "secrets")
	go func() {
		<-opened
		changed := object(t, `{apiVersion: v1, kind: Secret, metadata: {name: token, namespace: ones, labels: {app: web}}, type: Opaque, data: {token: c2VjcmV0LXZhbHVl, extra: eA==}}`)
		if _, err := dyn.Resource(secretGVR).Namespace("ones").Update(context.Background(), changed, metav1.UpdateOptions{}); err != nil {
			t.Error(err)
		}
	}()
	start := time.Now()
	a := mustPrep(t, map[string]any{"manifest": "apiVersion: v1\nkind: Secret\nmetadata: {labels: {app: web}}\ndata: {extra: \"${ self != null }\"}\n", "absent": true, "stableFor": "1m"})
	_, err := run(t, a, env, 2*time.Minute)
	if err == nil || time.Since(start) > 30*time.Second {
		t.Fatalf("after %s: %v", time.Since(start), err)
	}
	msg := err.Error()
	if strings.Contains(msg, "c2VjcmV0LXZhbHVl") || strings.Contains(msg, "eA==") || !strings.Contains(msg, "secret ones/token matches what must be absent (inline manifest#1):\n  data:\n    extra: '***'\n  metadata:\n    labels:\n      app: web") {
		t.Errorf("err = %s", msg)
	}
	// Without stableFor, a matching object fails the task at its timeout.
	_, err = run(t, mustPrep(t, map[string]any{"manifest": "apiVersion: v1\nkind: Secret\nmetadata: {name: token}\n", "absent": true}), env, 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "timed out (context deadline exceeded) waiting until nothing matches: secret ones/token matches what must be absent") {
		t.Errorf("err = %v", err)
	}
}

// TestForbidden: a refused list fails the task at once, naming the
// resource, instead of waiting out the timeout.
func TestForbidden(t *testing.T) {
	dyn, env := cluster()
	dyn.PrependReactor("list", "pods", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New("no RBAC"))
	})
	start := time.Now()
	_, err := run(t, mustPrep(t, map[string]any{"manifest": "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"}), env, time.Minute)
	if err == nil || time.Since(start) > 30*time.Second || !strings.Contains(err.Error(), "inline manifest#1: ") || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("after %s: %v", time.Since(start), err)
	}
}
