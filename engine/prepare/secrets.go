package prepare

import (
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/kbrun/kbrun/engine/exit"
	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/secret"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/tmpl"
	"github.com/kbrun/kbrun/engine/vars"
)

// Vars resolves a pipeline's vars (see vars.Resolve) and the run's
// secrets: the values of secret vars, and of every var whose value a
// secret changed, however its default reached it (found by resolving the
// vars again with the secrets' stand-ins). The set comes back also with an
// error, so that the error can be printed masked (see MaskErrors).
func Vars(p *pipeline.Pipeline, overrides, base map[string]any) (map[string]any, *secret.Set, error) {
	set := &secret.Set{}
	real, err := resolve(p, set, overrides, base)
	return real, set, err
}

// resolve resolves p's vars (a library's params) into set: see Vars.
func resolve(p *pipeline.Pipeline, set *secret.Set, overrides, base map[string]any) (map[string]any, error) {
	for _, v := range p.Vars {
		if v.Secret {
			addLeaves(set, givenOrLiteral(&v, overrides))
		}
	}
	real, err := vars.Resolve(p, overrides, base)
	if err != nil {
		if _, altErr := resolveAlt(p, set, overrides, nil, base, 0); altErr != nil {
			err = errors.New(secret.MaskDiff(err.Error(), altErr.Error()))
		}
		return nil, err
	}
	for _, v := range p.Vars {
		if v.Secret {
			addLeaves(set, real[v.Name])
		}
	}
	// Stand-ins can break a check (a pattern, an enum) that the secrets
	// pass: a var is then judged by the families that resolved.
	var alts [secret.Families]map[string]any
	var ok [secret.Families]bool
	for f := range alts {
		alts[f], err = resolveAlt(p, set, overrides, real, base, f)
		ok[f] = err == nil
	}
	errs := &pipeline.Errors{}
	for _, v := range p.Vars {
		if v.Secret {
			continue
		}
		r := fmt.Sprint(real[v.Name])
		// A var is made from a secret when no family gives its value; with
		// none resolved, when a template computes it.
		_, given := overrides[v.Name]
		made := slices.Contains(ok[:], true) || !given && tmpl.Has(fmt.Sprint(v.Default))
		var as [secret.Families]string
		for f := range as {
			if ok[f] {
				as[f] = fmt.Sprint(alts[f][v.Name])
				made = made && as[f] != r
			}
		}
		if !made {
			continue
		}
		set.AddWhole(r)
		for f := range as {
			if ok[f] {
				set.AddDerived(secret.Segments(r, as[f])...)
			}
		}
		if set.Cuts(r, as, ok) {
			pos := pipeline.Pos{Line: 1, Col: 1}
			if p.Source != nil {
				pos = p.Source.Value(v.Path)
			}
			errs.Add(&pipeline.Error{File: p.File, Pos: pos, Path: v.Path, Msg: cutMessage})
		}
	}
	return real, errs.OrNil()
}

// resolveAlt resolves the vars with every secret replaced by family f's
// stand-in: in the values given, and as the value of each secret var (its
// resolved value when known, else what Vars found before resolving).
func resolveAlt(p *pipeline.Pipeline, set *secret.Set, overrides, real, base map[string]any, f int) (map[string]any, error) {
	alt := set.AltValue(overrides, f).(map[string]any)
	for _, v := range p.Vars {
		if !v.Secret {
			continue
		}
		val, ok := real[v.Name]
		if !ok {
			val = givenOrLiteral(&v, overrides)
		}
		if val != nil {
			alt[v.Name] = set.AltValue(val, f)
		}
	}
	return vars.Resolve(p, alt, set.AltValue(base, f).(map[string]any))
}

// givenOrLiteral is a var's value before resolving: the one given, or its
// default when that is no template.
func givenOrLiteral(v *pipeline.Var, overrides map[string]any) any {
	if val, given := overrides[v.Name]; given {
		return val
	}
	if !tmpl.Has(fmt.Sprint(v.Default)) {
		return v.Default
	}
	return nil
}

// addLeaves adds the strings of a secret value (a list's or a map's too).
func addLeaves(set *secret.Set, v any) {
	switch x := v.(type) {
	case nil:
	case string:
		if !task.IsUnknown(x) {
			set.Add(x)
		}
	case []any:
		for _, item := range x {
			addLeaves(set, item)
		}
	case map[string]any:
		for _, item := range x {
			addLeaves(set, item)
		}
	default:
		set.Add(fmt.Sprint(x))
	}
}

const cutMessage = "the template cuts a secret into pieces (substr, trunc, a split, a regular expression's groups, or a newline inside it): " +
	"a piece cannot be masked, so kbrun refuses it; use the whole secret, or give the piece only to env, stdin or a Secret's data"

// errCut is a template result that holds a piece of a secret, with its
// stand-in renderings; renderTree accepts it where the value is never
// printed (env, stdin), a manifest file where the pieces are all in the
// data of Secrets (see secretDataOnly).
type errCut struct {
	out  string
	alts [secret.Families]string
	ok   [secret.Families]bool
}

func (e *errCut) Error() string { return cutMessage }

// unprinted reports whether a parameter path is a place kbrun never
// prints: an env var's value or a command's stdin.
func unprinted(path []string) bool {
	n := len(path)
	return n >= 2 && path[n-2] == "env" || n >= 1 && path[n-1] == "stdin"
}

// MaskErrors returns err with the secrets in its messages masked, keeping
// its structure (a *pipeline.Errors keeps its list and positions) and its
// exit code.
func MaskErrors(set *secret.Set, err error) error {
	if err == nil || set.Empty() {
		return err
	}
	var list *pipeline.Errors
	if errors.As(err, &list) {
		for _, e := range list.List() {
			e.Msg = set.Mask(e.Msg)
		}
		return err
	}
	var one *pipeline.Error
	if errors.As(err, &one) {
		one.Msg = set.Mask(one.Msg)
		return err
	}
	masked := errors.New(set.Mask(err.Error()))
	if exit.Code(err) == exit.Invalid {
		return &exit.InvalidError{Err: masked}
	}
	return masked
}

// DropCuts removes from a task's outputs those that hold a piece of a
// secret (a pattern's group that caught part of one: it could be shown
// only unmasked) and returns their names, sorted. Whole outputs (stdout,
// stderr, a body) are masked where shown instead. Groups are cut from
// those streams, so only a task whose streams showed a secret is looked
// at: four hex digits of a hex token turn up by chance in a digest.
func DropCuts(set *secret.Set, outs task.Outputs) []string {
	shown := false
	for _, name := range []string{"stdout", "stderr", "body"} {
		if s, ok := outs[name].(string); ok && set.Mask(s) != s {
			shown = true
		}
	}
	if !shown {
		return nil
	}
	var cut []string
	for name, v := range outs {
		switch name {
		case "stdout", "stderr", "body", "headers":
			continue
		}
		if s, ok := v.(string); ok && set.CutsReal(s) {
			cut = append(cut, name)
			delete(outs, name)
		}
	}
	sort.Strings(cut)
	return cut
}

// Render renders a template outside a task (the pipeline's namespace) as
// a task's values are: what a secret made of it joins set, and a piece of
// a secret is refused.
func Render(set *secret.Set, text string, data map[string]any) (string, error) {
	out, _, err := (&Preparer{secrets: set}).render(text, Data{Values: data})
	return out, err
}
