package k8s

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	psapi "k8s.io/pod-security-admission/api"

	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/tmpl"
	"github.com/kbrun/kbrun/engine/valid"
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

// Check checks the parameters that name things (the namespace) by the API
// server's rules.
func (p ApplyParams) Check(ps *task.Problems) {
	ps.Check([]string{"namespace"}, p.Namespace, valid.Namespace)
}

// Load reads, renders and parses the manifests (files and inline), as the
// task is prepared; at least one source must be given.
func (p ApplyParams) Load(tp task.Params) (*Manifests, error) {
	if len(p.Files) == 0 && strings.TrimSpace(p.Manifest) == "" {
		return nil, fmt.Errorf("give files or manifest")
	}
	return LoadManifests(tp, p.Files, p.Manifest, p.Render == nil || *p.Render)
}

// Summary lists the prepared objects for plans, with the namespace each
// lands in: "deployment ones/builder, namespace ones".
func (m *Manifests) Summary(ns string) string {
	if m == nil || len(m.Objects) == 0 {
		return ""
	}
	const shown = 6
	var parts []string
	for i, o := range m.Objects {
		if i == shown {
			parts = append(parts, fmt.Sprintf("and %d more", len(m.Objects)-shown))
			break
		}
		u := o.Object
		objNS := ""
		if !ClusterScoped(u.GroupVersionKind().GroupKind()) {
			objNS = cmp.Or(u.GetNamespace(), ns)
		}
		parts = append(parts, Describe(u.GetKind(), objNS, u.GetName())+capabilityNote(u))
	}
	return strings.Join(parts, ", ")
}

// capabilityNote tells a plan's reader which capabilities the object's
// containers add and the Pod Security level each needs
// (valid.CapabilityLevel): " [adds CHOWN, SETUID: baseline; SYS_ADMIN:
// privileged]".
func capabilityNote(u *unstructured.Unstructured) string {
	path, ok := podSpecPaths[u.GetKind()]
	if !ok {
		return ""
	}
	var levels []psapi.Level
	byLevel := map[psapi.Level][]string{}
	for _, list := range []string{"initContainers", "containers"} {
		containers, _, _ := unstructured.NestedSlice(u.Object, append(path[:len(path):len(path)], list)...)
		for _, item := range containers {
			ctr, _ := item.(map[string]any)
			caps, _, _ := unstructured.NestedStringSlice(ctr, "securityContext", "capabilities", "add")
			for _, c := range caps {
				l := valid.CapabilityLevel(c)
				if task.IsUnknown(c) || slices.Contains(byLevel[l], c) {
					continue
				}
				if byLevel[l] == nil {
					levels = append(levels, l)
				}
				byLevel[l] = append(byLevel[l], c)
			}
		}
	}
	if len(levels) == 0 {
		return ""
	}
	parts := make([]string, len(levels))
	for i, l := range levels {
		parts[i] = strings.Join(byLevel[l], ", ") + ": " + string(l)
	}
	return " [adds " + strings.Join(parts, "; ") + "]"
}

// ClusterScoped reports whether gk is a built-in kind that has no
// namespace (plans only: when running, discovery decides).
func ClusterScoped(gk schema.GroupKind) bool { return clusterScoped[gk.String()] }

// clusterScoped are the built-in kinds that have no namespace (plans only:
// when applying, discovery decides).
var clusterScoped = map[string]bool{
	"Namespace": true, "Node": true, "PersistentVolume": true, "StorageClass.storage.k8s.io": true,
	"ClusterRole.rbac.authorization.k8s.io": true, "ClusterRoleBinding.rbac.authorization.k8s.io": true,
	"CustomResourceDefinition.apiextensions.k8s.io": true, "PriorityClass.scheduling.k8s.io": true,
	"RuntimeClass.node.k8s.io": true, "IngressClass.networking.k8s.io": true, "CSIDriver.storage.k8s.io": true,
	"ValidatingWebhookConfiguration.admissionregistration.k8s.io": true,
	"MutatingWebhookConfiguration.admissionregistration.k8s.io":   true,
	"APIService.apiregistration.k8s.io":                           true,
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
	if len(parts) == 0 {
		return "nothing"
	}
	return task.JoinAnd(parts)
}

func countDocs(s string) int {
	ms, err := DecodeManifests("inline", s)
	if err != nil || len(ms) == 0 {
		return 1
	}
	return len(ms)
}

// RunApply server-side applies the prepared manifests, records them in
// env.Applied, and returns what was applied.
func RunApply(ctx context.Context, env *task.Env, p ApplyParams, ms *Manifests) ([]Applied, error) {
	if len(ms.Objects) == 0 {
		return nil, fmt.Errorf("the manifests hold no objects")
	}
	c, err := Clients(env)
	if err != nil {
		return nil, err
	}
	opts := ApplyOptions{Namespace: Namespace(p.Namespace, env), Force: p.Force, Task: env.Task, Logf: env.Logf, Home: Namespace("", env)}
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
		if !ok || s == "" || tmpl.Has(s) {
			continue
		}
		if _, err := os.Stat(p.Path(s)); err != nil {
			errs = append(errs, task.FieldError{Path: []string{field, fmt.Sprint(i)}, Message: fmt.Sprintf("%s does not exist", s)})
		}
	}
	return errs
}

// InNamespace renders the namespace part of a plan line.
func InNamespace(ns string) string {
	if ns == "" {
		return "the run's namespace"
	}
	return "namespace " + ns
}
