package load

import (
	"fmt"
	"sort"

	"github.com/kbrun/kbrun/engine/valid"
)

// suggest finds a known field close to a misspelt one.
func (c *checker) suggest(loc []string, prop string) string {
	return valid.Closest(prop, c.knownFields(loc), true)
}

// knownFields lists the fields allowed at an instance location, for
// suggestions; it understands the pipeline's main places.
func (c *checker) knownFields(loc []string) []string {
	top := []string{"apiVersion", "kind", "metadata", "namespace", "vars", "defaults", "tasks", "finally", "params", "outputs"}
	taskFields := append([]string{"name", "description", "timeout", "retry", "when", "continueOnError", "matrix", "maxParallel", "parallel", "uses", "with", "diagnose"}, c.l.reg.Names()...)
	switch {
	case len(loc) == 0:
		return top
	case loc[len(loc)-1] == "metadata":
		return []string{"name", "description"}
	case loc[len(loc)-1] == "retry":
		return []string{"attempts", "backoff", "maxBackoff", "jitter"}
	case loc[len(loc)-1] == "defaults":
		return []string{"timeout", "retry"}
	case len(loc) >= 2 && (loc[len(loc)-2] == "tasks" || loc[len(loc)-2] == "finally"):
		return taskFields
	}
	return nil
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func didYouMean(s string, known []string) string {
	best := valid.Closest(s, known, true)
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}
