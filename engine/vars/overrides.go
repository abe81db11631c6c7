package vars

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"syscall"

	"gopkg.in/yaml.v3"

	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/valid"
)

// Override is a value given for a var, and where it was given: "--set" or
// FILE:LINE:COL of a values file.
type Override struct {
	Value  any
	Source string
}

// Overrides are the values given for vars, by var name.
type Overrides map[string]Override

// Values returns the bare values.
func (o Overrides) Values() map[string]any {
	out := make(map[string]any, len(o))
	for k, v := range o {
		out[k] = v.Value
	}
	return out
}

// Problems are every problem found in the given values, one per line.
type Problems []string

func (p Problems) Error() string { return strings.Join(p, "\n") }

// MaxValuesFileSize bounds a values file, as pipeline files are bounded.
const MaxValuesFileSize = pipeline.MaxFileSize

// Read reads values files, then --set-file NAME=PATH pairs (a var's value
// is the file's content, as it is), then --set NAME=VALUE pairs (later
// wins), and checks every value against its var. It reports all problems
// at once.
func Read(p *pipeline.Pipeline, files, sets, setFiles []string) (Overrides, error) {
	out, probs := ReadAll(p, files, sets, setFiles)
	if len(probs) > 0 {
		return nil, probs
	}
	return out, nil
}

// ReadAll is Read that keeps going: the values that fit their vars, the
// problems of the others (a var whose last given value does not fit has
// none), so that the pipeline can still be checked with the good ones and
// every problem reported at once.
func ReadAll(p *pipeline.Pipeline, files, sets, setFiles []string) (Overrides, Problems) {
	byName := map[string]*pipeline.Var{}
	for i := range p.Vars {
		byName[p.Vars[i].Name] = &p.Vars[i]
	}
	out := Overrides{}
	failed := map[string]bool{}
	var probs Problems
	for _, f := range files {
		probs = append(probs, readFile(f, byName, out, failed)...)
	}
	for _, s := range setFiles {
		name, path, ok := strings.Cut(s, "=")
		if !ok || name == "" || path == "" {
			probs = append(probs, fmt.Sprintf("--set-file %q: want NAME=PATH", s))
			continue
		}
		v, known := byName[name]
		if !known {
			probs = append(probs, fmt.Sprintf("--set-file %s: unknown var %q%s", name, name, suggest(name, byName)))
			continue
		}
		data, err := ReadRegular(path, MaxValuesFileSize)
		if err != nil {
			probs = append(probs, fmt.Sprintf("--set-file %s: cannot read %s: %v", name, path, err))
			failed[name] = true
			delete(out, name)
			continue
		}
		val, err := FromText(v, string(data))
		if err == nil {
			err = Check(v, val)
		}
		if err != nil {
			// The content is not shown: the file may hold a secret.
			probs = append(probs, fmt.Sprintf("--set-file %s: var %q: the content of %s: %v", name, name, path, problem(v, err, string(data))))
			failed[name] = true
			delete(out, name)
			continue
		}
		out[name] = Override{Value: val, Source: "--set-file " + path}
		delete(failed, name)
	}
	for _, s := range sets {
		name, text, ok := strings.Cut(s, "=")
		if !ok || name == "" {
			probs = append(probs, fmt.Sprintf("--set %q: want NAME=VALUE", s))
			continue
		}
		v, known := byName[name]
		if !known {
			probs = append(probs, fmt.Sprintf("--set %s: unknown var %q%s", name, name, suggest(name, byName)))
			continue
		}
		val, err := FromText(v, text)
		if err == nil {
			err = Check(v, val)
		}
		if err != nil {
			probs = append(probs, fmt.Sprintf("--set %s: var %q: %v", name, name, problem(v, err, text)))
			failed[name] = true
			delete(out, name)
			continue
		}
		out[name] = Override{Value: val, Source: "--set"}
		delete(failed, name)
	}
	for _, v := range p.Vars {
		if _, given := out[v.Name]; v.Required && !given && !failed[v.Name] {
			pos := pipeline.Pos{Line: 1, Col: 1}
			if p.Source != nil {
				pos = p.Source.Key(v.DefPath)
			}
			probs = append(probs, fmt.Sprintf("%s:%d:%d: vars.%s: var %q is required: give it with --set %s=VALUE or in a values file (-f)", p.File, pos.Line, pos.Col, v.Name, v.Name, v.Name))
		}
	}
	return out, probs
}

