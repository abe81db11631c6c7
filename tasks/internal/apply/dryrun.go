package apply

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/kbrun/kbrun/engine/apicall"
	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/tasks/internal/k8s"
	"github.com/kbrun/kbrun/tasks/internal/manifest"
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

// DryRunChanges is kubectl apply --dry-run=server followed by kubectl
// diff: each object is sent as the run sends it (applyOne, with dryRun=All),
// then the answer is compared with the live object. Admission (Pod Security
// included), RBAC and schema refusals come back as the error. Nothing is
// changed.
func DryRunChanges(ctx context.Context, env *task.Env, p Params, ms *manifest.Manifests) ([]task.Change, error) {
	var out []task.Change
	for _, f := range ms.RunTime {
		out = append(out, task.Change{Object: f, Action: NotChecked, Note: "rendered at run time: it computes with outputs of earlier tasks"})
	}
	if len(ms.Objects) == 0 {
		return out, nil
	}
	c, err := k8s.Clients(env)
	if err != nil {
		return out, err
	}
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
	warned := *c
	warned.Dynamic = dyn
	changes, err := dryRunChanges(ctx, &warned, warn, env, p, ms.Objects)
	return append(out, changes...), err
}

// dryRunChanges dry-runs the objects' applies with c, whose requests warn
// collects, and judges each answer.
func dryRunChanges(ctx context.Context, c *kube.Clients, warn *warnings, env *task.Env, p Params, objects []manifest.Manifest) ([]task.Change, error) {
	var out []task.Change
	opts := Options{Namespace: k8s.Namespace(p.Namespace, env), Force: p.Force, Task: env.Task, DryRun: true}
	for _, m := range Order(objects) {
		pl, err := place(ctx, c, m, opts.Namespace)
		if err != nil {
			return out, err
		}
		ns := pl.obj.GetNamespace()
		if ns != "" && env.ServerDryRun != nil && env.ServerDryRun.WillCreate(ns) {
			out = append(out, task.Change{Object: pl.what, Action: NotChecked, Note: "its namespace " + ns + " does not exist yet: this run creates it"})
			continue
		}
		warn.reset()
		a, live, err := applyOne(ctx, c, pl, opts)
		if err != nil {
			return out, err
		}
		ch := task.Change{Object: pl.what}
		if w := warn.podSecurity(); w != "" {
			if level := enforced(ctx, c, ns); level != "" {
				return out, fmt.Errorf("%s: Pod Security (enforce=%s in namespace %s) would refuse the pods of %s: %s", m.Source, level, ns, pl.what, w)
			}
			ch.Note = "warning: " + w
		}
		switch gvk := pl.obj.GroupVersionKind(); {
		case live == nil:
			ch.Action = Created
			if gvk.Group == "" && gvk.Kind == "Namespace" && env.ServerDryRun != nil {
				env.ServerDryRun.Created(pl.obj.GetName())
			}
		default:
			if fields := ChangedFields(live, a.Object); len(fields) > 0 {
				ch.Action, ch.Fields = Configured, fields
			} else {
				ch.Action = Unchanged
			}
		}
		k8s.Logf(env, "%s: %s", pl.what, ch.Action)
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
	err := apicall.Idempotent(ctx, func() (err error) {
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
