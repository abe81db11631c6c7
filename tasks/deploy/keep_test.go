package deploy

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kbrun/kbrun/engine/kube"
)

func podOf(rs string, uid types.UID, hash string, terminating bool) corev1.Pod {
	ctrl := true
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name:            rs + "-x",
		Labels:          map[string]string{"pod-template-hash": hash},
		OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: rs, UID: uid, Controller: &ctrl}},
	}}
	if terminating {
		now := metav1.Now()
		p.DeletionTimestamp = &now
	}
	return p
}

// The rolled-out pods of a Deployment name its new ReplicaSet when they
// name one only; pods of another Deployment with a matching selector and
// terminating pods do not count; two ReplicaSets mean "read them".
func TestSoleReplicaSet(t *testing.T) {
	for _, c := range []struct {
		name string
		pods []corev1.Pod
		want types.UID
	}{
		{"one", []corev1.Pod{podOf("b-abc", "u1", "abc", false), podOf("b-abc", "u1", "abc", false)}, "u1"},
		{"old-terminating", []corev1.Pod{podOf("b-old", "u0", "old", true), podOf("b-abc", "u1", "abc", false)}, "u1"},
		{"other-deployment", []corev1.Pod{podOf("b-2-xyz", "u9", "xyz", false), podOf("b-abc", "u1", "abc", false)}, "u1"},
		{"two-revisions", []corev1.Pod{podOf("b-old", "u0", "old", false), podOf("b-abc", "u1", "abc", false)}, ""},
		{"none", nil, ""},
	} {
		if got := soleReplicaSet("b", c.pods); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// Two deploy tasks in one namespace read one watch of its pods and one of
// its FailedCreatePodSandBox events, which the run keeps: one request each,
// not two. Each still sees its own pods only: neither the other's nor
// those of another run (stuck, which would fail a rollout that took it
// for its own).
func TestDeploysShareTheNamespaceWatches(t *testing.T) {
	ready := func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	}
	relabel := func(app string, also func(*corev1.Pod)) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Labels = map[string]string{"app": app}
			if also != nil {
				also(p)
			}
		}
	}
	stuck := func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}}}
	}
	web2 := deployment(1, 1, 1, 1, 1)
	web2.SetName("web2")
	if err := unstructured.SetNestedField(web2.Object, "web2", "spec", "selector", "matchLabels", "app"); err != nil {
		t.Fatal(err)
	}
	first, _, typed := newWaiter(t, deployment(1, 1, 1, 1, 1), webPod("web-a", ready),
		webPod("web2-a", relabel("web2", ready)), webPod("theirs-a", relabel("theirs", stuck)))
	first.c.Watches = &kube.Watches{}
	defer first.c.Watches.Close()
	// The fake dynamic client ignores field selectors: each Deployment in
	// a client of its own.
	second, _, _ := newWaiter(t, web2)
	second.c.Typed, second.c.Watches = typed, first.c.Watches
	second.ap.Ref.Name = "web2"
	for _, c := range []struct {
		w    *waiter
		pods string
	}{{first, "web-a"}, {second, "web2-a"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r, err := c.w.wait(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(r.pods, ","); got != c.pods {
			t.Errorf("%s: pods %s, want %s", c.w.ap.Ref.Name, got, c.pods)
		}
	}
	n := map[string]int{}
	for _, a := range typed.Actions() {
		if a.GetVerb() == "watch" {
			n[a.GetResource().Resource]++
		}
	}
	if n["pods"] != 1 || n["events"] != 1 {
		t.Fatalf("watches %v, want one of pods and one of events", n)
	}
}
