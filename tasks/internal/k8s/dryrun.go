package k8s

import (
	"cmp"
	"context"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/task"
)

// Verdicts of a server-side dry run.
const (
	Created       = "created"
	Configured    = "configured"
	Unchanged     = "unchanged"
	Deleted       = "deleted"
	NotFound      = "not found"
	NotChecked    = "not checked"
	maxFieldsDiff = 12
)

// DryRunApply sends each object as a server-side apply with dryRun=All and
// compares the answer with the live object (kubectl apply --dry-run=server
// and kubectl diff do the same). Admission (Pod Security included), RBAC
// and schema refusals come back as the error. Nothing is changed.
func DryRunApply(ctx context.Context, env *task.Env, p ApplyParams, ms *Manifests) ([]task.Change, error) {
	var out []task.Change
	for _, f := range ms.RunTime {
		out = append(out, task.Change{Object: f, Action: NotChecked, Note: "rendered at run time: it computes with outputs of earlier tasks"})
	}
	if len(ms.Objects) == 0 {
		return out, nil
	}
	c, err := Clients(env)
	if err != nil {
		return out, err
	}
	defNS := Namespace(p.Namespace, env)
	// A client of its own, to read the API server's warnings per request:
	// Pod Security checks workloads (Deployments, Jobs...) only with
	// warnings, and refuses their pods later.
	warn := &warnings{}
	cfg := rest.CopyConfig(c.Config)
	cfg.WarningHandler = warn
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return out, err
	}
	for _, m := range SortForApply(ms.Objects) {
		obj := m.Object.DeepCopy()
		gvk := obj.GroupVersionKind()
		var mapping *meta.RESTMapping
		if err := Idempotent(ctx, func() (err error) { mapping, err = Mapping(c, gvk); return err }); err != nil {
			return out, fmt.Errorf("%s: %w", m.Source, err)
		}
		ns := ""
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			ns = cmp.Or(obj.GetNamespace(), defNS)
			obj.SetNamespace(ns)
		} else {
			obj.SetNamespace("")
		}
		what := Describe(gvk.Kind, ns, obj.GetName())
		if ns != "" && env.ServerDryRun != nil && env.ServerDryRun.WillCreate(ns) {
			out = append(out, task.Change{Object: what, Action: NotChecked, Note: "its namespace " + ns + " does not exist yet: this run creates it"})
			continue
		}
		ri := Scoped(c.Dynamic.Resource(mapping.Resource), ns)
		live, err := GetIfExists(ctx, ri, obj.GetName())
		if err != nil && !apierrors.IsForbidden(err) {
			return out, fmt.Errorf("%s: %w", m.Source, Classify(err, "get", what))
		}
		if live != nil {
			KeepOwnerMarks(live, obj)
		}
		var res *unstructured.Unstructured
		warn.reset()
		err = Idempotent(ctx, func() (err error) {
			res, err = Scoped(dyn.Resource(mapping.Resource), ns).Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: FieldManager, Force: p.Force, DryRun: []string{metav1.DryRunAll}})
			return err
		})
		if err != nil {
			return out, fmt.Errorf("%s: %w", m.Source, Classify(err, "apply (dry run)", what))
		}
		ch := task.Change{Object: what}
		if w := warn.podSecurity(); w != "" {
			if level := enforced(ctx, c, ns); level != "" {
				return out, fmt.Errorf("%s: Pod Security (enforce=%s in namespace %s) would refuse the pods of %s: %s", m.Source, level, ns, what, w)
			}
			ch.Note = "warning: " + w
		}
		switch {
		case live == nil:
			ch.Action = Created
			if gvk.Group == "" && gvk.Kind == "Namespace" && env.ServerDryRun != nil {
				env.ServerDryRun.Created(obj.GetName())
			}
		default:
			if fields := ChangedFields(live, res); len(fields) > 0 {
				ch.Action, ch.Fields = Configured, fields
			} else {
				ch.Action = Unchanged
			}
		}
		Logf(env, "%s: %s", what, ch.Action)
		out = append(out, ch)
	}
	return out, nil
}

// warnings collects the API server's warnings (rest.WarningHandler).
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = nil
}

// podSecurity returns the Pod Security warnings of the last request.
func (w *warnings) podSecurity() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, t := range w.list {
		if strings.Contains(t, "PodSecurity") {
			out = append(out, t)
		}
	}
	return strings.Join(out, "; ")
}

// enforced returns the Pod Security level namespace ns enforces ("" when
// none, or when kbrun may not read the namespace).
func enforced(ctx context.Context, c *kube.Clients, ns string) string {
	if ns == "" {
		return ""
	}
	var nsObj *corev1.Namespace
	err := Idempotent(ctx, func() (err error) {
		nsObj, err = c.Typed.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return err
	})
	if err != nil {
		return ""
	}
	return nsObj.Labels["pod-security.kubernetes.io/enforce"]
}

// ignoredFields change on every write (or are the server's bookkeeping),
// never because of the manifest.
var ignoredFields = map[string]bool{
	"metadata.managedFields": true, "metadata.resourceVersion": true, "metadata.generation": true,
	"metadata.creationTimestamp": true, "metadata.uid": true, "status": true,
}

// ChangedFields lists the fields (as dotted paths, list items by index)
// whose values differ between the live object and the dry run's answer.
func ChangedFields(live, next *unstructured.Unstructured) []string {
	var out []string
	diff("", live.Object, next.Object, &out)
	sort.Strings(out)
	if len(out) > maxFieldsDiff {
		out = append(out[:maxFieldsDiff], fmt.Sprintf("and %d more", len(out)-maxFieldsDiff))
	}
	return out
}

func diff(path string, a, b any, out *[]string) {
	if ignoredFields[path] {
		return
	}
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			*out = append(*out, orRoot(path))
			return
		}
		keys := map[string]bool{}
		for k := range x {
			keys[k] = true
		}
		for k := range y {
			keys[k] = true
		}
		for k := range keys {
			diff(join(path, k), x[k], y[k], out)
		}
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			*out = append(*out, orRoot(path))
			return
		}
		for i := range x {
			diff(path+"["+strconv.Itoa(i)+"]", x[i], y[i], out)
		}
	default:
		if !reflect.DeepEqual(a, b) {
			*out = append(*out, orRoot(path))
		}
	}
}

func join(path, key string) string {
	if strings.ContainsAny(key, "./") {
		key = "[" + strconv.Quote(key) + "]"
		return path + key
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func orRoot(p string) string {
	if p == "" {
		return "(the whole object)"
	}
	return p
}
