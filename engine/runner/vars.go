package runner

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/tmpl"
)

// ResolveVars computes the run's vars: each var's default (rendered as a
// template over the other vars, .env and .pipeline, in dependency order),
// replaced by an override when one is given. Overrides are literal values:
// a --set value is never rendered, so it cannot inject template code.
func ResolveVars(p *pipeline.Pipeline, overrides map[string]any, base map[string]any) (map[string]any, error) {
	defs := map[string]pipeline.Var{}
	for _, v := range p.Vars {
		defs[v.Name] = v
	}
	for name := range overrides {
		if _, ok := defs[name]; !ok {
			known := make([]string, 0, len(defs))
			for n := range defs {
				known = append(known, n)
			}
			sort.Strings(known)
			return nil, fmt.Errorf("unknown var %q (the pipeline has: %s)", name, strings.Join(known, ", "))
		}
	}
	resolved := map[string]any{}
	state := map[string]int{} // 1 = resolving, 2 = done
	var resolve func(name string, chain []string) error
	resolve = func(name string, chain []string) error {
		switch state[name] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("vars refer to each other in a cycle: %s", strings.Join(append(chain, name), " -> "))
		}
		state[name] = 1
		v := defs[name]
		if ov, ok := overrides[name]; ok {
			resolved[name] = ov
			state[name] = 2
			return nil
		}
		// Resolve the vars this default refers to first.
		for _, dep := range varRefs(v.Default) {
			if _, ok := defs[dep]; ok {
				if err := resolve(dep, append(chain, name)); err != nil {
					return err
				}
			}
		}
		data := withVars(base, resolved)
		val, err := tmpl.RenderTree(v.Default, data)
		if err != nil {
			return fmt.Errorf("var %q: %w", name, err)
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

func withVars(base map[string]any, vars map[string]any) map[string]any {
	out := make(map[string]any, len(base)+1)
	for k, v := range base {
		out[k] = v
	}
	out["vars"] = vars
	return out
}

// varRefs lists the vars a default's templates name through .vars.X.
func varRefs(v any) []string {
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
			if r.Root == "vars" && len(r.Path) > 0 {
				out = append(out, r.Path[0])
			}
		}
	case []any:
		for _, item := range x {
			out = append(out, varRefs(item)...)
		}
	case map[string]any:
		for _, item := range x {
			out = append(out, varRefs(item)...)
		}
	}
	return out
}

// Secrets returns the string forms of the secret vars' values, for masking.
func Secrets(p *pipeline.Pipeline, vars map[string]any) []string {
	var out []string
	for _, v := range p.Vars {
		if !v.Secret {
			continue
		}
		collectStrings(vars[v.Name], &out)
	}
	return out
}

func collectStrings(v any, out *[]string) {
	switch x := v.(type) {
	case nil:
	case string:
		*out = append(*out, x)
	case []any:
		for _, item := range x {
			collectStrings(item, out)
		}
	case map[string]any:
		for _, item := range x {
			collectStrings(item, out)
		}
	default:
		*out = append(*out, fmt.Sprint(x))
	}
}
