package load

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/tmpl"
	"github.com/kbrun/kbrun/engine/valid"
)

// build reads the generic tree into the model. Values of the wrong shape were
// reported by the schema and are skipped here, so that the semantic checks
// still run on everything else and all problems come out at once.
func (c *checker) build(tree any) *pipeline.Pipeline {
	root, _ := tree.(map[string]any)
	p := &pipeline.Pipeline{}
	if md, ok := root["metadata"].(map[string]any); ok {
		p.Name, _ = md["name"].(string)
		p.Description, _ = md["description"].(string)
		p.Labels = c.labels(md["labels"])
	}
	p.Namespace, _ = root["namespace"].(string)
	c.sections(root)
	varsKey := "vars"
	if c.lib {
		varsKey = "params"
		p.Kind = pipeline.KindTasks
		p.Outputs = c.outputs(root["outputs"])
	}
	if vars, ok := root[varsKey].(map[string]any); ok {
		names := make([]string, 0, len(vars))
		for n := range vars {
			names = append(names, n)
		}
		// File order, so that messages and plans follow the file.
		sort.Slice(names, func(i, j int) bool {
			pi, pj := c.sm.Key([]string{varsKey, names[i]}), c.sm.Key([]string{varsKey, names[j]})
			return pi.Line < pj.Line || pi.Line == pj.Line && pi.Col < pj.Col
		})
		for _, n := range names {
			p.Vars = append(p.Vars, c.variable(varsKey, n, vars[n]))
		}
	}
	p.Defaults.Timeout = pipeline.DefaultTimeout
	if d, ok := root["defaults"].(map[string]any); ok {
		if t, ok := d["timeout"].(string); ok {
			p.Defaults.Timeout = t
			c.duration([]string{"defaults", "timeout"}, t)
		}
		p.Defaults.Retry = c.checkRetry([]string{"defaults", "retry"}, d["retry"], c.retry([]string{"defaults", "retry"}, d["retry"]).Merge(pipeline.DefaultRetry))
	} else {
		p.Defaults.Retry = pipeline.DefaultRetry
	}
	p.Tasks = c.tasks([]string{"tasks"}, root["tasks"], p.Defaults)
	p.Finally = c.tasks([]string{"finally"}, root["finally"], p.Defaults)
	return p
}

func (c *checker) tasks(path []string, v any, d pipeline.Defaults) []*pipeline.Task {
	list, _ := v.([]any)
	var out []*pipeline.Task
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		out = append(out, c.task(sub(path, strconv.Itoa(i)), m, d))
	}
	return out
}

