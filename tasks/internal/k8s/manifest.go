package k8s

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// ManifestSource is one place manifests come from: a file or directory, or
// inline YAML.
type ManifestSource struct {
	// Path is a file or a directory (its *.yaml, *.yml and *.json files, in
	// name order, not recursive).
	Path string
	// Inline is YAML or JSON text given in the pipeline.
	Inline string
	// Name labels inline text in messages, e.g. "manifest".
	Name string
}

// Renderer renders text as a template (task.Env.Render).
type Renderer func(name, text string) (string, error)

// Manifest is one object read from a source, with where it came from.
type Manifest struct {
	Object *unstructured.Unstructured
	Source string // "file.yaml#2" (document index from 1)
}

// ReadManifests reads every source in order. File contents go through
// render when it is non-nil (inline text has already been rendered by the
// engine). Empty documents are skipped; a v1 List is flattened.
func ReadManifests(sources []ManifestSource, render Renderer) ([]Manifest, error) {
	var out []Manifest
	for _, s := range sources {
		if s.Path == "" {
			name := s.Name
			if name == "" {
				name = "inline manifest"
			}
			ms, err := DecodeManifests(name, []byte(s.Inline))
			if err != nil {
				return nil, err
			}
			out = append(out, ms...)
			continue
		}
		files, err := manifestFiles(s.Path)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("read manifest: %w", err)
			}
			if render != nil {
				text, err := render(f, string(data))
				if err != nil {
					return nil, fmt.Errorf("render %s: %w", f, err)
				}
				data = []byte(text)
			}
			ms, err := DecodeManifests(f, data)
			if err != nil {
				return nil, err
			}
			out = append(out, ms...)
		}
	}
	return out, nil
}

func manifestFiles(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("manifest directory: %w", err)
	}
	var files []string
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".yaml", ".yml", ".json":
			files = append(files, filepath.Join(path, e.Name()))
		}
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("manifest directory %s holds no .yaml, .yml or .json file", path)
	}
	return files, nil
}

// DecodeManifests splits multi-document YAML (or JSON) into objects.
func DecodeManifests(name string, data []byte) ([]Manifest, error) {
	var out []Manifest
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for doc := 1; ; doc++ {
		raw, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", name, doc, err)
		}
		if len(bytes.TrimSpace(stripComments(raw))) == 0 {
			continue
		}
		src := fmt.Sprintf("%s#%d", name, doc)
		var m map[string]any
		if err := utilyaml.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", src, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetAPIVersion() == "" || u.GetKind() == "" {
			return nil, fmt.Errorf("%s: an object needs apiVersion and kind", src)
		}
		if u.IsList() {
			err := u.EachListItem(func(o runtime.Object) error {
				item := o.(*unstructured.Unstructured)
				if item.GetName() == "" && item.GetGenerateName() == "" {
					return fmt.Errorf("%s: a %s in the list has no metadata.name", src, item.GetKind())
				}
				out = append(out, Manifest{Object: item, Source: src})
				return nil
			})
			if err != nil {
				return nil, err
			}
			continue
		}
		if u.GetName() == "" {
			return nil, fmt.Errorf("%s: %s has no metadata.name (server-side apply needs one)", src, u.GetKind())
		}
		out = append(out, Manifest{Object: u, Source: src})
	}
	return out, nil
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
