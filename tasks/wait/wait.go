// Package wait is the `wait` task type: kubectl wait, by watch.
package wait

import (
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/client-go/util/jsonpath"

	"github.com/kbrun/kbrun/engine/apicall"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/valid"
	"github.com/kbrun/kbrun/tasks/internal/batchjob"
	"github.com/kbrun/kbrun/tasks/internal/k8s"
)

//go:embed schema.json
var schemaJSON []byte

// Type is the wait task type.
type Type struct{}

// Params are the wait task's parameters.
type Params struct {
	Kind      string  `json:"kind"`
	Name      string  `json:"name,omitempty"`
	Selector  string  `json:"selector,omitempty"`
	Namespace string  `json:"namespace,omitempty"`
	Condition string  `json:"condition,omitempty"`
	JSONPath  string  `json:"jsonpath,omitempty"`
	Value     *string `json:"value,omitempty"`
	Delete    bool    `json:"delete,omitempty"`
}

func (Type) Name() string { return "wait" }
func (Type) Summary() string {
	return "Wait for a resource condition, a jsonpath value, or deletion, by watch; waiting for a Job's `Complete` fails at once when it has failed"
}
func (Type) Schema() json.RawMessage { return schemaJSON }
func (Type) Outputs() []string       { return []string{"name", "names"} }

// Prepare implements task.Type.
func (Type) Prepare(p task.Params) (task.Action, error) {
	var params Params
	if err := p.Decode(&params); err != nil {
		return nil, err
	}
	if (params.Name == "") == (params.Selector == "") {
		return nil, fmt.Errorf("give exactly one of name and selector")
	}
	n := 0
	for _, set := range []bool{params.Condition != "", params.JSONPath != "", params.Delete} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("give exactly one of condition, jsonpath and delete")
	}
	if params.Value != nil && params.JSONPath == "" {
		return nil, fmt.Errorf("value goes with jsonpath")
	}
	var ps task.Problems
	ps.Check([]string{"name"}, params.Name, func(s string) error { return valid.Name(params.Kind, s) })
	ps.Check([]string{"selector"}, params.Selector, valid.Selector)
	ps.Check([]string{"namespace"}, params.Namespace, valid.Namespace)
	if err := ps.Err(); err != nil {
		return nil, err
	}
	params.Namespace = cmp.Or(params.Namespace, p.Namespace)
	a := &action{Params: params}
	if params.JSONPath != "" && !task.IsUnknown(params.JSONPath) {
		expr := params.JSONPath
		if !strings.HasPrefix(expr, "{") {
			expr = "{" + expr + "}"
		}
		j := jsonpath.New("wait").AllowMissingKeys(true)
		if err := j.Parse(expr); err != nil {
			return nil, task.Fieldf([]string{"jsonpath"}, "%q is not a JSONPath expression: %v", params.JSONPath, err)
		}
		a.jp = j
	}
	if params.Condition != "" {
		a.condType, a.condStatus = params.Condition, "True"
		if t, s, ok := strings.Cut(params.Condition, "="); ok {
			a.condType, a.condStatus = t, s
		}
	}
	return a, nil
}

type action struct {
	Params
	jp                   *jsonpath.JSONPath
	condType, condStatus string
}

// UsesNamespace is the namespace of the objects waited for.
func (a *action) UsesNamespace() string { return a.Params.Namespace }

func (a *action) objects() string {
	ns := cmp.Or(a.Namespace, "<run namespace>")
	if a.Name != "" {
		return fmt.Sprintf("%s %s/%s", a.Kind, ns, a.Name)
	}
	return fmt.Sprintf("every %s labelled %s in %s", a.Kind, a.Selector, ns)
}

func (a *action) goal() string {
	switch {
	case a.Delete:
		return "is deleted"
	case a.JSONPath != "" && a.Value != nil:
		return fmt.Sprintf("has %s = %q", a.JSONPath, *a.Value)
	case a.JSONPath != "":
		return fmt.Sprintf("has a value at %s", a.JSONPath)
	case a.condStatus == "True":
		return "is " + a.condType
	}
	return fmt.Sprintf("has condition %s=%s", a.condType, a.condStatus)
}

// Describe implements task.Action.
func (a *action) Describe() string { return "wait until " + a.objects() + " " + a.goal() }

