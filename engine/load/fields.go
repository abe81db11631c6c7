package load

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kbrun/kbrun/engine/pipeline"
)

// fields are the field names the pipeline schema allows, read from the
// document the loader compiled, so that the task builder and the "did you
// mean" suggestions cannot drift from the schema.
type fields struct {
	doc map[string]any
	// common are a task's fields that are not its type (nor parallel or
	// uses): name, timeout, when, ...
	common map[string]bool
}

// schemaFields reads the fields of doc (the schema as the JSON Schema
// library parsed it), whose task types are types.
func schemaFields(doc any, types []string) (fields, error) {
	root, _ := doc.(map[string]any)
	f := fields{doc: root, common: map[string]bool{}}
	task := f.at("#/$defs/task")
	if task == nil {
		return fields{}, fmt.Errorf("pipeline schema: no $defs/task with properties")
	}
	isType := map[string]bool{pipeline.ParallelType: true, pipeline.UsesType: true}
	for _, t := range types {
		isType[t] = true
	}
	for k := range task {
		if !isType[k] {
			f.common[k] = true
		}
	}
	return f, nil
}

// at returns the properties of the schema object that ref (a JSON pointer
// fragment, "#/$defs/task") points to, nil if it has none.
func (f fields) at(ref string) map[string]any {
	var cur any = f.doc
	ptr := strings.TrimPrefix(ref, "#")
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		if tok == "" {
			continue
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")]
	}
	m, _ := cur.(map[string]any)
	props, _ := m["properties"].(map[string]any)
	return props
}

// allowed lists the fields of the schema object whose additionalProperties
// refused a field: schemaURL is that keyword's absolute location
// (".../pipeline.schema.json#/$defs/task/additionalProperties").
func (f fields) allowed(schemaURL string) []string {
	_, frag, ok := strings.Cut(schemaURL, "#")
	if !ok {
		return nil
	}
	props := f.at(strings.TrimSuffix(frag, "/additionalProperties"))
	out := make([]string, 0, len(props))
	for k := range props {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
