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
