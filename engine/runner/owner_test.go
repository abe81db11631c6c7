package runner_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	k8sfake "k8s.io/client-go/kubernetes/fake"

	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/ownership"
	"github.com/kbrun/kbrun/engine/runner"
	"github.com/kbrun/kbrun/engine/task"
)

// claimType is a cluster task that makes a ConfigMap the run's as apply
// does (Claim, then Applied), without sending it: the Lease is the run's
// Owner's. With delete it removes it again, as a delete task does.
type claimType struct{ sawLease *bool }

type claimParams struct {
	Name   string `json:"name"`
	Delete bool   `json:"delete"`
}

func (claimType) Name() string            { return "claim" }
func (claimType) Summary() string         { return "test double" }
func (claimType) Schema() json.RawMessage { return json.RawMessage(`{"type":"object"}`) }
func (claimType) Outputs() []string       { return nil }
func (claimType) UsesCluster() bool       { return true }

func (c claimType) Prepare(p task.Params) (task.Action, error) {
	var cp claimParams
	err := p.Decode(&cp)
	return claimAction{claimType: c, p: cp}, err
}

type claimAction struct {
	claimType
	p claimParams
}

func (a claimAction) Describe() string { return "claim " + a.p.Name }

func (a claimAction) Run(ctx context.Context, env *task.Env) (task.Outputs, error) {
	ref := kube.ObjectRef{GVR: schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, Kind: "ConfigMap", Namespace: env.Namespace, Name: a.p.Name, Task: env.Task}
	c, err := env.Applied.Owner.Claim(ctx, env.Namespace, ref, nil, env.Logf)
	if err != nil {
		return nil, err
	}
	ref.Run, ref.UID = c.Run, types.UID("uid-"+a.p.Name)
	if err := env.Applied.Owner.Applied(ctx, env.Namespace, ref); err != nil {
		return nil, err
	}
	env.Applied.Add(ref)
	clients, err := env.Kube.Clients()
	if err != nil {
		return nil, err
	}
	_, err = clients.Typed.CoordinationV1().Leases(env.Namespace).Get(ctx, ownership.LeaseName(env.Pipeline.RunID), metav1.GetOptions{})
	*a.sawLease = err == nil
	if a.p.Delete {
		env.Applied.Remove(ref)
	}
	return nil, nil
}

// ownedRun runs a pipeline of one claim task as a library would: its own
// clients (a fake clientset) and an ownership.Run as Owner, nothing else.
func ownedRun(t *testing.T, body string, mod func(*runner.Options)) (*k8sfake.Clientset, *runner.Result, bool) {
	t.Helper()
	t.Setenv("KUBE_FEATURE_WatchListClient", "false") // fakes do not stream lists
	cs := k8sfake.NewClientset()
	kc := kube.StaticProvider{C: &kube.Clients{Typed: cs, Namespace: "team"}}
	const id = "20000101000000-0001"
	own, err := ownership.New(ownership.Options{RunID: id, Pipeline: "t", Kube: kc, LeaseDuration: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var saw bool
	h := newHarness()
	h.reg = task.NewRegistry(claimType{sawLease: &saw})
	o := h.opts()
	o.RunID, o.Kube, o.Namespace, o.Owner = id, kc, "team", own
	if mod != nil {
		mod(&o)
	}
	res := runner.Run(context.Background(), h.load(t, body), o)
	if res.Err != nil || res.OwnerErr != nil {
		t.Fatalf("run: %v; owner: %v", res.Err, res.OwnerErr)
	}
	return cs, res, saw
}

// TestRunFinishesItsOwner: runner.Run called as a library deletes the
// run's Lease once nothing of the run is left, and releases it with what
// is left (--keep), without the caller finishing anything.
func TestRunFinishesItsOwner(t *testing.T) {
	lease := func(cs *k8sfake.Clientset) (map[string]string, error) {
		l, err := cs.CoordinationV1().Leases("team").Get(context.Background(), ownership.LeaseName("20000101000000-0001"), metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return l.Annotations, nil
	}

	cs, _, saw := ownedRun(t, "tasks:\n  - name: a\n    claim: {name: web, delete: true}\n", nil)
	if !saw {
		t.Fatal("the task found no Lease: the run recorded nothing")
	}
	if _, err := lease(cs); !apierrors.IsNotFound(err) {
		t.Errorf("Lease of a run that left nothing, after Run: %v, want it deleted", err)
	}

	cs, res, _ := ownedRun(t, "tasks:\n  - name: a\n    claim: {name: web}\n", func(o *runner.Options) { o.Keep = true })
	ann, err := lease(cs)
	if err != nil {
		t.Fatalf("Lease of a kept run: %v, want it released", err)
	}
	if ann[ownership.AnnotationEnded] != ownership.EndedKept || len(res.Applied) != 1 {
		t.Errorf("kept run: ended %q, applied %v", ann[ownership.AnnotationEnded], res.Applied)
	}
}

// TestOwnerOnlyForClusterRuns: a plan and a pipeline of local tasks
// record nothing, so Run does not finish their Owner either: it would ask
// for a cluster that is not configured, and warn.
func TestOwnerOnlyForClusterRuns(t *testing.T) {
	noCluster := kube.StaticProvider{} // its Clients fail
	own, err := ownership.New(ownership.Options{RunID: "20000101000000-0002", Pipeline: "t", Kube: noCluster})
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		body string
		dry  task.DryRun
	}{
		"plan":        {"tasks:\n  - name: a\n    claim: {name: web}\n", task.DryRunClient},
		"local tasks": {"tasks:\n  - name: a\n    fake: {id: a}\n", task.DryRunNone},
	} {
		h := newHarness()
		var saw bool
		h.reg = task.NewRegistry(h.fake, claimType{sawLease: &saw})
		o := h.opts()
		o.Kube, o.Owner, o.DryRun = noCluster, own, tc.dry
		res := runner.Run(context.Background(), h.load(t, tc.body), o)
		if res.Err != nil || res.OwnerErr != nil {
			t.Errorf("%s: run: %v; owner: %v", name, res.Err, res.OwnerErr)
		}
	}
}
