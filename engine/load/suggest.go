package load

import (
	"fmt"
	"sort"
	"strings"
)

// suggest finds a known field close to a misspelt one.
func (c *checker) suggest(loc []string, prop string) string {
	known := c.knownFields(loc)
	best, bestD := "", 3
	for _, k := range known {
		if d := distance(strings.ToLower(k), strings.ToLower(prop)); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// knownFields lists the fields allowed at an instance location, for
// suggestions; it understands the pipeline's main places.
func (c *checker) knownFields(loc []string) []string {
	top := []string{"apiVersion", "kind", "metadata", "namespace", "vars", "defaults", "tasks", "finally", "params", "outputs"}
	taskFields := append([]string{"name", "description", "timeout", "retry", "when", "continueOnError", "matrix", "maxParallel", "parallel", "uses", "with"}, c.l.reg.Names()...)
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

// distance is the Levenshtein edit distance.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
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
	best, bestD := "", 3
	for _, k := range known {
		if d := distance(strings.ToLower(k), strings.ToLower(s)); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}
