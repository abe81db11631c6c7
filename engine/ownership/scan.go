package ownership

import (
	"context"
	"fmt"
	"sync"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kbrun/kbrun/engine/apicall"
	"github.com/kbrun/kbrun/engine/kube"
)

// scan is the judgement, started with the run's Lease, of the other runs
// of its pipeline in its namespace, so that cleanup need not wait for it.
type scan struct {
	done     chan struct{}
	verdicts map[string]Verdict // by Lease name
	err      error
}

func (r *Run) startScan(ctx context.Context, ns string) *scan {
	s := &scan{done: make(chan struct{})}
	r.bg.Add(1)
	go func() {
		defer r.bg.Done()
		defer close(s.done)
		s.verdicts, s.err = r.judgePipeline(ctx, ns, nil)
	}()
	return s
}

// judgePipeline judges every run of this pipeline that has a Lease in ns.
func (r *Run) judgePipeline(ctx context.Context, ns string, logf func(string, ...any)) (map[string]Verdict, error) {
	obs, err := r.observer()
	if err != nil {
		return nil, err
	}
	list, err := r.pipelineLeases(ctx, obs, ns)
	if err != nil {
		return nil, err
	}
	found, err := obs.judgeAll(ctx, list, r.opts.RunID, waitMessage(logf, r.now))
	out := map[string]Verdict{}
	for _, f := range found {
		out[f.Lease.Name] = f.Verdict
	}
	return out, err
}

func waitMessage(logf func(string, ...any), now func() time.Time) func(*coordv1.Lease, time.Duration) {
	if logf == nil {
		return nil
	}
	return func(l *coordv1.Lease, upTo time.Duration) {
		logf("%s has not renewed its lease %s/%s since %s: watching it for up to %s to tell whether it still runs",
			describeRun(l), l.Namespace, l.Name, ago(now(), renewed(l)), upTo)
	}
}

// Leftovers implements kube.Owner: what gone runs of this pipeline left,
// found through their Leases in home. Runs that still run keep theirs.
func (r *Run) Leftovers(ctx context.Context, home string, logf func(string, ...any)) ([]kube.ObjectRef, error) {
	r.mu.Lock()
	s := r.scan
	r.mu.Unlock()
	var verdicts map[string]Verdict
	if s != nil {
		select {
		case <-s.done:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
		verdicts = s.verdicts
	}
	if s == nil || s.err != nil {
		var err error
		if verdicts, err = r.judgePipeline(ctx, home, logf); err != nil {
			return nil, err
		}
	}
	obs, err := r.observer()
	if err != nil {
		return nil, err
	}
	// Read again: a run judged alive may have ended since.
	list, err := r.pipelineLeases(ctx, obs, home)
	if err != nil {
		return nil, err
	}
	var out []kube.ObjectRef
	now := r.now()
	for i := range list {
		l := &list[i]
		if l.Labels[LabelRun] == r.opts.RunID {
			continue
		}
		v, judged := verdicts[l.Name]
		switch {
		case ended(l):
			v = Verdict{State: Released, Lease: l, At: now}
		case !judged:
			continue // a run that started after this one
		case !v.State.Dead():
			logf("%s still runs here (%s): what it made is left to it", describeRun(l), v.Explain(now))
			continue
		case v.Lease == nil || renewedSince(v.Lease, l):
			// Judged gone, but its Lease was made or renewed since: a run
			// slowed down (a loaded machine) is not a dead one.
			logf("%s renewed its lease %s/%s after it was judged gone: what it made is left to it", describeRun(l), l.Namespace, l.Name)
			continue
		}
		refs, err := Refs(l)
		if err != nil {
			logf("%s is gone (%s), but its records cannot be read: %v; deleting its lease only", describeRun(l), v.Explain(now), err)
		}
		logf("%s is gone (%s) and left %d objects: this cleanup deletes what of them still carries its label", describeRun(l), v.Explain(now), len(refs)-1)
		out = append(out, refs...)
	}
	return out, nil
}

// Holder implements kube.Owner.
func (r *Run) Holder(ctx context.Context, ns string) (string, error) {
	obs, err := r.observer()
	if err != nil {
		return "", err
	}
	return obs.Holder(ctx, ns, r.opts.RunID)
}

// Holder names a live run other than own with a Lease in ns, "" if none.
func (o *Observer) Holder(ctx context.Context, ns, own string) (string, error) {
	found, err := o.Find(ctx, ns, LabelRun, own, nil)
	if err != nil {
		return "", err
	}
	for _, f := range found {
		if !f.Verdict.State.Dead() {
			return fmt.Sprintf("%s (%s)", describeRun(f.Lease), f.Verdict.Explain(o.Now())), nil
		}
	}
	return "", nil
}

// Found is a run found through its Lease, and judged.
type Found struct {
	Lease   *coordv1.Lease
	Verdict Verdict
}

// Find judges, all at once, the runs whose Leases in ns ("" for every
// namespace) match selector, except run own.
func (o *Observer) Find(ctx context.Context, ns, selector, own string, wait func(*coordv1.Lease, time.Duration)) ([]Found, error) {
	list, err := o.list(ctx, ns, selector)
	if err != nil {
		return nil, err
	}
	return o.judgeAll(ctx, list, own, wait)
}

// judgeAll judges, all at once, the runs of the Leases in list, except run
// own.
func (o *Observer) judgeAll(ctx context.Context, list []coordv1.Lease, own string, wait func(*coordv1.Lease, time.Duration)) ([]Found, error) {
	var (
		mu   sync.Mutex
		out  []Found
		errs []error
		wg   sync.WaitGroup
	)
	for i := range list {
		l := &list[i]
		if l.Labels[LabelRun] == own && own != "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := o.Judge(ctx, l.Namespace, l.Name, wait)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			if v.Lease == nil {
				v.Lease = l
			}
			out = append(out, Found{Lease: v.Lease, Verdict: v})
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return out, errs[0]
	}
	return out, nil
}

