package task

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
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
	// Namespace is the run's default namespace (as Env.Namespace), so that
	// Describe can name it; empty at load time.
	Namespace string
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
		return fmt.Errorf("decode params: %w", err)
	}
	return nil
}

// Path resolves a path from the pipeline file against the pipeline's folder,
// so that a pipeline behaves the same from any working directory.
func (p Params) Path(path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(p.Dir, path)
}

// HasTemplate reports whether s still holds template syntax.
func HasTemplate(s string) bool { return strings.Contains(s, "{{") }

// FieldError is a problem with one parameter, found by a Checker. Path is
// relative to the task's parameters, e.g. []string{"files", "0"}.
type FieldError struct {
	Path    []string
	Message string
}

func (e FieldError) Error() string {
	return strings.Join(e.Path, ".") + ": " + e.Message
}
