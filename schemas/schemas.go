// Package schemas holds the JSON Schema of the pipeline file. The committed
// pipeline.schema.json is the base schema with every task type's stanza merged
// in; `kbrun schema` prints the same document, and a test keeps them equal.
package schemas

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
)

//go:embed base.schema.json
var base []byte

// Stanza is what a task type contributes to the schema.
type Stanza struct {
	Name    string
	Summary string
	Schema  json.RawMessage
}

// ID is the schema's $id; pipelines name it in their yaml-language-server line.
const ID = "https://kbrun.dev/schemas/pipeline.schema.json"

// Build returns the pipeline schema with the stanzas merged: each type becomes
// a property of a task, and a task must have exactly one type (or parallel,
// or uses).
func Build(stanzas []Stanza) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(base, &doc); err != nil {
		return nil, fmt.Errorf("base schema: %w", err)
	}
	defs := doc["$defs"].(map[string]any)
	taskDef := defs["task"].(map[string]any)
	props := taskDef["properties"].(map[string]any)
	sort.Slice(stanzas, func(i, j int) bool { return stanzas[i].Name < stanzas[j].Name })
	oneOf := []any{map[string]any{"required": []any{"parallel"}}, map[string]any{"required": []any{"uses"}}}
	for _, s := range stanzas {
		var sch map[string]any
		if err := json.Unmarshal(s.Schema, &sch); err != nil {
			return nil, fmt.Errorf("schema of task type %s: %w", s.Name, err)
		}
		if _, ok := sch["description"]; !ok {
			sch["description"] = s.Summary
		}
		defs["task-"+s.Name] = sch
		props[s.Name] = map[string]any{"$ref": "#/$defs/task-" + s.Name}
		oneOf = append(oneOf, map[string]any{"required": []any{s.Name}})
	}
	taskDef["oneOf"] = oneOf
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}
