package load

import (
	"strings"

	"github.com/kbrun/kbrun/engine/pipeline"
)

// Partial is the error Load returns when every problem it found is in a
// task: the problems, and the pipeline with those tasks marked Invalid.
// The compile walk can still prepare its other tasks, so that the problems
// only preparing finds (a value's meaning, a manifest file) are reported
// in the same go instead of after the first ones are fixed.
type Partial struct {
	Errs     *Errors
	Pipeline *pipeline.Pipeline
}

func (e *Partial) Error() string { return e.Errs.Error() }

// Unwrap gives the problems to errors.As.
func (e *Partial) Unwrap() error { return e.Errs }

// markInvalid marks the tasks that hold a problem of errs as Invalid, and
// the uses tasks whose library (or a library it uses) has one. It reports
// false when a problem is outside every task (vars, defaults, namespace,
// the tasks list itself): every task depends on those, so none can be
// prepared.
func markInvalid(p *pipeline.Pipeline, errs *Errors) bool {
	byPath := map[string]*pipeline.Task{}
	all := p.AllTasks()
	for _, t := range all {
		byPath[strings.Join(t.Path, "/")] = t
	}
	badLibs := map[string]bool{}
	for _, e := range errs.List() {
		if e.File != p.File {
			badLibs[e.File] = true
			continue
		}
		if len(e.Path) > 0 && (e.Path[0] == "metadata" || e.Path[0] == "apiVersion") {
			continue // nothing prepared reads them
		}
		t := innermost(byPath, e.Path)
		if t == nil {
			return false
		}
		t.Invalid = true
	}
	for _, t := range all {
		if t.Type == pipeline.UsesType && !soundUse(t, badLibs, map[*pipeline.Pipeline]bool{}) {
			t.Invalid = true
		}
	}
	return true
}

// innermost is the deepest task whose path starts path (a group's child
// rather than the group).
func innermost(byPath map[string]*pipeline.Task, path []string) *pipeline.Task {
	for i := len(path); i > 0; i-- {
		if t, ok := byPath[strings.Join(path[:i], "/")]; ok {
			return t
		}
	}
	return nil
}

// soundUse reports whether a uses task has its library and no library it
// reaches has a problem.
func soundUse(t *pipeline.Task, badLibs map[string]bool, seen map[*pipeline.Pipeline]bool) bool {
	lib := t.Uses.Lib
	if lib == nil || badLibs[lib.File] {
		return false
	}
	if seen[lib] {
		return true
	}
	seen[lib] = true
	for _, x := range pipeline.Flatten(lib.Tasks) {
		if x.Type == pipeline.UsesType && !soundUse(x, badLibs, seen) {
			return false
		}
	}
	return true
}
