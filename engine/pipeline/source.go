package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Pos is a place in a file.
type Pos struct{ Line, Col int }

// SourceMap remembers the position of every value and mapping key of a
// document by its instance path (JSON pointer tokens joined with "/").
type SourceMap struct {
	File   string
	values map[string]Pos
	keys   map[string]Pos
}

func pathKey(path []string) string { return strings.Join(path, "/") }

// Value returns the position of the value at path, or of its nearest
// ancestor that has one.
func (m *SourceMap) Value(path []string) Pos {
	for i := len(path); i >= 0; i-- {
		if p, ok := m.values[pathKey(path[:i])]; ok {
			return p
		}
	}
	return Pos{1, 1}
}

// Key returns the position of the mapping key that holds path (falling back
// to the value's position).
func (m *SourceMap) Key(path []string) Pos {
	if p, ok := m.keys[pathKey(path)]; ok {
		return p
	}
	return m.Value(path)
}

// Limits bound what a pipeline file may be, so that hostile input fails fast.
const (
	MaxFileSize = 4 << 20 // bytes
	MaxNodes    = 200000  // values after alias expansion
	MaxDepth    = 100     // nesting
)

// Parse reads one YAML document into generic data (map[string]any, []any,
// string, int64, float64, bool, nil) and a source map. Errors name the file
// and the position.
func Parse(file string, data []byte) (any, *SourceMap, error) {
	if len(data) > MaxFileSize {
		return nil, nil, &Error{File: file, Pos: Pos{1, 1}, Msg: fmt.Sprintf("file is %d bytes; pipeline files are limited to %d", len(data), MaxFileSize)}
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, yamlError(file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, nil, &Error{File: file, Pos: Pos{extra.Line, extra.Column}, Msg: "a pipeline file holds one YAML document; found another after ---"}
	} else if !errors.Is(err, io.EOF) {
		return nil, nil, yamlError(file, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil, &Error{File: file, Pos: Pos{1, 1}, Msg: "file is empty"}
	}
	c := &converter{sm: &SourceMap{File: file, values: map[string]Pos{}, keys: map[string]Pos{}}}
	v := c.convert(doc.Content[0], nil, 0)
	if c.err != nil {
		return nil, nil, c.err
	}
	return v, c.sm, nil
}

type converter struct {
	sm    *SourceMap
	nodes int
	err   *Error
}

func (c *converter) fail(n *yaml.Node, path []string, msg string) {
	if c.err == nil {
		c.err = &Error{File: c.sm.File, Pos: Pos{n.Line, n.Column}, Path: append([]string(nil), path...), Msg: msg}
	}
}

func (c *converter) convert(n *yaml.Node, path []string, depth int) any {
	if c.err != nil {
		return nil
	}
	c.nodes++
	if c.nodes > MaxNodes {
		c.fail(n, path, fmt.Sprintf("document expands to more than %d values (alias bomb?)", MaxNodes))
		return nil
	}
	if depth > MaxDepth {
		c.fail(n, path, fmt.Sprintf("nesting deeper than %d levels", MaxDepth))
		return nil
	}
	// An alias's position is where it is used; its value is the anchor's.
	if _, seen := c.sm.values[pathKey(path)]; !seen {
		c.sm.values[pathKey(path)] = Pos{n.Line, n.Column}
	}
	switch n.Kind {
	case yaml.AliasNode:
		return c.convert(n.Alias, path, depth+1)
	case yaml.DocumentNode:
		return c.convert(n.Content[0], path, depth+1)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for i, item := range n.Content {
			out = append(out, c.convert(item, childPath(path, strconv.Itoa(i)), depth+1))
		}
		return out
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
				c.fail(k, path, "YAML merge keys (<<) are not supported")
				return nil
			}
			if k.Kind != yaml.ScalarNode {
				c.fail(k, path, "mapping keys must be strings")
				return nil
			}
			child := childPath(path, k.Value)
			if _, dup := out[k.Value]; dup {
				first := c.sm.keys[pathKey(child)]
				c.fail(k, child, fmt.Sprintf("duplicate key %q (first at line %d)", k.Value, first.Line))
				return nil
			}
			c.sm.keys[pathKey(child)] = Pos{k.Line, k.Column}
			out[k.Value] = c.convert(v, child, depth+1)
		}
		return out
	case yaml.ScalarNode:
		return c.scalar(n, path)
	}
	c.fail(n, path, "unsupported YAML node")
	return nil
}

func (c *converter) scalar(n *yaml.Node, path []string) any {
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			c.fail(n, path, err.Error())
		}
		return b
	case "!!int":
		var i int64
		if err := n.Decode(&i); err != nil {
			c.fail(n, path, "integer out of range: "+n.Value)
		}
		return i
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			c.fail(n, path, err.Error())
		}
		return f
	case "!!str", "!!binary", "!!timestamp":
		return n.Value
	default:
		c.fail(n, path, fmt.Sprintf("unsupported YAML tag %s", n.Tag))
		return nil
	}
}

// yamlError turns a yaml.v3 syntax error ("yaml: line 3: ...") into an
// Error with the position it names.
// YAMLError is a YAML syntax error of file at its line (yaml.v3 says
// "yaml: line N: ..."), for any YAML file kbrun reads.
func YAMLError(file string, err error) *Error { return yamlError(file, err) }

func yamlError(file string, err error) *Error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: ")
	line := 1
	if strings.HasPrefix(msg, "line ") {
		rest := msg[len("line "):]
		if i := strings.Index(rest, ":"); i > 0 {
			if l, convErr := strconv.Atoi(rest[:i]); convErr == nil {
				line = l
				msg = strings.TrimSpace(rest[i+1:])
			}
		}
	}
	return &Error{File: file, Pos: Pos{line, 1}, Msg: "YAML syntax: " + msg}
}

// childPath returns path+tok in a new slice, so that siblings never share
// (and overwrite) a backing array.
func childPath(path []string, tok string) []string {
	out := make([]string, len(path), len(path)+1)
	copy(out, path)
	return append(out, tok)
}
