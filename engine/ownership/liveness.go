package ownership

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/kbrun/kbrun/engine/apicall"
)

// State is what is known about a run from its Lease.
type State int

const (
	// Alive: the Lease was renewed while it was watched, or has not
	// expired yet.
	Alive State = iota
	// Released: the run ended and released its Lease, leaving objects.
	Released
	// Expired: not renewed for its duration, by the holder's clock and by
	// watching it: the run was killed or lost its machine.
	Expired
	// Gone: the Lease does not exist (deleted with everything the run made,
	// or by hand).
	Gone
)

// Dead reports whether the run is provably no longer running.
func (s State) Dead() bool { return s != Alive }

// Verdict is the judgement of one run's Lease.
type Verdict struct {
	State State
	// Lease as last seen (nil when Gone).
	Lease *coordv1.Lease
	// At is when the judgement was made.
	At time.Time
}

// Explain says in words why the run is judged so, e.g. "its lease
// ones/kbrun-run-X expired 3s ago".
func (v Verdict) Explain(now time.Time) string {
	if v.Lease == nil {
		return "its lease no longer exists"
	}
	l := v.Lease
	where := l.Namespace + "/" + l.Name
	switch v.State {
	case Released:
		why := l.Annotations[AnnotationEnded]
		if why == "" {
			why = "released"
		}
		return fmt.Sprintf("it ended %s, leaving objects: %s (lease %s)", ago(now, renewed(l)), why, where)
	case Expired:
		return fmt.Sprintf("its lease %s was last renewed %s and has expired (the run was killed or lost its machine)", where, ago(now, renewed(l)))
	}
	holder := ""
	if l.Spec.HolderIdentity != nil {
		holder = ", by " + *l.Spec.HolderIdentity
	}
	return fmt.Sprintf("its lease %s was renewed %s%s", where, ago(now, renewed(l)), holder)
}

// Observer judges runs by their Leases. It remembers verdicts: a run once
// dead stays dead.
type Observer struct {
	Typed kubernetes.Interface
	// Now is the clock (tests replace it).
	Now func() time.Time
	// Margin is added to a Lease's renewal interval before a run that was
	// watched without renewing is taken for dead.
	Margin time.Duration

	mu      sync.Mutex
	verdict map[string]*judging
}

type judging struct {
	done chan struct{}
	v    Verdict
	err  error
}

// NewObserver returns an Observer over the typed client.
func NewObserver(typed kubernetes.Interface) *Observer {
	return &Observer{Typed: typed, Now: time.Now, Margin: time.Second, verdict: map[string]*judging{}}
}

// Judge tells whether the run holding Lease ns/name is alive. A Lease that
// was released or is absent is decided at once. Otherwise the Lease is
// watched until it is renewed (alive), or until it has not been renewed for
// its duration by the holder's clock AND for one renewal interval (plus
// Margin) of watching, so that a live run whose clock is behind ours is
// never taken for dead. wait, when not nil, is told how long that may take.
// Concurrent calls for one Lease share one judgement; a dead verdict is
// final, an alive one holds for a renewal interval.
func (o *Observer) Judge(ctx context.Context, ns, name string, wait func(l *coordv1.Lease, upTo time.Duration)) (Verdict, error) {
	key := ns + "/" + name
	o.mu.Lock()
	j, ok := o.verdict[key]
	if ok {
		select {
		case <-j.done:
			if j.err == nil && (j.v.State.Dead() || o.Now().Sub(j.v.At) < leaseDuration(j.v.Lease)/3) {
				o.mu.Unlock()
				return j.v, nil
			}
			ok = false
		default:
		}
	}
	if !ok {
		j = &judging{done: make(chan struct{})}
		o.verdict[key] = j
		go func() {
			// Judged under its own context: a caller giving up must not
			// leave a wrong verdict behind for the others.
			j.v, j.err = o.judge(context.WithoutCancel(ctx), ns, name, wait)
			close(j.done)
		}()
	}
	o.mu.Unlock()
	select {
	case <-j.done:
		return j.v, j.err
	case <-ctx.Done():
		return Verdict{}, context.Cause(ctx)
	}
}

