package tmpl

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Templates that would spin, or make kbrun hold without limit, stop within
// their budget with an error at their line and column.
func TestBudget(t *testing.T) {
	for name, text := range map[string]string{
		"nested ranges":   `{{ range until 100000 }}{{ range until 100000 }}{{ end }}{{ end }}`,
		"range over ints": "x\n  {{ range 1000000000 }}{{ end }}",
		"repeat in range": `{{ range until 100000 }}{{ $x := repeat 100000 "xxxxxxxxxx" }}{{ end }}`,
		"doubling":        `{{ $x := "ab" }}{{ range until 64 }}{{ $x = print $x $x }}{{ end }}{{ len $x }}`,
		"output":          `{{ range until 100000 }}{{ repeat 1000 "xxxxxxxxxx" }}{{ end }}`,
		"append":          `{{ $s := repeat 100000 "xxxxxxxxxx" }}{{ $l := list }}{{ range until 100000 }}{{ $l = append $l $s }}{{ end }}`,
		"recursion":       `{{ define "x" }}{{ template "x" }}{{ template "x" }}{{ end }}{{ template "x" }}`,
		"printf width":    `{{ range until 100000 }}{{ $x := printf "%9000d" 1 }}{{ end }}`,
	} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			_, err := Render("value", text, map[string]any{})
			took := time.Since(start)
			var te *Error
			if !errors.Is(err, ErrBudget) && (err == nil || !strings.Contains(err.Error(), "budget")) {
				t.Fatalf("err = %v, want the budget's", err)
			}
			if !errors.As(err, &te) || te.Line < 1 {
				t.Errorf("no position: %v", err)
			}
			if took > 3*MaxTime {
				t.Errorf("took %s", took)
			}
			t.Logf("%s: %v", took, err)
		})
	}
}

// A render within the budget is unchanged by it, also with loops, calls and
// defined templates, and renders the same when rendered again (instances
// are reused).
func TestBudgetKeepsResults(t *testing.T) {
	text := `{{ define "t" }}[{{ . }}]{{ end }}{{ range $i, $v := .list }}{{ template "t" (upper $v) }}{{ end }} {{ printf "%03d" 7 }}`
	for i := 0; i < 3; i++ {
		got, err := Render("value", text, map[string]any{"list": []any{"a", "b"}})
		if err != nil || got != "[A][B] 007" {
			t.Fatalf("got %q, %v", got, err)
		}
	}
}
