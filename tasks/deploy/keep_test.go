package deploy

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
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
