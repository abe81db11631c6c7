package task

import "strings"

// Values not known before the run (outputs of tasks that have not run) are
// shown in plans, and checked by validation, as stand-ins:
//
//   - <tasks.NAME.OUTPUT> where a template prints the output as it is, so a
//     plan line can show where the value goes;
//   - RunTime where a template computes something from one (a condition, an
//     index, a function of it): nothing about the result is known yet.
//
// Prepare implementations skip the checks of a parameter that holds a
// stand-in (IsUnknown); the engine prepares the task again with the real
// values right before it runs, and the checks run then.
const RunTime = "<decided at run time>"

// Placeholder is the stand-in for output OUTPUT of task NAME.
func Placeholder(name, output string) string { return "<tasks." + name + "." + output + ">" }

// IsUnknown reports whether a rendered value holds a stand-in.
func IsUnknown(s string) bool {
	return strings.Contains(s, "<tasks.") || strings.Contains(s, RunTime)
}
