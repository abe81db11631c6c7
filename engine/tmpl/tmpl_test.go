package tmpl_test

import (
	"strings"
	"testing"

	"github.com/kbrun/kbrun/engine/tmpl"
)

var data = map[string]any{
	"vars":     map[string]any{"ns": "ones", "caps": []any{"CHOWN", "SETUID"}, "evil": "a\n- b: c\"; rm -rf / #"},
	"env":      map[string]any{"HOME": "/root"},
	"pipeline": map[string]any{"runId": "20000101000000-0000"},
	"tasks":    map[string]any{"builder": map[string]any{"pod": "builder-abc"}},
}

func TestRender(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{"plain", "plain", ""},
		{"{{ .vars.ns }}", "ones", ""},
		{"{{ .tasks.builder.pod }}", "builder-abc", ""},
		{`{{ .vars.caps | join "," }}`, "CHOWN,SETUID", ""},
		{"{{ .vars.caps | toJson }}", `["CHOWN","SETUID"]`, ""},
		{"{{ .pipeline.runId | trunc 8 }}", "20000101", ""},
		{"{{ .vars.nope }}", "", `map has no entry for key "nope"`},
		{"{{ .tasks.later.pod }}", "", `map has no entry for key "later"`},
		{"{{ .vars.ns ", "", "line 1:1: this action has no closing }}"},
		{"{{ .env.HOME }}", "/root", ""},
	}
	for _, tc := range tests {
		got, err := tmpl.Render("t", tc.in, data)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Render(%q) err = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Render(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestRenderTreeKeepsStructure: a value with YAML and shell specials stays
// one string in one place; it never adds list items or keys.
func TestRenderTreeKeepsStructure(t *testing.T) {
	in := map[string]any{"command": []any{"echo", "{{ .vars.evil }}"}, "n": int64(3)}
	out, err := tmpl.RenderTree(in, data)
	if err != nil {
		t.Fatal(err)
	}
	m := out.(map[string]any)
	cmd := m["command"].([]any)
	if len(cmd) != 2 || cmd[1] != "a\n- b: c\"; rm -rf / #" || m["n"] != int64(3) {
		t.Fatalf("structure changed: %#v", out)
	}
	if in["command"].([]any)[1] != "{{ .vars.evil }}" {
		t.Fatal("input tree was modified")
	}
	if _, err := tmpl.RenderTree(map[string]any{"a": []any{"{{ .vars.x }}"}}, data); err == nil || !strings.HasPrefix(err.Error(), "a.0: ") {
		t.Fatalf("error should name the path: %v", err)
	}
}

func TestRefs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"{{ .vars.a }} {{ .tasks.b.pod }}", []string{"vars.a", "tasks.b.pod"}},
		{"{{ if .vars.on }}{{ .vars.x }}{{ end }}", []string{"vars.on", "vars.x"}},
		{"{{ range .vars.list }}{{ .name }}{{ $.vars.y }}{{ end }}", []string{"vars.list", "vars.y"}},
		{"{{ with .tasks.a }}{{ .pod }}{{ end }}", []string{"tasks.a", "tasks.a.pod"}},
		{`{{ printf "%s" (.vars.z) | upper }}`, []string{"vars.z"}},
		{"{{ $t := .tasks }}{{ $t.a.stdout | int | add 1 }}", []string{"tasks.a.stdout"}},
		{`{{ index .vars "typo" }} {{ index .tasks "a" "pod" | upper }}`, []string{"vars.typo", "tasks.a.pod"}},
		{`{{ index .vars.list 0 }}{{ index $.vars .vars.k }}`, []string{"vars.list", "vars", "vars.k"}},
		{`{{ with $x := .tasks.b }}{{ $x.pod }}{{ end }}{{ $x := 1 }}{{ $x }}`, []string{"tasks.b", "tasks.b.pod"}},
		{`{{ range $i, $c := .tasks.m.cells }}{{ $c.name }}{{ . }}{{ end }}`, []string{"tasks.m.cells"}},
		{`{{ with .vars }}{{ .a }}{{ end }}{{ $ := 1 }}`, []string{"vars", "vars.a"}},
	}
	for _, tc := range tests {
		tp, err := tmpl.Parse("t", tc.in)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range tmpl.Refs(tp) {
			got = append(got, strings.Join(append([]string{r.Root}, r.Path...), "."))
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("Refs(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func FuzzRender(f *testing.F) {
	for _, s := range []string{"plain", "{{ .vars.ns }}", "{{ .vars.caps | toJson }}", "{{ if .vars.ns }}x{{ end }}", "{{ range .vars.caps }}{{ . }}{{ end }}", "{{ .tasks.builder.pod | quote }}", "{{", "}}{{"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// Rendering arbitrary text must return a value or an error, never
		// panic or hang on the bounded data above; refs must not panic.
		if tp, err := tmpl.Parse("f", s); err == nil {
			_ = tmpl.Refs(tp)
		}
		_, _ = tmpl.Render("f", s, data)
	})
}

// TestStrictIndex: index is as strict as a field — a missing key, an index
// out of range or a null is an error, not "<no value>".
func TestStrictIndex(t *testing.T) {
	data := map[string]any{"vars": map[string]any{"a": "x", "list": []any{"p", "q"}, "m": map[string]any{"k": nil}}}
	for _, tc := range []struct{ in, want string }{
		{`{{ index .vars "a" }}`, "x"},
		{`{{ index .vars.list 1 }}`, "q"},
		{`{{ index .vars "list" 0 }}`, "p"},
		{`{{ index .vars "typo" }}`, `error calling index: map has no entry for key "typo"`},
		{`{{ index .vars.list 2 }}`, "error calling index: 2 is out of range: the list has 2 items"},
		{`{{ index .vars.list -1 }}`, "error calling index: -1 is out of range"},
		{`{{ index .vars.m "k" "x" }}`, `error calling index: cannot look up key "x" in a null value`},
		{`{{ index .vars.a "x" }}`, `error calling index: cannot look up key "x" in a string, which is neither a map nor a list`},
		{`{{ index .vars "list" "x" }}`, `error calling index: a list is indexed by a whole number, not key "x"`},
	} {
		out, err := tmpl.Render("t", tc.in, data)
		got := out
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.in, got, tc.want)
		}
	}
}
