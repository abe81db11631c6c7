package prepare

import (
	"fmt"
	"strconv"
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
// outputs not known yet (plans). Each cell has an identity: its values are
// scalars or named maps, no two cells have the same values or the same
// label, and a value made from a secret shows as a stand-in in the label.
func (pp *Preparer) Cells(t *pipeline.Task, d Data) ([]Cell, bool, error) {
	errs := &pipeline.Errors{}
	dims := make([][]any, len(t.Matrix))
	parts := make([][]string, len(t.Matrix))
	later := false
	for i, dim := range t.Matrix {
		path := sub(t.Path, "matrix", dim.Name)
		list, secret, runTime, err := pp.dimension(dim.Values, path, d, errs)
		if runTime {
			later = true // the other dimensions are still checked
			continue
		}
		if err != nil {
			pp.add(errs, path, err)
			continue
		}
		if list == nil {
			continue // renderTree recorded the problem
		}
		for _, p := range pipeline.AxisProblems(dim.Name, list, t.MatrixAllowEmpty) {
			at := path
			if _, literal := dim.Values.([]any); literal && p.Index >= 0 {
				at = sub(path, strconv.Itoa(p.Index))
			}
			errs.Add(pp.at(at, pp.secrets.Mask(p.Msg)))
		}
		if secret {
			addLeaves(pp.secrets, list) // its items are printed apart from the list
		}
		dims[i] = list
		parts[i] = make([]string, len(list))
		for j, v := range list {
			parts[i][j] = pp.labelPart(v, j, secret)
		}
	}
	if errs.Len() > 0 {
		return nil, false, errs
	}
	if later {
		return nil, true, nil
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
	named := map[string]int{}
	for c := 0; c < n; c++ {
		vals := map[string]any{}
		shown := make([]string, len(dims))
		for i, dim := range t.Matrix {
			vals[dim.Name] = dims[i][idx[i]]
			shown[i] = parts[i][idx[i]]
		}
		label := t.Name + "[" + strings.Join(shown, ",") + "]"
		if first, dup := named[label]; dup {
			pp.add(errs, sub(t.Path, "matrix"), fmt.Errorf("cells %d and %d are both named %s: give the values distinct labels (a map's name, or shorter strings without , [ ])", first+1, c+1, label))
		}
		named[label] = c
		cells = append(cells, Cell{Values: vals, Label: label})
		for i := len(idx) - 1; i >= 0; i-- {
			if idx[i]++; idx[i] < len(dims[i]) {
				break
			}
			idx[i] = 0
		}
	}
	return cells, false, errs.OrNil()
}

// dimension reads one dimension: a list (its strings rendered), the value
// of a list var named alone ({{ .vars.sets }}), or a template rendering to
// a YAML or JSON list. secret is true when the list's text is masked (made
// from a secret): its items are then secret too.
func (pp *Preparer) dimension(v any, path []string, d Data, errs *pipeline.Errors) (list []any, secret, runTime bool, err error) {
	if list, ok := v.([]any); ok {
		out, ok := pp.renderTree(list, path, d, errs)
		if !ok {
			return nil, false, false, nil
		}
		return out.([]any), false, false, nil
	}
	s, _ := v.(string)
	t, err := tmpl.Parse("value", s)
	if err != nil {
		return nil, false, false, err
	}
	refs := tmpl.Refs(t)
	if len(refs) == 1 && refs[0].Direct && refs[0].Root == "vars" && len(refs[0].Path) == 1 && strings.Count(s, "{{") == 1 && strings.HasPrefix(strings.TrimSpace(s), "{{") && strings.HasSuffix(strings.TrimSpace(s), "}}") {
		vs, _ := d.Values["vars"].(map[string]any)
		if list, ok := vs[refs[0].Path[0]].([]any); ok {
			return list, pp.masked(fmt.Sprint(vs[refs[0].Path[0]])), false, nil
		}
	}
	out, runTime, err := pp.render(s, d)
	if err != nil || runTime {
		return nil, false, runTime, err
	}
	if task.IsUnknown(out) {
		return nil, false, true, nil
	}
	var generic any
	if err := yaml.Unmarshal([]byte(out), &generic); err != nil {
		return nil, false, false, fmt.Errorf("renders to %q, not a YAML or JSON list (render a list with toJson)", pp.secrets.Mask(out))
	}
	list, ok := vars.Normalize(generic).([]any)
	if !ok {
		return nil, false, false, fmt.Errorf("renders to %q, not a non-empty list (render a list with toJson)", pp.secrets.Mask(out))
	}
	return list, pp.masked(out), false, nil
}

// masked reports whether s shows something secret.
func (pp *Preparer) masked(s string) bool { return pp.secrets.Mask(s) != s }

// labelPart shows a value in a cell's name: scalars as they are (when
// short), a map by its "name", anything else by its index; a value made
// from a secret as secret-N, its place in the axis, since cell names are
// printed everywhere.
func (pp *Preparer) labelPart(v any, i int, secret bool) string {
	shown := fmt.Sprintf("#%d", i+1)
	switch x := v.(type) {
	case map[string]any:
		if n, ok := x["name"].(string); ok && n != "" {
			shown = n
		}
	case string:
		if len(x) <= 24 && !strings.ContainsAny(x, ",[]\n") {
			shown = x
		}
	case int64, float64, bool:
		shown = fmt.Sprint(x)
	}
	if secret || pp.masked(fmt.Sprint(v)) {
		return fmt.Sprintf("secret-%d", i+1)
	}
	return shown
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
