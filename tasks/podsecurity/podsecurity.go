// Package podsecurity is the `podSecurity` task type: before anything is
// applied, it reports the Pod Security Standards level (privileged, baseline,
// restricted) that each pod template in a pipeline's manifests meets, and
// fails when one is below the level the pipeline requires.
//
// The rules are not written here: every template is evaluated with
// k8s.io/pod-security-admission's policy checks, the code the API server's
// PodSecurity admission runs. The task is purely local; it never contacts a
// cluster, so it also runs (and fails) before a cluster is reachable.
package podsecurity

import (
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"

	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/valid"
	"github.com/kbrun/kbrun/tasks/internal/manifest"
)

//go:embed schema.json
var schema []byte

// Type is the podSecurity task type.
type Type struct{}

// Params are the podSecurity task's parameters.
type Params struct {
	Files      []string    `json:"files"`
	Require    string      `json:"require,omitempty"`
	Exceptions []Exception `json:"exceptions,omitempty"`
	Version    string      `json:"version,omitempty"`
	Render     *bool       `json:"render,omitempty"`
}

// Exception holds one object to another level than Require.
type Exception struct {
	Kind    string `json:"kind,omitempty"`
	Name    string `json:"name"`
	Require string `json:"require"`
}

func (Type) Name() string { return "podSecurity" }
func (Type) Summary() string {
	return "Report the Pod Security Standards level each pod template in manifest files meets (locally, before applying), and require a minimum"
}
func (Type) Schema() json.RawMessage { return schema }

// Outputs: levels maps "Kind/namespace/name" to the most restrictive level
// the object's pod template meets; lowest is the least restrictive of them.
func (Type) Outputs() []string { return []string{"levels", "lowest"} }

// Check implements task.Checker: files without template syntax must exist.
func (Type) Check(p task.Params) []task.FieldError { return manifest.CheckFiles(p, "files") }

// Prepare implements task.Type.
func (Type) Prepare(p task.Params) (task.Action, error) {
	var params Params
	if err := p.Decode(&params); err != nil {
		return nil, err
	}
	if len(params.Files) == 0 {
		return nil, task.Fieldf([]string{"files"}, "give at least one manifest file or directory")
	}
	a := &action{params: params}
	var err error
	if a.require, err = parseLevel([]string{"require"}, params.Require); err != nil {
		return nil, err
	}
	for i, e := range params.Exceptions {
		if e.Name == "" {
			return nil, task.Fieldf([]string{"exceptions", fmt.Sprint(i), "name"}, "empty")
		}
		if _, err := parseLevel([]string{"exceptions", fmt.Sprint(i), "require"}, e.Require); err != nil {
			return nil, err
		}
		if err := valid.Name(e.Kind, e.Name); err != nil && !task.IsUnknown(e.Name) {
			return nil, task.Fieldf([]string{"exceptions", fmt.Sprint(i), "name"}, "%v", err)
		}
	}
	a.version = psapi.LatestVersion()
	if params.Version != "" && params.Version != "latest" && !task.IsUnknown(params.Version) {
		if a.version, err = psapi.ParseVersion(params.Version); err != nil {
			return nil, task.Fieldf([]string{"version"}, "%v", err)
		}
	}
	if a.manifests, err = manifest.Load(p, params.Files, "", params.Render == nil || *params.Render); err != nil {
		return nil, err
	}
	if err := a.capabilitiesAbove(); err != nil {
		return nil, err
	}
	a.namespace = p.Namespace
	return a, nil
}

func parseLevel(field []string, s string) (psapi.Level, error) {
	if s == "" || task.IsUnknown(s) {
		return psapi.LevelPrivileged, nil
	}
	l, err := psapi.ParseLevel(s)
	if err != nil {
		return "", task.Fieldf(field, "%v", err)
	}
	return l, nil
}

type action struct {
	params    Params
	require   psapi.Level
	version   psapi.Version
	manifests *manifest.Manifests
	namespace string
}

