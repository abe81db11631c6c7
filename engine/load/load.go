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
	fields     fields
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
	fields, err := schemaFields(parsed, reg.Names())
	if err != nil {
		return nil, err
	}
	return &Loader{reg: reg, schemaJSON: doc, schema: sch, fields: fields}, nil
}

// Schema returns the pipeline schema document.
func (l *Loader) Schema() []byte { return l.schemaJSON }

// Registry returns the loader's task types.
func (l *Loader) Registry() *task.Registry { return l.reg }

// Load reads and validates the pipeline file at path, with every library
// file it uses.
func (l *Loader) Load(path string) (*pipeline.Pipeline, error) {
	p, err := l.LoadAny(path)
	if err != nil {
		return nil, err
	}
	if p.IsLibrary() {
		return nil, oneError(&pipeline.Error{File: path, Pos: p.Source.Value([]string{"kind"}), Path: []string{"kind"},
			Msg: "this file is a library of tasks (kind: Tasks): it runs from a pipeline that names it with uses:, not by itself"})
	}
	return p, nil
}

// LoadAny reads and validates a pipeline or a library of tasks (kind:
// Tasks), for validate.
func (l *Loader) LoadAny(path string) (*pipeline.Pipeline, error) {
	// A named pipe or a device would block or never end: only regular
	// files are read.
	data, err := vars.ReadRegular(path, pipeline.MaxFileSize)
	if err != nil {
		return nil, oneError(&pipeline.Error{File: path, Pos: pipeline.Pos{Line: 1, Col: 1}, Msg: "cannot read pipeline file: " + err.Error()})
	}
	return l.LoadBytes(path, data)
}

// LoadBytes validates data as the pipeline file named file (used for
// relative paths and messages), with the library files it uses; the tasks
// of each `uses:` are expanded under it.
func (l *Loader) LoadBytes(file string, data []byte) (*pipeline.Pipeline, error) {
	errs := &Errors{}
	p, err := l.check(file, data, errs, &libraries{byPath: map[string]*pipeline.Pipeline{}}, nil, false)
	if err != nil {
		return nil, err
	}
	if errs.Len() > 0 {
		if p == nil || p.IsLibrary() || !markInvalid(p, errs) || checkSize(p) != nil {
			return nil, errs
		}
		expand(p.Tasks)
		expand(p.Finally)
		return nil, &Partial{Errs: errs, Pipeline: p}
	}
	if err := checkSize(p); err != nil {
		return nil, err
	}
	expand(p.Tasks)
	expand(p.Finally)
	return p, nil
}

// check reads one file (a pipeline or a library) into the model, adding
// its problems to errs; stack lists the files that use it, for cycles. A
// file used as a library that is not one is only read for its kind.
func (l *Loader) check(file string, data []byte, errs *Errors, libs *libraries, stack []string, asLibrary bool) (*pipeline.Pipeline, error) {
	errs.Reading(file)
	if len(data) > pipeline.MaxFileSize {
		errs.Add(&pipeline.Error{File: file, Pos: pipeline.Pos{Line: 1, Col: 1}, Msg: fmt.Sprintf("file is larger than %d bytes, the limit for a pipeline file", pipeline.MaxFileSize)})
		return nil, nil
	}
	if !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0 {
		errs.Add(&pipeline.Error{File: file, Pos: firstBadByte(data), Msg: "file is not UTF-8 text (binary data?)"})
		return nil, nil
	}
	tree, sm, err := pipeline.Parse(file, data)
	if err != nil {
		var pe *pipeline.Error
		if errors.As(err, &pe) {
			errs.Add(pe)
			return nil, nil
		}
		return nil, err
	}
	root, ok := tree.(map[string]any)
	if !ok {
		errs.Add(&pipeline.Error{File: file, Pos: sm.Value(nil), Msg: "a pipeline file must be a YAML mapping (apiVersion, kind, metadata, tasks, ...)"})
		return nil, nil
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real // one file reached through two paths is one file
	}
	kind, _ := root["kind"].(string)
	if asLibrary && kind != pipeline.KindTasks {
		return &pipeline.Pipeline{File: file, Kind: kind}, nil
	}
	c := &checker{l: l, file: file, dir: filepath.Dir(abs), abs: abs, sm: sm, errs: errs,
		lib: kind == pipeline.KindTasks, libs: libs, stack: stack}
	c.schemaErrors(tree)
	p := c.build(tree)
	c.semantic(p)
	p.File, p.Dir, p.Source = file, c.dir, sm
	p.Kind = pipeline.Kind
	if c.lib {
		p.Kind = pipeline.KindTasks
	}
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
