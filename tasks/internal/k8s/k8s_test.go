package k8s

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kbrun/kbrun/engine/task"
)

func pod(name string, age time.Duration, phase corev1.PodPhase, ready bool, labels map[string]string) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ones", Labels: labels, CreationTimestamp: metav1.NewTime(time.Now().Add(-age))},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main"}, {Name: "side"}}},
		Status:     corev1.PodStatus{Phase: phase, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
}

func TestResolvePodBySelectorPicksNewestReady(t *testing.T) {
	app := map[string]string{"app": "b"}
	cs := fake.NewSimpleClientset(
		pod("old", time.Hour, corev1.PodRunning, true, app),
		pod("new", time.Minute, corev1.PodRunning, true, app),
		pod("newest-unready", time.Second, corev1.PodRunning, false, app),
		pod("other", 0, corev1.PodRunning, true, map[string]string{"app": "x"}),
	)
	p, err := ResolvePod(context.Background(), cs, "ones", Target{Selector: "app=b"}, ResolveOptions{})
	if err != nil || p.Name != "new" {
		t.Fatalf("got %v, %v", p, err)
	}
	_, err = ResolvePod(context.Background(), cs, "ones", Target{Selector: "app=b"}, ResolveOptions{ExactlyOne: true})
	if err == nil || task.IsRetryable(err) || !strings.Contains(err.Error(), "matches 2 Running and Ready pods") || !strings.Contains(err.Error(), "new, old") {
		t.Fatalf("ambiguity: %v", err)
	}
	// Logs only need a started pod.
	p, err = ResolvePod(context.Background(), cs, "ones", Target{Selector: "app=b"}, ResolveOptions{Require: Started})
	if err != nil || p.Name != "newest-unready" {
		t.Fatalf("started: %v %v", p, err)
	}
}

func TestResolvePodNoneIsRetryableAndSaysWhy(t *testing.T) {
	cs := fake.NewSimpleClientset(pod("p", time.Minute, corev1.PodPending, false, map[string]string{"app": "b"}))
	_, err := ResolvePod(context.Background(), cs, "ones", Target{Selector: "app=b"}, ResolveOptions{})
	if !task.IsRetryable(err) || !strings.Contains(err.Error(), "p (Pending)") {
		t.Fatalf("err = %v", err)
	}
	_, err = ResolvePod(context.Background(), cs, "ones", Target{Selector: "app=zzz"}, ResolveOptions{})
	if !task.IsRetryable(err) || !strings.Contains(err.Error(), "no pod in namespace ones matches selector app=zzz") {
		t.Fatalf("err = %v", err)
	}
	_, err = ResolvePod(context.Background(), cs, "ones", Target{Pod: "p"}, ResolveOptions{})
	if !task.IsRetryable(err) || !strings.Contains(err.Error(), "pod ones/p is Pending") {
		t.Fatalf("err = %v", err)
	}
	_, err = ResolvePod(context.Background(), cs, "ones", Target{Pod: "gone"}, ResolveOptions{})
	if err == nil || task.IsRetryable(err) || !apierrors.IsNotFound(err) {
		t.Fatalf("err = %v", err)
	}
}

func TestContainerDefault(t *testing.T) {
	p := pod("p", 0, corev1.PodRunning, true, nil)
	if c, _ := Container(p, ""); c != "main" {
		t.Fatalf("first: %s", c)
	}
	p.Annotations = map[string]string{DefaultContainerAnnotation: "side"}
	if c, _ := Container(p, ""); c != "side" {
		t.Fatalf("annotation: %s", c)
	}
	p.Annotations[DefaultContainerAnnotation] = "nope"
	if c, _ := Container(p, ""); c != "main" {
		t.Fatalf("bad annotation: %s", c)
	}
	if _, err := Container(p, "nope"); err == nil || !strings.Contains(err.Error(), "it has: main, side") {
		t.Fatalf("missing: %v", err)
	}
}

func TestTargetValidate(t *testing.T) {
	for _, bad := range []Target{{}, {Pod: "a", Selector: "b=c"}, {Selector: "a in ("}, {Pod: "ns/a"}} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestDecodeManifests(t *testing.T) {
	ms, err := DecodeManifests("m.yaml", `# leading comment
---
apiVersion: v1
kind: ConfigMap
metadata: {name: a}
---
# only a comment
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Secret
  metadata: {name: s}
- apiVersion: apiextensions.k8s.io/v1
  kind: CustomResourceDefinition
  metadata: {name: crd}
---
{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}}
`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range SortForApply(ms) {
		got = append(got, m.Object.GetKind()+"/"+m.Object.GetName()+"@"+m.Source)
	}
	want := "CustomResourceDefinition/crd@m.yaml#4 Namespace/ns@m.yaml#5 ConfigMap/a@m.yaml#2 Secret/s@m.yaml#4"
	if strings.Join(got, " ") != want {
		t.Fatalf("got  %s\nwant %s", strings.Join(got, " "), want)
	}
	if _, err := DecodeManifests("bad.yaml", "kind: ConfigMap\nmetadata: {name: a}\n"); err == nil || !strings.Contains(err.Error(), "bad.yaml:1:1: document 1: an object needs apiVersion and kind") {
		t.Fatalf("missing apiVersion: %v", err)
	}
	if _, err := DecodeManifests("bad.yaml", "apiVersion: v1\nkind: ConfigMap\n"); err == nil || !strings.Contains(err.Error(), "no metadata.name") {
		t.Fatalf("missing name: %v", err)
	}
}

func TestApplyParamsWhat(t *testing.T) {
	p := ApplyParams{Files: []string{"k8s/a.yaml", "k8s/dir"}, Manifest: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n"}
	if got := p.What(); got != "k8s/a.yaml, k8s/dir and an inline manifest of 2 documents" {
		t.Fatal(got)
	}
}

func TestCaptureAndTail(t *testing.T) {
	var live strings.Builder
	c := NewCapture(5, &live)
	c.Write([]byte("hello world"))
	c.Write([]byte("!"))
	if c.String() != "hello" || live.String() != "hello world!" || c.Cut() != 7 {
		t.Fatalf("%q %q cut %d", c.String(), live.String(), c.Cut())
	}
	tl := NewTail(8)
	tl.Write([]byte("abcdef"))
	tl.Write([]byte("ghij"))
	if tl.String() != "cdefghij" {
		t.Fatal(tl.String())
	}
	if TailLines("a\nb\nc\n", 2) != "b\nc" {
		t.Fatal(TailLines("a\nb\nc\n", 2))
	}
}

// A dry run applies an object with the marks kbrun put on it, and nothing
// else of the live object's.
