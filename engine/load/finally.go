package load

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/tmpl"
)

// unguarded refuses a finally task's read of another task's output that
// does not first look at whether the task ran: finally runs also after a
// failure, when that task (a main task, or an earlier finally task) may have
// failed before its outputs or not run at all, and the read would fail the
// cleanup. A test of .tasks.NAME.status
// in an enclosing if/with, or in the when of the task or its group, guards
// it.
func (c *checker) unguarded(ref tmpl.Ref, sc *scope, owner, dotted string) string {
	name := ref.Path[0]
	if !sc.finally || owner == "vars" || slices.Contains(ref.Guards, name) || slices.Contains(sc.whenGuards, name) {
		return ""
	}
	return fmt.Sprintf("finally reads output %q of task %q without a guard (%s): finally runs also when %q failed or never ran; read it inside {{ if eq .tasks.%s.status \"ok\" }}...{{ end }}, or give the finally task when: '{{ eq .tasks.%s.status \"ok\" }}'", ref.Path[1], name, dotted, name, name, name)
}

// statusTests lists the tasks whose .tasks.NAME.status a when template
// tests (computes with: a when that only prints it is always true).
func statusTests(when string) []string {
	if !tmpl.Has(when) {
		return nil
	}
	t, err := tmpl.Parse("when", when)
	if err != nil {
		return nil // reported where the when is checked
	}
	var out []string
	for _, r := range tmpl.Refs(t) {
		if r.Root == "tasks" && len(r.Path) == 2 && r.Path[1] == "status" && !r.Direct {
			out = append(out, r.Path[0])
		}
	}
	return out
}

// cellRef checks what a matrix task's until reads of .cell: its name,
// matrix values, status and error, and the outputs the task's type has
// (a group's cell: its children, a use's: the library's outputs).
func (c *checker) cellRef(ref tmpl.Ref, t *pipeline.Task, dotted string) string {
	if t == nil || len(ref.Path) == 0 {
		return ""
	}
	has := append([]string{"name", "matrix"}, task.EndOutputs...)
	kind := t.Type
	switch t.Type {
	case pipeline.ParallelType:
		for _, ch := range t.Children {
			has = append(has, ch.Name)
		}
		kind = "a parallel group"
	case pipeline.UsesType:
		if t.Uses == nil || t.Uses.Lib == nil {
			return "" // the library's problems are reported
		}
		for _, o := range t.Uses.Lib.Outputs {
			has = append(has, o.Name)
		}
	default:
		typ, ok := c.l.reg.Get(t.Type)
		if !ok {
			return ""
		}
		has = append(has, task.OutputsOf(typ, t.Params)...)
	}
	if slices.Contains(has, ref.Path[0]) {
		return ""
	}
	return fmt.Sprintf("until reads %s, but a cell of task %q (%s) has no %q; it has: %s", dotted, t.Name, kind, ref.Path[0], strings.Join(has, ", "))
}
