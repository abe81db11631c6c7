package prepare

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/secret"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/tmpl"
	"github.com/kbrun/kbrun/engine/vars"
)

// MaxManifestSize bounds one manifest file.
const MaxManifestSize = pipeline.MaxFileSize

// manifestReader implements task.ManifestReader for one task: files are
// read, checked as templates (syntax, and what they refer to, at their own
// lines) and rendered with the task's data.
type manifestReader struct {
	pp    *Preparer
	d     Data
	field []string // the task's parameters, for problems with a path
	// outside is true for a reader outside a run (Reader): there is no
	// pipeline whose tasks references could be checked against.
	outside bool
}

// Read implements task.ManifestReader.
func (m *manifestReader) Read(path string, render bool) ([]task.ManifestFile, error) {
	abs := path
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(m.pp.p.Dir, path)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, task.Fieldf(nil, "manifest %s: %v", path, unwrapPathError(err))
	}
	files := []string{abs}
	if st.IsDir() {
		if files, err = manifestFiles(abs); err != nil {
			return nil, task.Fieldf(nil, "manifest folder %s: %v", path, err)
		}
	}
	var out []task.ManifestFile
	errs := &pipeline.Errors{}
	for _, f := range files {
		name := m.pp.display(f)
		data, err := vars.ReadRegular(f, MaxManifestSize)
		if err != nil {
			return nil, task.Fieldf(nil, "manifest %s: %v", name, err)
		}
		if !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0 {
			errs.Add(&pipeline.Error{File: name, Pos: pipeline.Pos{Line: 1, Col: 1}, Msg: "not a manifest: the file is not UTF-8 text (binary data?)"})
			continue
		}
		mf := task.ManifestFile{Name: name, Text: string(data)}
		if render {
			mf = m.render(name, string(data), errs)
		}
		out = append(out, mf)
	}
	return out, errs.OrNil()
}

// render checks a manifest file as a template and renders it.
func (m *manifestReader) render(name, text string, errs *pipeline.Errors) task.ManifestFile {
	mf := task.ManifestFile{Name: name}
	at := func(line, col int, format string, args ...any) {
		errs.Add(&pipeline.Error{File: name, Pos: pipeline.Pos{Line: line, Col: max(col, 1)}, Msg: fmt.Sprintf(format, args...)})
	}
	if !tmpl.Has(text) {
		mf.Text = text
		return mf
	}
	t, err := tmpl.Parse(name, text)
	if err != nil {
		m.templateError(name, err, errs)
		return mf
	}
	bad := false
	for _, r := range tmpl.Refs(t) {
		if msg := m.checkRef(r); msg != "" {
			line, col := tmpl.LineCol(text, r.Pos)
			at(line, col, "%s", msg)
			bad = true
		}
	}
	if bad {
		return mf
	}
	out, runTime, err := m.pp.render(text, m.d)
	var cut *errCut
	if errors.As(err, &cut) {
		if shown, ok := m.pp.secretDataOnly(cut); ok {
			out, err, mf.Shown = cut.out, nil, shown
		}
	}
	switch {
	case cut != nil && err != nil:
		line := m.pp.cutLine(text, cut)
		at(line, strings.Index(strings.Split(text, "\n")[line-1], "{{")+1, "%v", err)
	case err != nil:
		m.templateError(name, m.pp.explain(err, m.d), errs)
	case runTime:
		mf.RunTime = true
	default:
		// A value pasted raw must not add keys or list items.
		if err := tmpl.CheckYAMLStructure(out, m.d.Values); err != nil {
			at(1, 1, "%v", err)
			return mf
		}
		mf.Text = out
	}
	return mf
}

func (m *manifestReader) templateError(name string, err error, errs *pipeline.Errors) {
	var te *tmpl.Error
	if ok := asTmplError(err, &te); ok {
		// The position goes in front; the message keeps what explain added.
		msg := strings.Replace(err.Error(), te.Error(), "template: "+te.Msg, 1)
		errs.Add(&pipeline.Error{File: name, Pos: pipeline.Pos{Line: te.Line, Col: max(te.Col, 1)}, Msg: msg})
		return
	}
	errs.Add(&pipeline.Error{File: name, Pos: pipeline.Pos{Line: 1, Col: 1}, Msg: err.Error()})
}

