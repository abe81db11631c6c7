// Package delete is the `delete` task type: delete objects and wait until
// they are gone.
package delete

import (
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/kbrun/kbrun/engine/apicall"
	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/ownership"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/valid"
	"github.com/kbrun/kbrun/tasks/internal/apply"
	"github.com/kbrun/kbrun/tasks/internal/k8s"
	"github.com/kbrun/kbrun/tasks/internal/manifest"
)

//go:embed schema.json
var schemaJSON []byte

// Type is the delete task type.
type Type struct{}

// Params are the delete task's parameters.
type Params struct {
	Files    []string `json:"files,omitempty"`
	Manifest string   `json:"manifest,omitempty"`
	Kind     string   `json:"kind,omitempty"`
	Name     string   `json:"name,omitempty"`
	Selector string   `json:"selector,omitempty"`
	Applied  bool     `json:"applied,omitempty"`
	// IncludeExisting makes applied also delete objects that existed before
	// this run applied them (by default those are left in place).
	IncludeExisting bool   `json:"includeExisting,omitempty"`
	Namespace       string `json:"namespace,omitempty"`
	Render          *bool  `json:"render,omitempty"`
	Wait            *bool  `json:"wait,omitempty"`
}

func (Type) Name() string { return "delete" }
func (Type) Summary() string {
	return "Delete objects (by manifest, kind/name, selector, or everything this run created or took over from gone runs; `includeExisting` adds what it only updated) and wait until they are gone"
}
func (Type) Schema() json.RawMessage { return schemaJSON }
func (Type) Outputs() []string       { return []string{"deleted"} }

// Prepare implements task.Type.
func (Type) Prepare(p task.Params) (task.Action, error) {
	var params Params
	if err := p.Decode(&params); err != nil {
		return nil, err
	}
	a := &action{Params: params, wait: params.Wait == nil || *params.Wait}
	var ps task.Problems
	ps.Check([]string{"namespace"}, params.Namespace, valid.Namespace)
	modes := 0
	if len(params.Files) > 0 || params.Manifest != "" {
		modes++
		ap := apply.Params{Files: params.Files, Manifest: params.Manifest, Namespace: params.Namespace, Render: params.Render}
		ms, err := ap.Load(p)
		ps.Keep(err)
		a.manifests, a.ap = ms, ap
	}
	if params.Kind != "" {
		modes++
		if (params.Name == "") == (params.Selector == "") {
			return nil, fmt.Errorf("with kind, give exactly one of name and selector")
		}
		ps.Check([]string{"name"}, params.Name, func(s string) error { return valid.Name(params.Kind, s) })
		ps.Check([]string{"selector"}, params.Selector, valid.Selector)
	} else if params.Name != "" || params.Selector != "" {
		return nil, fmt.Errorf("name and selector go with kind")
	}
	if params.Applied {
		modes++
	} else if params.IncludeExisting {
		return nil, fmt.Errorf("includeExisting goes with applied")
	}
	if modes != 1 {
		return nil, fmt.Errorf("give exactly one of files/manifest, kind (with name or selector) and applied")
	}
	if err := ps.Err(); err != nil {
		return nil, err
	}
	a.Params.Namespace = cmp.Or(params.Namespace, p.Namespace)
	return a, nil
}

type action struct {
	Params
	wait      bool
	clock     clock.Clock // nil: the real one
	manifests *manifest.Manifests
	ap        apply.Params
}

// Namespace is the namespace of what the task deletes (objects that name
// none).
func (a *action) UsesNamespace() string {
	if a.Applied {
		return ""
	}
	return a.Params.Namespace
}

// ManifestFiles implements task.ManifestUser.
func (a *action) ManifestFiles() []task.ManifestFile { return a.manifests.ShownFiles() }

// Describe implements task.Action.
func (a *action) Describe() string {
	var s string
	switch {
	case a.Applied && a.IncludeExisting:
		s = "delete everything this run applied, also what existed before (newest first)"
	case a.Applied:
		s = "delete everything this run created (newest first)"
	case a.Kind != "" && a.Name != "":
		s = fmt.Sprintf("delete %s %s in %s", a.Kind, a.Name, k8s.InNamespace(a.Params.Namespace))
	case a.Kind != "":
		s = fmt.Sprintf("delete every %s labelled %s in %s", a.Kind, a.Selector, k8s.InNamespace(a.Params.Namespace))
	default:
		s = "delete the objects in " + a.ap.What()
		if objs := a.manifests.Summary(a.Params.Namespace); objs != "" {
			s += " (" + objs + ")"
		}
	}
	if a.wait {
		if a.Kind != "" && a.Name != "" {
			s += " and wait until it is gone"
		} else {
			s += " and wait until they are gone"
		}
	}
	return s
}