func (c *checker) task(path []string, m map[string]any, d pipeline.Defaults) *pipeline.Task {
	t := &pipeline.Task{Path: path}
	t.Name, _ = m["name"].(string)
	t.Description, _ = m["description"].(string)
	t.When, _ = m["when"].(string)
	t.ContinueOnError, _ = m["continueOnError"].(bool)
	if mp, ok := m["maxParallel"].(int64); ok {
		t.MaxParallel = int(mp)
	}
	t.Until, _ = m["until"].(string)
	if v, ok := m["diagnose"]; ok {
		t.Diagnose = c.diagnose(sub(path, "diagnose"), v)
	}
	if mx, ok := m["matrix"].(map[string]any); ok {
		t.MatrixAllowEmpty, _ = mx[pipeline.AllowEmptyKey].(bool)
		keys := make([]string, 0, len(mx))
		for k := range mx {
			if k != pipeline.AllowEmptyKey {
				keys = append(keys, k)
			}
		}
		sort.Slice(keys, func(i, j int) bool {
			pi, pj := c.sm.Key(sub(path, "matrix", keys[i])), c.sm.Key(sub(path, "matrix", keys[j]))
			return pi.Line < pj.Line || pi.Line == pj.Line && pi.Col < pj.Col
		})
		for _, k := range keys {
			t.Matrix = append(t.Matrix, pipeline.MatrixDim{Name: k, Values: mx[k]})
		}
		if len(keys) == 0 && len(mx) > 0 {
			c.errAtKey(sub(path, "matrix"), "the matrix has no axis, only %s: add at least one KEY: [VALUES]", pipeline.AllowEmptyKey)
		}
	} else {
		for _, f := range []string{"maxParallel", "until"} {
			if _, has := m[f]; has {
				c.errAtKey(sub(path, f), "%s goes with matrix", f)
			}
		}
	}
	t.Timeout = d.Timeout
	if s, ok := m["timeout"].(string); ok {
		t.Timeout, t.TimeoutSet = s, true
		c.duration(sub(path, "timeout"), s)
	}
	_, t.RetrySet = m["retry"].(map[string]any)
	t.Retry = c.checkRetry(sub(path, "retry"), m["retry"], c.retry(sub(path, "retry"), m["retry"]).Merge(d.Retry))

	var types []string
	for k := range m {
		if c.l.fields.common[k] {
			continue
		}
		if _, known := c.l.reg.Get(k); known || k == pipeline.ParallelType || k == pipeline.UsesType {
			types = append(types, k)
		}
	}
	sort.Strings(types)
	label := "task"
	if t.Name != "" {
		label = fmt.Sprintf("task %q", t.Name)
	}
	switch len(types) {
	case 0:
		if !c.hasUnknownField(m) { // an unknown field was reported already
			c.errAt(path, "%s has no task type: add one of %s", label, strings.Join(append(c.l.reg.Names(), pipeline.ParallelType, pipeline.UsesType), ", "))
		}
	case 1:
		t.Type = types[0]
		t.Params = m[t.Type]
		if t.Type == pipeline.ParallelType {
			if g, ok := m[t.Type].(map[string]any); ok {
				t.Children = c.tasks(sub(path, pipeline.ParallelType, "tasks"), g["tasks"], d)
			}
		}
		if t.Type == pipeline.UsesType {
			c.uses(t, m)
		}
	default:
		c.errAtKey(sub(path, types[1]), "%s has %d task types (%s): a task has exactly one", label, len(types), strings.Join(types, ", "))
	}
	if _, with := m["with"]; with && t.Type != pipeline.UsesType {
		c.errAtKey(sub(path, "with"), "with gives the params of a library: it goes with uses")
	}
	return t
}

func (c *checker) hasUnknownField(m map[string]any) bool {
	for k := range m {
		if _, known := c.l.reg.Get(k); !known && !c.l.fields.common[k] && k != pipeline.ParallelType && k != pipeline.UsesType {
			return true
		}
	}
	return false
}

// retry reads a retry policy, recording which fields were set.
func (c *checker) retry(path []string, v any) pipeline.Retry {
	m, ok := v.(map[string]any)
	if !ok {
		return pipeline.Retry{}
	}
	fields := map[string]any{}
	r := pipeline.Retry{}
	if n, ok := m["attempts"].(int64); ok {
		r.Attempts = int(n)
		fields["attempts"] = true
	}
	for _, f := range []string{"backoff", "maxBackoff"} {
		s, ok := m[f].(string)
		if !ok {
			continue
		}
		if tmpl.Has(s) {
			c.errAt(sub(path, f), "retry durations cannot be templates")
			continue
		}
		dur := c.duration(sub(path, f), s)
		if f == "backoff" {
			r.Backoff = dur
		} else {
			r.MaxBackoff = dur
		}
		fields[f] = true
	}
	switch j := m["jitter"].(type) {
	case float64:
		r.Jitter, fields["jitter"] = j, true
	case int64:
		r.Jitter, fields["jitter"] = float64(j), true
	}
	return pipeline.WithSetFields(r, fields)
}

// checkRetry refuses a retry policy given at path whose waits would
// overflow a duration (valid.Backoff).
func (c *checker) checkRetry(path []string, given any, r pipeline.Retry) pipeline.Retry {
	if given != nil {
		if err := valid.Backoff(r.Backoff, r.MaxBackoff, r.Attempts, r.Jitter); err != nil {
			c.errAt(path, "%v", err)
		}
	}
	return r
}

// duration checks a literal duration; templated ones are checked when rendered.
func (c *checker) duration(path []string, s string) time.Duration {
	if tmpl.Has(s) {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || strings.HasPrefix(s, "-") {
		return 0 // the schema's pattern reported it
	}
	if d <= 0 {
		c.errAt(path, "duration must be positive, got %q", s)
	}
	return d
}
