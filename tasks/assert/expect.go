package assert

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/kbrun/kbrun/engine/secret"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/valid"
	"github.com/kbrun/kbrun/tasks/internal/manifest"
)

// expectation is one expected object: which live objects it names, and
// what they must look like.
type expectation struct {
	gvk       schema.GroupVersionKind
	namespace string // as written; the task's when empty
	name      string // empty: every object of the kind with the labels
	selector  string // the expectation's plain labels
	source    string // file.yaml#2
	m         matcher
}

// newExpectation compiles one expected object; problems are at their
// lines in its file.
func newExpectation(m manifest.Manifest) (*expectation, error) {
	u := m.Object
	var ps task.Problems
	meta, _ := u.Object["metadata"].(map[string]any)
	e := &expectation{gvk: u.GroupVersionKind(), source: m.Source}
	for _, f := range []struct {
		key string
		to  *string
		ok  func(string) error
	}{
		{"name", &e.name, func(s string) error { return valid.Name(u.GetKind(), s) }},
		{"namespace", &e.namespace, valid.Namespace},
	} {
		v, has := meta[f.key]
		if !has {
			continue
		}
		s, ok := v.(string)
		if _, isCEL := celSource(s); !ok || isCEL {
			ps.Keep(m.ErrorAt([]string{"metadata", f.key}, "give the "+f.key+" itself: it says which object to read"))
			continue
		}
		if task.IsUnknown(s) {
			*f.to = s
			continue
		}
		if err := f.ok(s); err != nil {
			ps.Keep(m.ErrorAt([]string{"metadata", f.key}, err.Error()))
			continue
		}
		*f.to = s
	}
	if e.name == "" {
		e.selector = plainLabels(meta)
	}
	var errs []compileError
	e.m = compile(u.Object, nil, &errs)
	for _, ce := range errs {
		ps.Keep(m.ErrorAt(ce.path, ce.msg))
	}
	return e, ps.Err()
}

// plainLabels is a selector of the expectation's labels that are plain
// values (a CEL one is matched as a field).
func plainLabels(meta map[string]any) string {
	ls, _ := meta["labels"].(map[string]any)
	set := labels.Set{}
	for k, v := range ls {
		if s, ok := v.(string); ok {
			if _, isCEL := celSource(s); !isCEL {
				set[k] = s
			}
		}
	}
	return labels.SelectorFromSet(set).String()
}

// what names the live objects of the expectation in namespace ns ("" for
// cluster-scoped): mode is MatchAll, MatchAny, or "" (absent).
func (e *expectation) what(ns, mode string) string {
	kind := strings.ToLower(e.gvk.Kind)
	if e.name != "" {
		if ns != "" {
			return kind + " " + ns + "/" + e.name
		}
		return kind + " " + e.name
	}
	s := map[string]string{MatchAll: "every " + kind, MatchAny: "a " + kind, "": kind + "s"}[mode]
	if e.selector != "" {
		s += " labelled " + e.selector
	}
	if ns != "" {
		s += " in " + ns
	}
	return s
}

// check is how obj differs from the expectation, Secret data hidden.
func (e *expectation) check(obj *unstructured.Unstructured) []Mismatch {
	diffs := e.m.match("", obj.Object, true, obj.Object)
	if obj.GetKind() == "Secret" {
		for i, d := range diffs {
			if secretData(d.Path) {
				diffs[i].Expected, diffs[i].Actual = secret.Mask, secret.Mask
				if d.Note != "" {
					diffs[i].Note = "differs (Secret data is not shown)"
				}
			}
		}
	}
	return diffs
}

func secretData(path string) bool {
	for _, f := range []string{"data", "stringData"} {
		if path == f || strings.HasPrefix(path, f+".") || strings.HasPrefix(path, f+"[") {
			return true
		}
	}
	return false
}

// maxQuoted bounds the lines of an object quoted in an error.
const maxQuoted = 40

// quote shows the fields of obj that the expectation names (what made it
// match), as YAML, with a Secret's data hidden.
func (e *expectation) quote(obj *unstructured.Unstructured) string {
	shown := project(e.m, obj.DeepCopy().Object)
	if m, ok := shown.(map[string]any); ok {
		// The heading names the object.
		delete(m, "apiVersion")
		delete(m, "kind")
		meta, _ := m["metadata"].(map[string]any)
		delete(meta, "name")
		delete(meta, "namespace")
		if len(meta) == 0 {
			delete(m, "metadata")
		}
		if obj.GetKind() == "Secret" {
			for _, f := range []string{"data", "stringData"} {
				if d, ok := m[f].(map[string]any); ok {
					for k := range d {
						d[k] = secret.Mask
					}
				}
			}
		}
	}
	b, err := yaml.Marshal(shown)
	if err != nil {
		return show(shown)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > maxQuoted {
		lines = append(lines[:maxQuoted], fmt.Sprintf("# and %d more lines", len(lines)-maxQuoted))
	}
	return strings.Join(lines, "\n")
}

// project is the part of actual that m looks at: the keys a map names,
// whole lists.
func project(m matcher, actual any) any {
	mm, ok := m.(*mapM)
	obj, isMap := actual.(map[string]any)
	if !ok || !isMap {
		return actual
	}
	out := map[string]any{}
	for _, k := range mm.keys {
		if v, has := obj[k]; has {
			out[k] = project(mm.fields[k], v)
		}
	}
	return out
}

// sortedNames lists the objects' names, sorted.
func sortedNames(objs []*unstructured.Unstructured) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.GetName()
	}
	sort.Strings(out)
	return out
}