func (o *Observer) judge(ctx context.Context, ns, name string, wait func(*coordv1.Lease, time.Duration)) (Verdict, error) {
	leases := o.Typed.CoordinationV1().Leases(ns)
	l, err := getLease(ctx, leases, name)
	if err != nil {
		return Verdict{}, err
	}
	start := o.Now()
	switch {
	case l == nil:
		return Verdict{State: Gone, At: start}, nil
	case ended(l):
		return Verdict{State: Released, Lease: l, At: start}, nil
	}
	dur := leaseDuration(l)
	deadline := renewed(l).Add(dur)
	if confirm := start.Add(dur/3 + o.Margin); confirm.After(deadline) {
		deadline = confirm
	}
	// The judgement is bounded by the Lease's own terms, not by the
	// caller: at most one lease duration plus a renewal interval.
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	if wait != nil {
		wait(l, deadline.Sub(start).Round(100*time.Millisecond))
	}
	seen := l
	for {
		next, err := watchRenewal(ctx, leases, seen)
		switch {
		case err == nil && next == nil:
			return Verdict{State: Gone, At: o.Now()}, nil
		case err == nil && ended(next):
			return Verdict{State: Released, Lease: next, At: o.Now()}, nil
		case err == nil:
			return Verdict{State: Alive, Lease: next, At: o.Now()}, nil
		case ctx.Err() != nil:
			return Verdict{State: Expired, Lease: seen, At: o.Now()}, nil
		case errors.Is(err, errWatchEnded):
			// The server closed the watch: compare with a fresh read,
			// then watch again from there.
			now, gerr := getLease(ctx, leases, name)
			if gerr != nil {
				if ctx.Err() != nil {
					return Verdict{State: Expired, Lease: seen, At: o.Now()}, nil
				}
				return Verdict{}, gerr
			}
			if now == nil || renewedSince(seen, now) {
				return verdictOf(now, o.Now()), nil
			}
			seen = now
		default:
			return Verdict{}, err
		}
	}
}

func verdictOf(l *coordv1.Lease, at time.Time) Verdict {
	switch {
	case l == nil:
		return Verdict{State: Gone, At: at}
	case ended(l):
		return Verdict{State: Released, Lease: l, At: at}
	}
	return Verdict{State: Alive, Lease: l, At: at}
}

// renewedSince reports whether now shows a write by the holder after was:
// every write of a run renews its Lease (renewTime moves) or releases it.
func renewedSince(was, now *coordv1.Lease) bool {
	if ended(now) != ended(was) {
		return true
	}
	a, b := was.Spec.RenewTime, now.Spec.RenewTime
	if a == nil || b == nil {
		return a != b
	}
	return !a.Equal(b)
}

var errWatchEnded = errors.New("watch ended")

// watchRenewal watches Lease seen until it is renewed or released (the new
// Lease), deleted (nil, nil) or ctx ends. It returns errWatchEnded when the
// server ended the watch first.
func watchRenewal(ctx context.Context, leases leaseClient, seen *coordv1.Lease) (*coordv1.Lease, error) {
	w, err := leases.Watch(ctx, metav1.ListOptions{
		FieldSelector:   fields.OneTermEqualSelector("metadata.name", seen.Name).String(),
		ResourceVersion: seen.ResourceVersion,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if apierrors.IsGone(err) || apierrors.IsResourceExpired(err) || apicall.IsTransient(err) {
			return nil, errWatchEnded
		}
		return nil, fmt.Errorf("watch lease %s/%s: %w", seen.Namespace, seen.Name, err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil, errWatchEnded
			}
			l, isLease := ev.Object.(*coordv1.Lease)
			switch {
			case ev.Type == watch.Error:
				return nil, errWatchEnded
			case !isLease || l.Name != seen.Name:
			case ev.Type == watch.Deleted:
				return nil, nil
			case renewedSince(seen, l):
				return l, nil
			}
		}
	}
}

type leaseClient interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*coordv1.Lease, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// getLease reads a Lease, repeating on transient errors; absent is nil.
func getLease(ctx context.Context, leases leaseClient, name string) (*coordv1.Lease, error) {
	var l *coordv1.Lease
	err := apicall.Idempotent(ctx, func() (err error) {
		l, err = leases.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			l = nil
			return nil
		}
		return err
	})
	return l, err
}
