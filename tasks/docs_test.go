package tasks

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestPipelineFileDocListsTaskFields: the sentence of docs/pipeline-file.md
// that lists what every task may have names each field the schema allows
// on a task besides the task type keys, so a new field cannot be left out.
func TestPipelineFileDocListsTaskFields(t *testing.T) {
	const doc, lead = "docs/pipeline-file.md", "Every task has a unique"
	data, err := os.ReadFile(filepath.Join("..", filepath.FromSlash(doc)))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	i := strings.Index(text, lead)
	if i < 0 {
		t.Fatalf("%s has no paragraph starting %q", doc, lead)
	}
	para, _, _ := strings.Cut(text[i:], "\n\n")
	named := map[string]bool{}
	for _, m := range regexp.MustCompile("`([A-Za-z]+):?`").FindAllStringSubmatch(para, -1) {
		named[m[1]] = true
	}

	schema, err := os.ReadFile(filepath.Join("..", "schemas", "pipeline.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Defs map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(schema, &s); err != nil {
		t.Fatal(err)
	}
	fields := s.Defs["task"].Properties
	if len(fields) == 0 {
		t.Fatal("the schema has no $defs.task.properties: has it moved?")
	}
	types := map[string]bool{}
	for _, n := range Registry().Names() {
		types[n] = true
	}
	for f := range fields {
		if !types[f] && !named[f] {
			t.Errorf("%s: the paragraph %q… does not name the task field `%s`", doc, lead, f)
		}
	}
}
