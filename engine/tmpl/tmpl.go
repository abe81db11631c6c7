// Package tmpl renders kbrun's templates: text/template with sprig's
// functions and missingkey=error, over .vars, .env, .pipeline and .tasks.
//
// Every string value of a task's parameters is its own template, rendered right
// before the task runs. Rendering values one by one (rather than the pipeline
// text as a whole) means a value can never change the structure around it: a
// var holding "a\n- b: c" stays one string.
package tmpl

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/template"

	"github.com/Masterminds/sprig/v3"
)

// funcs is sprig's text function map, built once: it is large and read-only.
// The functions that build strings or lists of a requested size are bounded,
// so that a template cannot make kbrun allocate without limit.
var funcs = boundedFuncs(sprig.TxtFuncMap())

// MaxGenerated bounds repeat/until/untilStep/seq results.
const MaxGenerated = 100000

func boundedFuncs(m map[string]any) map[string]any {
	repeat := m["repeat"].(func(int, string) string)
	m["repeat"] = func(n int, s string) (string, error) {
		if n > MaxGenerated || n*len(s) > 10*MaxGenerated {
			return "", fmt.Errorf("repeat: %d copies is more than kbrun allows", n)
		}
		return repeat(n, s), nil
	}
	until := m["until"].(func(int) []int)
	m["until"] = func(n int) ([]int, error) {
		if n > MaxGenerated || n < -MaxGenerated {
			return nil, fmt.Errorf("until: %d items is more than kbrun allows", n)
		}
		return until(n), nil
	}
	untilStep := m["untilStep"].(func(int, int, int) []int)
	m["untilStep"] = func(start, stop, step int) ([]int, error) {
		if step == 0 || (stop-start)/step > MaxGenerated {
			return nil, fmt.Errorf("untilStep: too many items")
		}
		return untilStep(start, stop, step), nil
	}
	seq := m["seq"].(func(...int) string)
	m["seq"] = func(params ...int) (string, error) {
		for _, p := range params {
			if p > MaxGenerated || p < -MaxGenerated {
				return "", fmt.Errorf("seq: %d is out of kbrun's range", p)
			}
		}
		return seq(params...), nil
	}
	strictNumbers(m)
	m["index"] = index
	m["printf"] = printf
	return m
}

// Has reports whether s holds template syntax at all; most strings do not,
// and skip parsing entirely.
func Has(s string) bool { return strings.Contains(s, "{{") }

// Parse parses text as a template named name. Parsed templates are cached
// by text: installing functions into each new template costs more than
// parsing (funcs.go), and a run parses each string twice (when it is checked
// and when it is rendered). A *template.Template is safe for concurrent
// Execute, so cached ones are shared.
func Parse(name, text string) (*template.Template, error) {
	cache.mu.Lock()
	t, ok := cache.m[text]
	cache.mu.Unlock()
	if ok {
		return t, nil
	}
	// One name for all: a cached template serves every field with this text;
	// callers say which field in their own error messages.
	t = parseFast(tmplName, text)
	if t == nil {
		var err error
		t, err = template.New(tmplName).Option("missingkey=error").Funcs(funcs).Parse(text)
		if err != nil {
			if e := blockError(text, err.Error()); e != nil {
				return nil, e
			}
			return nil, cleanError(err)
		}
	}
	cache.mu.Lock()
	if len(cache.m) >= maxCached {
		cache.m = map[string]*template.Template{} // bounded: start over
	}
	cache.m[text] = t
	cache.mu.Unlock()
	return t, nil
}

const maxCached = 4096

var cache = struct {
	mu sync.Mutex
	m  map[string]*template.Template
}{m: map[string]*template.Template{}}

// Render renders text with data, within the budget of MaxSteps, MaxOutput,
// MaxMade and MaxTime. Text without template syntax is returned as is.
func Render(name, text string, data map[string]any) (string, error) {
	if !Has(text) {
		return text, nil
	}
	t, err := Parse(name, text)
	if err != nil {
		return "", err
	}
	if t, err = forRender(t, text); err != nil {
		return "", err
	}
	out, err := execute(t, text, data)
	if err != nil {
		return "", cleanError(err)
	}
	return out, nil
}

// RenderTree renders every string in a generic value (maps, slices, scalars)
// and returns a new tree; the input is not modified. Errors name the path.
func RenderTree(v any, data map[string]any) (any, error) {
	return renderTree(v, nil, data)
}

func renderTree(v any, path []string, data map[string]any) (any, error) {
	switch x := v.(type) {
	case string:
		out, err := Render(strings.Join(path, "."), x, data)
		if err != nil {
			return nil, &PathError{Path: append([]string(nil), path...), Err: err}
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, item := range x {
			r, err := renderTree(item, append(path, strconv.Itoa(i)), data)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys) // first error is stable
		for _, k := range keys {
			r, err := renderTree(x[k], append(path, k), data)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	default:
		return v, nil
	}
}

// PathError is a rendering error at a path inside a parameter tree.
type PathError struct {
	Path []string
	Err  error
}

func (e *PathError) Error() string {
	if len(e.Path) == 0 {
		return e.Err.Error()
	}
	return strings.Join(e.Path, ".") + ": " + e.Err.Error()
}

func (e *PathError) Unwrap() error { return e.Err }

const tmplName = "value"

// Error is a template error with the line (and, when text/template knows
// it, the column) in the template's text.
type Error struct {
	Line, Col int
	Msg       string
}

func (e *Error) Error() string {
	if e.Col > 0 {
		return fmt.Sprintf("template: line %d:%d: %s", e.Line, e.Col, e.Msg)
	}
	return fmt.Sprintf("template: line %d: %s", e.Line, e.Msg)
}

// cleanError turns text/template's `template: value:1:3: executing "value"
// at <.x>: ...` into an *Error{1, 3, "at <.x>: ..."}.
func cleanError(err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "template: ")
	msg = strings.TrimPrefix(msg, tmplName+":")
	msg = strings.Replace(msg, `executing "`+tmplName+`" `, "", 1)
	msg = strings.ReplaceAll(msg, " at "+tmplName+":", " at line ")
	for _, f := range []string{stepFunc, enterFunc, printFunc} {
		msg = strings.Replace(msg, "at <"+f+">: error calling "+f+": ", "", 1)
	}
	e := &Error{Line: 1, Msg: msg}
	// "LINE: msg" or "LINE:COL: msg"
	nums := []*int{&e.Line, &e.Col}
	for _, n := range nums {
		i := strings.IndexByte(msg, ':')
		v, convErr := strconv.Atoi(msg[:max(i, 0)])
		if i <= 0 || convErr != nil {
			break
		}
		*n, msg = v, msg[i+1:]
	}
	e.Msg = plain(strings.TrimSpace(msg))
	return e
}

// LineCol turns a byte offset of text into a 1-based line and column.
func LineCol(text string, off int) (line, col int) {
	if off > len(text) {
		off = len(text)
	}
	line = 1 + strings.Count(text[:off], "\n")
	col = off - strings.LastIndexByte(text[:off], '\n')
	return line, col
}
