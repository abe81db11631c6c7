package ownership

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kbrun/kbrun/engine/kube"
)

func TestMain(m *testing.M) {
	os.Setenv("KUBE_FEATURE_WatchListClient", "false") // fakes do not stream lists
	os.Exit(m.Run())
}

var (
	deployGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	nsGVR     = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
)

func deployRef(ns, name string) kube.ObjectRef {
	return kube.ObjectRef{GVR: deployGVR, Kind: "Deployment", Namespace: ns, Name: name}
}

func newRun(t *testing.T, cs *fake.Clientset, id string) *Run {
	t.Helper()
	r, err := New(Options{RunID: id, Pipeline: "p", Kube: kube.StaticProvider{C: &kube.Clients{Typed: cs}}, LeaseDuration: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r.margin = 50 * time.Millisecond
	t.Cleanup(func() { _ = r.Finish(context.Background(), nil, "") })
	return r
}

// lease puts another run's Lease into ns: renewed at renewed (holder's
// clock), released when holder is "".
func lease(t *testing.T, cs *fake.Clientset, ns, run, pipeline, holder string, renewedAt time.Time, secs int32, recs ...Record) *coordv1.Lease {
	t.Helper()
	l := &coordv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: LeaseName(run), Namespace: ns, Labels: map[string]string{LabelRun: run, LabelPipeline: pipeline}},
		Spec:       coordv1.LeaseSpec{LeaseDurationSeconds: &secs, RenewTime: microNow(renewedAt)},
	}
	if holder != "" {
		l.Spec.HolderIdentity = &holder
	} else {
		l.Annotations = map[string]string{AnnotationEnded: EndedKept}
	}
	if err := setRecords(l, recs); err != nil {
		t.Fatal(err)
	}
	l, err := cs.CoordinationV1().Leases(ns).Create(context.Background(), l, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// keepRenewing plays a live run: it renews its Lease every 100ms, with a
// clock off by skew, until the test ends.
func keepRenewing(t *testing.T, cs *fake.Clientset, ns, run string, skew time.Duration) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				l, err := cs.CoordinationV1().Leases(ns).Get(context.Background(), LeaseName(run), metav1.GetOptions{})
				if err != nil {
					continue
				}
				l.Spec.RenewTime = microNow(time.Now().Add(skew))
				_, _ = cs.CoordinationV1().Leases(ns).Update(context.Background(), l, metav1.UpdateOptions{})
			}
		}
	}()
	t.Cleanup(func() { close(stop); wg.Wait() })
}

// owned is a live object labelled as run's.
func owned(kind, ns, name, run string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	u.SetLabels(map[string]string{LabelRun: run, LabelPipeline: "p"})
	u.SetAnnotations(map[string]string{AnnotationLease: "ones/" + LeaseName(run)})
	u.SetCreationTimestamp(metav1.NewTime(time.Now().Add(-time.Hour)))
	return u
}

