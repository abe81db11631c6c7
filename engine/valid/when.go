package valid

import (
	"fmt"
	"strings"
)

// Bool reads what a condition (when, until) rendered: exactly true or
// false (what comparisons, and, or, not and bool vars print), spaces
// around it ignored. Anything else is an error, not a guess: "False",
// "off", "no" or an empty result would otherwise decide whether a task
// runs by accident.
func Bool(s string) (bool, error) {
	switch strings.TrimSpace(s) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("renders %q; a condition must render true or false (e.g. {{ eq .vars.mode \"fast\" }}, or a bool var)", strings.TrimSpace(s))
}
