// Package assertlogs is the `assertLogs` task type: follow a container's log
// stream from the start until expectations hold, surviving restarts.
package assertlogs

import (
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"

	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/tasks/internal/k8s"
	"github.com/kbrun/kbrun/tasks/internal/pod"
)

//go:embed schema.json
var schemaJSON []byte

// Type is the assertLogs task type.
type Type struct{}

// Params are the assertLogs task's parameters.
type Params struct {
	pod.Target
	ExactlyOne bool     `json:"exactlyOne,omitempty"`
	Contains   []string `json:"contains,omitempty"`
	Matches    []string `json:"matches,omitempty"`
	InOrder    bool     `json:"inOrder,omitempty"`
	Absent     []string `json:"absent,omitempty"`
	// Pods says, with a selector, whose logs count: the newest started
	// pod's (default), every started pod's (all), or any one's (any).
	Pods string `json:"pods,omitempty"`
}

// Pods modes.
const (
	PodsNewest = "newest"
	PodsAll    = "all"
	PodsAny    = "any"
)

func (Type) Name() string { return "assertLogs" }
func (Type) Summary() string {
	return "Follow a pod's logs until every expectation holds (`contains`, `matches`, `inOrder`, `absent`); with a selector, `pods: all` wants every matching pod to pass, `pods: any` one of them"
}
func (Type) Schema() json.RawMessage { return schemaJSON }
func (Type) Outputs() []string       { return []string{"pod", "pods", "lines", "count"} }

var groupName = regexp.MustCompile(`\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>`)

// ParamOutputs implements task.ParamOutputs: the named groups of matches
// (from the line that met each).
func (t Type) ParamOutputs(params any) []string {
	m, _ := params.(map[string]any)
	list, _ := m["matches"].([]any)
	var out []string
	for _, item := range list {
		s, _ := item.(string)
		for _, g := range groupName.FindAllStringSubmatch(s, -1) {
			if !slices.Contains(out, g[1]) {
				out = append(out, g[1])
			}
		}
	}
	return out
}

// Check implements task.Checker: a named group may not hide an output.
func (t Type) Check(p task.Params) []task.FieldError {
	var errs []task.FieldError
	for _, name := range t.ParamOutputs(p.Value) {
		if slices.Contains(t.Outputs(), name) || slices.Contains(task.EndOutputs, name) {
			errs = append(errs, task.FieldError{Path: []string{"matches"}, Message: fmt.Sprintf("group name %q is already an output of the task: name the group otherwise", name)})
		}
	}
	return errs
}

// Prepare implements task.Type.
func (Type) Prepare(p task.Params) (task.Action, error) {
	var params Params
	if err := p.Decode(&params); err != nil {
		return nil, err
	}
	if err := params.Target.Validate(); err != nil {
		return nil, err
	}
	if len(params.Contains)+len(params.Matches)+len(params.Absent) == 0 {
		return nil, fmt.Errorf("give at least one of contains, matches and absent")
	}
	if _, err := NewMatcher(params.Contains, params.Matches, params.InOrder, params.Absent); err != nil {
		return nil, err
	}
	switch params.Pods {
	case "":
		params.Pods = PodsNewest
	case PodsNewest:
	case PodsAll, PodsAny:
		if params.Selector == "" {
			return nil, task.Fieldf([]string{"pods"}, "pods: %s goes with selector (a pod named is one pod)", params.Pods)
		}
		if params.ExactlyOne {
			return nil, task.Fieldf([]string{"exactlyOne"}, "exactlyOne goes with pods: newest")
		}
	default:
		return nil, task.Fieldf([]string{"pods"}, "%q: give newest, all or any", params.Pods)
	}
	params.Namespace = cmp.Or(params.Namespace, p.Namespace)
	return &action{Params: params}, nil
}

type action struct{ Params }

// Namespace is the pod's namespace.
func (a *action) UsesNamespace() string { return a.Target.Namespace }

// Describe implements task.Action.
func (a *action) Describe() string {
	ns := cmp.Or(a.Namespace, "<run namespace>")
	var want []string
	for _, c := range a.Contains {
		want = append(want, strconv.Quote(c))
	}
	for _, m := range a.Matches {
		want = append(want, "/"+m+"/")
	}
	s := "check the log of " + a.Target.String(ns)
	switch a.Pods {
	case PodsAll:
		s = fmt.Sprintf("check the logs of every started pod labelled %s in %s (all must pass)", a.Selector, ns)
	case PodsAny:
		s = fmt.Sprintf("check the logs of the started pods labelled %s in %s (any one may pass)", a.Selector, ns)
	}
	if a.Container != "" && a.Pods != PodsNewest {
		s += " (container " + a.Container + ")"
	}
	if len(want) > 0 {
		s += " for " + task.JoinAnd(want)
		if a.InOrder && len(want) > 1 {
			s += " in that order"
		}
	}
	if len(a.Absent) > 0 {
		var ab []string
		for _, x := range a.Absent {
			ab = append(ab, strconv.Quote(x))
		}
		if len(want) > 0 {
			s += ", and"
		}
		s += " that it never shows " + task.JoinOr(ab)
	}
	return s
}

// Run implements task.Action.
func (a *action) Run(ctx context.Context, env *task.Env) (task.Outputs, error) {
	ns := k8s.Namespace(a.Namespace, env)
	c, err := k8s.Clients(env)
	if err != nil {
		return nil, err
	}
	if a.Pods != PodsNewest {
		return a.many(ctx, env, c.Typed, ns)
	}
	p, err := pod.ResolveWatched(ctx, c, ns, a.Target, pod.ResolveOptions{Require: pod.Started, ExactlyOne: a.ExactlyOne})
	if err != nil {
		return nil, err
	}
	container, err := pod.Container(p, a.Container)
	if err != nil {
		return nil, err
	}
	m, _ := NewMatcher(a.Contains, a.Matches, a.InOrder, a.Absent)
	f := &follower{cs: c.Typed, ns: ns, pod: p.Name, container: container, m: m, env: env}
	err = f.run(ctx, p)
	out := task.Outputs{"pod": p.Name, "pods": []any{p.Name}, "lines": m.Matched(), "count": m.Lines()}
	for k, v := range m.Captures() {
		out[k] = v
	}
	if err != nil {
		return out, err
	}
	return out, nil
}