type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) f(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func getLeaseT(t *testing.T, cs *fake.Clientset, ns, name string) *coordv1.Lease {
	t.Helper()
	l, err := cs.CoordinationV1().Leases(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("lease %s/%s: %v", ns, name, err)
	}
	return l
}

// A new object is recorded on the run's Lease before it is created, and
// marked as the run's, with an owner reference to the Lease.
func TestClaimRecordsBeforeCreating(t *testing.T) {
	cs := fake.NewClientset()
	r := newRun(t, cs, "a")
	var l logs
	c, err := r.Claim(context.Background(), "ones", deployRef("ones", "web"), nil, l.f)
	if err != nil {
		t.Fatal(err)
	}
	if c.Existed || c.Run != "a" || c.Mark == nil {
		t.Fatalf("claim %+v", c)
	}
	recs, _ := Records(getLeaseT(t, cs, "ones", "kbrun-run-a"))
	if len(recs) != 1 || recs[0].Name != "web" || recs[0].Resource != "deployments" || recs[0].APIVersion != "apps/v1" {
		t.Fatalf("records before the create: %+v", recs)
	}
	obj := &unstructured.Unstructured{}
	c.Mark(obj)
	if obj.GetLabels()[LabelRun] != "a" || obj.GetLabels()[LabelPipeline] != "p" || obj.GetAnnotations()[AnnotationLease] != "ones/kbrun-run-a" {
		t.Errorf("marks: %v %v", obj.GetLabels(), obj.GetAnnotations())
	}
	if refs := obj.GetOwnerReferences(); len(refs) != 1 || refs[0].Kind != "Lease" || refs[0].Name != "kbrun-run-a" {
		t.Errorf("owner references: %+v", refs)
	}
	// In another namespace: recorded, no owner reference (it must be in
	// the owner's namespace).
	c, err = r.Claim(context.Background(), "ones", deployRef("other", "db"), nil, l.f)
	if err != nil {
		t.Fatal(err)
	}
	obj = &unstructured.Unstructured{}
	c.Mark(obj)
	if len(obj.GetOwnerReferences()) != 0 || obj.GetLabels()[LabelRun] != "a" {
		t.Errorf("other namespace: %v %v", obj.GetLabels(), obj.GetOwnerReferences())
	}
	recs, _ = Records(getLeaseT(t, cs, "ones", "kbrun-run-a"))
	if len(recs) != 2 {
		t.Fatalf("records: %+v", recs)
	}
	// Nothing left: the Lease goes.
	if err := r.Finish(context.Background(), nil, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoordinationV1().Leases("ones").Get(context.Background(), "kbrun-run-a", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("lease after a clean finish: %v", err)
	}
}

// The run's own namespace exists before its Lease: it is recorded on the
// Lease made right after it.
func TestOwnNamespaceThenLease(t *testing.T) {
	cs := fake.NewClientset()
	r := newRun(t, cs, "a")
	ref := kube.ObjectRef{GVR: nsGVR, Kind: "Namespace", Name: "ones"}
	c, err := r.Claim(context.Background(), "ones", ref, nil, (&logs{}).f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoordinationV1().Leases("ones").Get(context.Background(), "kbrun-run-a", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a lease before its namespace: %v", err)
	}
	obj := &unstructured.Unstructured{}
	c.Mark(obj)
	if obj.GetLabels()[LabelRun] != "a" || len(obj.GetOwnerReferences()) != 0 {
		t.Fatalf("marks %v %v", obj.GetLabels(), obj.GetOwnerReferences())
	}
	ref.Run, ref.UID = c.Run, "uid-ns"
	if err := r.Applied(context.Background(), "ones", ref); err != nil {
		t.Fatal(err)
	}
	recs, _ := Records(getLeaseT(t, cs, "ones", "kbrun-run-a"))
	if len(recs) != 1 || recs[0].Kind != "Namespace" || recs[0].UID != "uid-ns" {
		t.Fatalf("records %+v", recs)
	}
}

// An object without kbrun's label is a user's: applied, never marked,
// never recorded.
func TestClaimLeavesUsersObjects(t *testing.T) {
	cs := fake.NewClientset()
	r := newRun(t, cs, "a")
	live := &unstructured.Unstructured{}
	live.SetName("web")
	c, err := r.Claim(context.Background(), "ones", deployRef("ones", "web"), live, (&logs{}).f)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Existed || c.Run != "" || c.Mark != nil {
		t.Fatalf("claim %+v", c)
	}
	if l, _ := cs.CoordinationV1().Leases("ones").List(context.Background(), metav1.ListOptions{}); len(l.Items) != 0 {
		t.Fatalf("leases: %+v", l.Items)
	}
}

// What a run that released its Lease left is taken over at once.
func TestClaimTakesOverFromReleasedRun(t *testing.T) {
	cs := fake.NewClientset()
	lease(t, cs, "ones", "b", "p", "", time.Now(), 15)
	r := newRun(t, cs, "a")
	var l logs
	start := time.Now()
	c, err := r.Claim(context.Background(), "ones", deployRef("ones", "web"), owned("Deployment", "ones", "web", "b"), l.f)
	if err != nil {
		t.Fatal(err)
	}
	if c.Existed || c.Run != "a" || c.LeftBy != "b" {
		t.Fatalf("claim %+v", c)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %s: a released lease needs no waiting", d)
	}
	if !strings.Contains(l.String(), "left by run b, which is gone (it ended") {
		t.Errorf("log:\n%s", l.String())
	}
}

// A killed run's Lease expires: its objects are taken over after the
// Lease's duration, and after a renewal interval of watching it.
func TestClaimTakesOverFromExpiredRun(t *testing.T) {
	cs := fake.NewClientset()
	lease(t, cs, "ones", "b", "p", "kbrun pid 1", time.Now().Add(-500*time.Millisecond), 1)
	r := newRun(t, cs, "a")
	var l logs
	start := time.Now()
	c, err := r.Claim(context.Background(), "ones", deployRef("ones", "web"), owned("Deployment", "ones", "web", "b"), l.f)
	if err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	if c.Run != "a" || c.LeftBy != "b" {
		t.Fatalf("claim %+v", c)
	}
	// Expired 0.5s after the claim started, but watched at least a third
	// of a second plus the margin.
	if d < 450*time.Millisecond || d > 3*time.Second {
		t.Errorf("decided after %s, want about 0.5s", d)
	}
	if !strings.Contains(l.String(), "watching it for up to") || !strings.Contains(l.String(), "has expired") {
		t.Errorf("log:\n%s", l.String())
	}
}

// A live run's object is refused; its namespace is shared, with its marks.
// A live run's clock far behind ours does not make it look dead.
func TestClaimRefusesLiveRunsObjects(t *testing.T) {
	for _, skew := range []time.Duration{0, -time.Hour} {
		t.Run(fmt.Sprint("skew ", skew), func(t *testing.T) {
			cs := fake.NewClientset()
			lease(t, cs, "ones", "b", "p", "kbrun pid 1", time.Now().Add(skew), 1)
			keepRenewing(t, cs, "ones", "b", skew)
			r := newRun(t, cs, "a")
			_, err := r.Claim(context.Background(), "ones", deployRef("ones", "web"), owned("Deployment", "ones", "web", "b"), (&logs{}).f)
			if err == nil || !strings.Contains(err.Error(), "belongs to run b, which still runs") || !strings.Contains(err.Error(), "use another namespace or other names") {
				t.Fatalf("err = %v", err)
			}
			live := owned("Namespace", "", "ones", "b")
			c, err := r.Claim(context.Background(), "ones", kube.ObjectRef{GVR: nsGVR, Kind: "Namespace", Name: "ones"}, live, (&logs{}).f)
			if err != nil {
				t.Fatal(err)
			}
			if !c.Existed || c.Run != "b" {
				t.Fatalf("namespace claim %+v", c)
			}
			obj := &unstructured.Unstructured{}
			c.Mark(obj)
			if obj.GetLabels()[LabelRun] != "b" || obj.GetAnnotations()[AnnotationLease] != "ones/kbrun-run-b" {
				t.Errorf("shared namespace applied without its owner's marks: %v %v", obj.GetLabels(), obj.GetAnnotations())
			}
		})
	}
}

// Cleanup takes over what gone runs of the same pipeline left, never a
// live run's or another pipeline's.
func TestLeftovers(t *testing.T) {
	cs := fake.NewClientset()
	rec := Record{APIVersion: "apps/v1", Kind: "Deployment", Resource: "deployments", Namespace: "ones", Name: "x", UID: "u1"}
	lease(t, cs, "ones", "gone", "p", "", time.Now(), 15, rec)
	lease(t, cs, "ones", "expired", "p", "kbrun pid 1", time.Now().Add(-time.Minute), 1)
	lease(t, cs, "ones", "live", "p", "kbrun pid 2", time.Now(), 1)
	keepRenewing(t, cs, "ones", "live", 0)
	lease(t, cs, "ones", "other", "q", "", time.Now(), 15)
	r := newRun(t, cs, "a")
	if _, err := r.Claim(context.Background(), "ones", deployRef("ones", "web"), nil, (&logs{}).f); err != nil {
		t.Fatal(err)
	}
	var l logs
	refs, err := r.Leftovers(context.Background(), "ones", l.f)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ref := range refs {
		got = append(got, fmt.Sprintf("%s %s run=%s leftBy=%s", ref.Kind, ref.Name, ref.Run, ref.LeftBy))
	}
	want := "Lease kbrun-run-expired run=expired leftBy=expired|Lease kbrun-run-gone run=gone leftBy=gone|Deployment x run=gone leftBy=gone"
	if strings.Join(got, "|") != want {
		t.Errorf("leftovers:\n%s\nwant\n%s", strings.Join(got, "|"), strings.ReplaceAll(want, "|", "\n"))
	}
	if !strings.Contains(l.String(), "run live of pipeline p still runs here") {
		t.Errorf("log:\n%s", l.String())
	}
	// The namespace: the live run works in it; the gone ones do not count.
	holder, err := r.Holder(context.Background(), "ones")
	if err != nil || !strings.HasPrefix(holder, "run live of pipeline p") {
		t.Errorf("holder %q, %v", holder, err)
	}
}

// A run that ends with objects left releases its Lease with them listed.
func TestFinishReleases(t *testing.T) {
	cs := fake.NewClientset()
	r := newRun(t, cs, "a")
	for _, n := range []string{"web", "db"} {
		c, err := r.Claim(context.Background(), "ones", deployRef("ones", n), nil, (&logs{}).f)
		if err != nil {
			t.Fatal(err)
		}
		ref := deployRef("ones", n)
		ref.Run, ref.UID = c.Run, "uid-"+"n"
		if err := r.Applied(context.Background(), "ones", ref); err != nil {
			t.Fatal(err)
		}
	}
	left := deployRef("ones", "db")
	left.Run = "a"
	shared := deployRef("ones", "users")
	shared.Existed = true
	if err := r.Finish(context.Background(), []kube.ObjectRef{left, shared}, EndedKept); err != nil {
		t.Fatal(err)
	}
	l := getLeaseT(t, cs, "ones", "kbrun-run-a")
	recs, _ := Records(l)
	if !ended(l) || l.Annotations[AnnotationEnded] != EndedKept || len(recs) != 1 || recs[0].Name != "db" {
		t.Fatalf("released lease: holder %v, annotations %v", l.Spec.HolderIdentity, l.Annotations)
	}
	// A later run takes over at once.
	obs := NewObserver(cs)
	v, err := obs.Judge(context.Background(), "ones", "kbrun-run-a", nil)
	if err != nil || v.State != Released {
		t.Fatalf("verdict %+v, %v", v, err)
	}
}

func TestNewRejectsBadRunIDs(t *testing.T) {
	for _, id := range []string{"", "UPPER", "a b", strings.Repeat("x", 64)} {
		if _, err := New(Options{RunID: id, Pipeline: "p"}); err == nil {
			t.Errorf("run id %q accepted", id)
		}
	}
	if _, err := New(Options{RunID: "x", LeaseDuration: time.Second}); err == nil {
		t.Error("a 1s lease accepted")
	}
}

// TestFinishFindsLeaseOfCutCreate: when the Lease's create was cut short
// (an interrupt while it was on the wire) but the API server made it, the
// run does not know its Lease; Finish still finds it and deletes it.
func TestFinishFindsLeaseOfCutCreate(t *testing.T) {
	cs := fake.NewClientset()
	cs.PrependReactor("create", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) {
		obj := a.(k8stesting.CreateAction).GetObject()
		if err := cs.Tracker().Create(a.GetResource(), obj, a.GetNamespace()); err != nil {
			return true, nil, err
		}
		return true, nil, context.Canceled // made, but the answer never came
	})
	r := newRun(t, cs, "cut")
	if _, err := r.Claim(context.Background(), "ones", deployRef("ones", "web"), nil, (&logs{}).f); err == nil {
		t.Fatal("claim succeeded although the lease's create failed")
	}
	if _, err := cs.CoordinationV1().Leases("ones").Get(context.Background(), "kbrun-run-cut", metav1.GetOptions{}); err != nil {
		t.Fatalf("the cut create should have made the lease: %v", err)
	}
	if err := r.Finish(context.Background(), nil, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoordinationV1().Leases("ones").Get(context.Background(), "kbrun-run-cut", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the run's lease outlived it: %v", err)
	}
}

// The last run out of a shared namespace deletes it: run a made it and
// left it to the runs working in it (its released Lease lists it); run b,
// ending after it, deletes it, unless run c still works there or a kept
// the namespace on purpose (--keep).
func TestLastOutDeletesSharedNamespace(t *testing.T) {
	for _, tc := range []struct {
		name  string
		aEnd  string // why run a's Lease was released
		live  bool   // run c still works in the namespace
		stays bool
	}{
		{"left-to-others", EndedIncomplete, false, false},
		{"another-live-run", EndedIncomplete, true, true},
		{"kept", EndedKept, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ones", UID: "ns-uid", Labels: map[string]string{LabelRun: "a"}}}
			cs := fake.NewClientset(ns)
			nsRec := Record{APIVersion: "v1", Kind: "Namespace", Resource: "namespaces", Name: "ones", UID: "ns-uid"}
			a := lease(t, cs, "ones", "a", "p", "", time.Now(), 15, nsRec)
			a.Annotations[AnnotationEnded] = tc.aEnd
			if _, err := cs.CoordinationV1().Leases("ones").Update(context.Background(), a, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			if tc.live {
				lease(t, cs, "ones", "c", "p", "kbrun pid 3", time.Now(), 1)
				keepRenewing(t, cs, "ones", "c", 0)
			}
			r := newRun(t, cs, "b")
			if _, err := r.Claim(context.Background(), "ones", deployRef("ones", "web"), nil, (&logs{}).f); err != nil {
				t.Fatal(err)
			}
			// The lease watch has listed a's Lease once Leftovers returns.
			if _, err := r.Leftovers(context.Background(), "ones", (&logs{}).f); err != nil {
				t.Fatal(err)
			}
			if err := r.Finish(context.Background(), nil, ""); err != nil {
				t.Fatal(err)
			}
			_, err := cs.CoreV1().Namespaces().Get(context.Background(), "ones", metav1.GetOptions{})
			if gone := apierrors.IsNotFound(err); gone == tc.stays {
				t.Errorf("namespace gone = %v (%v), want %v", gone, err, !tc.stays)
			}
		})
	}
}

// A run with --keep that made its namespace keeps it: its own released
// Lease lists the namespace, and that is not a namespace left to others.
func TestKeptRunKeepsItsNamespace(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ones", UID: "ns-uid", Labels: map[string]string{LabelRun: "b"}}}
	cs := fake.NewClientset(ns)
	r := newRun(t, cs, "b")
	nsRef := kube.ObjectRef{GVR: corev1.SchemeGroupVersion.WithResource("namespaces"), Kind: "Namespace", Name: "ones", UID: "ns-uid", Run: "b"}
	web := deployRef("ones", "web")
	web.Run = "b"
	for _, ref := range []kube.ObjectRef{nsRef, web} {
		if _, err := r.Claim(context.Background(), "ones", ref, nil, (&logs{}).f); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Finish(context.Background(), []kube.ObjectRef{nsRef, web}, EndedKept); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Get(context.Background(), "ones", metav1.GetOptions{}); err != nil {
		t.Errorf("the kept run's namespace: %v, want it kept", err)
	}
}

// A run judged gone whose Lease is renewed before the cleanup reads it
// again was slow, not gone (a loaded machine): what it made is left to it,
// its Lease with it (the likely cause of one run deleting another's live
// Lease, seen once with 5 runs in one namespace beside a go test ./...).
func TestLeftoversSparesARunRenewedSinceJudged(t *testing.T) {
	cs := fake.NewClientset()
	rec := Record{APIVersion: "apps/v1", Kind: "Deployment", Resource: "deployments", Namespace: "ones", Name: "x", UID: "u1"}
	slow := lease(t, cs, "ones", "slow", "p", "kbrun pid 3", time.Now().Add(-time.Minute), 1, rec)
	gvr := coordv1.SchemeGroupVersion.WithResource("leases")
	lists := 0
	// The first list is the judgement's (its Lease has expired); before the
	// second, the cleanup's read again, the run renews.
	cs.PrependReactor("list", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		if lists++; lists == 2 {
			renewed := slow.DeepCopy()
			renewed.Spec.RenewTime = microNow(time.Now())
			if err := cs.Tracker().Update(gvr, renewed, "ones"); err != nil {
				t.Error(err)
			}
		}
		return false, nil, nil
	})
	r := newRun(t, cs, "a")
	var l logs
	refs, err := r.Leftovers(context.Background(), "ones", l.f)
	if err != nil {
		t.Fatal(err)
	}
	if lists != 2 || len(refs) != 0 {
		t.Errorf("%d lists; leftovers %+v, want none (the run renewed its lease)", lists, refs)
	}
	if !strings.Contains(l.String(), "renewed its lease ones/kbrun-run-slow after it was judged gone") {
		t.Errorf("log:\n%s", l.String())
	}
}