// met reports whether one object meets the goal, and what it shows now.
func (a *action) met(u *unstructured.Unstructured) (bool, string) {
	switch {
	case a.JSONPath != "":
		vals, err := a.jp.FindResults(u.Object)
		if err != nil || len(vals) == 0 || len(vals[0]) == 0 {
			return false, a.JSONPath + " not set"
		}
		var buf bytes.Buffer
		if err := a.jp.Execute(&buf, u.Object); err != nil {
			return false, err.Error()
		}
		got := buf.String()
		if a.Value == nil {
			return got != "", a.JSONPath + " = " + strconv.Quote(got)
		}
		return got == *a.Value, fmt.Sprintf("%s = %q", a.JSONPath, got)
	case a.condType != "":
		ok := k8s.HasCondition(u, a.condType, a.condStatus)
		return ok, conditions(u)
	}
	return false, "exists"
}

func conditions(u *unstructured.Unstructured) string {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	var parts []string
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok {
			parts = append(parts, fmt.Sprintf("%v=%v", m["type"], m["status"]))
		}
	}
	if len(parts) == 0 {
		return "no conditions"
	}
	return "conditions " + strings.Join(parts, ", ")
}

// Run implements task.Action.
func (a *action) Run(ctx context.Context, env *task.Env) (task.Outputs, error) {
	c, err := k8s.Clients(env)
	if err != nil {
		return nil, err
	}
	res, err := k8s.ResolveKind(c, a.Kind)
	if err != nil {
		return nil, err
	}
	ns := k8s.Namespace(a.Namespace, env)
	ri := k8s.ResourceClient(c, res, ns)
	fs := ""
	if a.Name != "" {
		fs = fields.OneTermEqualSelector("metadata.name", a.Name).String()
	}
	lw := k8s.ListWatch(ri, fs, a.Selector)
	var store cache.Store
	var names []string
	var states []string
	// A Job that failed never becomes Complete: say so at once.
	jobs := res.GVR.Group == "batch" && res.GVR.Resource == "jobs" && !a.Delete && a.condType != "Failed" && a.condType != string(batchjob.FailureTarget)
	check := func() (bool, error) {
		objs := store.List()
		names, states = nil, nil
		all := true
		for _, o := range objs {
			u, ok := o.(*unstructured.Unstructured)
			if !ok || (a.Name != "" && u.GetName() != a.Name) {
				continue
			}
			names = append(names, u.GetName())
			if _, failed := batchjob.Outcome(u); jobs && failed != "" {
				return false, &batchjob.Failed{Job: u, Cond: failed}
			}
			ok, state := a.met(u)
			states = append(states, u.GetName()+": "+state)
			all = all && ok
		}
		sort.Strings(names)
		sort.Strings(states)
		if a.Delete {
			return len(names) == 0, nil
		}
		return len(names) > 0 && all, nil
	}
	_, err = watchtools.UntilWithSync(ctx, lw, &unstructured.Unstructured{}, func(s cache.Store) (bool, error) {
		store = s
		return check()
	}, func(watch.Event) (bool, error) { return check() })
	out := task.Outputs{"name": "", "names": toAny(names)}
	if len(names) > 0 {
		out["name"] = names[0]
	}
	var jf *batchjob.Failed
	if errors.As(err, &jf) {
		msg := fmt.Sprintf("job %s/%s failed (%s) while waiting until it %s", jf.Job.GetNamespace(), jf.Job.GetName(), jf.Cond, a.goal())
		if why := batchjob.Failure(ctx, c.Typed, jf.Job, 20); why != "" {
			msg += "\n" + why
		}
		return out, errors.New(msg)
	}
	if err != nil {
		if ctx.Err() != nil {
			now := "none exist"
			if len(states) > 0 {
				now = strings.Join(states, "; ")
			}
			b := *a
			b.Namespace = ns
			return out, fmt.Errorf("timed out waiting until %s %s (%w); now: %s", b.objects(), b.goal(), ctx.Err(), now)
		}
		return out, apicall.Classify(err, "watch", res.GVR.Resource)
	}
	if a.Delete {
		out["name"] = a.Name
	}
	return out, nil
}

func toAny(s []string) []any {
	out := make([]any, 0, len(s))
	for _, v := range s {
		out = append(out, v)
	}
	return out
}
