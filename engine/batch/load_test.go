package batch_test

import (
	"errors"
	"testing"

	"github.com/kbrun/kbrun/engine/batch"
	"github.com/kbrun/kbrun/engine/load"
	"github.com/kbrun/kbrun/engine/pipeline"
)

type stubLoader map[string]error

func (s stubLoader) Load(file string) (*pipeline.Pipeline, error) {
	if err := s[file]; err != nil {
		return nil, err // a Partial holds its pipeline, as engine/load gives it
	}
	return &pipeline.Pipeline{Name: file}, nil
}

// TestLoad: a pipeline with problems whose name is known stays a job (a
// selection may leave it out); one that did not load is unreadable.
func TestLoad(t *testing.T) {
	broken := errors.New("a.yaml:1:1: not YAML")
	partial := &load.Partial{Errs: &load.Errors{}, Pipeline: &pipeline.Pipeline{Name: "b"}}
	l := stubLoader{"a.yaml": broken, "b.yaml": partial}
	jobs, loadErrs, unreadable := batch.Load(l, []batch.Path{{File: "a.yaml"}, {File: "b.yaml"}, {File: "c.yaml"}})
	if len(jobs) != 2 || jobs[0].Name() != "b" || jobs[1].Name() != "c.yaml" {
		t.Errorf("jobs: %+v", jobs)
	}
	if len(loadErrs) != 1 || loadErrs["b.yaml"] != error(partial) {
		t.Errorf("load errors: %v", loadErrs)
	}
	if len(unreadable) != 1 || unreadable[0].File != "a.yaml" || unreadable[0].Err != broken {
		t.Errorf("unreadable: %+v", unreadable)
	}
}
