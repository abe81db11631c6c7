package tmpl

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"text/template"
)

// funcsTexts are templates of every kind: the repository's own (pipelines,
// examples, docs) and edge cases of the parser.
func funcsTexts(t *testing.T) []string {
	texts := []string{
		`{{ define "x" }}{{ upper . }}{{ end }}{{ template "x" .vars.ns }}`,
		`{{ block "b" . }}{{ .vars.ns | quote }}{{ end }}`,
		`{{ range $i, $c := .vars.caps }}{{ if $i }},{{ end }}{{ lower $c }}{{ else }}none{{ end }}`,
		`{{ with .vars.ns }}{{ printf "%s-%d" . (len $.vars.caps) }}{{ end }}`,
		`{{ index .vars.caps 1 }} {{ slice "abc" 1 }} {{ and 1 0 }} {{ or 0 2 }} {{ not true }}`,
		`{{ eq 1 1 }} {{ ne 1 2 }} {{ lt 1 2 }} {{ le 1 1 }} {{ gt 2 1 }} {{ ge 1 1 }}`,
		`{{ html "<a>" }} {{ js "'" }} {{ urlquery "a b" }} {{ print 1 }} {{ println 2 }}`,
		`{{ (.vars.caps | first) | lower | trunc 2 }} {{ repeat 2 "ab" }} {{ seq 3 }}`,
		`{{ range $i := until 3 }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ $i }}{{ break }}{{ end }}`,
		`{{ call .vars.ns }}`,
		`{{ nosuchfunc 1 }}`,
		`{{ .vars.ns `,
		`{{ end }}`,
		`{{ define "x" }}a{{ end }}{{ define "x" }}b{{ end }}`,
		``,
		`plain`,
	}
	re := regexp.MustCompile(`\{\{.*\}\}`)
	for _, dir := range []string{"../../pipelines", "../../examples", "../../docs"} {
		err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || filepath.Ext(path) != ".yaml" {
				return err
			}
			b, err := os.ReadFile(path)
			for _, m := range re.FindAll(b, -1) {
				texts = append(texts, string(m))
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return texts
}

// TestParseFast holds parseFast to the parse it replaces: it takes every
// valid text (else the speed-up is lost) and renders it as the template with
// all functions does, output and error.
func TestParseFast(t *testing.T) {
	data := map[string]any{"vars": map[string]any{"ns": "ones", "caps": []any{"CHOWN", "SETUID"}}}
	fast := 0
	for _, text := range funcsTexts(t) {
		slow, err := template.New(tmplName).Option("missingkey=error").Funcs(funcs).Parse(text)
		got := parseFast(tmplName, text)
		if err != nil {
			if got != nil {
				t.Errorf("%q: parseFast took a text the parser refuses (%v)", text, err)
			}
			continue
		}
		if got == nil {
			t.Errorf("%q: parseFast refused a valid text", text)
			continue
		}
		fast++
		var wb, gb bytes.Buffer
		werr, gerr := slow.Execute(&wb, data), got.Execute(&gb, data)
		if wb.String() != gb.String() || fmt.Sprint(werr) != fmt.Sprint(gerr) {
			t.Errorf("%q:\n got %q, %v\nwant %q, %v", text, gb.String(), gerr, wb.String(), werr)
		}
	}
	if fast < 100 {
		t.Errorf("only %d valid texts: the repository's templates were not found", fast)
	}
}
