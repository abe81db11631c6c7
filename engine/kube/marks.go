package kube

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// FieldManager is the server-side apply field manager kbrun uses.
const FieldManager = "kbrun"

// KeepOwnerMarks copies kbrun's ownership marks (labels, the Lease
// annotation, owner references to a run's Lease) from live onto obj, so
// that a server-side dry run does not report kbrun's own bookkeeping as
// changes: a real run marks the object again as it applies it.
func KeepOwnerMarks(live, obj *unstructured.Unstructured) {
	labels := obj.GetLabels()
	for _, k := range []string{LabelRun, LabelPipeline} {
		if v, ok := live.GetLabels()[k]; ok {
			if labels == nil {
				labels = map[string]string{}
			}
			labels[k] = v
		}
	}
	obj.SetLabels(labels)
	if v, ok := live.GetAnnotations()[AnnotationLease]; ok {
		ann := obj.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		ann[AnnotationLease] = v
		obj.SetAnnotations(ann)
	}
	refs := obj.GetOwnerReferences()
	for _, r := range live.GetOwnerReferences() {
		if r.Kind == "Lease" && r.APIVersion == "coordination.k8s.io/v1" {
			refs = append(refs, r)
		}
	}
	if len(refs) > 0 {
		obj.SetOwnerReferences(refs)
	}
}
