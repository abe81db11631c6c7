package tmpl

import (
	"text/template"
	"text/template/parse"
)

// Ref is a data reference found in a template, e.g. .tasks.build.stdout is
// Ref{Root: "tasks", Path: ["build", "stdout"]}.
type Ref struct {
	Root string
	Path []string
	// Pos is the reference's byte offset in the template text.
	Pos int
	// Direct is true when the template only prints the value, as in
	// {{ .tasks.build.stdout }} or {{ .x | quote }}: a plan can show a
	// stand-in for it. Anything else (a condition, a function argument, an
	// index) computes with the value.
	Direct bool
	// Guards are the tasks whose .tasks.NAME.status an enclosing if or
	// with tests: the template reads this value only after looking at
	// whether that task ran.
	Guards []string
}

// Refs returns the references to the template data that the template
// makes, following where dot and variables point: the top-level dot, $,
// variables bound to a field ($t := .tasks; $t.a.stdout is .tasks.a.stdout),
// with's dot (with .tasks.a: .stdout is .tasks.a.stdout), and index with
// literal keys (index .vars "x" is .vars.x). Where dot or a variable holds a
// computed value (a range item, a function's result), what is read from it
// is not a reference.
func Refs(t *template.Template) []Ref {
	w := &refWalker{}
	for _, tt := range t.Templates() {
		if tt.Tree != nil && tt.Root != nil {
			w.list(tt.Root, scope{dot: root, vars: map[string]path{"$": root}})
		}
	}
	return w.refs
}

// path is where a value of the template data comes from: nil when it is
// computed, [] for the data itself, ["tasks", "a"] for .tasks.a.
type path []string

var root = path{}

type scope struct {
	dot  path
	vars map[string]path
	// guards are the tasks whose status an enclosing if/with tests.
	guards []string
}

// child is the scope of a control structure's body: variables declared
// there end with it.
func (s scope) child(dot path, guards []string) scope {
	vars := make(map[string]path, len(s.vars))
	for k, v := range s.vars {
		vars[k] = v
	}
	return scope{dot: dot, vars: vars, guards: guards}
}

type refWalker struct{ refs []Ref }

func (w *refWalker) add(p path, pos parse.Pos, direct bool, s scope) {
	if len(p) == 0 {
		return
	}
	w.refs = append(w.refs, Ref{Root: p[0], Path: append([]string(nil), p[1:]...), Pos: int(pos), Direct: direct, Guards: s.guards})
}

func (w *refWalker) list(l *parse.ListNode, s scope) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		switch x := n.(type) {
		case *parse.ActionNode:
			w.pipe(x.Pipe, s, true)
		case *parse.IfNode:
			// Variables a control structure's pipeline declares live
			// until its end.
			inner := s.child(s.dot, s.guards)
			inner.guards = w.guard(x.Pipe, inner)
			w.list(x.List, inner.child(inner.dot, inner.guards))
			w.list(x.ElseList, inner.child(inner.dot, inner.guards))
		case *parse.WithNode:
			inner := s.child(s.dot, s.guards)
			inner.guards = w.guard(x.Pipe, inner)
			w.list(x.List, inner.child(w.value(x.Pipe, inner), inner.guards))
			w.list(x.ElseList, inner.child(inner.dot, inner.guards))
		case *parse.RangeNode:
			inner := s.child(s.dot, s.guards)
			w.pipe(x.Pipe, inner, false)
			for _, v := range x.Pipe.Decl {
				inner.vars[v.Ident[0]] = nil // an item, not a reference
			}
			w.list(x.List, inner.child(nil, inner.guards))
			w.list(x.ElseList, inner.child(inner.dot, inner.guards))
		case *parse.TemplateNode:
			w.pipe(x.Pipe, s, false)
		}
	}
}

// guard walks a control structure's pipeline and returns the guards of its
// body: the enclosing ones and the tasks whose status the pipeline tests.
// Only a computation tests: {{ with .tasks.a.status }} holds for
// "skipped" as for "ok".
func (w *refWalker) guard(p *parse.PipeNode, s scope) []string {
	first := len(w.refs)
	bare := w.value(p, s) != nil
	w.pipe(p, s, false)
	g := s.guards
	if bare {
		return g
	}
	for _, r := range w.refs[first:] {
		if r.Root == "tasks" && len(r.Path) == 2 && r.Path[1] == "status" {
			g = append(append([]string(nil), g...), r.Path[0])
		}
	}
	return g
}

