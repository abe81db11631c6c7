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
	"path/filepath"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/vars"
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
	// A named pipe or a device would block or never end: only regular
	// files are read.
	data, err := vars.ReadRegular(path, pipeline.MaxFileSize)
	if err != nil {
		return nil, oneError(&pipeline.Error{File: path, Pos: pipeline.Pos{Line: 1, Col: 1}, Msg: "cannot read pipeline file: " + err.Error()})
	}
	return l.LoadBytes(path, data)
}

// LoadBytes validates data as the pipeline file named file (used for
// relative paths and messages).
func (l *Loader) LoadBytes(file string, data []byte) (*pipeline.Pipeline, error) {
	errs := &Errors{}
	if len(data) > pipeline.MaxFileSize {
		errs.Add(&pipeline.Error{File: file, Pos: pipeline.Pos{Line: 1, Col: 1}, Msg: fmt.Sprintf("file is larger than %d bytes, the limit for a pipeline file", pipeline.MaxFileSize)})
		return nil, errs
	}
	if !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0 {
		errs.Add(&pipeline.Error{File: file, Pos: firstBadByte(data), Msg: "file is not UTF-8 text (binary data?)"})
		return nil, errs
	}
	tree, sm, err := pipeline.Parse(file, data)
	if err != nil {
		var pe *pipeline.Error
		if errors.As(err, &pe) {
			errs.Add(pe)
			return nil, errs
		}
		return nil, err
	}
	if _, ok := tree.(map[string]any); !ok {
		errs.Add(&pipeline.Error{File: file, Pos: sm.Value(nil), Msg: "a pipeline file must be a YAML mapping (apiVersion, kind, metadata, tasks, ...)"})
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

// Errors are all the problems found in a pipeline file.
type Errors = pipeline.Errors

func oneError(e *pipeline.Error) *Errors {
	errs := &Errors{}
	errs.Add(e)
	return errs
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
