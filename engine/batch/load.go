package batch

import (
	"errors"

	"github.com/kbrun/kbrun/engine/load"
	"github.com/kbrun/kbrun/engine/pipeline"
)

// Unreadable is a file that did not load far enough to know its
// pipeline's name: it runs nothing, and its problems are printed.
type Unreadable struct {
	File string
	Err  error
}

// Load loads every file of paths into a job. A pipeline with problems
// whose name and labels are known (a load.Partial) is still a job, its
// error in loadErrs: -l or --rerun-failed may leave it out, and then its
// problems do not matter.
func Load(loader interface {
	Load(file string) (*pipeline.Pipeline, error)
}, paths []Path) (jobs []Job, loadErrs map[string]error, unreadable []Unreadable) {
	loadErrs = map[string]error{}
	for _, path := range paths {
		p, err := loader.Load(path.File)
		var part *load.Partial
		if errors.As(err, &part) {
			p = part.Pipeline
		}
		if p == nil {
			unreadable = append(unreadable, Unreadable{File: path.File, Err: err})
			continue
		}
		if err != nil {
			loadErrs[path.File] = err
		}
		jobs = append(jobs, Job{File: path.File, Pipeline: p})
	}
	return jobs, loadErrs, unreadable
}
