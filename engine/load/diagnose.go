package load

import (
	"strconv"
	"time"

	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/valid"
)

// maxDiagnoseCommandTimeout bounds a diagnose command: the whole diagnosis
// has a budget of its own, and one command must not take it all.
const maxDiagnoseCommandTimeout = time.Minute

// diagnose reads a task's diagnose: stanza (the schema checked its shape)
// and checks what the schema cannot: one of name or selector, pod or
// selector, selectors, names and durations.
func (c *checker) diagnose(path []string, v any) *pipeline.Diagnose {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	d := &pipeline.Diagnose{}
	for i, item := range list(m["resources"]) {
		p := sub(path, "resources", strconv.Itoa(i))
		r := pipeline.DiagnoseResource{APIVersion: str(item, "apiVersion"), Kind: str(item, "kind"), Name: str(item, "name"),
			Selector: str(item, "selector"), Namespace: str(item, "namespace")}
		c.oneOf(p, item, "name", "selector")
		if r.Name != "" && r.Kind != "" {
			if err := valid.Name(r.Kind, r.Name); err != nil {
				c.errAt(sub(p, "name"), "%v", err)
			}
		}
		c.diagnoseCommon(p, r.Selector, r.Namespace)
		d.Resources = append(d.Resources, r)
	}
	for i, item := range list(m["commands"]) {
		p := sub(path, "commands", strconv.Itoa(i))
		cmd := pipeline.DiagnoseCommand{Pod: str(item, "pod"), Selector: str(item, "selector"), Namespace: str(item, "namespace"),
			Container: str(item, "container"), Timeout: pipeline.DefaultDiagnoseCommandTimeout}
		args, _ := item["command"].([]any)
		for _, a := range args {
			s, _ := a.(string)
			cmd.Command = append(cmd.Command, s)
		}
		c.oneOf(p, item, "pod", "selector")
		if cmd.Pod != "" {
			if err := valid.PodName(cmd.Pod); err != nil {
				c.errAt(sub(p, "pod"), "%v", err)
			}
		}
		if cmd.Container != "" {
			if err := valid.ContainerName(cmd.Container); err != nil {
				c.errAt(sub(p, "container"), "%v", err)
			}
		}
		c.diagnoseCommon(p, cmd.Selector, cmd.Namespace)
		if s, ok := item["timeout"].(string); ok {
			if t := c.duration(sub(p, "timeout"), s); t > maxDiagnoseCommandTimeout {
				c.errAt(sub(p, "timeout"), "a diagnose command may take %s at most (the diagnosis has its own budget), got %s", maxDiagnoseCommandTimeout, s)
			} else if t > 0 {
				cmd.Timeout = t
			}
		}
		d.Commands = append(d.Commands, cmd)
	}
	return d
}

// oneOf requires exactly one of fields a and b in m, at path.
func (c *checker) oneOf(path []string, m map[string]any, a, b string) {
	_, hasA := m[a]
	_, hasB := m[b]
	switch {
	case hasA && hasB:
		c.errAtKey(sub(path, b), "give %s or %s, not both", a, b)
	case !hasA && !hasB:
		c.errAt(path, "give %s or %s", a, b)
	}
}

func (c *checker) diagnoseCommon(path []string, selector, namespace string) {
	if selector != "" {
		if err := valid.Selector(selector); err != nil {
			c.errAt(sub(path, "selector"), "%v", err)
		}
	}
	if namespace != "" {
		if err := valid.Namespace(namespace); err != nil {
			c.errAt(sub(path, "namespace"), "%v", err)
		}
	}
}

// list is the items of the list v that are maps (the schema checked them).
func list(v any) []map[string]any {
	items, _ := v.([]any)
	out := make([]map[string]any, 0, len(items))
	for _, it := range items {
		if m, ok := it.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}
