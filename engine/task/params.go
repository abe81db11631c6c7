package task

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Params are a task's parameters: the value under the task's type key, as
// generic JSON-like data (map[string]any, []any, string, float64/int64, bool,
// nil), rendered when the task runs and unrendered when checked at load time.
type Params struct {
	// Value is the parameter tree.
	Value any
	// Dir is the pipeline file's folder; relative paths resolve against it.
	Dir string
	// Rendered is false when the params are checked at load time: string
	// values may still hold template syntax.
	Rendered bool
	// Namespace is the run's default namespace (as Env.Namespace): actions
	// resolve their own namespace with it when they are prepared, so that
	// plans name the namespace a task will use. Empty at load time.
	Namespace string
	// Manifests reads and renders the manifest files a task names; nil at
	// load time (Checker).
	Manifests ManifestReader
	// Timeout is the task's timeout, for waits within the task that must
	// fit in it; 0 when it is known only at run time (and at load time).
	Timeout time.Duration
}

// ManifestReader reads manifest files for a task, rendered as templates with
// the task's data. The engine implements it, so that validate, plan and run
// read and check manifest files the same way.
type ManifestReader interface {
	// Read reads path (a file, or a folder's .yaml, .yml and .json files in
	// name order), relative to the pipeline file's folder; render=false
	// returns the files as they are. Errors are *pipeline.Error values that
	// point into the manifest file.
	Read(path string, render bool) ([]ManifestFile, error)
}

// ManifestFile is one manifest file's text, rendered.
type ManifestFile struct {
	// Name is the file as shown in messages (relative to the working
	// directory when it is below it).
	Name string
	Text string
	// Shown, when set, is what plans print instead of Text: the text with
	// the data of its Secrets blanked, which holds pieces of a secret.
	Shown string
	// RunTime is true when the text depends on values known only at run
	// time (it computes with outputs of tasks that have not run): Text is
	// then empty, and only the template was checked.
	RunTime bool
}

// Decode fills v (a pointer to a struct with json tags) from the parameters,
// rejecting unknown fields. The schema has already checked the shape; this
// catches drift between the schema and the struct.
func (p Params) Decode(v any) error {
	data, err := json.Marshal(p.Value)
	if err != nil {
		return fmt.Errorf("encode params: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		// The schema checked types already; what is left is a value the
		// Go type cannot hold, such as 1e20 for an integer.
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return FieldError{Path: strings.Split(te.Field, "."), Message: fmt.Sprintf("%s does not fit a %s", te.Value, goTypeName(te.Type.Kind().String()))}
		}
		return fmt.Errorf("decode params: %w", err)
	}
	return nil
}

func goTypeName(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"):
		return "whole number in range (" + kind + ")"
	case kind == "bool":
		return "boolean"
	}
	return kind
}

// Path resolves a path from the pipeline file against the pipeline's folder,
// so that a pipeline behaves the same from any working directory.
func (p Params) Path(path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(p.Dir, path)
}

// FieldError is a problem with one parameter, found by a Checker or
// returned by Prepare. Path is relative to the task's parameters, e.g.
// []string{"files", "0"}; the engine turns it into FILE:LINE:COL.
type FieldError struct {
	Path    []string
	Message string
}

func (e FieldError) Error() string {
	if len(e.Path) == 0 {
		return e.Message
	}
	return strings.Join(e.Path, ".") + ": " + e.Message
}

// Fieldf returns a FieldError at path (relative to the task's parameters).
func Fieldf(path []string, format string, args ...any) error {
	return FieldError{Path: path, Message: fmt.Sprintf(format, args...)}
}

// Field returns the path under the params of a FieldError in err, if any.
func Field(err error) ([]string, bool) {
	var fe FieldError
	if errors.As(err, &fe) {
		return fe.Path, true
	}
	return nil, false
}

// Local checks that a local path of a task's parameters exists (a folder
// when dir), resolved as Path resolves it. what names it in the message
// ("folder", "package folder"); the message says where a relative path starts
// and, when the path exists from the working directory instead (a --set
// value typed as a shell sees it), how to give that one.
func (p Params) Local(path, what string, dir bool) error {
	st, err := os.Stat(p.Path(path))
	switch {
	case err != nil:
		msg := fmt.Sprintf("%s %q does not exist (relative paths start at the pipeline file's folder", what, path)
		if !filepath.IsAbs(path) {
			if _, err := os.Stat(path); err == nil {
				msg += "; it exists from the working directory: give it as an absolute path, e.g. $PWD/" + path
			}
		}
		return errors.New(msg + ")")
	case dir && !st.IsDir():
		return fmt.Errorf("%q is a file, not a folder", path)
	}
	return nil
}
