package task

import (
	"encoding/json"
	"testing"
)

func TestJoin(t *testing.T) {
	for _, tc := range []struct {
		parts   []string
		and, or string
	}{
		{nil, "", ""},
		{[]string{"a"}, "a", "a"},
		{[]string{"a", "b"}, "a and b", "a or b"},
		{[]string{"a", "b", "c"}, "a, b and c", "a, b or c"},
	} {
		if got := JoinAnd(tc.parts); got != tc.and {
			t.Errorf("JoinAnd(%q) = %q, want %q", tc.parts, got, tc.and)
		}
		if got := JoinOr(tc.parts); got != tc.or {
			t.Errorf("JoinOr(%q) = %q, want %q", tc.parts, got, tc.or)
		}
	}
}

// A list output is [] in JSON, never null.
func TestList(t *testing.T) {
	b, _ := json.Marshal(Outputs{"none": List(nil), "some": List([]any{"x"})})
	if string(b) != `{"none":[],"some":["x"]}` {
		t.Errorf("got %s", b)
	}
}

type docType struct {
	name, summary string
	outs          []string
}

func (d docType) Name() string                   { return d.name }
func (d docType) Summary() string                { return d.summary }
func (d docType) Schema() json.RawMessage        { return nil }
func (d docType) Outputs() []string              { return d.outs }
func (d docType) Prepare(Params) (Action, error) { return nil, nil }

type patternType struct{ docType }

func (patternType) ParamOutputs(any) []string { return nil }

func TestMarkdownTable(t *testing.T) {
	got := MarkdownTable([]Type{
		docType{"a", "does x | y", []string{"o1", "o2"}},
		patternType{docType{"b", "matches", []string{"out"}}},
	})
	want := "| type | what it does | outputs |\n|---|---|---|\n" +
		"| `a` | does x \\| y | `o1` and `o2` |\n" +
		"| `b` | matches | `out` and the named groups of its patterns |\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
