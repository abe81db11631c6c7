// Package assert is the `assert` task type: live objects must match
// expected ones, written as partial objects (a map is a subset, lists
// match in order or with $any/$all, a field may be a CEL condition), by
// watch until they do; or, with absent, none may match.
package assert

import (
	"cmp"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/valid"
	"github.com/kbrun/kbrun/tasks/internal/k8s"
	"github.com/kbrun/kbrun/tasks/internal/manifest"
)

//go:embed schema.json
var schemaJSON []byte

// Type is the assert task type.
type Type struct{}

// Params are the assert task's parameters.
type Params struct {
	Files     []string `json:"files,omitempty"`
	Manifest  string   `json:"manifest,omitempty"`
	Namespace string   `json:"namespace,omitempty"`
	Render    *bool    `json:"render,omitempty"`
	// Match says, for an expected object without a name, whether every
	// live object of its kind and labels must match (all) or one (any).
	Match     string `json:"match,omitempty"`
	Absent    bool   `json:"absent,omitempty"`
	StableFor string `json:"stableFor,omitempty"`
}

// Match modes.
const (
	MatchAll = "all"
	MatchAny = "any"
)

func (Type) Name() string { return "assert" }
func (Type) Summary() string {
	return "Wait, by watch, until live objects match expected ones written as partial objects (lists in order or `$any`/`$all`, fields as CEL `${ self >= 2 }`), by name or by labels (`match: all` or `any`); `absent: true` wants none to match; a timeout shows each object's differences"
}
func (Type) Schema() json.RawMessage { return schemaJSON }
func (Type) Outputs() []string       { return []string{"name", "names", "objects"} }

// Check implements task.Checker: expectation files without template
// syntax must exist.
func (Type) Check(p task.Params) []task.FieldError { return manifest.CheckFiles(p, "files") }

// Prepare implements task.Type: it reads the expected objects and
// compiles their CEL expressions, so that a bad one stops validate.
func (Type) Prepare(p task.Params) (task.Action, error) {
	var params Params
	if err := p.Decode(&params); err != nil {
		return nil, err
	}
	var ps task.Problems
	ps.Check([]string{"namespace"}, params.Namespace, valid.Namespace)
	switch params.Match {
	case "":
		params.Match = MatchAll
	case MatchAll, MatchAny:
		if params.Absent {
			ps.Add([]string{"match"}, fmt.Errorf("match goes without absent: with absent, no object may match"))
		}
	default:
		ps.Add([]string{"match"}, fmt.Errorf("%q: give all or any", params.Match))
	}
	stable, err := k8s.ParseDuration("stableFor", params.StableFor, 0)
	ps.Keep(err)
	if params.StableFor != "" && !params.Absent {
		ps.Add([]string{"stableFor"}, fmt.Errorf("stableFor goes with absent: true (no object may match for that long)"))
	}
	if stable > 0 && p.Timeout > 0 && stable >= p.Timeout {
		ps.Add([]string{"stableFor"}, fmt.Errorf("%s does not fit in the task's timeout of %s", stable, p.Timeout))
	}
	if len(params.Files) == 0 && strings.TrimSpace(params.Manifest) == "" {
		ps.Add(nil, fmt.Errorf("give files or manifest: the expected objects"))
	}
	if err := ps.Err(); err != nil {
		return nil, err
	}
	ms, err := manifest.LoadExpected(p, params.Files, params.Manifest, params.Render == nil || *params.Render)
	if err != nil {
		return nil, err
	}
	a := &action{Params: params, stable: stable, manifests: ms}
	for _, m := range ms.Objects {
		e, err := newExpectation(m)
		ps.Keep(err)
		a.expected = append(a.expected, e)
	}
	if err := ps.Err(); err != nil {
		return nil, err
	}
	if len(a.expected) == 0 && ms.Complete() {
		return nil, fmt.Errorf("the manifests hold no expected object")
	}
	a.Namespace = cmp.Or(params.Namespace, p.Namespace)
	return a, nil
}

type action struct {
	Params
	stable    time.Duration
	manifests *manifest.Manifests
	expected  []*expectation
}

// UsesNamespace is the namespace of expected objects that name none.
func (a *action) UsesNamespace() string { return a.Namespace }

// ManifestFiles implements task.ManifestUser.
func (a *action) ManifestFiles() []task.ManifestFile { return a.manifests.ShownFiles() }

// Describe implements task.Action.
func (a *action) Describe() string {
	ns := cmp.Or(a.Namespace, "<run namespace>")
	mode := a.Match
	if a.Absent {
		mode = ""
	}
	var objs []string
	for _, e := range a.expected {
		ens := cmp.Or(e.namespace, ns)
		if manifest.ClusterScoped(e.gvk.GroupKind()) {
			ens = ""
		}
		objs = append(objs, e.what(ens, mode))
	}
	if !a.manifests.Complete() {
		objs = append(objs, "the objects of "+task.JoinAnd(a.manifests.RunTime))
	}
	list := task.JoinAnd(objs)
	switch {
	case a.Absent && a.stable > 0:
		return fmt.Sprintf("assert for %s that nothing matches %s", a.stable, list)
	case a.Absent:
		return "assert that nothing matches " + list
	case len(objs) == 1 && (a.expected[0].name != "" || a.Match == MatchAny):
		return "assert that " + list + " matches"
	}
	return "assert that " + list + " match"
}
