// Package deploy is the `deploy` task type: apply, then wait by watch until
// every workload among the applied objects is rolled out, failing fast on
// pods that can never become ready.
package deploy

import (
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/valid"
	"github.com/kbrun/kbrun/tasks/internal/apply"
	"github.com/kbrun/kbrun/tasks/internal/k8s"
	"github.com/kbrun/kbrun/tasks/internal/manifest"
)

//go:embed schema.json
var schemaJSON []byte

// Type is the deploy task type.
type Type struct{}

// Params are the deploy task's parameters.
type Params struct {
	apply.Params
	FailFast           *bool  `json:"failFast,omitempty"`
	UnschedulableGrace string `json:"unschedulableGrace,omitempty"`
	StableFor          string `json:"stableFor,omitempty"`
}

func (Type) Name() string { return "deploy" }
func (Type) Summary() string {
	return "Apply, then wait for every Deployment/StatefulSet/DaemonSet/Job to roll out (as `kubectl rollout status` judges), failing fast on image-pull errors, crash loops and unschedulable pods; a Job is done when `Complete` (or `SuccessTarget`) and fails at once when `Failed` (or `FailureTarget`), quoting its failed pod's reason, exit code and last 20 log lines"
}
func (Type) Schema() json.RawMessage { return schemaJSON }
func (Type) Outputs() []string       { return []string{"pod", "pods", "namespace", "images", "objects"} }

// Check implements task.Checker.
func (Type) Check(p task.Params) []task.FieldError { return manifest.CheckFiles(p, "files") }

// Prepare implements task.Type.
func (Type) Prepare(p task.Params) (task.Action, error) {
	var params Params
	if err := p.Decode(&params); err != nil {
		return nil, err
	}
	var ps task.Problems
	params.Check(&ps)
	ms, err := params.Load(p)
	ps.Keep(err)
	grace, err := k8s.ParseDuration("unschedulableGrace", params.UnschedulableGrace, 30*time.Second)
	ps.Keep(err)
	if err == nil && params.UnschedulableGrace != "" && !task.IsUnknown(params.UnschedulableGrace) {
		// A grace the timeout always ends first never fails fast.
		if err := valid.AtMost("unschedulableGrace", grace, p.Timeout); err != nil {
			ps.Add([]string{"unschedulableGrace"}, err)
		}
	}
	stable, err := k8s.ParseDuration("stableFor", params.StableFor, 0)
	ps.Keep(err)
	if err == nil {
		// stableFor counts after the rollout, within the task's timeout.
		if err := valid.AtMost("stableFor", stable, p.Timeout); err != nil {
			ps.Add([]string{"stableFor"}, err)
		}
	}
	if err := ps.Err(); err != nil {
		return nil, err
	}
	params.Namespace = cmp.Or(params.Namespace, p.Namespace)
	return &action{params: params, manifests: ms, grace: grace, stable: stable, failFast: params.FailFast == nil || *params.FailFast}, nil
}

type action struct {
	params    Params
	manifests *manifest.Manifests
	grace     time.Duration
	stable    time.Duration
	failFast  bool
}

// Namespace is where namespaced objects that name none go.
func (a *action) UsesNamespace() string { return a.params.Namespace }

// ManifestFiles implements task.ManifestUser.
func (a *action) ManifestFiles() []task.ManifestFile { return a.manifests.ShownFiles() }

// Describe implements task.Action.
func (a *action) Describe() string {
	s := "deploy " + a.params.What()
	if objs := a.manifests.Summary(a.params.Namespace); objs != "" {
		s += " (" + objs + ")"
	} else {
		s += " in " + k8s.InNamespace(a.params.Namespace)
	}
	s += " and wait for the rollout"
	if a.stable > 0 {
		s += fmt.Sprintf(", then %s of its pods staying ready", a.stable)
	}
	if !a.failFast {
		s += " (no fail-fast)"
	}
	if a.params.Force {
		s += ", forcing conflicts"
	}
	return s
}

// Run implements task.Action.
func (a *action) Run(ctx context.Context, env *task.Env) (task.Outputs, error) {
	applied, err := apply.Run(ctx, env, a.params.Params, a.manifests)
	objects, _ := apply.RefOutputs(apply.Refs(applied))
	ns := k8s.Namespace(a.params.Namespace, env)
	out := task.Outputs{"pod": "", "pods": []any{}, "namespace": ns, "images": []any{}, "objects": task.List(objects)}
	if err != nil {
		return out, err
	}
	c, err := k8s.Clients(env)
	if err != nil {
		return out, err
	}
	var ws []*waiter
	for _, ap := range applied {
		if workloadKind(ap.Mapping.GroupVersionKind.GroupKind()) != "" {
			ws = append(ws, &waiter{c: c, env: env, ap: ap, grace: a.grace, stable: a.stable, failFast: a.failFast})
		}
	}
	if len(ws) == 0 {
		k8s.Logf(env, "no Deployment, StatefulSet, DaemonSet or Job among the applied objects: nothing to wait for")
		return out, nil
	}
	// Wait for all workloads together: a stuck pod of the last one fails the
	// task as fast as one of the first.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]result, len(ws))
	errs := make([]error, len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = w.wait(ctx)
			if errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	var pods, images []any
	seenImage := map[string]bool{}
	for _, r := range results {
		for _, p := range r.pods {
			pods = append(pods, p)
		}
		for _, im := range r.images {
			if !seenImage[im] {
				seenImage[im] = true
				images = append(images, im)
			}
		}
	}
	out["pods"], out["images"] = task.List(pods), task.List(images)
	if len(pods) > 0 {
		out["pod"] = pods[0]
	}
	// Report the first real failure, not the cancellations it caused.
	var first error
	for _, e := range errs {
		if e == nil {
			continue
		}
		if first == nil || (isCancelCascade(first) && !isCancelCascade(e)) {
			first = e
		}
	}
	return out, first
}

type cancelled struct{ err error }

func (c *cancelled) Error() string { return c.err.Error() }
func (c *cancelled) Unwrap() error { return c.err }

func isCancelCascade(err error) bool {
	_, ok := err.(*cancelled)
	return ok
}

// DryRunServer implements task.ServerDryRunner: the apply only (nothing
// rolls out in a dry run).
func (a *action) DryRunServer(ctx context.Context, env *task.Env) ([]task.Change, error) {
	return apply.DryRunChanges(ctx, env, a.params.Params, a.manifests)
}
