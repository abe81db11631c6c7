package runner

import (
	"slices"
	"strings"

	"github.com/kbrun/kbrun/engine/exit"
	"github.com/kbrun/kbrun/engine/pipeline"
)

// checkSelection rejects --only/--from/--skip names that are no task.
func (r *runner) checkSelection() error {
	names := map[string]bool{}
	for _, t := range pipeline.Flatten(r.p.Tasks) {
		names[t.Name] = true
	}
	check := func(flag string, list []string) error {
		for _, n := range list {
			if !names[n] {
				return exit.Usagef("%s %s: the pipeline has no task %q (finally tasks cannot be selected: they always run)", flag, n, n)
			}
		}
		return nil
	}
	if err := check("--only", r.opts.Only); err != nil {
		return err
	}
	if err := check("--skip", r.opts.Skip); err != nil {
		return err
	}
	if r.opts.From != "" {
		if err := check("--from", []string{r.opts.From}); err != nil {
			return err
		}
	}
	return nil
}

// selected reports whether the top-level task at index i runs. A group
// runs when it or any of its children is selected; children are filtered
// by childSelected.
func (r *runner) selected(t *pipeline.Task, i int) bool {
	if r.opts.From != "" && i < r.fromIndex() {
		return false
	}
	if slices.Contains(r.opts.Skip, t.Name) {
		return false
	}
	if len(r.opts.Only) == 0 || slices.Contains(r.opts.Only, t.Name) {
		return true
	}
	for _, c := range t.Children {
		if slices.Contains(r.opts.Only, c.Name) {
			return true
		}
	}
	return false
}

// childSelected reports whether a group's child runs: --skip names it not,
// and --only names it, its group, or nothing.
func (r *runner) childSelected(group, c *pipeline.Task) bool {
	if slices.Contains(r.opts.Skip, c.Name) {
		return false
	}
	return len(r.opts.Only) == 0 || slices.Contains(r.opts.Only, group.Name) || slices.Contains(r.opts.Only, c.Name)
}

// fromIndex is the top-level index of --from's task (its group's, for a child).
func (r *runner) fromIndex() int {
	for i, t := range r.p.Tasks {
		if t.Name == r.opts.From {
			return i
		}
		for _, c := range t.Children {
			if c.Name == r.opts.From {
				return i
			}
		}
	}
	return 0
}

// lineWriter turns a byte stream into lines for task.output events.
type lineWriter struct {
	emit func(string)
	buf  strings.Builder
}

func (w *lineWriter) Write(p []byte) (int, error) {
	for _, b := range p {
		if b == '\n' {
			w.emit(strings.TrimSuffix(w.buf.String(), "\r"))
			w.buf.Reset()
			continue
		}
		w.buf.WriteByte(b)
	}
	return len(p), nil
}

// Flush emits a last line without a newline.
func (w *lineWriter) Flush() {
	if w.buf.Len() > 0 {
		w.emit(w.buf.String())
		w.buf.Reset()
	}
}
