package tmpl

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"text/template"
	"text/template/parse"
	"time"
)

// The budget of one rendering of one template. A pipeline file is input
// kbrun does not control (a library from another team, a values file): no
// template may make kbrun spin, exhaust memory, or wait for ever. Past any
// of these, the render fails with the template's line and column.
const (
	// MaxSteps bounds range iterations, function calls and template calls.
	MaxSteps = 200_000
	// MaxOutput bounds the bytes a render writes.
	MaxOutput = 16 << 20
	// MaxMade bounds the bytes of the strings (and the items of the lists
	// and maps) that functions return over a render: what a template can
	// make kbrun hold without printing it.
	MaxMade = 64 << 20
	// MaxTime bounds a render's wall time.
	MaxTime = time.Second
	// MaxDepth bounds nested template calls, far below text/template's own
	// bound (100,000), which a recursion reaches only after a second or more.
	MaxDepth = 1000
)

// ErrBudget is the cause of a render stopped by its budget.
var ErrBudget = errors.New("template exceeds kbrun's budget")

// budget is what one render has used.
type budget struct {
	steps    int
	depth    int
	made     int64
	deadline time.Time
}

func (b *budget) step() error {
	b.steps++
	switch {
	case b.steps > MaxSteps:
		return fmt.Errorf("%w: more than %d steps (loop iterations and calls)", ErrBudget, MaxSteps)
	case time.Now().After(b.deadline):
		return b.late()
	}
	return nil
}

// enter starts a defined template's body; leave ends it.
func (b *budget) enter() error {
	b.depth++
	if b.depth > MaxDepth {
		return fmt.Errorf("%w: templates nested more than %d deep", ErrBudget, MaxDepth)
	}
	return b.step()
}

func (b *budget) leave() { b.depth-- }

func (b *budget) late() error {
	return fmt.Errorf("%w: it ran longer than %s", ErrBudget, MaxTime)
}

func (b *budget) charge(n int64) error {
	b.made += n
	if b.made > MaxMade {
		return fmt.Errorf("%w: its functions made more than %d MiB", ErrBudget, MaxMade>>20)
	}
	return nil
}

// limitWriter stops a render that writes more than MaxOutput bytes.
type limitWriter struct {
	b strings.Builder
}

func (w *limitWriter) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > MaxOutput {
		return 0, fmt.Errorf("%w: its output is longer than %d MiB", ErrBudget, MaxOutput>>20)
	}
	return w.b.Write(p)
}

// instance is a copy of a parsed template whose loops and calls charge one
// budget: its range bodies and defined templates start with a call of
// stepFunc, and the functions it calls are wrapped. An instance serves one
// render at a time.
type instance struct {
	t *template.Template
	b budget
}

// The functions instrumented templates call; no pipeline can name them
// (they are not in the function map pipelines see).
const (
	stepFunc  = "kbrunStep"
	enterFunc = "kbrunEnter"
	leaveFunc = "kbrunLeave"
)

var instances = struct {
	mu   sync.Mutex
	idle map[string][]*instance
}{idle: map[string][]*instance{}}

// execute renders t (parsed from text) with data within the budget.
func execute(t *template.Template, text string, data any) (string, error) {
	var w limitWriter
	if !needsBudget(t) {
		// No loop and no call: its time is linear in its size.
		err := t.Execute(&w, data)
		return w.b.String(), err
	}
	in, err := takeInstance(t, text)
	if err != nil {
		return "", err
	}
	in.b = budget{deadline: time.Now().Add(MaxTime)}
	err = in.t.Execute(&w, data)
	instances.mu.Lock()
	if len(instances.idle) >= maxCached {
		instances.idle = map[string][]*instance{} // bounded: start over
	}
	instances.idle[text] = append(instances.idle[text], in)
	instances.mu.Unlock()
	return w.b.String(), err
}

func takeInstance(t *template.Template, text string) (*instance, error) {
	instances.mu.Lock()
	if list := instances.idle[text]; len(list) > 0 {
		in := list[len(list)-1]
		instances.idle[text] = list[:len(list)-1]
		instances.mu.Unlock()
		return in, nil
	}
	instances.mu.Unlock()
	return newInstance(t)
}

// newInstance copies t's trees with a step at the start of every range
// body and defined template, and binds the functions they call to the
// instance's budget.
func newInstance(t *template.Template) (*instance, error) {
	in := &instance{}
	nt := template.New(t.Name()).Option("missingkey=error")
	used := map[string]bool{}
	for _, tt := range t.Templates() {
		if tt.Tree == nil || tt.Root == nil {
			continue
		}
		tree := tt.Tree.Copy()
		instrument(tree.Root, used)
		if tt.Name() != t.Name() {
			root := tree.Root
			root.Nodes = append(append([]parse.Node{callNode(enterFunc, root.Pos)}, root.Nodes...), callNode(leaveFunc, root.Pos))
		}
		if _, err := nt.AddParseTree(tt.Name(), tree); err != nil {
			return nil, err
		}
	}
	fm := template.FuncMap{
		stepFunc:  func() (string, error) { return "", in.b.step() },
		enterFunc: func() (string, error) { return "", in.b.enter() },
		leaveFunc: func() string { in.b.leave(); return "" },
		printFunc: printable, // a check, not work: no step
	}
	for name := range used {
		fn, ok := funcs[name]
		if !ok {
			fn, ok = builtins[name]
		}
		if ok {
			fm[name] = bind(fn, &in.b)
		}
	}
	nt.Funcs(fm)
	in.t = nt
	return in, nil
}