// checkRef checks what a manifest template refers to, as the loader checks
// the pipeline's own templates: vars that exist, tasks that run before this
// one, outputs their types have.
func (m *manifestReader) checkRef(r tmpl.Ref) string {
	dotted := "." + strings.Join(append([]string{r.Root}, r.Path...), ".")
	switch r.Root {
	case "vars", "params":
		if r.Root != m.pp.p.VarRoot() && !m.outside {
			if r.Root == "vars" {
				return fmt.Sprintf("a library's manifests do not see the pipeline's vars (%s): use its params (.params.NAME)", dotted)
			}
			return fmt.Sprintf("unknown template data %s: params are declared by libraries of tasks (kind: Tasks); a pipeline has .vars", dotted)
		}
		vs, _ := m.d.Values[r.Root].(map[string]any)
		if len(r.Path) > 0 {
			if _, ok := vs[r.Path[0]]; !ok {
				return fmt.Sprintf("template refers to undefined %s %q (%s)", strings.TrimSuffix(r.Root, "s"), r.Path[0], dotted)
			}
		}
	case "env", "pipeline":
	case "matrix":
		mx, ok := m.d.Values["matrix"].(map[string]any)
		if !ok {
			return fmt.Sprintf("template uses %s, but this task has no matrix", dotted)
		}
		if len(r.Path) > 0 {
			if _, ok := mx[r.Path[0]]; !ok {
				return fmt.Sprintf("the matrix has no key %q (%s)", r.Path[0], dotted)
			}
		}
	case "tasks":
		if len(r.Path) == 0 {
			return ""
		}
		name := r.Path[0]
		// A reference to a later task is caught by the render when it is
		// reached; one in a branch the render does not take may be
		// guarded on purpose ({{ if hasKey .tasks "build" }}).
		t := m.pp.p.Find(name)
		if m.outside {
			return ""
		}
		if t == nil {
			return fmt.Sprintf("template refers to unknown task %q (%s)", name, dotted)
		}
		if len(r.Path) > 1 {
			if outs := m.pp.Outputs(t); !slices.Contains(outs, r.Path[1]) {
				return fmt.Sprintf("task %q (%s) has no output %q (%s); it has: %s", name, t.Type, r.Path[1], dotted, strings.Join(outs, ", "))
			}
		}
	default:
		return fmt.Sprintf("unknown template data %s: use .vars, .env, .pipeline or .tasks", dotted)
	}
	return ""
}

// display names a file for messages: relative to the working directory
// when it is below it.
func (pp *Preparer) display(abs string) string {
	if pp.cwd != "" {
		if rel, err := filepath.Rel(pp.cwd, abs); err == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
	}
	return abs
}

func manifestFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".yaml", ".yml", ".json":
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("it holds no .yaml, .yml or .json file")
	}
	return files, nil
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// Reader returns a ManifestReader over files below dir that renders with
// values (.vars, .tasks, ...), outside a run: for tests and tools.
func Reader(dir string, values map[string]any) task.ManifestReader {
	pp := New(Config{Pipeline: &pipeline.Pipeline{Dir: dir, File: "pipeline"}, Registry: task.NewRegistry()})
	return &manifestReader{pp: pp, d: Data{Values: values}, outside: true}
}

// cutLine is the line of a manifest template where a piece of a secret
// shows (its first template is the column): the first rendered line that holds one when the file renders to
// as many lines as it has (each template within its line), else 1.
func (pp *Preparer) cutLine(text string, cut *errCut) int {
	lines := strings.Split(cut.out, "\n")
	if len(lines) != strings.Count(text, "\n")+1 {
		return 1
	}
	var alts [secret.Families][]string
	for f := range alts {
		if cut.ok[f] {
			alts[f] = strings.Split(cut.alts[f], "\n")
		}
	}
	for i, line := range lines {
		var a [secret.Families]string
		var ok [secret.Families]bool
		for f := range alts {
			if i < len(alts[f]) {
				a[f], ok[f] = alts[f][i], true
			}
		}
		if pp.secrets.Cuts(line, a, ok) {
			return i + 1
		}
	}
	return 1
}
