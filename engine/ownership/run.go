package ownership

import (
	"context"
	"fmt"
	"sync"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kbrun/kbrun/engine/apicall"
	"github.com/kbrun/kbrun/engine/kube"
)

// Options configure a run's ownership.
type Options struct {
	RunID, Pipeline string
	// Kube gives the run's clients (the same the tasks use).
	Kube kube.Provider
	// LeaseDuration: how long the run counts as alive after a renewal.
	LeaseDuration time.Duration
}

// Run is one run's ownership: its Lease, kept and renewed from the first
// object it creates until it ends. It implements kube.Owner.
type Run struct {
	opts Options
	// holder is the Lease's holderIdentity.
	holder string
	now    func() time.Time
	margin time.Duration // Observer.Margin

	obsOnce sync.Once
	obs     *Observer
	obsErr  error

	mu      sync.Mutex // the Lease and its records
	home    string
	lease   *coordv1.Lease
	records []Record
	stop    context.CancelFunc // renewals and the background scan
	bg      sync.WaitGroup
	scan    *scan
	leases  *leaseWatch // the pipeline's Leases in home
}

// New returns the ownership of one run. Nothing is sent to the cluster
// until the run first applies an object.
func New(opts Options) (*Run, error) {
	if opts.LeaseDuration == 0 {
		opts.LeaseDuration = DefaultLeaseDuration
	}
	if opts.LeaseDuration < 2*time.Second {
		return nil, fmt.Errorf("--lease-duration %s is too short: at least 2s", opts.LeaseDuration)
	}
	for _, msg := range validation.IsDNS1123Subdomain(LeaseName(opts.RunID)) {
		return nil, fmt.Errorf("run id %q cannot name a Lease: %s", opts.RunID, msg)
	}
	for _, msg := range validation.IsValidLabelValue(opts.RunID) {
		return nil, fmt.Errorf("run id %q cannot be a label value: %s", opts.RunID, msg)
	}
	return &Run{opts: opts, holder: holderIdentity(), now: time.Now, margin: time.Second}, nil
}

var _ kube.Owner = (*Run)(nil)

func (r *Run) observer() (*Observer, error) {
	r.obsOnce.Do(func() {
		c, err := r.opts.Kube.Clients()
		if err != nil {
			r.obsErr = err
			return
		}
		r.obs = NewObserver(c.Typed)
		r.obs.Now, r.obs.Margin = r.now, r.margin
	})
	return r.obs, r.obsErr
}

func (r *Run) leaseName() string { return LeaseName(r.opts.RunID) }

// Claim implements kube.Owner.
func (r *Run) Claim(ctx context.Context, home string, ref kube.ObjectRef, live *unstructured.Unstructured, logf func(string, ...any)) (kube.Claim, error) {
	if live == nil {
		return r.claim(ctx, home, ref, "")
	}
	owner := live.GetLabels()[LabelRun]
	switch owner {
	case "":
		r.forget(ref)
		return kube.Claim{Existed: true}, nil // a user's
	case r.opts.RunID:
		return r.claim(ctx, home, ref, "") // applied before in this run
	}
	// Recorded when the run took it for absent (apply tries that first);
	// it is not the run's unless taken over below.
	r.forget(ref)
	obs, err := r.observer()
	if err != nil {
		return kube.Claim{}, err
	}
	lns, lname := leaseOf(live.GetAnnotations(), owner, home)
	what := describeRef(ref)
	v, err := obs.Judge(ctx, lns, lname, func(l *coordv1.Lease, upTo time.Duration) {
		logf("%s belongs to %s, whose lease %s/%s was last renewed %s: watching it for up to %s to tell whether that run still runs",
			what, describeRun(l), lns, lname, ago(r.now(), renewed(l)), upTo)
	})
	if err != nil {
		return kube.Claim{}, fmt.Errorf("%s belongs to run %s: telling whether it still runs: %w", what, owner, err)
	}
	if v.State == Gone && isNamespace(ref) && lns == ref.Name {
		// A run creates its namespace first and its Lease in it right
		// after: give a namespace that young the time to get its Lease.
		if v, err = r.waitLeaseOfYoungNamespace(ctx, obs, live, lns, lname); err != nil {
			return kube.Claim{}, err
		}
	}
	if !v.State.Dead() {
		if isNamespace(ref) {
			logf("%s belongs to run %s, which still runs (%s): this run works in it and leaves it to that run", what, owner, v.Explain(r.now()))
			// Applied with its owner's marks, so that the apply (same
			// field manager) does not take them off.
			return kube.Claim{Existed: true, Run: owner, Mark: func(obj *unstructured.Unstructured) { kube.KeepOwnerMarks(live, obj) }}, nil
		}
		return kube.Claim{}, fmt.Errorf("%s belongs to run %s, which still runs (%s): two runs must not share an object; use another namespace or other names (e.g. --set), or wait until that run ends", what, owner, v.Explain(r.now()))
	}
	logf("%s was left by run %s, which is gone (%s): this run takes it over, and its cleanup deletes it", what, owner, v.Explain(r.now()))
	return r.claim(ctx, home, ref, owner)
}

