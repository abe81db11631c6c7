//go:build integration

package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/ownership"
)

func ownedRun(t *testing.T, id string) (*ownership.Run, *kube.AppliedSet) {
	t.Helper()
	r, err := ownership.New(ownership.Options{RunID: id, Pipeline: "it", Kube: provider, LeaseDuration: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return r, &kube.AppliedSet{Owner: r}
}

// On the real API server: what a run creates carries its labels and an
// owner reference to its Lease, which lists it; a user's object it applies
// stays unmarked. A run kept with --keep releases its Lease; the next run
// takes its objects over at once and its cleanup deletes them and the
// Lease, never the user's object.
func TestOwnershipRecordsAndTakesOver(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	user := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "users", Namespace: ns}, Data: map[string]string{"owner": "team"}}
	if _, err := clients.Typed.CoreV1().ConfigMaps(ns).Create(ctx, user, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	manifest := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: users}\ndata: {touched: \"yes\"}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: made}\n"
	first, applied := ownedRun(t, "it-first")
	mustRun(t, newEnv(t, ns, applied), "apply", 30*time.Second, map[string]any{"manifest": manifest})
	made, err := clients.Typed.CoreV1().ConfigMaps(ns).Get(ctx, "made", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lease, err := clients.Typed.CoordinationV1().Leases(ns).Get(ctx, "kbrun-run-it-first", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the run's lease: %v", err)
	}
	if made.Labels[ownership.LabelRun] != "it-first" || made.Labels[ownership.LabelPipeline] != "it" ||
		len(made.OwnerReferences) != 1 || made.OwnerReferences[0].UID != lease.UID {
		t.Errorf("made: labels %v, owner references %+v (lease uid %s)", made.Labels, made.OwnerReferences, lease.UID)
	}
	recs, _ := ownership.Records(lease)
	if len(recs) != 1 || recs[0].Name != "made" {
		t.Errorf("lease records %+v", recs)
	}
	got, _ := clients.Typed.CoreV1().ConfigMaps(ns).Get(ctx, "users", metav1.GetOptions{})
	if _, marked := got.Labels[ownership.LabelRun]; marked || len(got.OwnerReferences) > 0 {
		t.Errorf("the user's ConfigMap was marked: %v %v", got.Labels, got.OwnerReferences)
	}
	// --keep: the Lease is released with what is left.
	if err := first.Finish(ctx, applied.List(), ownership.EndedKept); err != nil {
		t.Fatal(err)
	}

	second, applied2 := ownedRun(t, "it-second")
	var logs []string
	var mu sync.Mutex
	env := newEnv(t, ns, applied2)
	env.Logf = func(f string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		logs = append(logs, fmt.Sprintf(f, a...))
		t.Logf("kbrun: "+f, a...)
	}
	start := time.Now()
	mustRun(t, env, "apply", 30*time.Second, map[string]any{"manifest": manifest})
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("taking over from a released run took %s", d)
	}
	made, _ = clients.Typed.CoreV1().ConfigMaps(ns).Get(ctx, "made", metav1.GetOptions{})
	if made.Labels[ownership.LabelRun] != "it-second" || len(made.OwnerReferences) != 1 || made.OwnerReferences[0].Name != "kbrun-run-it-second" {
		t.Errorf("taken over: labels %v, owner references %+v (the first run's reference must be gone)", made.Labels, made.OwnerReferences)
	}
	out := mustRun(t, env, "delete", 60*time.Second, map[string]any{"applied": true})
	if err := second.Finish(ctx, applied2.List(), ownership.EndedIncomplete); err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(logs, "\n")
	for _, want := range []string{"left by run it-first, which is gone (it ended", "applied configmap " + ns + "/made (taken over from run it-first)", "run it-first of pipeline it is gone"} {
		if !strings.Contains(joined, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	t.Logf("deleted %v", out["deleted"])
	leases, _ := clients.Typed.CoordinationV1().Leases(ns).List(ctx, metav1.ListOptions{})
	if len(leases.Items) != 0 {
		t.Errorf("leases left: %v", leases.Items)
	}
	if _, err := clients.Typed.CoreV1().ConfigMaps(ns).Get(ctx, "made", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("made: %v, want NotFound", err)
	}
	if got, err := clients.Typed.CoreV1().ConfigMaps(ns).Get(ctx, "users", metav1.GetOptions{}); err != nil || got.Data["owner"] != "team" {
		t.Errorf("the user's ConfigMap: %v %v", got, err)
	}
}

// Deleting a run's Lease lets the garbage collector remove what the run
// made in the Lease's namespace (`kubectl delete lease kbrun-run-ID`).
func TestLeaseOwnerGarbageCollects(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	r, applied := ownedRun(t, "it-gc")
	mustRun(t, newEnv(t, ns, applied), "apply", 30*time.Second, map[string]any{"manifest": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: made}\n"})
	made, err := clients.Typed.CoreV1().ConfigMaps(ns).Get(ctx, "made", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Finish(ctx, applied.List(), ownership.EndedKept); err != nil {
		t.Fatal(err)
	}
	if err := clients.Typed.CoordinationV1().Leases(ns).Delete(ctx, "kbrun-run-it-gc", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitGone(t, ns, "made", made.UID, time.Minute)
	t.Logf("the garbage collector removed the ConfigMap %s after its lease was deleted", time.Since(start).Round(100*time.Millisecond))
}

// waitGone waits, by watch, until ConfigMap ns/name with uid is gone.
func waitGone(t *testing.T, ns, name string, uid types.UID, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cms := clients.Typed.CoreV1().ConfigMaps(ns)
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return cms.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return cms.Watch(ctx, o)
		},
	}
	var store cache.Store
	gone := func() bool {
		for _, o := range store.List() {
			if o.(*corev1.ConfigMap).UID == uid {
				return false
			}
		}
		return true
	}
	_, err := watchtools.UntilWithSync(ctx, lw, &corev1.ConfigMap{}, func(s cache.Store) (bool, error) {
		store = s
		return gone(), nil
	}, func(ev watch.Event) (bool, error) { return ev.Type == watch.Deleted && gone(), nil })
	if err != nil {
		t.Fatalf("ConfigMap %s/%s still there after %s: %v", ns, name, d, err)
	}
}

// Applying a namespace that is still terminating waits until it is gone
// and creates it again (the 403 from NamespaceLifecycle is not a missing
// right). The namespace is held terminating by a finalizer the test
// removes once kbrun says it waits.
func TestApplyWaitsForTerminatingNamespace(t *testing.T) {
	ctx := context.Background()
	name := fmt.Sprintf("it-term-%d", time.Now().UnixNano()%100000)
	if _, err := clients.Typed.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { clients.Typed.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	held := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "held", Namespace: name, Finalizers: []string{"kbrun.dev/test-hold"}}}
	if _, err := clients.Typed.CoreV1().ConfigMaps(name).Create(ctx, held, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	old, err := clients.Typed.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := clients.Typed.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waiting := make(chan struct{})
	var once sync.Once
	env := newEnv(t, name, nil)
	env.Logf = func(f string, a ...any) {
		line := fmt.Sprintf(f, a...)
		t.Log("kbrun: " + line)
		if strings.Contains(line, "is being deleted") {
			once.Do(func() { close(waiting) })
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := run(t, env, "apply", 90*time.Second, map[string]any{"manifest": "apiVersion: v1\nkind: Namespace\nmetadata: {name: " + name + "}\n"})
		done <- err
	}()
	select {
	case <-waiting:
	case err := <-done:
		t.Fatalf("apply ended without waiting: %v", err)
	}
	if _, err := clients.Typed.CoreV1().ConfigMaps(name).Patch(ctx, "held", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("apply: %v", err)
	}
	now, err := clients.Typed.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err != nil || now.UID == old.UID || now.Status.Phase != corev1.NamespaceActive {
		t.Fatalf("namespace after the apply: %v (uid %s, was %s)", err, now.UID, old.UID)
	}
}
