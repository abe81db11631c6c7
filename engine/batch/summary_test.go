package batch_test

import (
	"bytes"
	"html"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/text"

	"github.com/kbrun/kbrun/engine/batch"
)

var results = []batch.Result{
	{Name: "web", Status: batch.Passed, Duration: 1234 * time.Millisecond},
	{Name: "db", Status: batch.Failed, Duration: 42 * time.Millisecond, FailedTask: "migrate",
		Cause: "psql: password ***** refused | <retry> …", Diagnostics: "/tmp/diag/db"},
	{Name: "cache", Status: batch.NotRun, Cause: "not started: --fail-fast, pipeline db failed"},
}

func TestTable(t *testing.T) {
	var b bytes.Buffer
	if err := batch.WriteTable(&b, results); err != nil {
		t.Fatal(err)
	}
	want := `
PIPELINE  RESULT   DURATION  FAILED TASK  CAUSE                                         
web       passed   1.2s      -            -                                             
db        failed   42ms      migrate      psql: password ***** refused | <retry> …      
cache     not run  -         -            not started: --fail-fast, pipeline db failed  
FAILED: 1 of 3 pipelines failed, 1 not run
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	if v := batch.Verdict(results[:1]); v != "PASSED: 1 pipelines" {
		t.Errorf("verdict %q", v)
	}
}

// The summary is a GitHub-flavoured Markdown table as a Markdown parser
// reads it: a row per pipeline, each cell where it belongs, the cause's
// pipe and angle brackets kept as text.
func TestMarkdownIsATable(t *testing.T) {
	var b bytes.Buffer
	if err := batch.WriteMarkdown(&b, results); err != nil {
		t.Fatal(err)
	}
	src := b.Bytes()
	md := goldmark.New(goldmark.WithExtensions(extension.GFM))
	doc := md.Parser().Parse(text.NewReader(src))
	var rows [][]string
	var heading string
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.Heading:
			heading = string(n.Lines().Value(src))
		case *east.TableHeader, *east.TableRow:
			var row []string
			for c := n.FirstChild(); c != nil; c = c.NextSibling() {
				row = append(row, cellText(md, c, src))
			}
			rows = append(rows, row)
		}
		return ast.WalkContinue, nil
	})
	if heading != "kbrun: FAILED: 1 of 3 pipelines failed, 1 not run" {
		t.Errorf("heading %q", heading)
	}
	want := [][]string{
		{"pipeline", "result", "duration", "failed task", "cause", "diagnostics"},
		{"web", "✅ passed", "1.2s", "", "", ""},
		{"db", "❌ failed", "42ms", "migrate", "psql: password ***** refused | <retry> …", "/tmp/diag/db"},
		{"cache", "⏭️ not run", "-", "", "not started: --fail-fast, pipeline db failed", ""},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d (is it a table?):\n%s", len(rows), len(want), src)
	}
	for i := range want {
		if strings.Join(rows[i], "\t") != strings.Join(want[i], "\t") {
			t.Errorf("row %d:\n got %q\nwant %q", i, rows[i], want[i])
		}
	}
	// No run left diagnostics: no column for them.
	b.Reset()
	_ = batch.WriteMarkdown(&b, results[:1])
	if strings.Contains(b.String(), "diagnostics") {
		t.Errorf("a diagnostics column with none:\n%s", b.String())
	}
}

// cellText is a cell's text as a browser shows it: rendered to HTML,
// tags dropped, entities decoded.
func cellText(md goldmark.Markdown, n ast.Node, src []byte) string {
	var b bytes.Buffer
	if err := md.Renderer().Render(&b, src, n); err != nil {
		return err.Error()
	}
	return strings.TrimSpace(html.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(b.String(), "")))
}