type target struct {
	ref kube.ObjectRef
}

// Run implements task.Action.
func (a *action) Run(ctx context.Context, env *task.Env) (task.Outputs, error) {
	out := task.Outputs{"deleted": []any{}}
	if a.Applied {
		var list []kube.ObjectRef
		if env.Applied != nil {
			adoptLeftovers(ctx, env)
			list = env.Applied.List()
		}
		if len(list) == 0 {
			k8s.Logf(env, "this run applied nothing: nothing to delete")
			return out, nil
		}
	}
	c, err := k8s.Clients(env)
	if err != nil {
		return out, err
	}
	ns := k8s.Namespace(a.Params.Namespace, env)
	targets, err := a.targets(ctx, env, c, ns)
	if err != nil {
		return out, err
	}
	var deleted []any
	var gone []kube.ObjectRef
	var waitFor []target
	policy := metav1.DeletePropagationBackground
	keptOf := map[string]bool{}
	for _, t := range gonesLeasesLast(targets) {
		if t.ref.Run != "" {
			res, uid, err := deleteOwned(ctx, env, c, t.ref, keptOf)
			if err != nil {
				return task.Outputs{"deleted": task.List(deleted)}, err
			}
			switch res {
			case outDeleted:
				t.ref.UID = uid
				waitFor = append(waitFor, t)
				fallthrough
			case outGone:
				deleted = append(deleted, apply.RefString(t.ref))
				gone = append(gone, t.ref)
			case outNotOurs:
				gone = append(gone, t.ref)
			case outKept:
				keptOf[t.ref.Run] = true
			}
			continue
		}
		ri := c.Dynamic.Resource(t.ref.GVR)
		what := k8s.Describe(t.ref.Kind, t.ref.Namespace, t.ref.Name)
		opts := metav1.DeleteOptions{PropagationPolicy: &policy}
		if t.ref.UID != "" {
			opts.Preconditions = &metav1.Preconditions{UID: &t.ref.UID}
		}
		// A delete repeated after a dropped answer finds the object gone
		// (NotFound, handled below): safe to repeat.
		err := apicall.Idempotent(ctx, func() error {
			if t.ref.Namespace != "" {
				return ri.Namespace(t.ref.Namespace).Delete(ctx, t.ref.Name, opts)
			}
			return ri.Delete(ctx, t.ref.Name, opts)
		})
		switch {
		case err == nil:
			k8s.Logf(env, "deleted %s", what)
			waitFor = append(waitFor, t)
		case apierrors.IsNotFound(err):
			k8s.Logf(env, "%s was already gone", what)
		case apierrors.IsConflict(err) && t.ref.UID != "":
			// The UID precondition failed: the object we applied is gone
			// and another with its name took its place; leave that one.
			k8s.Logf(env, "%s was replaced by another object since this run applied it; leaving it", what)
		default:
			return task.Outputs{"deleted": task.List(deleted)}, apicall.Classify(err, "delete", what)
		}
		deleted = append(deleted, apply.RefString(t.ref))
		gone = append(gone, t.ref)
	}
	out["deleted"] = task.List(deleted)
	forget := func(refs ...kube.ObjectRef) {
		if env.Applied != nil {
			env.Applied.Remove(refs...)
		}
	}
	if !a.wait {
		forget(gone...)
		return out, nil
	}
	// Forget an object only once it is really gone, so that an interrupted
	// cleanup still lists what is left (a namespace still terminating).
	for _, t := range waitFor {
		if err := waitGone(ctx, c, t.ref, a.clock, func(f string, args ...any) { k8s.Logf(env, f, args...) }); err != nil {
			return out, err
		}
		forget(t.ref)
	}
	forget(gone...)
	return out, nil
}