// ManifestFiles implements task.ManifestUser.
func (a *action) ManifestFiles() []task.ManifestFile { return a.manifests.ShownFiles() }

// Describe implements task.Action.
func (a *action) Describe() string {
	what := strings.Join(a.params.Files, ", ")
	s := "check Pod Security Standards levels (" + a.version.String() + ") of the pod templates in " + what
	if a.require == psapi.LevelPrivileged {
		s += ", report only"
	} else {
		s += ", require " + string(a.require)
	}
	for _, e := range a.params.Exceptions {
		s += fmt.Sprintf(", %s %s", objectLabel(e.Kind, e.Name), e.Require)
	}
	return s
}

func objectLabel(kind, name string) string {
	if kind == "" {
		return name
	}
	return kind + "/" + name
}

// Result is the evaluation of one pod template.
type Result struct {
	// Object is "Kind/namespace/name"; Source "file.yaml#2".
	Object string
	Source string
	// Level is the most restrictive level the template meets.
	Level psapi.Level
	// Fails lists, for each level above Level, what breaks it, in the
	// PodSecurity admission's words.
	Fails map[psapi.Level]string
	// Required is the level the pipeline asks of this object.
	Required psapi.Level
}

// OK reports whether the template meets its required level.
func (r Result) OK() bool { return rank(r.Level) >= rank(r.Required) }

// Line is the one-line report of the result.
func (r Result) Line() string {
	s := r.Object + ": " + string(r.Level)
	if r.Level != psapi.LevelRestricted {
		next := psapi.LevelRestricted
		if r.Level == psapi.LevelPrivileged {
			next = psapi.LevelBaseline
		}
		s += fmt.Sprintf(" (%s fails: %s)", next, r.Fails[next])
	}
	return s
}

func rank(l psapi.Level) int {
	switch l {
	case psapi.LevelRestricted:
		return 2
	case psapi.LevelBaseline:
		return 1
	default:
		return 0
	}
}

// Run implements task.Action. It touches no cluster.
func (a *action) Run(_ context.Context, env *task.Env) (task.Outputs, error) {
	results, err := Evaluate(a.manifests.Objects, a.version, cmp.Or(a.namespace, env.Namespace), a.require, a.params.Exceptions)
	if err != nil {
		return nil, err
	}
	levels := map[string]any{}
	lowest := psapi.LevelRestricted
	var bad []string
	for _, r := range results {
		levels[r.Object] = string(r.Level)
		if rank(r.Level) < rank(lowest) {
			lowest = r.Level
		}
		line := r.Line()
		if r.Required != psapi.LevelPrivileged {
			line += "; required: " + string(r.Required)
		}
		env.Logf("%s", line)
		if !r.OK() {
			bad = append(bad, fmt.Sprintf("%s (%s) is %s-level, below the required %s: %s", r.Object, r.Source, r.Level, r.Required, r.Fails[r.Required]))
		}
	}
	if len(results) == 0 {
		env.Logf("no pod templates found in %s", strings.Join(a.params.Files, ", "))
	}
	out := task.Outputs{"levels": levels, "lowest": string(lowest)}
	if len(bad) > 0 {
		return out, fmt.Errorf("the Pod Security Standards check failed:\n  %s", strings.Join(bad, "\n  "))
	}
	return out, nil
}

// Evaluate finds the pod templates in ms and evaluates each. Objects
// without namespace are reported in defaultNS.
func Evaluate(ms []manifest.Manifest, version psapi.Version, defaultNS string, require psapi.Level, exceptions []Exception) ([]Result, error) {
	ev, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return nil, fmt.Errorf("pod security evaluator: %w", err)
	}
	var out []Result
	for _, m := range ms {
		tmpl, found, err := PodTemplate(m.Object)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Source, err)
		}
		if !found {
			continue
		}
		ns := m.Object.GetNamespace()
		if ns == "" {
			ns = defaultNS
		}
		required, _ := requiredLevel(m.Object, require, exceptions)
		r := Result{
			Object:   m.Object.GetKind() + "/" + ns + "/" + m.Object.GetName(),
			Source:   m.Source,
			Fails:    map[psapi.Level]string{},
			Required: required,
		}
		r.Level = psapi.LevelPrivileged
		for _, l := range []psapi.Level{psapi.LevelRestricted, psapi.LevelBaseline} {
			agg := policy.AggregateCheckResults(ev.EvaluatePod(psapi.LevelVersion{Level: l, Version: version}, &tmpl.ObjectMeta, &tmpl.Spec))
			if agg.Allowed {
				r.Level = l
				break
			}
			r.Fails[l] = agg.ForbiddenDetail()
		}
		out = append(out, r)
	}
	return out, nil
}

