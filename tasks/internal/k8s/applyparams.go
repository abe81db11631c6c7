package k8s

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/task"
)

// ApplyParams are the parameters apply and deploy share.
type ApplyParams struct {
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

// Sources resolves the parameters into manifest sources, checking that at
// least one is given.
func (p ApplyParams) Sources(tp task.Params) ([]ManifestSource, error) {
	var out []ManifestSource
	for _, f := range p.Files {
		if f == "" {
			return nil, fmt.Errorf("files: an entry is empty")
		}
		out = append(out, ManifestSource{Path: tp.Path(f)})
	}
	if strings.TrimSpace(p.Manifest) != "" {
		out = append(out, ManifestSource{Inline: p.Manifest, Name: "inline manifest"})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("give files or manifest")
	}
	return out, nil
}

// What describes the sources for plans: "k8s/a.yaml, k8s/dir/ and an inline manifest".
func (p ApplyParams) What() string {
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
	switch len(parts) {
	case 0:
		return "nothing"
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

func countDocs(s string) int {
	ms, err := DecodeManifests("inline", []byte(s))
	if err != nil || len(ms) == 0 {
		return 1
	}
	return len(ms)
}

// InNamespace renders the namespace part of a plan line.
func InNamespace(ns string) string {
	if ns == "" {
		return "the run's namespace"
	}
	return "namespace " + ns
}

// RunApply reads, renders and server-side applies the manifests, records
// them in env.Applied, and returns what was applied.
func RunApply(ctx context.Context, env *task.Env, p ApplyParams, sources []ManifestSource) ([]Applied, error) {
	var render Renderer
	if p.Render == nil || *p.Render {
		if env.Render == nil {
			return nil, fmt.Errorf("internal: the engine gave no template renderer for manifest files")
		}
		render = env.Render
	}
	ms, err := ReadManifests(sources, render)
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("the manifests hold no objects")
	}
	c, err := Clients(env)
	if err != nil {
		return nil, err
	}
	applied, err := Apply(ctx, c, ms, ApplyOptions{Namespace: Namespace(p.Namespace, env), Force: p.Force, Task: env.Task, Logf: env.Logf})
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

// CheckFiles checks at load time that the listed paths under the given
// parameter exist, when they hold no template syntax.
func CheckFiles(p task.Params, field string) []task.FieldError {
	m, ok := p.Value.(map[string]any)
	if !ok {
		return nil
	}
	list, _ := m[field].([]any)
	var errs []task.FieldError
	for i, v := range list {
		s, ok := v.(string)
		if !ok || s == "" || task.HasTemplate(s) {
			continue
		}
		if _, err := os.Stat(p.Path(s)); err != nil {
			errs = append(errs, task.FieldError{Path: []string{field, fmt.Sprint(i)}, Message: fmt.Sprintf("%s does not exist", s)})
		}
	}
	return errs
}
