package load

import (
	"fmt"
	"sort"

	"github.com/kbrun/kbrun/engine/valid"
)

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