// requiredLevel is the level required of an object: that of the last
// exception naming it (at is its index), else require (at is -1).
func requiredLevel(u *unstructured.Unstructured, require psapi.Level, exceptions []Exception) (level psapi.Level, at int) {
	level, at = require, -1
	for i, e := range exceptions {
		if e.Name == u.GetName() && (e.Kind == "" || strings.EqualFold(e.Kind, u.GetKind())) {
			level, at = psapi.Level(e.Require), i
		}
	}
	return level, at
}

// capabilitiesAbove finds, before anything runs, the containers of the
// known pod templates that add a capability above the level required of
// them (valid.CapabilityAbove): the task would fail on them when it runs,
// and a namespace that enforces the level would refuse the pod. Each is
// reported at the require (or exception) that sets the level.
func (a *action) capabilitiesAbove() error {
	var ps task.Problems
	for _, m := range a.manifests.Objects {
		level, at := requiredLevel(m.Object, a.require, a.params.Exceptions)
		field := []string{"require"}
		if at >= 0 {
			field = []string{"exceptions", fmt.Sprint(at), "require"}
		}
		if level != psapi.LevelBaseline && level != psapi.LevelRestricted {
			continue // privileged, or known only at run time
		}
		tmpl, found, err := PodTemplate(m.Object)
		if err != nil || !found {
			continue // Evaluate reports it when the task runs
		}
		spec := tmpl.Spec
		containers := append(append([]corev1.Container(nil), spec.InitContainers...), spec.Containers...)
		for _, c := range containers {
			if c.SecurityContext == nil || c.SecurityContext.Capabilities == nil {
				continue
			}
			for _, cp := range c.SecurityContext.Capabilities.Add {
				if task.IsUnknown(string(cp)) {
					continue
				}
				if err := valid.CapabilityAbove(string(cp), level); err != nil {
					ps.Add(field, fmt.Errorf("%s %s (%s), container %q: %v", m.Object.GetKind(), m.Object.GetName(), m.Source, c.Name, err))
				}
			}
		}
	}
	return ps.Err()
}

// PodTemplate returns the pod template of the kinds that hold one (the pod
// itself for a Pod), and false for other kinds.
func PodTemplate(u *unstructured.Unstructured) (*corev1.PodTemplateSpec, bool, error) {
	var path []string
	switch u.GetKind() {
	case "Pod":
		path = nil
	case "PodTemplate":
		path = []string{"template"}
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job":
		path = []string{"spec", "template"}
	case "CronJob":
		path = []string{"spec", "jobTemplate", "spec", "template"}
	default:
		return nil, false, nil
	}
	var raw any = u.Object
	if path != nil {
		v, ok, err := unstructured.NestedFieldNoCopy(u.Object, path...)
		if err != nil {
			return nil, false, fmt.Errorf("%s %s: %s: %w", u.GetKind(), u.GetName(), strings.Join(path, "."), err)
		}
		if !ok {
			return nil, false, fmt.Errorf("%s %s has no %s", u.GetKind(), u.GetName(), strings.Join(path, "."))
		}
		raw = v
	}
	data, err := json.Marshal(raw)
	if err != nil {
		return nil, false, err
	}
	var t corev1.PodTemplateSpec
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, false, fmt.Errorf("%s %s: pod template: %w", u.GetKind(), u.GetName(), err)
	}
	return &t, true, nil
}
