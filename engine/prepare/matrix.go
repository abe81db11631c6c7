package prepare

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/tmpl"
	"github.com/kbrun/kbrun/engine/vars"
)

// MaxCells bounds a matrix: past it, a typo in a list is likelier than a
// real need.
const MaxCells = 256

// Cell is one combination of a matrix task's values.
type Cell struct {
	// Values are .matrix in the cell's templates.
	Values map[string]any
	// Label names the cell: "build[seed,copy]".
	Label string
}

// Cells expands t's matrix with data d into its cells, in order (the last
// dimension varies fastest). runTime is true when a dimension depends on
// outputs not known yet (plans).
func (pp *Preparer) Cells(t *pipeline.Task, d Data) ([]Cell, bool, error) {
	errs := &pipeline.Errors{}
	dims := make([][]any, len(t.Matrix))
	for i, dim := range t.Matrix {
		path := sub(t.Path, "matrix", dim.Name)
		list, runTime, err := pp.dimension(dim.Values, path, d, errs)
		if runTime {
			return nil, true, nil
		}
		if err != nil {
			pp.add(errs, path, err)
			continue
		}
		dims[i] = list
	}
	if errs.Len() > 0 {
		return nil, false, errs
	}
	n := 1
	for _, l := range dims {
		n *= len(l)
		if n > MaxCells {
			return nil, false, pp.one(sub(t.Path, "matrix"), fmt.Errorf("the matrix has more than %d cells", MaxCells))
		}
	}
	cells := make([]Cell, 0, n)
	idx := make([]int, len(dims))
	for c := 0; c < n; c++ {
		vals := map[string]any{}
		var shown []string
		for i, dim := range t.Matrix {
			v := dims[i][idx[i]]
			vals[dim.Name] = v
			shown = append(shown, label(v, idx[i]))
		}
		cells = append(cells, Cell{Values: vals, Label: t.Name + "[" + strings.Join(shown, ",") + "]"})
		for i := len(idx) - 1; i >= 0; i-- {
			if idx[i]++; idx[i] < len(dims[i]) {
				break
			}
			idx[i] = 0
		}
	}
	return cells, false, nil
}

// dimension reads one dimension: a list (its strings rendered), the value
// of a list var named alone ({{ .vars.sets }}), or a template rendering to
// a YAML or JSON list.
func (pp *Preparer) dimension(v any, path []string, d Data, errs *pipeline.Errors) ([]any, bool, error) {
	if list, ok := v.([]any); ok {
		out, ok := pp.renderTree(list, path, d, errs)
		if !ok {
			return nil, false, nil
		}
		return out.([]any), false, nil
	}
	s, _ := v.(string)
	if t, err := tmpl.Parse("value", s); err == nil {
		if refs := tmpl.Refs(t); len(refs) == 1 && refs[0].Direct && refs[0].Root == "vars" && len(refs[0].Path) == 1 && strings.Count(s, "{{") == 1 && strings.HasPrefix(strings.TrimSpace(s), "{{") && strings.HasSuffix(strings.TrimSpace(s), "}}") {
			vs, _ := d.Values["vars"].(map[string]any)
			if list, ok := vs[refs[0].Path[0]].([]any); ok {
				return list, false, nil
			}
		}
	}
	out, runTime, err := pp.render(s, d)
	if err != nil || runTime {
		return nil, runTime, err
	}
	if task.IsUnknown(out) {
		return nil, true, nil
	}
	var generic any
	if err := yaml.Unmarshal([]byte(out), &generic); err != nil {
		return nil, false, fmt.Errorf("renders to %q, not a YAML or JSON list: %v", out, err)
	}
	list, ok := vars.Normalize(generic).([]any)
	if !ok || len(list) == 0 {
		return nil, false, fmt.Errorf("renders to %q, not a non-empty list (render a list with toJson)", out)
	}
	return list, false, nil
}

// label shows a value in a cell's name: scalars as they are (when short),
// a map by its "name", anything else by its index.
func label(v any, i int) string {
	switch x := v.(type) {
	case map[string]any:
		if n, ok := x["name"].(string); ok && n != "" {
			return n
		}
	case string:
		if len(x) <= 24 && !strings.ContainsAny(x, ",[]\n") {
			return x
		}
	case int64, float64, bool:
		return fmt.Sprint(x)
	}
	return fmt.Sprintf("#%d", i+1)
}

// WithMatrix returns d with .matrix set to a cell's values.
func (d Data) WithMatrix(values map[string]any) Data {
	vals := make(map[string]any, len(d.Values)+1)
	for k, v := range d.Values {
		vals[k] = v
	}
	vals["matrix"] = values
	d.Values = vals
	return d
}

func (pp *Preparer) one(path []string, err error) error {
	errs := &pipeline.Errors{}
	pp.add(errs, path, err)
	return errs
}