func readFile(file string, byName map[string]*pipeline.Var, out Overrides, failed map[string]bool) Problems {
	at := func(n *yaml.Node, format string, args ...any) string {
		return fmt.Sprintf("%s:%d:%d: %s", file, n.Line, n.Column, fmt.Sprintf(format, args...))
	}
	data, err := ReadRegular(file, MaxValuesFileSize)
	if err != nil {
		// At 1:1, as a pipeline file that cannot be read is.
		return Problems{fmt.Sprintf("%s:1:1: cannot read values file (--values): %v", file, err)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return Problems{pipeline.YAMLError(file, err).Error()}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil // an empty values file sets nothing
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return Problems{at(root, "a values file is a mapping of var names to values")}
	}
	var probs Problems
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, n := root.Content[i], root.Content[i+1]
		v, known := byName[k.Value]
		if !known {
			probs = append(probs, at(k, "unknown var %q%s", k.Value, suggest(k.Value, byName)))
			continue
		}
		val, err := FromNode(v, n)
		if err == nil {
			err = Check(v, val)
		}
		if err != nil {
			probs = append(probs, at(n, "var %q: %v", k.Value, problem(v, err, nodeValue(n))))
			failed[k.Value] = true
			delete(out, k.Value)
			continue
		}
		out[k.Value] = Override{Value: val, Source: fmt.Sprintf("%s:%d:%d", file, n.Line, n.Column)}
		delete(failed, k.Value)
	}
	return probs
}

// FromNode converts a values-file node to a value of v's type. A string var
// takes a scalar's text as written, so that 0755 stays "0755" and 1.10 stays
// "1.10" (YAML would read them as 493 and 1.1).
func FromNode(v *pipeline.Var, n *yaml.Node) (any, error) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	isScalar := n.Kind == yaml.ScalarNode
	switch v.Type {
	case pipeline.TypeString, pipeline.TypeDuration:
		if !isScalar || n.ShortTag() == "!!null" {
			break
		}
		return n.Value, nil
	case pipeline.TypeInt, pipeline.TypeNumber, pipeline.TypeBool:
		if !isScalar || n.ShortTag() == "!!null" {
			break
		}
		decimal := !strings.HasPrefix(strings.TrimLeft(n.Value, "+-"), "0") || n.Value == "0"
		if v.Type == pipeline.TypeInt && n.ShortTag() == "!!int" && decimal {
			var i int64
			if err := n.Decode(&i); err != nil {
				return nil, fmt.Errorf("%s is out of range for an int", n.Value)
			}
			return i, nil
		}
		return FromText(v, n.Value)
	}
	var generic any
	if err := n.Decode(&generic); err != nil {
		return nil, err
	}
	val := Normalize(generic)
	if v.Type != "" {
		if err := checkType(v.Type, val); err != nil {
			return nil, err
		}
	}
	return val, nil
}

// flow parses a YAML flow list or map given on the command line.
func flow(text string, t pipeline.VarType) (any, error) {
	var generic any
	if err := yaml.Unmarshal([]byte(text), &generic); err != nil {
		return nil, fmt.Errorf("%q is not a YAML %s: %s", text, t, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	val := Normalize(generic)
	if err := checkType(t, val); err != nil {
		return nil, err
	}
	return val, nil
}

// Normalize converts yaml.v3's decoded values to the generic forms the
// engine uses (map[string]any, []any, int64).
func Normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, item := range x {
			x[k] = Normalize(item)
		}
		return x
	case []any:
		for i, item := range x {
			x[i] = Normalize(item)
		}
		return x
	case int:
		return int64(x)
	case uint64:
		return float64(x)
	default:
		return v
	}
}

// ReadRegular reads a file that must be a regular file of at most limit
// bytes: a named pipe or a device would block or never end.
func ReadRegular(path string, limit int64) ([]byte, error) {
	// O_NONBLOCK: opening a named pipe must not wait for a writer; it has
	// no effect on regular files.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, pe.Err
		}
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", fileKind(st.Mode()))
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("file is %d bytes, more than the limit of %d", st.Size(), limit)
	}
	var b bytes.Buffer
	b.Grow(int(st.Size()) + bytes.MinRead) // two reads (data, end) instead of one per doubling
	if _, err := b.ReadFrom(io.LimitReader(f, limit+1)); err != nil {
		return nil, err
	}
	if int64(b.Len()) > limit {
		return nil, fmt.Errorf("file is larger than the limit of %d bytes", limit)
	}
	return b.Bytes(), nil
}

func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return m.Type().String()
}

// suggest names the var name differs from by case or a letter or two (as
// every "did you mean" of kbrun does, valid.Closest), else lists the vars.
func suggest(name string, byName map[string]*pipeline.Var) string {
	known := make([]string, 0, len(byName))
	for n := range byName {
		known = append(known, n)
	}
	sort.Strings(known)
	if k := valid.Closest(name, known, true); k != "" {
		return fmt.Sprintf(" (did you mean %q?)", k)
	}
	if len(known) > 12 {
		known = append(slices.Clip(known[:12]), "...")
	}
	return " (the pipeline has: " + strings.Join(known, ", ") + ")"
}

// problem keeps a secret var's value (raw: as given) out of a message
// about it.
func problem(v *pipeline.Var, err error, raw any) error {
	if !v.Secret {
		return err
	}
	return hide(err, raw)
}

// nodeValue is what a values-file node gives, for problem.
func nodeValue(n *yaml.Node) any {
	if n.Kind == yaml.ScalarNode {
		return n.Value
	}
	var generic any
	_ = n.Decode(&generic)
	return generic
}