// needsBudget reports whether a template loops or calls anything.
func needsBudget(t *template.Template) bool {
	for _, tt := range t.Templates() {
		if tt.Name() != t.Name() || tt.Tree != nil && tt.Root != nil && loopsOrCalls(tt.Root) {
			return true
		}
	}
	return false
}

func loopsOrCalls(n parse.Node) bool {
	found := false
	visit(n, func(n parse.Node) {
		switch x := n.(type) {
		case *parse.IdentifierNode:
			found = found || x.Ident != printFunc
		case *parse.RangeNode, *parse.TemplateNode:
			found = true
		}
	})
	return found
}

// instrument puts a step at the start of every range body below n and
// collects the functions called.
func instrument(n parse.Node, used map[string]bool) {
	visit(n, func(n parse.Node) {
		switch x := n.(type) {
		case *parse.RangeNode:
			x.List.Nodes = append([]parse.Node{callNode(stepFunc, x.Pos)}, x.List.Nodes...)
		case *parse.IdentifierNode:
			used[x.Ident] = true
		}
	})
}

// callNode is {{ name }} at pos.
func callNode(name string, pos parse.Pos) parse.Node {
	id := parse.NewIdentifier(name).SetPos(pos)
	cmd := &parse.CommandNode{NodeType: parse.NodeCommand, Pos: pos, Args: []parse.Node{id}}
	return &parse.ActionNode{NodeType: parse.NodeAction, Pos: pos, Pipe: &parse.PipeNode{NodeType: parse.NodePipe, Pos: pos, Cmds: []*parse.CommandNode{cmd}}}
}

// visit calls fn for n and every node below it.
func visit(n parse.Node, fn func(parse.Node)) {
	if n == nil || reflect.ValueOf(n).IsNil() {
		return
	}
	fn(n)
	switch x := n.(type) {
	case *parse.ListNode:
		for _, c := range x.Nodes {
			visit(c, fn)
		}
	case *parse.ActionNode:
		visit(x.Pipe, fn)
	case *parse.PipeNode:
		for _, c := range x.Cmds {
			visit(c, fn)
		}
	case *parse.CommandNode:
		for _, a := range x.Args {
			visit(a, fn)
		}
	case *parse.ChainNode:
		visit(x.Node, fn)
	case *parse.IfNode:
		visit(x.Pipe, fn)
		visit(x.List, fn)
		visit(x.ElseList, fn)
	case *parse.RangeNode:
		visit(x.Pipe, fn)
		visit(x.List, fn)
		visit(x.ElseList, fn)
	case *parse.WithNode:
		visit(x.Pipe, fn)
		visit(x.List, fn)
		visit(x.ElseList, fn)
	case *parse.TemplateNode:
		visit(x.Pipe, fn)
	}
}

// builtins are text/template's functions that make strings of any size;
// the others (and, or, not, comparisons, len, call) make none.
var builtins = map[string]any{
	"printf":   fmt.Sprintf,
	"print":    fmt.Sprint,
	"println":  fmt.Sprintln,
	"html":     template.HTMLEscaper,
	"js":       template.JSEscaper,
	"urlquery": template.URLQueryEscaper,
}

// bind wraps fn so that each call is a step of b and what it returns is
// charged to b; a call past the budget panics, which text/template turns
// into the render's error at the call.
func bind(fn any, b *budget) any {
	v := reflect.ValueOf(fn)
	t := v.Type()
	return reflect.MakeFunc(t, func(args []reflect.Value) []reflect.Value {
		if err := b.step(); err != nil {
			panic(err)
		}
		var out []reflect.Value
		if t.IsVariadic() {
			out = v.CallSlice(args)
		} else {
			out = v.Call(args)
		}
		if len(out) > 0 {
			if err := b.charge(size(out[0], b)); err != nil {
				panic(err)
			}
		}
		if time.Now().After(b.deadline) {
			panic(b.late())
		}
		return out
	}).Interface()
}

// size is what a value holds, in bytes for strings and items for lists
// and maps (each item at least 1), counted until it passes MaxMade.
func size(v reflect.Value, b *budget) int64 {
	switch v.Kind() {
	case reflect.String:
		return int64(v.Len())
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return 0
		}
		return size(v.Elem(), b)
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return int64(v.Len())
		}
		var n int64
		for i := 0; i < v.Len() && n <= MaxMade-b.made; i++ {
			n += 1 + size(v.Index(i), b)
		}
		return n
	case reflect.Map:
		var n int64
		it := v.MapRange()
		for it.Next() && n <= MaxMade-b.made {
			n += 1 + size(it.Key(), b) + size(it.Value(), b)
		}
		return n
	}
	return 1
}
