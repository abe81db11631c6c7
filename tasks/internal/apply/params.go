package apply

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/valid"
	"github.com/kbrun/kbrun/tasks/internal/k8s"
	"github.com/kbrun/kbrun/tasks/internal/manifest"
)

// Params are the parameters apply and deploy share.
type Params struct {
	// Files are manifest files or directories, relative to the pipeline.
	Files []string `json:"files,omitempty"`
	// Manifest is inline YAML (multi-document), already rendered.
	Manifest string `json:"manifest,omitempty"`
	// Namespace for namespaced objects that name none.
	Namespace string `json:"namespace,omitempty"`
	// Force takes over fields owned by other field managers.
	Force bool `json:"force,omitempty"`
	// Render (default true) renders file contents as templates.
	Render *bool `json:"render,omitempty"`
}

// Check checks the parameters that name things (the namespace) by the API
// server's rules.
func (p Params) Check(ps *task.Problems) {
	ps.Check([]string{"namespace"}, p.Namespace, valid.Namespace)
}

// Load reads, renders and parses the manifests (files and inline), as the
// task is prepared; at least one source must be given.
func (p Params) Load(tp task.Params) (*manifest.Manifests, error) {
	if len(p.Files) == 0 && strings.TrimSpace(p.Manifest) == "" {
		return nil, fmt.Errorf("give files or manifest")
	}
	return manifest.Load(tp, p.Files, p.Manifest, p.Render == nil || *p.Render)
}

// What describes the sources for plans: "k8s/a.yaml, k8s/dir/ and an inline manifest".
func (p Params) What() string {
	var parts []string
	for _, f := range p.Files {
		parts = append(parts, filepath.ToSlash(f))
	}
	if strings.TrimSpace(p.Manifest) != "" {
		n := countDocs(p.Manifest)
		if n == 1 {
			parts = append(parts, "an inline manifest")
		} else {
			parts = append(parts, fmt.Sprintf("an inline manifest of %d documents", n))
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return task.JoinAnd(parts)
}

func countDocs(s string) int {
	ms, err := manifest.Decode("inline", s)
	if err != nil || len(ms) == 0 {
		return 1
	}
	return len(ms)
}

// Run server-side applies the prepared manifests, records them in
// env.Applied, and returns what was applied.
func Run(ctx context.Context, env *task.Env, p Params, ms *manifest.Manifests) ([]Applied, error) {
	if len(ms.Objects) == 0 {
		return nil, fmt.Errorf("the manifests hold no objects")
	}
	c, err := k8s.Clients(env)
	if err != nil {
		return nil, err
	}
	opts := Options{Namespace: k8s.Namespace(p.Namespace, env), Force: p.Force, Task: env.Task, Logf: env.Logf, Home: k8s.Namespace("", env)}
	if env.Applied != nil {
		opts.Owner = env.Applied.Owner
	}
	applied, err := Apply(ctx, c, ms.Objects, opts)
	if env.Applied != nil {
		for _, a := range applied {
			env.Applied.Add(a.Ref)
		}
	}
	return applied, err
}

// Refs lists the refs of applied objects.
func Refs(applied []Applied) []kube.ObjectRef {
	out := make([]kube.ObjectRef, len(applied))
	for i, a := range applied {
		out[i] = a.Ref
	}
	return out
}
