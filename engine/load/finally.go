package load

import (
	"fmt"
	"slices"

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