// targets lists what to delete.
func (a *action) targets(ctx context.Context, env *task.Env, c *kube.Clients, ns string) ([]target, error) {
	var out []target
	switch {
	case a.Applied:
		list := env.Applied.List()
		for i := len(list) - 1; i >= 0; i-- {
			ref := list[i]
			if ref.Existed && !a.IncludeExisting {
				// Never delete what the run found there: a team's
				// namespace applied "to make sure" must survive cleanup.
				k8s.Logf(env, "left %s: it existed before this run, which only updated it", k8s.Describe(ref.Kind, ref.Namespace, ref.Name))
				env.Applied.Remove(ref)
				continue
			}
			out = append(out, target{ref: ref})
		}
	case a.Kind != "":
		res, err := k8s.ResolveKind(c, a.Kind)
		if err != nil {
			return nil, err
		}
		refNS := ""
		if res.Namespaced {
			refNS = ns
		}
		if a.Name != "" {
			return []target{{ref: kube.ObjectRef{GVR: res.GVR, Kind: res.Kind, Namespace: refNS, Name: a.Name}}}, nil
		}
		list, err := k8s.ResourceClient(c, res, ns).List(ctx, metav1.ListOptions{LabelSelector: a.Selector})
		if err != nil {
			return nil, apicall.Classify(err, "list", res.GVR.Resource+" "+a.Selector)
		}
		for _, u := range list.Items {
			out = append(out, target{ref: kube.ObjectRef{GVR: res.GVR, Kind: res.Kind, Namespace: refNS, Name: u.GetName(), UID: u.GetUID()}})
		}
		if len(out) == 0 {
			k8s.Logf(env, "no %s labelled %s in %s", a.Kind, a.Selector, ns)
		}
	default:
		ms := apply.Order(a.manifests.Objects)
		for i := len(ms) - 1; i >= 0; i-- { // dependents first
			u := ms[i].Object
			m, err := k8s.Mapping(c, u.GroupVersionKind())
			if err != nil {
				if strings.Contains(err.Error(), "does not know kind") {
					k8s.Logf(env, "%s: %v; skipping", ms[i].Source, err)
					continue
				}
				return nil, err
			}
			refNS := ""
			if m.Scope.Name() == meta.RESTScopeNameNamespace {
				refNS = u.GetNamespace()
				if refNS == "" {
					refNS = ns
				}
			}
			out = append(out, target{ref: kube.ObjectRef{GVR: m.Resource, Kind: u.GetKind(), Namespace: refNS, Name: u.GetName()}})
		}
	}
	return out, nil
}

// DryRunServer implements task.ServerDryRunner: each delete is sent with
// dryRun=All. Deleting what this run created deletes nothing in a dry run
// (it created nothing).
func (a *action) DryRunServer(ctx context.Context, env *task.Env) ([]task.Change, error) {
	if a.Applied {
		return nil, nil
	}
	var out []task.Change
	for _, f := range a.manifests.ShownFiles() {
		if f.RunTime {
			out = append(out, task.Change{Object: f.Name, Action: apply.NotChecked, Note: "rendered at run time: it computes with outputs of earlier tasks"})
		}
	}
	c, err := k8s.Clients(env)
	if err != nil {
		return out, err
	}
	targets, err := a.targets(ctx, env, c, k8s.Namespace(a.Params.Namespace, env))
	if err != nil {
		return out, err
	}
	policy := metav1.DeletePropagationBackground
	for _, t := range targets {
		what := k8s.Describe(t.ref.Kind, t.ref.Namespace, t.ref.Name)
		ri := k8s.Scoped(c.Dynamic.Resource(t.ref.GVR), t.ref.Namespace)
		err := apicall.Idempotent(ctx, func() error {
			return ri.Delete(ctx, t.ref.Name, metav1.DeleteOptions{PropagationPolicy: &policy, DryRun: []string{metav1.DryRunAll}})
		})
		switch {
		case err == nil:
			out = append(out, task.Change{Object: what, Action: apply.Deleted})
		case apierrors.IsNotFound(err):
			out = append(out, task.Change{Object: what, Action: apply.NotFound})
		default:
			return out, apicall.Classify(err, "delete (dry run)", what)
		}
	}
	return out, nil
}

// gonesLeasesLast moves the Lease of each gone run after the last object
// of that run: a Lease is kept while an object it lists is left in place
// (keptOf), which is known only once those objects were seen to. An object
// this run applied too (a shared namespace) keeps its place among the
// run's own, which can put it after the Lease that lists it.
func gonesLeasesLast(targets []target) []target {
	isLease := func(t target) bool {
		return t.ref.LeftBy != "" && t.ref.GVR.Group == "coordination.k8s.io" && t.ref.Name == ownership.LeaseName(t.ref.Run)
	}
	last := map[string]int{} // run -> index of its last object
	for i, t := range targets {
		if t.ref.Run != "" && !isLease(t) {
			last[t.ref.Run] = i
		}
	}
	out := make([]target, 0, len(targets))
	held := map[int][]target{} // leases to place after index i
	for i, t := range targets {
		if j, ok := last[t.ref.Run]; ok && isLease(t) && j > i {
			held[j] = append(held[j], t)
			continue
		}
		out = append(out, t)
		out = append(out, held[i]...)
	}
	return out
}
