package tmpl

import (
	"errors"
	"strings"
	"testing"
)

// TestBlockErrors: a block without {{ end }}, an action without }}, and an
// end or else that closes nothing are reported at the action's own line
// and column, in the pipeline's words, never as "unexpected EOF".
func TestBlockErrors(t *testing.T) {
	cases := []struct{ text, want string }{
		{"{{ if .x }}yes", "template: line 1:1: {{ if }} is not closed: add {{ end }} where its block ends"},
		{"a\n  {{- range .x }}\n{{ with .y }}b{{ end }}", "template: line 2:3: {{ range }} is not closed"},
		{"{{ range .x }}\n{{ with .y }}{{ \"}}\" }}", "template: line 2:1: {{ with }} is not closed: add {{ end }} where its block ends; so is {{ range }} at line 1:1"},
		{"{{ define \"d\" }}x", "template: line 1:1: {{ define }} is not closed"},
		{"{{ if .x }}{{ else }}", "template: line 1:1: {{ if }} is not closed"},
		{"ok {{ .x }}\n {{ .y ", "template: line 2:2: this action has no closing }}"},
		{"a\n{{/* a }}", "template: line 2:1: this action has no closing }}"},
		{"{{ if .x }}{{ end }}\n{{ end }}", "template: line 2:1: {{ end }} closes nothing"},
		{"x {{ else }}", "template: line 1:3: {{ else }} closes nothing"},
	}
	for _, c := range cases {
		_, err := Parse("v", c.text)
		var e *Error
		if !errors.As(err, &e) || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%q: %v\nwant %s", c.text, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "EOF") {
			t.Errorf("%q: %v", c.text, err)
		}
	}
}