// claim makes ref this run's: recorded on the Lease before it is applied.
func (r *Run) claim(ctx context.Context, home string, ref kube.ObjectRef, leftBy string) (kube.Claim, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.home == "" {
		r.home = home
	}
	// A Lease cannot exist before its namespace: the run's own namespace
	// is created first, and recorded on the Lease made right after (Applied).
	firstNamespace := r.lease == nil && isNamespace(ref) && ref.Name == r.home
	if !firstNamespace {
		// The first record goes with the Lease's creation: one request.
		added := r.record(ref)
		created, err := r.ensureLease(ctx)
		if err == nil && added && !created {
			if err = r.write(ctx); err != nil {
				err = fmt.Errorf("recording %s on this run's lease %s/%s before creating it: %w", describeRef(ref), r.home, r.leaseName(), err)
			}
		}
		if err != nil {
			if added {
				r.unrecord(ref) // recorded again by the next attempt
			}
			return kube.Claim{}, err
		}
	}
	return kube.Claim{Run: r.opts.RunID, LeftBy: leftBy, Mark: r.marks(ref)}, nil
}

// forget drops ref from the records (r.mu not held): it was recorded
// when the run took it for absent, and is not the run's.
func (r *Run) forget(ref kube.ObjectRef) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unrecord(ref)
}

// unrecord drops ref from the records.
func (r *Run) unrecord(ref kube.ObjectRef) {
	kept := r.records[:0]
	for _, rec := range r.records {
		if !rec.same(ref) {
			kept = append(kept, rec)
		}
	}
	r.records = kept
}

// record adds ref to the records; false if it was there.
func (r *Run) record(ref kube.ObjectRef) bool {
	for _, rec := range r.records {
		if rec.same(ref) {
			return false
		}
	}
	r.records = append(r.records, recordOf(ref))
	return true
}

// Applied implements kube.Owner: the UID joins the record (written with the
// next renewal), and the run's own namespace, just created, gets the Lease.
func (r *Run) Applied(ctx context.Context, home string, ref kube.ObjectRef) error {
	if ref.Run != r.opts.RunID {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.record(ref)
	for i := range r.records {
		if r.records[i].same(ref) {
			r.records[i].UID = string(ref.UID)
		}
	}
	if r.lease == nil {
		if _, err := r.ensureLease(ctx); err != nil {
			return fmt.Errorf("created %s, but cannot record this run in it: %w", describeRef(ref), err)
		}
	}
	return nil
}

// marks returns what makes obj this run's: labels, the Lease annotation,
// and an owner reference to the Lease for objects in its namespace.
func (r *Run) marks(ref kube.ObjectRef) func(*unstructured.Unstructured) {
	leaseAt := r.home + "/" + r.leaseName()
	var owner *metav1.OwnerReference
	if r.lease != nil && ref.Namespace != "" && ref.Namespace == r.home {
		owner = &metav1.OwnerReference{APIVersion: "coordination.k8s.io/v1", Kind: "Lease", Name: r.lease.Name, UID: r.lease.UID}
	}
	run, pipeline := r.opts.RunID, r.opts.Pipeline
	return func(obj *unstructured.Unstructured) {
		setMarks(obj, map[string]string{LabelRun: run, LabelPipeline: pipeline}, map[string]string{AnnotationLease: leaseAt})
		if owner == nil {
			return
		}
		refs := obj.GetOwnerReferences()
		for _, o := range refs {
			if o.UID == owner.UID {
				return
			}
		}
		obj.SetOwnerReferences(append(refs, *owner))
	}
}

func setMarks(obj *unstructured.Unstructured, labels, ann map[string]string) {
	l := obj.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	for k, v := range labels {
		l[k] = v
	}
	obj.SetLabels(l)
	if len(ann) == 0 {
		return
	}
	a := obj.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	for k, v := range ann {
		a[k] = v
	}
	obj.SetAnnotations(a)
}

// waitLeaseOfYoungNamespace judges the run that created namespace ns when
// its Lease is not there: a namespace younger than a lease duration may be
// a run's that is about to create it.
func (r *Run) waitLeaseOfYoungNamespace(ctx context.Context, obs *Observer, live *unstructured.Unstructured, ns, name string) (Verdict, error) {
	grace := live.GetCreationTimestamp().Add(DefaultLeaseDuration)
	if !r.now().Before(grace) {
		return Verdict{State: Gone, At: r.now()}, nil
	}
	wctx, cancel := context.WithDeadline(ctx, grace)
	defer cancel()
	leases := obs.Typed.CoordinationV1().Leases(ns)
	w, err := leases.Watch(wctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		return Verdict{}, apicall.Classify(err, "watch", "lease "+ns+"/"+name)
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		if l, ok := ev.Object.(*coordv1.Lease); ok && l.Name == name {
			w.Stop()
			return obs.Judge(ctx, ns, name, nil)
		}
	}
	if ctx.Err() != nil {
		return Verdict{}, context.Cause(ctx)
	}
	return Verdict{State: Gone, At: r.now()}, nil
}
