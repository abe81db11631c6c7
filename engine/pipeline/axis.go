package pipeline

import (
	"fmt"
	"math"
	"reflect"
)

// AllowEmptyKey is the matrix key that lets a matrix have zero cells: a
// matrix usually runs because it has something to run, so an empty axis
// is an error unless the pipeline says so.
const AllowEmptyKey = "allowEmpty"

// AxisProblem is what is wrong with one value of a matrix axis (Index is
// its place in the list, -1 for the axis as a whole).
type AxisProblem struct {
	Index int
	Msg   string
}

// AxisProblems checks the values of one matrix axis: a cell's identity is
// its values, so each value is a scalar (string, number, boolean) or a map
// with a name (the map's label in the cell's name; its other fields are
// the cell's to use, e.g. a list through toJson), and no value appears
// twice. A null, a list or a nameless map
// would render as "<no value>" or Go syntax and name its cell by position
// only.
func AxisProblems(axis string, list []any, allowEmpty bool) []AxisProblem {
	var out []AxisProblem
	if len(list) == 0 && !allowEmpty {
		out = append(out, AxisProblem{-1, fmt.Sprintf("axis %q has no values: the matrix would run no cell (list at least one value, or set %s: true on the matrix to run none)", axis, AllowEmptyKey)})
	}
	for i, v := range list {
		if msg := axisValue(v); msg != "" {
			out = append(out, AxisProblem{i, fmt.Sprintf("value %d of axis %q %s", i+1, axis, msg)})
			continue
		}
		for j := 0; j < i; j++ {
			if reflect.DeepEqual(list[j], v) {
				out = append(out, AxisProblem{i, fmt.Sprintf("value %d of axis %q repeats value %d (%s): two cells would be the same", i+1, axis, j+1, Shown(v))})
				break
			}
		}
	}
	return out
}

func axisValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "is null: a matrix value is a string, a number, a boolean or a map with a name"
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Sprintf("is %v: a number in a matrix must be finite", x)
		}
		return ""
	case string, bool, int, int64:
		return ""
	case []any:
		return "is a list: a matrix value is a string, a number, a boolean or a map with a name (put the list's items in the axis itself)"
	case map[string]any:
		name, ok := x["name"].(string)
		if !ok || name == "" {
			return "is a map without a name: a map in a matrix needs a non-empty string field name, which names its cells"
		}
		return ""
	default:
		return "is not a string, a number, a boolean or a map with a name"
	}
}

// Shown is a scalar or a named map as a message shows it.
func Shown(v any) string {
	if m, ok := v.(map[string]any); ok {
		return fmt.Sprintf("the map named %q", m["name"])
	}
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v)
}
