// Package manifest reads a task's manifests as the task is prepared: files
// and inline text, rendered, split into objects that each know their line,
// and checked for what the API server would refuse by meaning alone
// (names, labels, ports, capabilities), so that validate reports it at
// FILE:LINE:COL before anything is sent. Plans describe the objects from
// here. It sends no request: apply, deploy, delete, assert and podsecurity
// read manifests through it, whatever they then do with the cluster.
package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/task"
)

// Manifest is one object read from a source, with where it came from.
type Manifest struct {
	Object *unstructured.Unstructured
	Source string // "file.yaml#2" (document index from 1)
	// file and doc place problems found later in the object (ErrorAt).
	file string
	doc  document
}

// Manifests are a task's manifests, read, rendered and parsed when the task
// is prepared (so that validate and plan check them as run uses them).
type Manifests struct {
	Objects []Manifest
	// Files are the manifest files as rendered, for plans.
	Files []task.ManifestFile
	// RunTime names the files that can only be rendered at run time (they
	// compute with outputs of tasks that have not run yet): plans cannot
	// list their objects.
	RunTime []string
}

// Complete reports whether every object is known (nothing waits for run time).
func (m *Manifests) Complete() bool { return len(m.RunTime) == 0 }

// ShownFiles are the files for plans (nil-safe: delete by kind has none).
func (m *Manifests) ShownFiles() []task.ManifestFile {
	if m == nil {
		return nil
	}
	return m.Files
}

// Load reads the files (through the engine's reader, rendered
// unless render is false) and the inline text (already rendered as a
// parameter). Empty documents are skipped; a v1 List is flattened.
func Load(p task.Params, files []string, inline string, render bool) (*Manifests, error) {
	return loadManifests(p, files, inline, render, Decode)
}

// LoadExpected is Load for objects that are expectations, not
// objects to apply (DecodeExpected).
func LoadExpected(p task.Params, files []string, inline string, render bool) (*Manifests, error) {
	return loadManifests(p, files, inline, render, DecodeExpected)
}

func loadManifests(p task.Params, files []string, inline string, render bool, decode func(name, text string) ([]Manifest, error)) (*Manifests, error) {
	out := &Manifests{}
	errs := &pipeline.Errors{}
	for i, f := range files {
		if f == "" {
			return nil, task.Fieldf([]string{"files", strconv.Itoa(i)}, "an entry is empty")
		}
		if task.IsUnknown(f) {
			out.RunTime = append(out.RunTime, f)
			out.Files = append(out.Files, task.ManifestFile{Name: f, RunTime: true})
			continue
		}
		if p.Manifests == nil {
			return nil, fmt.Errorf("internal: no manifest reader")
		}
		read, err := p.Manifests.Read(f, render)
		if err != nil {
			if fp, ok := task.Field(err); ok && len(fp) == 0 {
				return nil, task.Fieldf([]string{"files", strconv.Itoa(i)}, "%v", err)
			}
			return nil, err
		}
		for _, mf := range read {
			out.Files = append(out.Files, mf)
			if mf.RunTime {
				out.RunTime = append(out.RunTime, mf.Name)
				continue
			}
			ms, err := decode(mf.Name, mf.Text)
			if err != nil {
				var pes *pipeline.Errors
				var pe *pipeline.Error
				switch {
				case errors.As(err, &pes):
					for _, e := range pes.List() {
						errs.Add(e)
					}
					continue
				case errors.As(err, &pe):
					errs.Add(pe)
					continue
				}
				return nil, err
			}
			out.Objects = append(out.Objects, ms...)
		}
	}
	if errs.Len() > 0 {
		return nil, errs
	}
	if strings.TrimSpace(inline) != "" {
		if strings.Contains(inline, task.RunTime) {
			out.RunTime = append(out.RunTime, "inline manifest")
			return out, nil
		}
		ms, err := decode(inlineName, inline)
		if err != nil {
			return nil, inlineErrors(err)
		}
		out.Objects = append(out.Objects, ms...)
	}
	return out, nil
}

// Decode splits multi-document YAML (or JSON) into objects and
// checks each object's names, labels, ports and capabilities
// (checkObject). Problems are *pipeline.Error values at their line in the
// text (a *pipeline.Errors when the objects have several).
func Decode(name, text string) ([]Manifest, error) {
	return decodeManifests(name, text, true)
}

// DecodeExpected decodes objects that state what live objects must look
// like: a name is optional (a nameless one stands for every object of its
// kind and labels) and values need not be valid (they may be CEL
// expressions), so only apiVersion and kind are required.
func DecodeExpected(name, text string) ([]Manifest, error) {
	return decodeManifests(name, text, false)
}