// pipelineLeases are the Leases of the run's pipeline in ns: from the
// run's lease watch when it watches ns, else from the API server.
func (r *Run) pipelineLeases(ctx context.Context, obs *Observer, ns string) ([]coordv1.Lease, error) {
	r.mu.Lock()
	w := r.leases
	watched := r.home == ns
	r.mu.Unlock()
	if watched {
		if list, ok := w.current(ctx); ok {
			return list, nil
		}
	}
	return obs.list(ctx, ns, labels.Set{LabelPipeline: r.opts.Pipeline}.String())
}

// list lists kbrun's Leases in ns ("" for all) matching selector.
func (o *Observer) list(ctx context.Context, ns, selector string) ([]coordv1.Lease, error) {
	var list *coordv1.LeaseList
	err := apicall.Idempotent(ctx, func() (err error) {
		list, err = o.Typed.CoordinationV1().Leases(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		return err
	})
	if err != nil {
		where := "namespace " + ns
		if ns == "" {
			where = "all namespaces"
		}
		return nil, apicall.Classify(err, "list", "leases in "+where)
	}
	return list.Items, nil
}

// Unrecorded finds namespaces a run created and labelled but never
// recorded (it was killed between creating its namespace and its Lease):
// among names, or every namespace labelled so when names is empty.
// Without the right to read namespaces there is nothing to find.
func (o *Observer) Unrecorded(ctx context.Context, names []string) ([]kube.ObjectRef, error) {
	var nss []metav1.ObjectMeta
	nsi := o.Typed.CoreV1().Namespaces()
	err := apicall.Idempotent(ctx, func() error {
		nss = nil
		if len(names) == 0 {
			list, err := nsi.List(ctx, metav1.ListOptions{LabelSelector: LabelRun})
			if err != nil {
				return err
			}
			for _, n := range list.Items {
				nss = append(nss, n.ObjectMeta)
			}
			return nil
		}
		for _, name := range names {
			n, err := nsi.Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return err
			}
			if n.Labels[LabelRun] != "" {
				nss = append(nss, n.ObjectMeta)
			}
		}
		return nil
	})
	if apierrors.IsForbidden(err) {
		return nil, nil
	}
	if err != nil {
		return nil, apicall.Classify(err, "read", "namespaces")
	}
	var out []kube.ObjectRef
	for _, n := range nss {
		run := n.Labels[LabelRun]
		lns, lname := leaseOf(n.Annotations, run, n.Name)
		v, err := o.Judge(ctx, lns, lname, nil)
		if err != nil {
			return out, err
		}
		if v.State == Gone && o.Now().Sub(n.CreationTimestamp.Time) > DefaultLeaseDuration {
			out = append(out, kube.ObjectRef{GVR: namespaceGVR, Kind: "Namespace", Name: n.Name, UID: n.UID, Run: run, LeftBy: run})
		}
	}
	return out, nil
}

// Cleaner is the kube.Owner of `kbrun cleanup`: it applies nothing, and
// keeps cleanup from deleting a namespace that a live run works in.
type Cleaner struct{ *Observer }

var _ kube.Owner = Cleaner{}

// Claim implements kube.Owner.
func (Cleaner) Claim(context.Context, string, kube.ObjectRef, *unstructured.Unstructured, func(string, ...any)) (kube.Claim, error) {
	return kube.Claim{}, fmt.Errorf("kbrun cleanup applies nothing")
}

// Applied implements kube.Owner.
func (Cleaner) Applied(context.Context, string, kube.ObjectRef) error { return nil }

// Leftovers implements kube.Owner: cleanup is given its targets.
func (Cleaner) Leftovers(context.Context, string, func(string, ...any)) ([]kube.ObjectRef, error) {
	return nil, nil
}

// Holder implements kube.Owner.
func (c Cleaner) Holder(ctx context.Context, ns string) (string, error) {
	return c.Observer.Holder(ctx, ns, "")
}
