package tmpl

import (
	"text/template"
	"text/template/parse"
)

// Installing sprig's ~200 functions into a template (Template.Funcs checks
// each by reflection and copies it into two maps) cost more than parsing:
// 14 ms of a `kbrun plan` in a profile. The parser only checks that names
// exist, so a template is parsed against the shared map and then given only
// the functions its trees call.

// textBuiltins names text/template's own functions, for the parser's check
// (the values are never called). A name missing here only costs the slow
// path in parseFast's caller.
var textBuiltins = map[string]any{
	"and": true, "call": true, "html": true, "index": true, "slice": true, "js": true,
	"len": true, "not": true, "or": true, "print": true, "printf": true, "println": true,
	"urlquery": true, "eq": true, "ge": true, "gt": true, "le": true, "lt": true, "ne": true,
}

// parseFast parses text as template.New(name).Option("missingkey=error").
// Funcs(funcs).Parse(text) does, installing only the functions it calls; on
// any error it returns nil, and the caller takes that slow path for the
// same result and the same error.
func parseFast(name, text string) *template.Template {
	trees, err := parse.Parse(name, text, "", "", funcs, textBuiltins)
	if err != nil {
		return nil
	}
	t := template.New(name).Option("missingkey=error")
	for n, tree := range trees {
		if _, err := t.AddParseTree(n, tree); err != nil {
			return nil
		}
	}
	return t.Funcs(usedFuncs(t))
}

// usedFuncs is the part of funcs that t's templates call.
func usedFuncs(t *template.Template) template.FuncMap {
	fm := template.FuncMap{}
	for _, tt := range t.Templates() {
		if tt.Tree == nil || tt.Root == nil {
			continue
		}
		visit(tt.Root, func(n parse.Node) {
			if id, ok := n.(*parse.IdentifierNode); ok {
				if fn, ok := funcs[id.Ident]; ok {
					fm[id.Ident] = fn
				}
			}
		})
	}
	return fm
}
