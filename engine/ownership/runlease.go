package ownership

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kbrun/kbrun/engine/apicall"
	"github.com/kbrun/kbrun/engine/kube"
)

// ensureLease creates the run's Lease in its namespace with the records
// so far (r.mu held), and starts renewing it and looking for what ended
// runs left. created is false when it existed.
func (r *Run) ensureLease(ctx context.Context) (created bool, err error) {
	if r.lease != nil {
		return false, nil
	}
	c, err := r.opts.Kube.Clients()
	if err != nil {
		return false, err
	}
	leases := c.Typed.CoordinationV1().Leases(r.home)
	secs := int32(r.opts.LeaseDuration / time.Second)
	now := r.now()
	want := &coordv1.Lease{
		ObjectMeta: metav1.ObjectMeta{
			Name: r.leaseName(), Namespace: r.home,
			Labels: map[string]string{LabelRun: r.opts.RunID, LabelPipeline: r.opts.Pipeline, "app.kubernetes.io/managed-by": "kbrun"},
		},
		Spec: coordv1.LeaseSpec{HolderIdentity: &r.holder, LeaseDurationSeconds: &secs, AcquireTime: microNow(now), RenewTime: microNow(now)},
	}
	if err := setRecords(want, r.records); err != nil {
		return false, err
	}
	var got *coordv1.Lease
	err = apicall.Idempotent(ctx, func() (err error) {
		got, err = leases.Create(ctx, want, metav1.CreateOptions{FieldManager: kube.FieldManager})
		if apierrors.IsAlreadyExists(err) {
			// A create repeated after its answer was lost finds its own
			// Lease; any other is another run's with the same id.
			got, err = leases.Get(ctx, want.Name, metav1.GetOptions{})
			if err == nil && (got.Spec.HolderIdentity == nil || *got.Spec.HolderIdentity != r.holder) {
				return fmt.Errorf("lease %s/%s exists and is not this run's: is run id %s in use twice?", r.home, want.Name, r.opts.RunID)
			}
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("recording this run in the cluster: %w", apicall.Classify(err, "create", "lease "+r.home+"/"+want.Name))
	}
	r.lease = got
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	r.stop = stop
	if r.leases, err = r.startLeaseWatch(bg, r.home); err != nil {
		stop()
		return false, err
	}
	r.scan = r.startScan(bg, r.home)
	r.bg.Add(1)
	go r.renew(bg)
	return true, nil
}

func setRecords(l *coordv1.Lease, recs []Record) error {
	data, err := json.Marshal(recs)
	if err != nil {
		return err
	}
	if l.Annotations == nil {
		l.Annotations = map[string]string{}
	}
	l.Annotations[AnnotationObjects] = string(data)
	return nil
}

// write stores the records on the Lease and renews it (r.mu held). The run
// is the Lease's only writer: on a conflict (a repeated update whose first
// answer was lost) it writes over the fresh copy.
func (r *Run) write(ctx context.Context) error {
	c, err := r.opts.Kube.Clients()
	if err != nil {
		return err
	}
	leases := c.Typed.CoordinationV1().Leases(r.home)
	return apicall.Idempotent(ctx, func() error {
		want := r.lease.DeepCopy()
		want.Spec.RenewTime = microNow(r.now())
		if err := setRecords(want, r.records); err != nil {
			return err
		}
		got, err := leases.Update(ctx, want, metav1.UpdateOptions{FieldManager: kube.FieldManager})
		if apierrors.IsNotFound(err) {
			// Deleted under the run (by hand, or with its namespace):
			// the records must live on; objects made from now on point to
			// the new Lease.
			want.ResourceVersion, want.UID = "", ""
			got, err = leases.Create(ctx, want, metav1.CreateOptions{FieldManager: kube.FieldManager})
		}
		switch {
		case err == nil:
			r.lease = got
		case apierrors.IsConflict(err):
			if fresh, gerr := leases.Get(ctx, want.Name, metav1.GetOptions{}); gerr == nil {
				want.ResourceVersion = fresh.ResourceVersion
				r.lease = want
			}
		}
		return err
	})
}

// renew renews the Lease every third of its duration until the run ends.
// A failed renewal is tried again at the next tick: the Lease lasts three.
func (r *Run) renew(ctx context.Context) {
	defer r.bg.Done()
	t := time.NewTicker(r.opts.LeaseDuration / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.mu.Lock()
			wctx, cancel := context.WithTimeout(ctx, r.opts.LeaseDuration/3)
			_ = r.write(wctx)
			cancel()
			r.mu.Unlock()
		}
	}
}

// Finish ends the run's hold once the run is over. remaining is what the
// run applied and did not delete: when nothing of the run's is left, the
// Lease is deleted; otherwise it is released with what is left, so that a
// later run (or `kbrun cleanup`) takes it over at once.
func (r *Run) Finish(ctx context.Context, remaining []kube.ObjectRef, why string) error {
	r.mu.Lock()
	stop := r.stop
	shared := r.leases.sawOthers()
	r.mu.Unlock()
	if stop != nil {
		stop()
		r.bg.Wait()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var left []Record
	for _, ref := range remaining {
		if ref.Run == r.opts.RunID && !ref.Existed {
			left = append(left, recordOf(ref))
		}
	}
	c, err := r.opts.Kube.Clients()
	if err != nil {
		return err
	}
	leases := c.Typed.CoordinationV1().Leases(r.home)
	if r.lease == nil && r.home != "" {
		// A create cut short (the run interrupted while it was on the
		// wire, or its answer lost) may still have made the Lease: find it,
		// or it would outlive the run.
		var got *coordv1.Lease
		err := apicall.Idempotent(ctx, func() (err error) {
			got, err = leases.Get(ctx, r.leaseName(), metav1.GetOptions{})
			return err
		})
		if err == nil && got.Spec.HolderIdentity != nil && *got.Spec.HolderIdentity == r.holder {
			r.lease = got
		}
	}
	if r.lease == nil {
		if len(left) == 0 {
			return nil
		}
		// The run's namespace was created, but its Lease was not.
		return fmt.Errorf("%d objects of this run are not recorded in the cluster (its lease could not be created)", len(left))
	}
	what := "lease " + r.home + "/" + r.lease.Name
	if len(left) == 0 {
		uid := r.lease.UID
		err := apicall.Idempotent(ctx, func() error {
			return leases.Delete(ctx, r.lease.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		})
		if err != nil && !apierrors.IsNotFound(err) {
			return apicall.Classify(err, "delete", what)
		}
		if shared {
			return r.lastOut(ctx, c)
		}
		return nil
	}
	r.records = left
	r.lease.Spec.HolderIdentity = nil
	if r.lease.Annotations == nil {
		r.lease.Annotations = map[string]string{}
	}
	r.lease.Annotations[AnnotationEnded] = why
	if err := r.write(ctx); err != nil {
		return fmt.Errorf("releasing %s: %w", what, apicall.Classify(err, "update", what))
	}
	for _, rec := range left {
		shared = shared || rec.Kind == "Namespace" && rec.Name == r.home
	}
	if shared {
		return r.lastOut(ctx, c)
	}
	return nil
}

// lastOut deletes the run's namespace when a run that created it left it
// to runs still working in it (its released Lease lists it) and none is
// left now. Runs that end together each decide after their own last write
// to their Lease, on a fresh list, so that at least one of them sees all
// the others ended: the namespace is not left behind because each saw the
// others still running. r.mu held.
func (r *Run) lastOut(ctx context.Context, c *kube.Clients) error {
	obs, err := r.observer()
	if err != nil {
		return err
	}
	list, err := obs.list(ctx, r.home, LabelRun)
	if err != nil {
		return err
	}
	var creator, uid string // the run that made the namespace, and its UID
	for i := range list {
		l := &list[i]
		if !ended(l) {
			if r.now().Before(renewed(l).Add(leaseDuration(l))) {
				return nil // that run decides when it ends
			}
			continue // expired: its run is gone
		}
		recs, _ := Records(l)
		for _, rec := range recs {
			if rec.Kind == "Namespace" && rec.Name == r.home {
				if l.Annotations[AnnotationEnded] == EndedKept {
					return nil // kept on purpose (--keep): nobody's to delete
				}
				creator, uid = l.Labels[LabelRun], rec.UID
			}
		}
	}
	if creator == "" {
		return nil
	}
	nss := c.Typed.CoreV1().Namespaces()
	what := "namespace " + r.home
	return apicall.Idempotent(ctx, func() error {
		ns, err := nss.Get(ctx, r.home, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return nil
		case err != nil:
			return apicall.Classify(err, "get", what)
		case ns.Labels[LabelRun] != creator || uid != "" && string(ns.UID) != uid || ns.DeletionTimestamp != nil:
			return nil // not the one recorded, or already going
		}
		err = nss.Delete(ctx, r.home, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &ns.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return apicall.Classify(err, "delete", what)
		}
		return nil
	})
}
