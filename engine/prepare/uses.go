package prepare

import (
	"errors"
	"fmt"
	"sort"

	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/tmpl"
	"github.com/kbrun/kbrun/engine/vars"
)

// scope returns the Preparer for a task as its file sees it: for a task of
// a library, positions, the folder relative paths resolve against and the
// task names its templates use are the library file's.
func (pp *Preparer) scope(t *pipeline.Task) *Preparer {
	if t.Origin == nil || t.Use == nil {
		return pp
	}
	c := *pp
	c.p = t.Origin
	return &c
}

// Use computes the params a uses task gives its library: each with: value
// rendered with data d (the using file's), read as the param's type and
// checked against it, then the library's defaults for the others. Problems
// are reported at the with: value in the using file, or at the default in
// the library.
func (pp *Preparer) Use(t *pipeline.Task, d Data) (map[string]any, error) {
	pp = pp.scope(t)
	lib := t.Uses.Lib
	errs := &pipeline.Errors{}
	decl := map[string]*pipeline.Var{}
	for i := range lib.Vars {
		decl[lib.Vars[i].Name] = &lib.Vars[i]
	}
	names := make([]string, 0, len(t.Uses.With))
	for k := range t.Uses.With {
		names = append(names, k)
	}
	sort.Strings(names)
	given := map[string]any{}
	for _, k := range names {
		raw, v := t.Uses.With[k], decl[k]
		path := sub(t.Path, "with", k)
		if val, ok := whole(raw, v, d); ok {
			if err := vars.Check(v, val); err != nil {
				pp.add(errs, path, fmt.Errorf("param %q of %s: %v", k, lib.File, err))
			} else {
				given[k] = val
			}
			continue
		}
		val, ok := pp.renderTree(raw, path, d, errs)
		if !ok || v == nil {
			continue
		}
		if s, isText := val.(string); isText {
			if task.IsUnknown(s) {
				given[k] = s // known at run time; checked then
				continue
			}
			if rs, _ := raw.(string); tmpl.Has(rs) && v.Type != pipeline.TypeString {
				var err error
				if val, err = vars.FromText(v, s); err != nil {
					pp.add(errs, path, fmt.Errorf("param %q renders to %q: %v", k, s, err))
					continue
				}
			}
		}
		if err := vars.Check(v, val); err != nil {
			pp.add(errs, path, fmt.Errorf("param %q of %s: %v", k, lib.File, err))
			continue
		}
		given[k] = val
	}
	if errs.Len() > 0 {
		return nil, errs
	}
	// A default that computes with a value known only at run time is
	// decided at run time too (plans).
	for changed := true; changed; {
		changed = false
		for _, v := range lib.Vars {
			if _, ok := given[v.Name]; ok {
				continue
			}
			if computesWithUnknownParam(treeRefs(v.Default), Data{Values: map[string]any{"params": given}}) {
				given[v.Name], changed = task.RunTime, true
			}
		}
	}
	base := map[string]any{"env": d.Values["env"], "pipeline": d.Values["pipeline"]}
	var params map[string]any
	var err error
	if pp.secrets != nil {
		// A param the library declares secret is a secret, and so is one
		// its default computes from a secret; one given from a secret is
		// one already (see taint).
		params, err = resolve(lib, pp.secrets, given, base)
	} else {
		params, err = vars.Resolve(lib, given, base)
	}
	var list *pipeline.Errors
	if errors.As(err, &list) {
		return nil, err
	}
	if err != nil {
		pp.add(errs, sub(t.Path, "uses"), fmt.Errorf("%s: %w", lib.File, err))
		return nil, errs
	}
	return params, nil
}

// UseData is the template data of a library's tasks in one use: its
// params, the outputs of its tasks that ended (by their names in the
// library), and the run's .env and .pipeline from base.
func UseData(base map[string]any, params, tasks map[string]any) map[string]any {
	return map[string]any{"env": base["env"], "pipeline": base["pipeline"], "params": params, "tasks": tasks}
}

// UseOutputs renders a library's outputs for a uses task once its tasks
// have ended, with d the library's data (UseData).
func (pp *Preparer) UseOutputs(t *pipeline.Task, d Data) (task.Outputs, error) {
	lib := t.Uses.Lib
	lp := pp.scope(&pipeline.Task{Origin: lib, Use: t})
	errs := &pipeline.Errors{}
	out := task.Outputs{}
	for _, o := range lib.Outputs {
		v, _, err := lp.render(o.Value, d)
		if err != nil {
			lp.add(errs, o.Path, lp.explain(err, d))
			continue
		}
		out[o.Name] = v
	}
	return out, errs.OrNil()
}

// whole is the value a list or map param is given by a template that only
// prints one (with: {zones: "{{ .vars.zones }}"}): the list or map itself.
func whole(raw any, v *pipeline.Var, d Data) (any, bool) {
	s, _ := raw.(string)
	if v == nil || v.Type != pipeline.TypeList && v.Type != pipeline.TypeMap {
		return nil, false
	}
	path, ok := tmpl.Whole(s)
	if !ok {
		return nil, false
	}
	var cur any = d.Values
	for _, name := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[name]; !ok {
			return nil, false
		}
	}
	switch cur.(type) {
	case []any, map[string]any:
		return cur, true
	}
	return nil, false
}

// computesWithUnknownParam reports whether a template computes with a
// param whose value is a stand-in (a plan): the result is decided at run
// time.
func computesWithUnknownParam(refs []tmpl.Ref, d Data) bool {
	params, ok := d.Values["params"].(map[string]any)
	if !ok {
		return false
	}
	for _, r := range refs {
		if r.Root != "params" || r.Direct && len(r.Path) == 1 {
			continue
		}
		for name, v := range params {
			if s, ok := v.(string); ok && task.IsUnknown(s) && (len(r.Path) == 0 || r.Path[0] == name) {
				return true
			}
		}
	}
	return false
}

// treeRefs lists the references of every template in a value.
func treeRefs(v any) []tmpl.Ref {
	var out []tmpl.Ref
	switch x := v.(type) {
	case string:
		if t, err := tmpl.Parse("value", x); err == nil && tmpl.Has(x) {
			out = tmpl.Refs(t)
		}
	case []any:
		for _, item := range x {
			out = append(out, treeRefs(item)...)
		}
	case map[string]any:
		for _, item := range x {
			out = append(out, treeRefs(item)...)
		}
	}
	return out
}
