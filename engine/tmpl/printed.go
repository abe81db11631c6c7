package tmpl

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"text/template"
	"text/template/parse"
)

// A template prints text. text/template prints a map, a list or null as
// Go would (map[a:1], [a b], <no value>): text no one meant to give a
// field. The templates that render therefore end each action that prints
// with a call of printFunc, which refuses those values; the parsed
// templates that callers analyse (Refs, cuts) stay as written.
const printFunc = "kbrunText"

// printable is printFunc: v as it is, unless it has no text form.
func printable(v any) (any, error) {
	if v == nil {
		return nil, errors.New("prints null (a value that is not set): give a value, or a fallback with default")
	}
	if _, ok := v.(fmt.Stringer); ok {
		return v, nil
	}
	switch reflect.ValueOf(v).Kind() {
	case reflect.Map, reflect.Slice, reflect.Array:
		return nil, fmt.Errorf("prints %s where text is expected: a template makes text; give its text form with toJson (a list or map param reads it back), toYaml or join", Describe(v))
	}
	return v, nil
}

var rendered = struct {
	mu sync.Mutex
	m  map[string]*template.Template
}{m: map[string]*template.Template{}}

// forRender returns the copy of t (parsed from text) that renders: see
// printFunc.
func forRender(t *template.Template, text string) (*template.Template, error) {
	rendered.mu.Lock()
	r, ok := rendered.m[text]
	rendered.mu.Unlock()
	if ok {
		return r, nil
	}
	r = template.New(t.Name()).Option("missingkey=error").Funcs(usedFuncs(t)).Funcs(template.FuncMap{printFunc: printable})
	for _, tt := range t.Templates() {
		if tt.Tree == nil || tt.Root == nil {
			continue
		}
		tree := tt.Tree.Copy()
		guardPrints(tree.Root)
		if _, err := r.AddParseTree(tt.Name(), tree); err != nil {
			return nil, err
		}
	}
	rendered.mu.Lock()
	if len(rendered.m) >= maxCached {
		rendered.m = map[string]*template.Template{} // bounded: start over
	}
	rendered.m[text] = r
	rendered.mu.Unlock()
	return r, nil
}

// guardPrints ends every action below n that prints (declares no
// variable) with a call of printFunc.
func guardPrints(n parse.Node) {
	visit(n, func(n parse.Node) {
		a, ok := n.(*parse.ActionNode)
		if !ok || a.Pipe == nil || len(a.Pipe.Decl) > 0 {
			return
		}
		id := parse.NewIdentifier(printFunc).SetPos(a.Pos)
		a.Pipe.Cmds = append(a.Pipe.Cmds, &parse.CommandNode{NodeType: parse.NodeCommand, Pos: a.Pos, Args: []parse.Node{id}})
	})
}

// Whole reports whether text is nothing but one action that prints a
// field of the data, as "{{ .vars.zones }}", and returns its path (root
// first): a list or map param given so takes the value itself, where a
// template's text could only be the text of one.
func Whole(text string) ([]string, bool) {
	if strings.Count(text, "{{") != 1 {
		return nil, false
	}
	t, err := Parse("value", text)
	if err != nil || t.Tree == nil {
		return nil, false
	}
	var field []string
	for _, n := range t.Tree.Root.Nodes {
		switch x := n.(type) {
		case *parse.TextNode:
			if strings.TrimSpace(string(x.Text)) != "" {
				return nil, false
			}
		case *parse.ActionNode:
			if len(x.Pipe.Decl) > 0 || len(x.Pipe.Cmds) != 1 || len(x.Pipe.Cmds[0].Args) != 1 {
				return nil, false
			}
			f, ok := x.Pipe.Cmds[0].Args[0].(*parse.FieldNode)
			if !ok {
				return nil, false
			}
			field = f.Ident
		default:
			return nil, false
		}
	}
	return field, field != nil
}
