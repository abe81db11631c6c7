package load

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/tmpl"
	"github.com/kbrun/kbrun/engine/vars"
)

// The limits of uses: a pipeline is input kbrun does not control, and
// libraries that each use the next one twice double the tasks at every
// level.
const (
	// MaxUsesDepth bounds how deep libraries use libraries.
	MaxUsesDepth = 16
	// MaxTasks bounds the tasks of a pipeline once every use is expanded.
	MaxTasks = 10_000
)

// libraries are the library files one Load has read, by absolute path
// (nil for one that could not be read), so that a library used twice is
// read and checked once.
type libraries struct {
	byPath map[string]*pipeline.Pipeline
}

// outputsOwner owns the templates of a library's outputs: they see every
// task of the library.
const outputsOwner = " outputs"

// sections refuses the top-level fields that belong to the other kind of
// file.
func (c *checker) sections(root map[string]any) {
	if c.lib {
		for _, k := range []string{"vars", "namespace", "defaults", "finally"} {
			if _, ok := root[k]; ok {
				c.errAtKey([]string{k}, "a library of tasks (kind: Tasks) has no %s: %s", k, libraryHint[k])
			}
		}
		return
	}
	for _, k := range []string{"params", "outputs"} {
		if _, ok := root[k]; ok {
			c.errAtKey([]string{k}, "%s belong to a library of tasks (kind: Tasks) that pipelines run with uses:; a pipeline declares vars", k)
		}
	}
}

var libraryHint = map[string]string{
	"vars":      "declare params, which the pipeline gives with with: (.params.NAME)",
	"namespace": "take the namespace as a param and name it in each task",
	"defaults":  "set timeout and retry on its tasks (the uses task's timeout bounds them all)",
	"finally":   "cleanup belongs to the pipeline that uses it (delete: {applied: true} there deletes what the library applied too)",
}

// outputs reads a library's outputs: NAME: TEMPLATE, or NAME: {value,
// description}, in file order.
func (c *checker) outputs(v any) []pipeline.Output {
	m, _ := v.(map[string]any)
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		pi, pj := c.sm.Key([]string{"outputs", names[i]}), c.sm.Key([]string{"outputs", names[j]})
		return pi.Line < pj.Line || pi.Line == pj.Line && pi.Col < pj.Col
	})
	var out []pipeline.Output
	for _, n := range names {
		o := pipeline.Output{Name: n, Path: []string{"outputs", n}}
		switch x := m[n].(type) {
		case string:
			o.Value = x
		case map[string]any:
			o.Value, _ = x["value"].(string)
			o.Description, _ = x["description"].(string)
			o.Path = sub(o.Path, "value")
		}
		out = append(out, o)
	}
	return out
}

// uses reads a `uses:` task and loads the library it names.
func (c *checker) uses(t *pipeline.Task, m map[string]any) {
	rel, _ := m["uses"].(string)
	with, _ := m["with"].(map[string]any)
	t.Uses = &pipeline.Uses{File: rel, With: with}
	t.Params = nil
	if rel != "" {
		t.Uses.Lib = c.library(sub(t.Path, "uses"), rel)
	}
}

// library loads and checks the library file rel names (relative to the
// folder of the file that names it); its problems are reported in its own
// file. It returns nil when it cannot be used.
func (c *checker) library(path []string, rel string) *pipeline.Pipeline {
	if tmpl.Has(rel) {
		c.errAt(path, "uses takes a file path, not a template: libraries are read and checked before anything runs")
		return nil
	}
	abs, display := rel, rel
	if !filepath.IsAbs(rel) {
		abs = filepath.Join(c.dir, rel)
		display = filepath.Join(filepath.Dir(c.file), rel)
	}
	abs = filepath.Clean(abs)
	// Cycles and libraries read before are found by the file's real path:
	// a library reached again through a symlinked folder is the same one.
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	chain := append(append([]string(nil), c.stack...), c.abs)
	if len(chain) > MaxUsesDepth {
		c.errAt(path, "uses nests libraries more than %d deep (%s uses %s)", MaxUsesDepth, c.relName(chain[len(chain)-1]), display)
		return nil
	}
	if i := slices.Index(chain, abs); i >= 0 {
		names := make([]string, 0, len(chain)-i+1)
		for _, f := range append(chain[i:], abs) {
			names = append(names, c.relName(f))
		}
		c.errAt(path, "uses makes a cycle: %s (a library cannot use itself, directly or through others)", strings.Join(names, " -> "))
		return nil
	}
	if lib, seen := c.libs.byPath[abs]; seen {
		return lib
	}
	c.libs.byPath[abs] = nil
	data, err := vars.ReadRegular(abs, pipeline.MaxFileSize)
	if err != nil {
		c.errAt(path, "cannot read the library %s: %v", display, err)
		return nil
	}
	lib, err := c.l.check(display, data, c.errs, c.libs, chain, true)
	if err != nil {
		c.errAt(path, "library %s: %v", display, err)
		return nil
	}
	if lib == nil {
		return nil // its problems are reported in its file
	}
	if !lib.IsLibrary() {
		c.errAt(path, "%s is not a library of tasks (its kind is %q): uses needs a file of kind: Tasks", display, lib.Kind)
		return nil
	}
	c.libs.byPath[abs] = lib
	return lib
}

