package prepare

import (
	"maps"

	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/tmpl"
	"github.com/kbrun/kbrun/engine/valid"
)

// Until decides a matrix task's until for a cell that ended (cell: its
// name, matrix values, status, error and outputs) by the rule a when has
// (valid.Bool): it renders exactly true or false, anything else is an
// error at the until's FILE:LINE:COL. With cell nil (the compile walk) it
// is decided only when it does not read .cell; runTime says it was not.
func (pp *Preparer) Until(t *pipeline.Task, cell map[string]any, d Data) (stop, runTime bool, err error) {
	pp = pp.scope(t)
	if cell == nil && readsCell(t.Until) {
		return false, true, nil
	}
	vals := maps.Clone(d.Values)
	if cell != nil {
		vals["cell"] = cell
	}
	path := sub(t.Path, "until")
	errs := &pipeline.Errors{}
	out, runTime, err := pp.render(t.Until, Data{Values: vals, Pending: d.Pending, Preview: d.Preview})
	switch {
	case err != nil:
		pp.add(errs, path, pp.explain(err, d))
	case runTime || task.IsUnknown(out):
		return false, true, nil
	default:
		if stop, err = valid.Bool(out); err != nil {
			pp.add(errs, path, err)
		}
	}
	return stop, false, errs.OrNil()
}

// readsCell reports whether an until refers to .cell (a template that
// does not parse is reported where the loader checked it).
func readsCell(text string) bool {
	if !tmpl.Has(text) {
		return false
	}
	t, err := tmpl.Parse("until", text)
	if err != nil {
		return true
	}
	for _, r := range tmpl.Refs(t) {
		if r.Root == "cell" {
			return true
		}
	}
	return false
}
