package batch

import (
	"fmt"

	"k8s.io/apimachinery/pkg/labels"
)

// Select keeps the jobs whose metadata.labels match selector, in kubectl's
// syntax (team=payments,tier!=db, env in (dev,staging), !legacy); an empty
// selector keeps every job.
func Select(jobs []Job, selector string) ([]Job, error) {
	if selector == "" {
		return jobs, nil
	}
	sel, err := labels.Parse(selector)
	if err != nil {
		return nil, fmt.Errorf("--selector %q: %w", selector, err)
	}
	var out []Job
	for _, j := range jobs {
		if sel.Matches(labels.Set(j.Pipeline.Labels)) {
			out = append(out, j)
		}
	}
	return out, nil
}

// Named keeps the jobs whose pipeline is one of names, and returns the
// names no job has.
func Named(jobs []Job, names []string) (kept []Job, missing []string) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	for _, j := range jobs {
		if want[j.Name()] {
			kept = append(kept, j)
			delete(want, j.Name())
		}
	}
	for _, n := range names {
		if want[n] {
			missing = append(missing, n)
			delete(want, n)
		}
	}
	return kept, missing
}

// Duplicates names the pipeline names that more than one file declares:
// a batch tells its pipelines apart by name (their lines, their suites,
// --rerun-failed).
func Duplicates(jobs []Job) error {
	files := map[string]string{}
	for _, j := range jobs {
		if f, ok := files[j.Name()]; ok {
			return fmt.Errorf("%s and %s both declare pipeline %q: pipelines run together need names of their own", f, j.File, j.Name())
		}
		files[j.Name()] = j.File
	}
	return nil
}
