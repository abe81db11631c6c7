package runner

import (
	"github.com/kbrun/kbrun/engine/exit"
	"github.com/kbrun/kbrun/engine/pipeline"
)

// Why a node does not run, as plans and reports say it.
const (
	whyKeep = "finally, skipped with --keep"
	whySkip = "skipped with --skip"
	whyOnly = "not selected by --only"
	whyFrom = "before --from "
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

// selectTree decides, once, which nodes run:
//   - finally tasks always run, whole (--keep skips them);
//   - --only: a named task runs with everything under it, and so does the
//     path to it (its groups, uses and matrix tasks), without their other
//     tasks;
//   - --from: the named task and every task after it in file order run,
//     and so does the path to it;
//   - --skip: a named task does not run, nor anything under it.
//
// A task under a matrix task is selected in every cell alike, and a
// library's task by its name in the use ("image.build"), as plans show it.
func (r *runner) selectTree(main, fin []*node) error {
	if err := r.checkSelection(); err != nil {
		return err
	}
	if r.opts.Keep {
		for _, n := range fin {
			unselect(n, whyKeep)
		}
	}
	s := &selection{only: set(r.opts.Only), skip: set(r.opts.Skip), from: r.opts.From, reached: r.opts.From == ""}
	for _, n := range main {
		s.mark(n, len(r.opts.Only) == 0, false)
	}
	return nil
}

func set(names []string) map[string]bool {
	out := make(map[string]bool, len(names))
	for _, n := range names {
		out[n] = true
	}
	return out
}

func unselect(n *node, why string) {
	n.selected, n.why = false, why
	for _, c := range n.children {
		unselect(c, why)
	}
}

type selection struct {
	only, skip map[string]bool
	from       string
	// reached: --from's task has been seen, in file order.
	reached bool
}

// mark decides n and what is under it. inOnly: --only names n's group
// (or is not given); skipped: --skip names it. It returns whether n is on
// the path to a task --only names and to --from's task.
func (s *selection) mark(n *node, inOnly, skipped bool) (toOnly, toFrom bool) {
	name := n.task.Name
	if name == s.from {
		s.reached = true
	}
	toOnly, toFrom = s.only[name], name == s.from
	reached := s.reached
	inOnly, skipped = inOnly || s.only[name], skipped || s.skip[name]
	for _, c := range n.children {
		o, f := s.mark(c, inOnly, skipped)
		toOnly, toFrom = toOnly || o, toFrom || f
	}
	switch {
	case skipped:
		n.selected, n.why = false, whySkip
	case !inOnly && !toOnly:
		n.selected, n.why = false, whyOnly
	case !reached && !toFrom:
		n.selected, n.why = false, whyFrom+s.from
	}
	return toOnly, toFrom
}
