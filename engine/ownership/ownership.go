// Package ownership records in the cluster what each kbrun run creates, so
// that nothing is left behind whatever ends a run (docs/ownership.md). It is
// not a task type: apply and delete use it through kube.Owner, and `kbrun
// cleanup` directly.
//
//   - every run holds a coordination.k8s.io/v1 Lease, kbrun-run-<run id>, in
//     its namespace, renewed while it is alive, that lists the objects it
//     created (written before each object is created);
//   - every object it creates carries the labels kbrun.dev/run and
//     kbrun.dev/pipeline, the annotation kbrun.dev/lease, and, in the
//     Lease's namespace, an owner reference to the Lease (deleting the
//     Lease lets the garbage collector remove them);
//   - a run is gone when its Lease was released (the run ended and left
//     objects, e.g. with --keep), deleted, or not renewed for its duration;
//     what a gone run left is taken over by later runs (and by `kbrun
//     cleanup`), never what a live run holds, never a user's object.
package ownership

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kbrun/kbrun/engine/kube"
)

// Labels and annotations kbrun puts on what it creates.
const (
	LabelRun        = kube.LabelRun
	LabelPipeline   = kube.LabelPipeline
	AnnotationLease = kube.AnnotationLease
	// AnnotationObjects, on a Lease, lists what the run created (JSON).
	AnnotationObjects = "kbrun.dev/objects"
	// AnnotationEnded, on a released Lease, says why the run left objects.
	AnnotationEnded = "kbrun.dev/ended"
	// LeasePrefix starts the name of every run's Lease.
	LeasePrefix = "kbrun-run-"
)

// DefaultLeaseDuration is how long a run counts as alive after its last
// renewal; it renews every third of it.
const DefaultLeaseDuration = 15 * time.Second

// Why a run's Lease was released with objects still recorded.
const (
	EndedKept       = "kept (--keep)"
	EndedIncomplete = "cleanup did not delete everything"
)

var (
	leaseGVR     = schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}
	namespaceGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
)

// Record is one object a run created, as listed on its Lease.
type Record struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Resource   string `json:"resource"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	UID        string `json:"uid,omitempty"`
}

func recordOf(ref kube.ObjectRef) Record {
	return Record{
		APIVersion: ref.GVR.GroupVersion().String(), Kind: ref.Kind, Resource: ref.GVR.Resource,
		Namespace: ref.Namespace, Name: ref.Name, UID: string(ref.UID),
	}
}

func (rec Record) ref(run string) kube.ObjectRef {
	gv, _ := schema.ParseGroupVersion(rec.APIVersion)
	return kube.ObjectRef{
		GVR: gv.WithResource(rec.Resource), Kind: rec.Kind, Namespace: rec.Namespace, Name: rec.Name,
		UID: types.UID(rec.UID), Run: run, LeftBy: run,
	}
}

func (rec Record) same(ref kube.ObjectRef) bool {
	return rec.Resource == ref.GVR.Resource && rec.APIVersion == ref.GVR.GroupVersion().String() &&
		rec.Namespace == ref.Namespace && rec.Name == ref.Name
}

// Records reads the objects a Lease lists.
func Records(l *coordv1.Lease) ([]Record, error) {
	s := l.Annotations[AnnotationObjects]
	if s == "" {
		return nil, nil
	}
	var out []Record
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("lease %s/%s: annotation %s: %w", l.Namespace, l.Name, AnnotationObjects, err)
	}
	return out, nil
}

// Refs are the refs cleanup deletes for a gone run: what its Lease lists,
// then the Lease itself (cleanup goes newest first: the Lease last).
func Refs(l *coordv1.Lease) ([]kube.ObjectRef, error) {
	recs, err := Records(l)
	run := l.Labels[LabelRun]
	out := []kube.ObjectRef{{GVR: leaseGVR, Kind: "Lease", Namespace: l.Namespace, Name: l.Name, UID: l.UID, Run: run, LeftBy: run}}
	for _, rec := range recs {
		out = append(out, rec.ref(run))
	}
	return out, err
}

// LeaseName is the name of run id's Lease.
func LeaseName(id string) string { return LeasePrefix + id }

// leaseOf says where the Lease of the run that owns an object is: its
// kbrun.dev/lease annotation, else run's Lease in home.
func leaseOf(annotations map[string]string, run, home string) (ns, name string) {
	if a := annotations[AnnotationLease]; a != "" {
		if ns, name, ok := strings.Cut(a, "/"); ok {
			return ns, name
		}
	}
	return home, LeaseName(run)
}

// ended reports whether a Lease was released: its run ended.
func ended(l *coordv1.Lease) bool {
	return l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == ""
}

func leaseDuration(l *coordv1.Lease) time.Duration {
	if l.Spec.LeaseDurationSeconds == nil || *l.Spec.LeaseDurationSeconds <= 0 {
		return DefaultLeaseDuration
	}
	return time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
}

// renewed is when the holder last renewed l, by the holder's clock.
func renewed(l *coordv1.Lease) time.Time {
	switch {
	case l.Spec.RenewTime != nil:
		return l.Spec.RenewTime.Time
	case l.Spec.AcquireTime != nil:
		return l.Spec.AcquireTime.Time
	}
	return l.CreationTimestamp.Time
}

// holderIdentity says which process holds a run's Lease, for messages.
func holderIdentity() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("kbrun pid %d on %s", os.Getpid(), host)
}

// describeRun names a run for messages: "run ID of pipeline P".
func describeRun(l *coordv1.Lease) string {
	s := "run " + l.Labels[LabelRun]
	if p := l.Labels[LabelPipeline]; p != "" {
		s += " of pipeline " + p
	}
	return s
}

func isNamespace(ref kube.ObjectRef) bool {
	return ref.GVR.Group == "" && ref.GVR.Resource == "namespaces"
}

func describeRef(ref kube.ObjectRef) string {
	k := strings.ToLower(ref.Kind)
	if ref.Namespace == "" {
		return k + " " + ref.Name
	}
	return k + " " + ref.Namespace + "/" + ref.Name
}

func ago(now, t time.Time) string {
	d := now.Sub(t)
	if d < 0 {
		return "just now"
	}
	return d.Round(100*time.Millisecond).String() + " ago"
}

func microNow(t time.Time) *metav1.MicroTime {
	m := metav1.NewMicroTime(t)
	return &m
}
