package prepare

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"

	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/secret"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/tmpl"
)

// render renders one template string. runTime is true when the string
// computes with an output not known yet (d.Pending): nothing about its
// value is known before the run, and it comes back as task.RunTime. An
// output that is only printed comes back as its stand-in within the text.
// A result that holds a piece of a secret comes back with an *errCut.
func (pp *Preparer) render(text string, d Data) (string, bool, error) {
	if !tmpl.Has(text) {
		return text, false, nil
	}
	t, err := tmpl.Parse("value", text)
	if err != nil {
		return "", false, err
	}
	refs := tmpl.Refs(t)
	if computesWithPending(refs, d) || computesWithUnknownParam(refs, d) {
		return task.RunTime, true, nil
	}
	out, err := tmpl.Render("value", text, d.Values)
	if err != nil {
		ok, neutralErr := pp.standInOnly(text, refs, d)
		if ok {
			return task.RunTime, true, nil
		}
		if neutralErr != nil {
			err = neutralErr // says what fails besides the stand-in
		}
		return "", false, pp.maskError(text, d, err)
	}
	return out, false, pp.taint(text, out, d)
}

// neutral are values an output not known yet may turn out to have: a
// template that fails with the stand-in but renders with one of these
// fails only because of the stand-in's text, and is decided at run time.
var neutral = []string{"0", "true", ""}

// standInOnly reports whether a template that failed with the stand-ins of
// pending outputs renders once they hold a neutral value: {{ $o :=
// .tasks.a.stdout }}{{ $o | int }} is valid, whatever the walk of its
// references could tell. Otherwise it returns the error with the first
// neutral value, the one that does not come from a stand-in's text.
func (pp *Preparer) standInOnly(text string, refs []tmpl.Ref, d Data) (bool, error) {
	pending := map[string]bool{}
	for _, r := range refs {
		switch {
		case r.Root != "tasks":
		case len(r.Path) == 0: // .tasks whole, indexed by a computed key
			for name := range d.Pending {
				pending[name] = true
			}
		case d.Pending[r.Path[0]]:
			pending[r.Path[0]] = true
		}
	}
	if len(pending) == 0 {
		return false, nil
	}
	var first error
	tasks, _ := d.Values["tasks"].(map[string]any)
	for _, v := range neutral {
		alt := make(map[string]any, len(tasks))
		for name, outs := range tasks {
			m, ok := outs.(map[string]any)
			if !pending[name] || !ok {
				alt[name] = outs
				continue
			}
			n := make(map[string]any, len(m))
			for k, o := range m {
				n[k] = o
				if !slices.Contains(task.EndOutputs, k) {
					n[k] = v
				}
			}
			alt[name] = n
		}
		vals := make(map[string]any, len(d.Values))
		for k, x := range d.Values {
			vals[k] = x
		}
		vals["tasks"] = alt
		_, err := tmpl.Render("value", text, vals)
		if err == nil {
			return true, nil
		}
		if first == nil {
			first = err
		}
	}
	return false, first
}

func computesWithPending(refs []tmpl.Ref, d Data) bool {
	for _, r := range refs {
		if r.Root == "tasks" && len(r.Path) > 0 && d.Pending[r.Path[0]] && (!r.Direct || len(r.Path) < 2) {
			return true
		}
	}
	return false
}

// alt renders text with family f's stand-ins in place of every secret in
// the data: vars, params, outputs that held one, matrix values, whichever
// way the template reaches them (.vars, $, index, range over the root).
func (pp *Preparer) alt(text string, d Data, f int) (string, error) {
	return tmpl.Render("value", text, pp.secrets.AltValue(d.Values, f).(map[string]any))
}