// printOnly are the functions a printed value may pass through and still be
// shown as a stand-in in plans: they only format it.
var printOnly = map[string]bool{"quote": true, "squote": true, "toString": true, "toJson": true, "toYaml": true}

// pipe records the references of a pipeline. An action (print) that only
// prints one value, maybe through printOnly functions, reads it directly;
// a declaration binds its variables to where the value comes from.
func (w *refWalker) pipe(p *parse.PipeNode, s scope, print bool) {
	if p == nil {
		return
	}
	if v := w.value(p, s); v != nil {
		if len(p.Decl) > 0 {
			for _, d := range p.Decl {
				s.vars[d.Ident[0]] = v
			}
			if len(v) > 1 {
				w.add(v, p.Position(), false, s)
			}
			return
		}
		if print && printsOnly(p) {
			w.add(v, p.Cmds[0].Args[0].Position(), true, s)
			return
		}
	}
	for _, c := range p.Cmds {
		w.arg(c, s)
	}
	for _, d := range p.Decl {
		s.vars[d.Ident[0]] = nil // a computed value
	}
}

func printsOnly(p *parse.PipeNode) bool {
	for _, c := range p.Cmds[1:] {
		id, ok := c.Args[0].(*parse.IdentifierNode)
		if len(c.Args) != 1 || !ok || !printOnly[id.Ident] {
			return false
		}
	}
	return true
}

// value returns where a pipeline's value comes from when its first
// command is a field, a variable or an index with literal keys (maybe
// followed by printOnly functions, which keep the value as it is for the
// purpose of finding it), nil when it computes one.
func (w *refWalker) value(p *parse.PipeNode, s scope) path {
	if p == nil || len(p.Cmds) == 0 || !printsOnly(p) {
		return nil
	}
	c := p.Cmds[0]
	if len(c.Args) == 1 {
		return w.node(c.Args[0], s)
	}
	if p, whole := w.index(c.Args, s); whole {
		return p
	}
	return nil
}

// node returns where a field or variable node reads from (nil when it is
// computed or not a reference).
func (w *refWalker) node(n parse.Node, s scope) path {
	switch x := n.(type) {
	case *parse.FieldNode:
		return join(s.dot, x.Ident)
	case *parse.VariableNode:
		return join(s.vars[x.Ident[0]], x.Ident[1:])
	case *parse.DotNode:
		return s.dot
	case *parse.PipeNode:
		if len(x.Decl) == 0 {
			return w.value(x, s)
		}
	}
	return nil
}

// index reads `index X "k1" "k2"` as X.k1.k2; a key that is not a literal
// string ends the path at the last literal one (whole is false then).
func (w *refWalker) index(args []parse.Node, s scope) (p path, whole bool) {
	id, ok := args[0].(*parse.IdentifierNode)
	if !ok || id.Ident != "index" || len(args) < 2 {
		return nil, false
	}
	var keys []string
	for _, k := range args[2:] {
		str, ok := k.(*parse.StringNode)
		if !ok {
			return join(w.node(args[1], s), keys), false
		}
		keys = append(keys, str.Text)
	}
	return join(w.node(args[1], s), keys), true
}

func join(base path, more []string) path {
	if base == nil {
		return nil
	}
	return append(append(path{}, base...), more...)
}

// arg records the references an argument of a command makes.
func (w *refWalker) arg(n parse.Node, s scope) {
	switch x := n.(type) {
	case *parse.FieldNode, *parse.VariableNode, *parse.DotNode:
		if p := w.node(x, s); p != nil {
			w.add(p, x.Position(), false, s)
		}
	case *parse.ChainNode:
		w.arg(x.Node, s)
	case *parse.PipeNode:
		if p := w.node(x, s); p != nil {
			w.add(p, x.Position(), false, s)
			return
		}
		w.pipe(x, s, false)
	case *parse.CommandNode:
		if p, whole := w.index(x.Args, s); p != nil {
			w.add(p, x.Position(), false, s)
			if !whole {
				for _, k := range x.Args[2:] {
					w.arg(k, s) // a computed key may read data itself
				}
			}
			return
		}
		for _, a := range x.Args {
			w.arg(a, s)
		}
	}
}