// ErrorAt is a problem at path in the object, placed at its line in the
// file (at the manifest parameter, with the line, for an inline one).
func (m Manifest) ErrorAt(path []string, msg string) error {
	pos := pipeline.Pos{Line: 1, Col: 1}
	if _, src, _ := pipeline.Parse(m.file, []byte(m.doc.text)); src != nil {
		pos = src.Value(path)
	}
	pos.Line += m.doc.line - 1
	if len(path) > 0 {
		msg = joinPath(path) + ": " + msg
	}
	if m.file == inlineName {
		return task.Fieldf([]string{"manifest"}, "line %d: %s", pos.Line, msg)
	}
	return &pipeline.Error{File: m.file, Pos: pos, Msg: msg}
}

const inlineName = "inline manifest"

func decodeManifests(name, text string, apply bool) ([]Manifest, error) {
	var out []Manifest
	problems := &pipeline.Errors{}
	checked := func(doc document, i int, u *unstructured.Unstructured) Manifest {
		if apply {
			for _, e := range objectErrors(name, doc, i+1, u, checkObject(u)) {
				problems.Add(e)
			}
		}
		return Manifest{Object: u, Source: fmt.Sprintf("%s#%d", name, i+1), file: name, doc: doc}
	}
	for i, doc := range splitDocuments(text) {
		at := func(line int, format string, args ...any) error {
			return &pipeline.Error{File: name, Pos: pipeline.Pos{Line: line, Col: 1}, Msg: fmt.Sprintf(format, args...)}
		}
		raw := []byte(doc.text)
		if len(bytes.TrimSpace(stripComments(raw))) == 0 {
			continue
		}
		var v any
		if err := utilyaml.Unmarshal(raw, &v); err != nil {
			line, msg := yamlErrorLine(err)
			return nil, at(doc.line+line-1, "not a valid manifest (document %d): %s", i+1, msg)
		}
		m, ok := v.(map[string]any)
		if !ok {
			if v == nil {
				continue
			}
			return nil, at(doc.line, "not a manifest (document %d): a Kubernetes object is a mapping with apiVersion and kind, this is %s", i+1, yamlKind(v))
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetAPIVersion() == "" || u.GetKind() == "" {
			return nil, at(doc.line, "document %d: an object needs apiVersion and kind", i+1)
		}
		if u.IsList() {
			err := u.EachListItem(func(o runtime.Object) error {
				item := o.(*unstructured.Unstructured)
				if apply && item.GetName() == "" && item.GetGenerateName() == "" {
					return at(doc.line, "document %d: a %s in the list has no metadata.name", i+1, item.GetKind())
				}
				out = append(out, checked(doc, i, item))
				return nil
			})
			if err != nil {
				return nil, err
			}
			continue
		}
		if apply && u.GetName() == "" {
			return nil, at(doc.line, "document %d: %s has no metadata.name (server-side apply needs one)", i+1, u.GetKind())
		}
		out = append(out, checked(doc, i, u))
	}
	return out, problems.OrNil()
}

// inlineErrors places the problems of an inline manifest at the manifest
// parameter, each with its line in the text.
func inlineErrors(err error) error {
	var ps task.Problems
	var pes *pipeline.Errors
	var pe *pipeline.Error
	switch {
	case errors.As(err, &pes):
		for _, e := range pes.List() {
			ps.Add([]string{"manifest"}, fmt.Errorf("line %d: %s", e.Pos.Line, e.Msg))
		}
	case errors.As(err, &pe):
		ps.Add([]string{"manifest"}, fmt.Errorf("line %d: %s", pe.Pos.Line, pe.Msg))
	default:
		ps.Add([]string{"manifest"}, err)
	}
	return ps.Err()
}

type document struct {
	text string
	line int // first line in the file
}

// splitDocuments splits YAML at --- separator lines, as kubectl does,
// remembering where each document starts.
func splitDocuments(text string) []document {
	var docs []document
	var cur strings.Builder
	start := 1
	lines := strings.SplitAfter(text, "\n")
	for i, l := range lines {
		trimmed := strings.TrimRight(l, "\r\n")
		if trimmed == "---" || strings.HasPrefix(trimmed, "--- ") || strings.HasPrefix(trimmed, "---\t") {
			docs = append(docs, document{text: cur.String(), line: start})
			cur.Reset()
			start = i + 2
			continue
		}
		cur.WriteString(l)
	}
	return append(docs, document{text: cur.String(), line: start})
}

var yamlLine = regexp.MustCompile(`line (\d+): (.*)$`)

// yamlErrorLine finds the line a YAML error names (1 when none).
func yamlErrorLine(err error) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return max(n, 1), m[2]
	}
	return 1, strings.TrimPrefix(msg, "yaml: ")
}

func yamlKind(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case string:
		return "plain text"
	}
	return fmt.Sprintf("a %T", v)
}

func stripComments(b []byte) []byte {
	var out [][]byte
	for _, line := range bytes.Split(b, []byte("\n")) {
		t := bytes.TrimSpace(line)
		if len(t) == 0 || t[0] == '#' {
			continue
		}
		out = append(out, line)
	}
	return bytes.Join(out, []byte("\n"))
}