// relName shows an absolute path relative to this file's folder when below
// it, for cycle messages.
func (c *checker) relName(abs string) string {
	if rel, err := filepath.Rel(c.dir, abs); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return abs
}

// checkWith checks what a uses task gives its library: templates in this
// file's scope, names the library declares, literal values of the declared
// types, and every required param.
func (c *checker) checkWith(t *pipeline.Task, sc *scope) {
	withPath := sub(t.Path, "with")
	c.templatesTree(withPath, t.Uses.With, sc, t.Name)
	lib := t.Uses.Lib
	if lib == nil {
		return
	}
	declared := map[string]*pipeline.Var{}
	var names []string
	for i := range lib.Vars {
		declared[lib.Vars[i].Name] = &lib.Vars[i]
		names = append(names, lib.Vars[i].Name)
	}
	given := make([]string, 0, len(t.Uses.With))
	for k := range t.Uses.With {
		given = append(given, k)
	}
	sort.Strings(given)
	for _, k := range given {
		v := t.Uses.With[k]
		p, ok := declared[k]
		if !ok {
			has := "it declares none"
			if len(names) > 0 {
				has = "it has: " + strings.Join(names, ", ")
			}
			c.errAtKey(sub(withPath, k), "library %s has no param %q%s; %s", lib.File, k, didYouMean(k, names), has)
			continue
		}
		if hasTemplate(v) {
			continue // checked once rendered
		}
		if err := vars.Check(p, v); err != nil {
			c.errAt(sub(withPath, k), "param %q of %s: %v", k, lib.File, err)
		}
	}
	for _, p := range lib.Vars {
		if _, ok := t.Uses.With[p.Name]; p.Required && !ok {
			c.errAtKey(sub(t.Path, "uses"), "library %s requires param %q: give it under with:", lib.File, p.Name)
		}
	}
}

// usesOutput checks an output of a uses task against its library's.
func usesOutput(t *pipeline.Task, out, dotted string) string {
	lib := t.Uses.Lib
	if lib == nil {
		return ""
	}
	var names []string
	for _, o := range lib.Outputs {
		if o.Name == out {
			return ""
		}
		names = append(names, o.Name)
	}
	return fmt.Sprintf("task %q (uses %s) has no output %q (%s); it has: %s", t.Name, lib.File, out, dotted, strings.Join(append(names, "status", "error"), ", "))
}

// checkSize refuses a pipeline whose uses would expand to more than
// MaxTasks tasks, before they are expanded; the problem is reported at the
// uses task that crosses the limit.
func checkSize(p *pipeline.Pipeline) error {
	memo := map[*pipeline.Pipeline]int{}
	total := 0
	for _, t := range pipeline.Flatten(append(append([]*pipeline.Task(nil), p.Tasks...), p.Finally...)) {
		total++
		if t.Type == pipeline.UsesType && t.Uses.Lib != nil {
			total += size(t.Uses.Lib.Tasks, memo)
		}
		if total > MaxTasks {
			pos := p.Source.Value(sub(t.Path, "uses"))
			return oneError(&pipeline.Error{File: p.File, Pos: pos, Path: sub(t.Path, "uses"),
				Msg: fmt.Sprintf("the pipeline expands to more than %d tasks once its uses are expanded: a library that uses another twice doubles its tasks", MaxTasks)})
		}
	}
	return nil
}

// size is the number of tasks ts expand to, counted up to past MaxTasks.
func size(ts []*pipeline.Task, memo map[*pipeline.Pipeline]int) int {
	n := 0
	for _, t := range pipeline.Flatten(ts) {
		n++
		if t.Type == pipeline.UsesType && t.Uses.Lib != nil {
			lib := t.Uses.Lib
			if _, ok := memo[lib]; !ok {
				memo[lib] = size(lib.Tasks, memo)
			}
			n += memo[lib]
		}
		if n > MaxTasks {
			return n
		}
	}
	return n
}

// expand gives every uses task (in parallel groups too) its library's
// tasks as children, named after it ("image.build") so that each use has
// its own; a library's own uses tasks are expanded in turn.
func expand(ts []*pipeline.Task) {
	for _, t := range pipeline.Flatten(ts) {
		if t.Type == pipeline.UsesType && t.Uses.Lib != nil {
			t.Children = instance(t.Uses.Lib.Tasks, t, t.Uses.Lib)
		}
	}
}

func instance(ts []*pipeline.Task, use *pipeline.Task, lib *pipeline.Pipeline) []*pipeline.Task {
	out := make([]*pipeline.Task, len(ts))
	for i, x := range ts {
		c := *x
		c.Name, c.Local, c.Origin, c.Use = use.Name+"."+x.Name, x.Name, lib, use
		c.Children = nil
		switch {
		case x.Type == pipeline.ParallelType:
			c.Children = instance(x.Children, use, lib)
		case x.Type == pipeline.UsesType && x.Uses.Lib != nil:
			c.Children = instance(x.Uses.Lib.Tasks, &c, x.Uses.Lib)
		}
		out[i] = &c
	}
	return out
}
