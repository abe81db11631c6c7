package vars

import (
	"fmt"
	"strings"

	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/tmpl"
)

// Resolve computes the run's vars: each var's default (rendered as a
// template over the other vars, .env and .pipeline, in dependency order, and
// converted to the var's type), replaced by an override when one is given.
// Overrides are literal values: a --set value is never rendered, so it
// cannot inject template code. In a library the same goes for its params
// (.params), with the values a `uses:` task gives as overrides.
func Resolve(p *pipeline.Pipeline, overrides map[string]any, base map[string]any) (map[string]any, error) {
	root := p.VarRoot()
	defs := map[string]*pipeline.Var{}
	for i := range p.Vars {
		defs[p.Vars[i].Name] = &p.Vars[i]
	}
	resolved := map[string]any{}
	state := map[string]int{} // 1 = resolving, 2 = done
	var resolve func(name string, chain []string) error
	resolve = func(name string, chain []string) error {
		switch state[name] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("%s refer to each other in a cycle: %s", root, strings.Join(append(chain, name), " -> "))
		}
		state[name] = 1
		v := defs[name]
		if ov, ok := overrides[name]; ok {
			resolved[name] = ov
			state[name] = 2
			return nil
		}
		for _, dep := range RefsOf(v.Default, root) {
			if _, ok := defs[dep]; ok {
				if err := resolve(dep, append(chain, name)); err != nil {
					return err
				}
			}
		}
		data := make(map[string]any, len(base)+1)
		for k, x := range base {
			data[k] = x
		}
		data[root] = resolved
		val, err := tmpl.RenderTree(v.Default, data)
		if err != nil {
			return fmt.Errorf("%s %q: %w", kind(root), name, err)
		}
		// A templated default of a typed var renders to text: read it
		// as that type, then check it like any given value.
		if s, ok := val.(string); ok && tmpl.Has(fmt.Sprint(v.Default)) && v.Type != pipeline.TypeString {
			if val, err = FromText(v, s); err != nil {
				return fmt.Errorf("%s %q: its default renders to %q: %w", kind(root), name, s, err)
			}
		}
		if err := Check(v, val); err != nil {
			return fmt.Errorf("%s %q: %w", kind(root), name, err)
		}
		resolved[name] = val
		state[name] = 2
		return nil
	}
	for _, v := range p.Vars {
		if err := resolve(v.Name, nil); err != nil {
			return nil, err
		}
	}
	return resolved, nil
}

func kind(root string) string {
	if root == "params" {
		return "param"
	}
	return "var"
}

// Refs lists the vars a value's templates name through .vars.X; a template
// that uses .vars whole names every var ("*").
func Refs(v any) []string { return RefsOf(v, "vars") }

// RefsOf lists the names a value's templates read under .ROOT (.vars,
// .params); a template that uses .ROOT whole names them all ("*").
func RefsOf(v any, root string) []string {
	var out []string
	switch x := v.(type) {
	case string:
		if !tmpl.Has(x) {
			return nil
		}
		t, err := tmpl.Parse("var", x)
		if err != nil {
			return nil
		}
		for _, r := range tmpl.Refs(t) {
			if r.Root != root {
				continue
			}
			if len(r.Path) == 0 {
				out = append(out, "*")
				continue
			}
			out = append(out, r.Path[0])
		}
	case []any:
		for _, item := range x {
			out = append(out, RefsOf(item, root)...)
		}
	case map[string]any:
		for _, item := range x {
			out = append(out, RefsOf(item, root)...)
		}
	}
	return out
}
