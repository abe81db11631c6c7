package manifest

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	psapi "k8s.io/pod-security-admission/api"

	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/tmpl"
	"github.com/kbrun/kbrun/engine/valid"
	"github.com/kbrun/kbrun/tasks/internal/k8s"
)

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
		parts = append(parts, k8s.Describe(u.GetKind(), objNS, u.GetName())+capabilityNote(u))
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
