package deploy

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/kubectl/pkg/polymorphichelpers"
)

// statusObjects builds the workloads of kind whose status fields range over
// small values, so that every branch of kubectl's viewer is taken.
func statusObjects(group, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	vals := []int64{0, 1, 2}
	for _, gen := range vals {
		for _, observed := range vals {
			for _, replicas := range []any{nil, int64(0), int64(2)} {
				for _, a := range vals {
					for _, b := range vals {
						for _, c := range vals {
							out = append(out, statusObject(group, kind, gen, observed, replicas, a, b, c)...)
						}
					}
				}
			}
		}
	}
	return out
}

func statusObject(group, kind string, gen, observed int64, replicas any, a, b, c int64) []*unstructured.Unstructured {
	u := func(spec, status map[string]any) *unstructured.Unstructured {
		if replicas != nil {
			spec["replicas"] = replicas
		}
		status["observedGeneration"] = observed
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": group + "/v1",
			"kind":       kind,
			"metadata":   map[string]any{"name": "web", "namespace": "ns", "generation": gen},
			"spec":       spec,
			"status":     status,
		}}
	}
	switch kind {
	case "Deployment":
		var out []*unstructured.Unstructured
		for _, reason := range []string{"", "NewReplicaSetAvailable", timedOutReason} {
			st := map[string]any{"updatedReplicas": a, "replicas": b, "availableReplicas": c}
			if reason != "" {
				st["conditions"] = []any{
					map[string]any{"type": "Available", "status": "True", "reason": timedOutReason},
					map[string]any{"type": "Progressing", "status": "True", "reason": reason},
				}
			}
			out = append(out, u(map[string]any{}, st))
		}
		return out
	case "DaemonSet":
		var out []*unstructured.Unstructured
		for _, typ := range []string{"RollingUpdate", "OnDelete"} {
			out = append(out, u(map[string]any{"updateStrategy": map[string]any{"type": typ}},
				map[string]any{"updatedNumberScheduled": a, "desiredNumberScheduled": b, "numberAvailable": c}))
		}
		return out
	}
	var out []*unstructured.Unstructured
	for _, strategy := range []map[string]any{
		{"type": "OnDelete"},
		{"type": "RollingUpdate"},
		{"type": "RollingUpdate", "rollingUpdate": map[string]any{}},
		{"type": "RollingUpdate", "rollingUpdate": map[string]any{"partition": int64(1)}},
	} {
		for _, revs := range [][2]string{{"web-1", "web-1"}, {"web-1", "web-2"}} {
			out = append(out, u(map[string]any{"updateStrategy": strategy},
				map[string]any{"readyReplicas": a, "updatedReplicas": b, "currentReplicas": c, "currentRevision": revs[0], "updateRevision": revs[1]}))
		}
	}
	return out
}

// TestWorkloadStatusAsKubectl holds the port to kubectl's rollout status
// viewers: same message, done and error on every object.
func TestWorkloadStatusAsKubectl(t *testing.T) {
	for _, gk := range [][2]string{{"apps", "Deployment"}, {"extensions", "Deployment"}, {"apps", "DaemonSet"}, {"extensions", "DaemonSet"}, {"apps", "StatefulSet"}} {
		objs := statusObjects(gk[0], gk[1])
		msgs := map[string]bool{}
		for _, u := range objs {
			v, err := polymorphichelpers.StatusViewerFor(u.GroupVersionKind().GroupKind())
			if err != nil {
				t.Fatal(err)
			}
			wantMsg, wantDone, wantErr := v.Status(u, 0)
			msg, done, err := workloadStatus(u)
			if msg != wantMsg || done != wantDone || fmt.Sprint(err) != fmt.Sprint(wantErr) {
				t.Errorf("%s %v:\n got %q, %v, %v\nwant %q, %v, %v", gk, u.Object, msg, done, err, wantMsg, wantDone, wantErr)
			}
			msgs[wantMsg+fmt.Sprint(wantErr)] = true
		}
		t.Logf("%s: %d objects, %d distinct outcomes", gk, len(objs), len(msgs))
	}
}

func TestWorkloadStatusOtherKinds(t *testing.T) {
	for _, gvk := range [][2]string{{"apps/v1", "ReplicaSet"}, {"batch/v1", "Deployment"}, {"extensions/v1beta1", "StatefulSet"}} {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": gvk[0], "kind": gvk[1]}}
		_, wantErr := polymorphichelpers.StatusViewerFor(u.GroupVersionKind().GroupKind())
		_, _, err := workloadStatus(u)
		if err == nil || err.Error() != wantErr.Error() {
			t.Errorf("%v: got %v, want %v", gvk, err, wantErr)
		}
	}
}

// TestWorkloadStatusBadObject: a field of the wrong type fails as kubectl's
// conversion does.
func TestWorkloadStatusBadObject(t *testing.T) {
	for _, kind := range []string{"Deployment", "DaemonSet", "StatefulSet"} {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps/v1", "kind": kind, "spec": "x"}}
		v, _ := polymorphichelpers.StatusViewerFor(u.GroupVersionKind().GroupKind())
		_, _, wantErr := v.Status(u, 0)
		_, _, err := workloadStatus(u)
		if wantErr == nil || fmt.Sprint(err) != fmt.Sprint(wantErr) {
			t.Errorf("%s: got %v, want %v", kind, err, wantErr)
		}
	}
}