// taint adds what a template computed from secrets to the masked set: the
// whole result, and the parts of it that change when the secrets are
// replaced by stand-ins (so that `echo {{ .vars.pw | b64enc }}` masks the
// base64 text on its own too, wherever it is printed). A result that holds
// a piece of a secret is refused (see secret.Set.Cuts).
func (pp *Preparer) taint(text, out string, d Data) error {
	if pp.secrets.Empty() {
		return nil
	}
	var alts [secret.Families]string
	var ok [secret.Families]bool
	for f := range alts {
		a, err := pp.alt(text, d, f)
		if err == nil && a == out {
			return nil // no secret made any of it
		}
		alts[f], ok[f] = a, err == nil
	}
	pp.secrets.AddWhole(out)
	for f := range alts {
		if ok[f] {
			pp.secrets.AddDerived(secret.Segments(out, alts[f])...)
		}
	}
	if pp.secrets.Cuts(out, alts, ok) {
		return &errCut{out: out, alts: alts, ok: ok}
	}
	return nil
}

// maskError masks in a template error what the secrets made of it (fail
// with a secret, a function's error quoting its argument): the parts that
// differ when the template is rendered with the stand-ins.
func (pp *Preparer) maskError(text string, d Data, err error) error {
	var te *tmpl.Error
	if pp.secrets.Empty() || !errors.As(err, &te) {
		return err
	}
	_, altErr := pp.alt(text, d, 0)
	var ae *tmpl.Error
	if !errors.As(altErr, &ae) || ae.Msg == te.Msg {
		return err
	}
	return &tmpl.Error{Line: te.Line, Col: te.Col, Msg: secret.MaskDiff(te.Msg, ae.Msg)}
}

// renderTree renders every string in a parameter tree, recording each
// problem at its path; ok is false when one was found.
func (pp *Preparer) renderTree(v any, path []string, d Data, errs *pipeline.Errors) (any, bool) {
	switch x := v.(type) {
	case string:
		out, _, err := pp.render(x, d)
		var cut *errCut
		if errors.As(err, &cut) && unprinted(path) {
			pp.secrets.AddLeaf(cut.out) // shown as *** wherever it is listed
			return cut.out, true
		}
		if cut != nil && pp.inlineManifest(path) {
			// As in a manifest file: pieces only in a Secret's data,
			// which plans show as ***.
			if shown, ok := pp.secretDataOnly(cut); ok {
				pp.shown.Store(cut.out, shown)
				return cut.out, true
			}
		}
		if err != nil {
			pp.add(errs, path, pp.explain(err, d))
			return nil, false
		}
		return out, true
	case []any:
		out := make([]any, len(x))
		ok := true
		for i, item := range x {
			r, itemOK := pp.renderTree(item, sub(path, strconv.Itoa(i)), d, errs)
			out[i], ok = r, ok && itemOK
		}
		return out, ok
	case map[string]any:
		out := make(map[string]any, len(x))
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		ok := true
		for _, k := range keys {
			r, itemOK := pp.renderTree(x[k], sub(path, k), d, errs)
			out[k], ok = r, ok && itemOK
		}
		return out, ok
	default:
		return v, true
	}
}

var missingOutput = regexp.MustCompile(`at <\.tasks\.([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)[^>]*>: map has no entry for key`)
var missingTask = regexp.MustCompile(`at <\.tasks\.([A-Za-z_][A-Za-z0-9_]*)[^>]*>: map has no entry for key "([A-Za-z_][A-Za-z0-9_]*)"`)

// explain adds to text/template's "map has no entry for key" for task
// outputs what the user needs to know: why that task has no such output.
func (pp *Preparer) explain(err error, d Data) error {
	var te *tmpl.Error
	if !errors.As(err, &te) {
		return err
	}
	tasks, _ := d.Values["tasks"].(map[string]any)
	if m := missingOutput.FindStringSubmatch(te.Msg); m != nil {
		if outs, ok := tasks[m[1]].(map[string]any); ok {
			status, _ := outs["status"].(string)
			switch status {
			case "skipped":
				return fmt.Errorf("%w (task %q is skipped, so it has no outputs but status)", err, m[1])
			case "failed":
				return fmt.Errorf("%w (task %q failed before it had output %q)", err, m[1], m[2])
			}
		}
	}
	if m := missingTask.FindStringSubmatch(te.Msg); m != nil && m[1] == m[2] && pp.p.Find(m[1]) != nil {
		return fmt.Errorf("%w (task %q has not run in this run: it is not selected by --only/--from/--skip, or comes later)", err, m[1])
	}
	return err
}

func asTmplError(err error, target **tmpl.Error) bool { return errors.As(err, target) }
