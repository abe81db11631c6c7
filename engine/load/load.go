// Package load reads a pipeline file and validates it completely before
// anything runs: YAML syntax, the JSON Schema (with each task type's stanza),
// and the checks a schema cannot express (unique names, durations, templates
// and what they refer to, asset files). Every problem is reported at once, each
// as FILE:LINE:COL: field: message.
package load

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/go-multierror"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/schemas"
)

// Loader loads pipelines for one registry of task types.
type Loader struct {
	reg        *task.Registry
	schemaJSON []byte
	schema     *jsonschema.Schema
}

// New builds the pipeline schema for the registry's task types and compiles it.
func New(reg *task.Registry) (*Loader, error) {
	stanzas := make([]schemas.Stanza, 0, len(reg.Names()))
	for _, t := range reg.Types() {
		stanzas = append(stanzas, schemas.Stanza{Name: t.Name(), Summary: t.Summary(), Schema: t.Schema()})
	}
	doc, err := schemas.Build(stanzas)
	if err != nil {
		return nil, err
	}
	parsed, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, fmt.Errorf("pipeline schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(schemas.ID, parsed); err != nil {
		return nil, fmt.Errorf("pipeline schema: %w", err)
	}
	sch, err := c.Compile(schemas.ID)
	if err != nil {
		return nil, fmt.Errorf("pipeline schema: %w", err)
	}
	return &Loader{reg: reg, schemaJSON: doc, schema: sch}, nil
}

// Schema returns the pipeline schema document.
func (l *Loader) Schema() []byte { return l.schemaJSON }

// Registry returns the loader's task types.
func (l *Loader) Registry() *task.Registry { return l.reg }

// Load reads and validates the pipeline file at path.
func (l *Loader) Load(path string) (*pipeline.Pipeline, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Errors{errs: []*pipeline.Error{{File: path, Pos: pipeline.Pos{Line: 0, Col: 0}, Msg: "cannot read pipeline file: " + unwrapPathError(err)}}}
	}
	defer f.Close()
	// Read one byte past the limit so an oversized file is told apart
	// without reading all of it.
	data := make([]byte, 0, 64<<10)
	buf := bytes.NewBuffer(data)
	if _, err := buf.ReadFrom(io.LimitReader(f, pipeline.MaxFileSize+1)); err != nil {
		return nil, &Errors{errs: []*pipeline.Error{{File: path, Msg: "cannot read pipeline file: " + err.Error()}}}
	}
	return l.LoadBytes(path, buf.Bytes())
}

// LoadBytes validates data as the pipeline file named file (used for
// relative paths and messages).
func (l *Loader) LoadBytes(file string, data []byte) (*pipeline.Pipeline, error) {
	errs := &Errors{}
	if len(data) > pipeline.MaxFileSize {
		errs.add(&pipeline.Error{File: file, Pos: pipeline.Pos{Line: 1, Col: 1}, Msg: fmt.Sprintf("file is larger than %d bytes, the limit for a pipeline file", pipeline.MaxFileSize)})
		return nil, errs
	}
	if !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0 {
		errs.add(&pipeline.Error{File: file, Pos: firstBadByte(data), Msg: "file is not UTF-8 text (binary data?)"})
		return nil, errs
	}
	tree, sm, err := pipeline.Parse(file, data)
	if err != nil {
		var pe *pipeline.Error
		if errors.As(err, &pe) {
			errs.add(pe)
			return nil, errs
		}
		return nil, err
	}
	if _, ok := tree.(map[string]any); !ok {
		errs.add(&pipeline.Error{File: file, Pos: sm.Value(nil), Msg: "a pipeline file must be a YAML mapping (apiVersion, kind, metadata, tasks, ...)"})
		return nil, errs
	}
	dir, err := filepath.Abs(filepath.Dir(file))
	if err != nil {
		return nil, err
	}
	c := &checker{l: l, file: file, dir: dir, sm: sm, errs: errs}
	c.schemaErrors(tree)
	p := c.build(tree)
	c.semantic(p)
	if errs.Len() > 0 {
		return nil, errs
	}
	p.File, p.Dir, p.Source = file, dir, sm
	return p, nil
}

// Errors are all the problems found in a pipeline file, sorted by position.
type Errors struct {
	errs []*pipeline.Error
}

func (e *Errors) add(err *pipeline.Error) { e.errs = append(e.errs, err) }

// Len is the number of problems.
func (e *Errors) Len() int { return len(e.errs) }

// List returns the problems sorted by line and column.
func (e *Errors) List() []*pipeline.Error {
	out := append([]*pipeline.Error(nil), e.errs...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Pos.Line != out[j].Pos.Line {
			return out[i].Pos.Line < out[j].Pos.Line
		}
		return out[i].Pos.Col < out[j].Pos.Col
	})
	return out
}

// Error lists every problem, one per line.
func (e *Errors) Error() string {
	var m *multierror.Error
	for _, pe := range e.List() {
		m = multierror.Append(m, pe)
	}
	m.ErrorFormat = func(es []error) string {
		lines := make([]string, len(es))
		for i, err := range es {
			lines[i] = err.Error()
		}
		return strings.Join(lines, "\n")
	}
	return m.Error()
}

// Unwrap exposes the individual problems to errors.Is/As.
func (e *Errors) Unwrap() []error {
	out := make([]error, len(e.errs))
	for i, err := range e.errs {
		out[i] = err
	}
	return out
}

func unwrapPathError(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func firstBadByte(data []byte) pipeline.Pos {
	line, col := 1, 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 || r == 0 {
			return pipeline.Pos{Line: line, Col: col}
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i += size
	}
	return pipeline.Pos{Line: line, Col: col}
}
