// Package remember is the `remember` task type: a small record kept in a
// ConfigMap across runs. It is never recorded among what the run applied,
// so cleanup leaves it, and a later run reads it back: a verdict that took
// minutes of builds to measure is measured once per input (the ConfigMap's
// name carries a digest of what the verdict depends on).
package remember

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kbrun/kbrun/engine/apicall"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/valid"
	"github.com/kbrun/kbrun/tasks/internal/k8s"
)

//go:embed schema.json
var schemaJSON []byte

// Type is the remember task type.
type Type struct{}

// Params are the remember task's parameters.
type Params struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace,omitempty"`
	Data      map[string]string `json:"data,omitempty"`
}

func (Type) Name() string { return "remember" }
func (Type) Summary() string {
	return "Read, or with `data` write, a record kept across runs in a ConfigMap that cleanup leaves (e.g. a measured verdict, named after a digest of its inputs)"
}
func (Type) Schema() json.RawMessage { return schemaJSON }
func (Type) Outputs() []string       { return []string{"found", "data", "name", "namespace"} }

// Labels mark a remembered record: kbrun's, but no run's (kbrun.dev/run),
// so that neither this run's cleanup nor `kbrun cleanup` takes it.
var Labels = map[string]string{"app.kubernetes.io/managed-by": "kbrun", "kbrun.dev/remembered": "true"}

// Prepare implements task.Type.
func (Type) Prepare(p task.Params) (task.Action, error) {
	var params Params
	if err := p.Decode(&params); err != nil {
		return nil, err
	}
	var ps task.Problems
	ps.Check([]string{"name"}, params.Name, func(s string) error { return valid.Name("ConfigMap", s) })
	ps.Check([]string{"namespace"}, params.Namespace, valid.Namespace)
	for _, k := range slices.Sorted(maps.Keys(params.Data)) {
		ps.Check([]string{"data", k}, k, valid.ConfigMapKey)
	}
	if err := ps.Err(); err != nil {
		return nil, err
	}
	return &action{params: params, write: params.Data != nil, defaultNS: p.Namespace}, nil
}

type action struct {
	params    Params
	write     bool
	defaultNS string
}

func (a *action) namespace(env *task.Env) string {
	if a.params.Namespace != "" {
		return a.params.Namespace
	}
	if a.defaultNS != "" {
		return a.defaultNS
	}
	return k8s.Namespace("", env)
}

// Describe implements task.Action.
func (a *action) Describe() string {
	where := "configmap " + a.params.Name
	if ns := a.params.Namespace; ns != "" {
		where = fmt.Sprintf("configmap %s/%s", ns, a.params.Name)
	}
	if a.write {
		keys := make([]string, 0, len(a.params.Data))
		for k := range a.params.Data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return fmt.Sprintf("remember %s in %s (kept after the run)", strings.Join(keys, ", "), where)
	}
	return "read what an earlier run remembered in " + where
}

// Run implements task.Action.
func (a *action) Run(ctx context.Context, env *task.Env) (task.Outputs, error) {
	c, err := k8s.Clients(env)
	if err != nil {
		return nil, err
	}
	ns := a.namespace(env)
	cms := c.Typed.CoreV1().ConfigMaps(ns)
	out := task.Outputs{"name": a.params.Name, "namespace": ns, "found": false, "data": map[string]any{}}
	var cm *corev1.ConfigMap
	err = apicall.Idempotent(ctx, func() (err error) {
		cm, err = cms.Get(ctx, a.params.Name, metav1.GetOptions{})
		return err
	})
	switch {
	case apierrors.IsNotFound(err):
		cm = nil
	case err != nil:
		return nil, fmt.Errorf("read configmap %s/%s: %w", ns, a.params.Name, err)
	}
	if !a.write {
		if cm == nil {
			k8s.Logf(env, "configmap %s/%s: nothing remembered yet", ns, a.params.Name)
			return out, nil
		}
		k8s.Logf(env, "configmap %s/%s: remembered by run %s", ns, a.params.Name, cm.Annotations["kbrun.dev/remembered-by"])
		out["found"], out["data"] = true, dataOutput(cm.Data)
		return out, nil
	}
	annotations := map[string]string{"kbrun.dev/remembered-by": env.Pipeline.RunID}
	if cm == nil {
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: a.params.Name, Namespace: ns, Labels: Labels, Annotations: annotations}, Data: a.params.Data}
		// A create is not repeated on a transient error (it may have
		// happened); the task's own retry reads first, then updates.
		if _, err := cms.Create(ctx, cm, metav1.CreateOptions{FieldManager: "kbrun"}); err != nil {
			return nil, fmt.Errorf("create configmap %s/%s: %w", ns, a.params.Name, err)
		}
	} else {
		cm = cm.DeepCopy()
		cm.Data = a.params.Data
		if cm.Labels == nil {
			cm.Labels = map[string]string{}
		}
		for k, v := range Labels {
			cm.Labels[k] = v
		}
		if cm.Annotations == nil {
			cm.Annotations = map[string]string{}
		}
		cm.Annotations["kbrun.dev/remembered-by"] = env.Pipeline.RunID
		// Update carries the resourceVersion read: a concurrent writer
		// makes it a conflict, not a lost write.
		if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: "kbrun"}); err != nil {
			return nil, fmt.Errorf("update configmap %s/%s: %w", ns, a.params.Name, err)
		}
	}
	k8s.Logf(env, "remembered in configmap %s/%s (kept after the run)", ns, a.params.Name)
	out["found"], out["data"] = true, dataOutput(a.params.Data)
	return out, nil
}

func dataOutput(d map[string]string) map[string]any {
	out := make(map[string]any, len(d))
	for k, v := range d {
		out[k] = v
	}
	return out
}
