package schemas_test

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/kbrun/kbrun/engine/load"
	"github.com/kbrun/kbrun/tasks"
)

// TestCommittedSchemaIsCurrent keeps schemas/pipeline.schema.json (what
// editors read through the yaml-language-server line) equal to what
// `kbrun schema` prints. Regenerate with `make schema`.
func TestCommittedSchemaIsCurrent(t *testing.T) {
	l, err := load.New(tasks.Registry())
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("pipeline.schema.json")
	if err != nil {
		t.Fatalf("schemas/pipeline.schema.json missing (make schema): %v", err)
	}
	if !bytes.Equal(committed, l.Schema()) {
		t.Fatal("schemas/pipeline.schema.json is stale: run `make schema`")
	}
	var doc map[string]any
	if err := json.Unmarshal(committed, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("not draft 2020-12: %v", doc["$schema"])
	}
	task := doc["$defs"].(map[string]any)["task"].(map[string]any)
	props := task["properties"].(map[string]any)
	for _, typ := range tasks.Registry().Names() {
		if _, ok := props[typ]; !ok {
			t.Errorf("task type %s has no stanza in the schema", typ)
		}
	}
}

// TestUsesInSchema: the uses form is in the schema editors read: a task's
// uses and with, a library's kind, params and outputs, each documented.
// (make test-editor checks what yaml-language-server makes of it.)
func TestUsesInSchema(t *testing.T) {
	committed, err := os.ReadFile("pipeline.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Properties map[string]map[string]any `json:"properties"`
		Defs       map[string]struct {
			Properties map[string]map[string]any `json:"properties"`
			OneOf      []map[string]any          `json:"oneOf"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(committed, &doc); err != nil {
		t.Fatal(err)
	}
	task := doc.Defs["task"]
	for _, p := range []string{"uses", "with"} {
		if d, _ := task.Properties[p]["description"].(string); d == "" {
			t.Errorf("task.%s missing or undocumented: %v", p, task.Properties[p])
		}
	}
	oneOf, _ := json.Marshal(task.OneOf)
	if !bytes.Contains(oneOf, []byte(`{"required":["uses"]}`)) {
		t.Errorf("a task with uses and no other type does not match the schema: oneOf %s", oneOf)
	}
	for _, p := range []string{"params", "outputs"} {
		if d, _ := doc.Properties[p]["description"].(string); !bytes.Contains([]byte(d), []byte("(kind: Tasks)")) {
			t.Errorf("%s missing or undocumented: %v", p, doc.Properties[p])
		}
	}
	if kinds, _ := json.Marshal(doc.Properties["kind"]["enum"]); string(kinds) != `["Pipeline","Tasks"]` {
		t.Errorf("kind: %s", kinds)
	}
}

// TestMatrixAllowEmptyInSchema pins the matrix's one reserved key: editors
// offer allowEmpty as a boolean, and the axes (every other key) accept any
// list, an empty one included (kbrun explains an empty axis itself).
func TestMatrixAllowEmptyInSchema(t *testing.T) {
	committed, err := os.ReadFile("pipeline.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(committed, &doc); err != nil {
		t.Fatal(err)
	}
	at := func(v any, keys ...string) any {
		for _, k := range keys {
			m, _ := v.(map[string]any)
			v = m[k]
		}
		return v
	}
	m := at(doc, "$defs", "task", "properties", "matrix")
	if at(m, "properties", "allowEmpty", "type") != "boolean" || at(m, "properties", "allowEmpty", "description") == nil {
		t.Errorf("matrix.allowEmpty = %v, want a documented boolean", at(m, "properties", "allowEmpty"))
	}
	alts, _ := at(m, "additionalProperties", "oneOf").([]any)
	if len(alts) != 2 {
		t.Fatalf("an axis is a list or a template: %v", at(m, "additionalProperties"))
	}
	for _, alt := range alts {
		if n := at(alt, "minItems"); n != nil {
			t.Errorf("an axis has minItems %v: kbrun reports an empty axis with its hint", n)
		}
	}
}
