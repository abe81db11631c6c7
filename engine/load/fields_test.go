package load

import (
	"maps"
	"slices"
	"testing"

	"github.com/kbrun/kbrun/engine/task"
)

// read are the task fields, besides its type, that build.go's task reads
// into pipeline.Task. The schema is the list; this test names a field the
// schema gains (or loses) that the builder does not read yet.
var read = []string{"continueOnError", "description", "diagnose", "matrix", "maxParallel", "name", "retry", "timeout", "until", "when", "with"}

func TestTaskFieldsComeFromTheSchema(t *testing.T) {
	l, err := New(task.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(maps.Keys(l.fields.common))
	for _, f := range got {
		if !slices.Contains(read, f) {
			t.Errorf("the schema's task has field %q, which build.go's task does not read: read it into pipeline.Task, then list it in read", f)
		}
	}
	for _, f := range read {
		if !l.fields.common[f] {
			t.Errorf("build.go's task reads %q, which the schema's task does not allow (fields %v)", f, got)
		}
	}
}
