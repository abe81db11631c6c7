// Package apply is the `apply` task type: server-side apply of manifest
// files, directories or inline YAML, remembered for delete and cleanup.
package apply

import (
	"cmp"
	"context"
	_ "embed"
	"encoding/json"

	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/tasks/internal/apply"
	"github.com/kbrun/kbrun/tasks/internal/k8s"
	"github.com/kbrun/kbrun/tasks/internal/manifest"
)

//go:embed schema.json
var schemaJSON []byte

// Type is the apply task type.
type Type struct{}

func (Type) Name() string { return "apply" }
func (Type) Summary() string {
	return "Server-side apply of manifest files, folders or inline YAML (rendered as templates), field manager `kbrun`"
}
func (Type) Schema() json.RawMessage { return schemaJSON }
func (Type) Outputs() []string       { return []string{"objects", "names"} }

// Prepare implements task.Type.
func (Type) Prepare(p task.Params) (task.Action, error) {
	var params apply.Params
	if err := p.Decode(&params); err != nil {
		return nil, err
	}
	var ps task.Problems
	params.Check(&ps)
	ms, err := params.Load(p)
	ps.Keep(err)
	if err := ps.Err(); err != nil {
		return nil, err
	}
	params.Namespace = cmp.Or(params.Namespace, p.Namespace)
	return &action{params: params, manifests: ms}, nil
}

// Check implements task.Checker: manifest files without template syntax
// must exist.
func (Type) Check(p task.Params) []task.FieldError { return manifest.CheckFiles(p, "files") }

type action struct {
	params    apply.Params
	manifests *manifest.Manifests
}

// Namespace is where namespaced objects that name none go.
func (a *action) UsesNamespace() string { return a.params.Namespace }

// ManifestFiles implements task.ManifestUser.
func (a *action) ManifestFiles() []task.ManifestFile { return a.manifests.ShownFiles() }

// Describe implements task.Action.
func (a *action) Describe() string {
	s := "server-side apply " + a.params.What()
	if objs := a.manifests.Summary(a.params.Namespace); objs != "" {
		s += ": " + objs
	} else {
		s += " in " + k8s.InNamespace(a.params.Namespace)
	}
	if a.params.Force {
		s += ", forcing conflicts"
	}
	return s
}

// Run implements task.Action.
func (a *action) Run(ctx context.Context, env *task.Env) (task.Outputs, error) {
	applied, err := apply.Run(ctx, env, a.params, a.manifests)
	out := outputs(applied)
	if err != nil {
		return out, err
	}
	return out, nil
}

func outputs(applied []apply.Applied) task.Outputs {
	refs := apply.Refs(applied)
	objects, names := apply.RefOutputs(refs)
	if objects == nil {
		objects, names = []any{}, []any{}
	}
	return task.Outputs{"objects": objects, "names": names}
}

// DryRunServer implements task.ServerDryRunner.
func (a *action) DryRunServer(ctx context.Context, env *task.Env) ([]task.Change, error) {
	return apply.DryRunChanges(ctx, env, a.params, a.manifests)
}
