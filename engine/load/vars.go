package load

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/tmpl"
	"github.com/kbrun/kbrun/engine/vars"
)

// variable reads one var (short form: its default; long form: a mapping)
// and checks what can be checked before any value is given: the declared
// type, enum and pattern, and the default against them.
func (c *checker) variable(section, name string, raw any) pipeline.Var {
	v := pipeline.Var{Name: name, Path: []string{section, name}, DefPath: []string{section, name}, HasDefault: true}
	long, isLong := raw.(map[string]any)
	if !isLong {
		v.Default = raw
		v.Type = pipeline.TypeOf(raw)
		c.checkDefault(&v)
		return v
	}
	v.Path = sub(v.Path, "default")
	v.Default, v.HasDefault = long["default"]
	v.Description, _ = long["description"].(string)
	v.Secret, _ = long["secret"].(bool)
	v.Required, _ = long["required"].(bool)
	v.Pattern, _ = long["pattern"].(string)
	v.Enum, _ = long["enum"].([]any)
	if t, ok := long["type"].(string); ok {
		v.Type = pipeline.VarType(t)
	} else if v.Default != nil {
		v.Type = pipeline.TypeOf(v.Default)
	}
	if !slices.Contains(pipeline.VarTypes, v.Type) && v.Type != "" {
		return v // the schema reported it
	}
	if v.Required && v.HasDefault {
		if c.lib {
			c.errAtKey(sub(v.DefPath, "required"), "param %q is required and has a default: a required param must be given with with:, so drop one of the two", name)
		} else {
			c.errAtKey(sub(v.DefPath, "required"), "var %q is required and has a default: a required var must be given (--set or a values file), so drop one of the two", name)
		}
	}
	if v.Pattern != "" {
		if _, err := vars.Pattern(v.Pattern); err != nil {
			c.errAt(sub(v.DefPath, "pattern"), "%v", err)
			v.Pattern = ""
		}
		if v.Type != "" && v.Type != pipeline.TypeString {
			c.errAt(sub(v.DefPath, "pattern"), "pattern applies to string %ss; %q is a %s", c.word(), name, v.Type)
			v.Pattern = ""
		}
	}
	for i, e := range v.Enum {
		probe := v
		probe.Enum, probe.Pattern, probe.Secret = nil, "", false
		if err := vars.Check(&probe, e); err != nil {
			c.errAt(sub(v.DefPath, "enum", fmt.Sprint(i)), "enum value does not fit the var: %v", err)
		}
	}
	if v.Secret && v.Type != "" && v.Type != pipeline.TypeString {
		c.errAt(sub(v.DefPath, "secret"), "secret %ss hold strings; %q is a %s", c.word(), name, v.Type)
	}
	c.checkDefault(&v)
	return v
}

// checkDefault checks a literal default; a templated one is checked once
// rendered (vars.Resolve), with the values given.
func (c *checker) checkDefault(v *pipeline.Var) {
	if v.Default == nil || hasTemplate(v.Default) {
		return
	}
	if err := vars.Check(v, v.Default); err != nil {
		c.errAt(v.Path, "default of %s %q: %v", c.word(), v.Name, err)
	}
}

func hasTemplate(v any) bool {
	switch x := v.(type) {
	case string:
		return tmpl.Has(x)
	case []any:
		return slices.ContainsFunc(x, hasTemplate)
	case map[string]any:
		for _, item := range x {
			if hasTemplate(item) {
				return true
			}
		}
	}
	return false
}

// varCycles reports vars whose defaults refer to each other in a cycle, at
// each var of the cycle.
func (c *checker) varCycles(p *pipeline.Pipeline) {
	deps := map[string][]string{}
	for _, v := range p.Vars {
		for _, d := range vars.RefsOf(v.Default, p.VarRoot()) {
			if d == "*" {
				continue // .vars as a whole: no order is implied
			}
			deps[v.Name] = append(deps[v.Name], d)
		}
	}
	state := map[string]int{}
	var stack []string
	reported := map[string]bool{}
	var visit func(n string)
	visit = func(n string) {
		switch state[n] {
		case 2:
			return
		case 1:
			i := slices.Index(stack, n)
			cycle := append(append([]string(nil), stack[i:]...), n)
			for _, m := range stack[i:] {
				if reported[m] {
					continue
				}
				reported[m] = true
				for _, v := range p.Vars {
					if v.Name == m {
						c.errAt(v.Path, "%s refer to each other in a cycle: %s", p.VarRoot(), strings.Join(cycle, " -> "))
					}
				}
			}
			return
		}
		state[n] = 1
		stack = append(stack, n)
		for _, d := range deps[n] {
			visit(d)
		}
		stack = stack[:len(stack)-1]
		state[n] = 2
	}
	for _, v := range p.Vars {
		visit(v.Name)
	}
}

// word names what the file declares: vars, or a library's params.
func (c *checker) word() string {
	if c.lib {
		return "param"
	}
	return "var"
}
