package kube

import (
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestKeepOwnerMarks(t *testing.T) {
	live := &unstructured.Unstructured{}
	live.SetLabels(map[string]string{"kbrun.dev/run": "r", "kbrun.dev/pipeline": "p", "team": "a"})
	live.SetAnnotations(map[string]string{"kbrun.dev/lease": "ones/kbrun-run-r", "note": "x"})
	live.SetOwnerReferences([]metav1.OwnerReference{
		{APIVersion: "coordination.k8s.io/v1", Kind: "Lease", Name: "kbrun-run-r", UID: "u1"},
		{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "u2"},
	})
	obj := &unstructured.Unstructured{}
	obj.SetLabels(map[string]string{"app": "web"})
	KeepOwnerMarks(live, obj)
	if fmt.Sprint(obj.GetLabels()) != "map[app:web kbrun.dev/pipeline:p kbrun.dev/run:r]" ||
		fmt.Sprint(obj.GetAnnotations()) != "map[kbrun.dev/lease:ones/kbrun-run-r]" ||
		len(obj.GetOwnerReferences()) != 1 || obj.GetOwnerReferences()[0].UID != "u1" {
		t.Fatalf("labels %v, annotations %v, owner references %v", obj.GetLabels(), obj.GetAnnotations(), obj.GetOwnerReferences())
	}
}
