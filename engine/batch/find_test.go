package batch_test

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/kbrun/kbrun/engine/batch"
	"github.com/kbrun/kbrun/engine/pipeline"
)

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	a := write(t, dir, "a.yaml", "apiVersion: kbrun.dev/v1alpha1\nkind: Pipeline\n")
	b := write(t, dir, "deep/er/b.yml", "# a pipeline\nkind: \"Pipeline\"  # quoted\n")
	broken := write(t, dir, "c.yaml", "kind: Pipeline\ntasks: [unclosed\n") // found: its problems are reported
	write(t, dir, "lib.yaml", "kind: Tasks\n")
	write(t, dir, "values.yaml", "who: world\nkind: Pipelines\n")
	write(t, dir, "notes.txt", "kind: Pipeline\n")
	write(t, dir, ".hidden/x.yaml", "kind: Pipeline\n")
	write(t, dir, "nested.yaml", "spec:\n  kind: Pipeline\n")
	got, err := batch.Find([]string{a, dir})
	if err != nil {
		t.Fatal(err)
	}
	want := []batch.Path{{File: a, Named: true}, {File: broken}, {File: b}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	empty := t.TempDir()
	write(t, empty, "values.yaml", "x: 1\n")
	if _, err := batch.Find([]string{empty}); err == nil || !strings.Contains(err.Error(), empty+": no pipeline file (kind: Pipeline)") {
		t.Errorf("empty folder: %v", err)
	}
	// A file named is kept whatever it is: loading it says what is wrong.
	if got, _ := batch.Find([]string{"none.yaml"}); len(got) != 1 || !got[0].Named {
		t.Errorf("named file: %v", got)
	}
}

func TestSelect(t *testing.T) {
	var js []batch.Job
	for name, labels := range map[string]map[string]string{
		"pay-web": {"team": "payments", "tier": "web"},
		"pay-db":  {"team": "payments", "tier": "db"},
		"search":  {"team": "search"},
		"bare":    nil,
	} {
		js = append(js, batch.Job{Pipeline: &pipeline.Pipeline{Name: name, Labels: labels}})
	}
	for sel, want := range map[string]string{
		"team=payments,tier!=db": "pay-web",
		"team in (payments)":     "pay-db,pay-web",
		"!team":                  "bare",
		"team":                   "pay-db,pay-web,search",
		"":                       "bare,pay-db,pay-web,search",
	} {
		got, err := batch.Select(js, sel)
		if err != nil {
			t.Fatalf("%q: %v", sel, err)
		}
		var names []string
		for _, j := range got {
			names = append(names, j.Name())
		}
		if s := sorted(names); s != want {
			t.Errorf("%q selects %s, want %s", sel, s, want)
		}
	}
	if _, err := batch.Select(js, "=payments"); err == nil {
		t.Error("a bad selector is accepted")
	}
}

func sorted(s []string) string {
	out := append([]string(nil), s...)
	slices.Sort(out)
	return strings.Join(out, ",")
}

func TestDuplicates(t *testing.T) {
	js := []batch.Job{
		{File: "a.yaml", Pipeline: &pipeline.Pipeline{Name: "x"}},
		{File: "b.yaml", Pipeline: &pipeline.Pipeline{Name: "x"}},
	}
	if err := batch.Duplicates(js); err == nil || !strings.Contains(err.Error(), `a.yaml and b.yaml both declare pipeline "x"`) {
		t.Errorf("got %v", err)
	}
	if err := batch.Duplicates(js[:1]); err != nil {
		t.Error(err)
	}
}
