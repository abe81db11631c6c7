package pod

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
	p, err := Resolve(context.Background(), cs, "ones", Target{Selector: "app=b"}, ResolveOptions{})
	if err != nil || p.Name != "new" {
		t.Fatalf("got %v, %v", p, err)
	}
	_, err = Resolve(context.Background(), cs, "ones", Target{Selector: "app=b"}, ResolveOptions{ExactlyOne: true})
	if err == nil || task.IsRetryable(err) || !strings.Contains(err.Error(), "matches 2 Running and Ready pods") || !strings.Contains(err.Error(), "new, old") {
		t.Fatalf("ambiguity: %v", err)
	}
	// Logs only need a started pod.
	p, err = Resolve(context.Background(), cs, "ones", Target{Selector: "app=b"}, ResolveOptions{Require: Started})
	if err != nil || p.Name != "newest-unready" {
		t.Fatalf("started: %v %v", p, err)
	}
}

func TestResolvePodNoneIsRetryableAndSaysWhy(t *testing.T) {
	cs := fake.NewSimpleClientset(pod("p", time.Minute, corev1.PodPending, false, map[string]string{"app": "b"}))
	_, err := Resolve(context.Background(), cs, "ones", Target{Selector: "app=b"}, ResolveOptions{})
	if !task.IsRetryable(err) || !strings.Contains(err.Error(), "p (Pending)") {
		t.Fatalf("err = %v", err)
	}
	_, err = Resolve(context.Background(), cs, "ones", Target{Selector: "app=zzz"}, ResolveOptions{})
	if !task.IsRetryable(err) || !strings.Contains(err.Error(), "no pod in namespace ones matches selector app=zzz") {
		t.Fatalf("err = %v", err)
	}
	_, err = Resolve(context.Background(), cs, "ones", Target{Pod: "p"}, ResolveOptions{})
	if !task.IsRetryable(err) || !strings.Contains(err.Error(), "pod ones/p is Pending") {
		t.Fatalf("err = %v", err)
	}
	_, err = Resolve(context.Background(), cs, "ones", Target{Pod: "gone"}, ResolveOptions{})
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
