package app_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/kbrun/kbrun/cmd/kbrun/app"
)

// readPage reads a Markdown page of the repository (path from its top).
func readPage(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "..", filepath.FromSlash(path)))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// firstCells are the first cells of the rows of the Markdown tables in
// text, e.g. "`--keep`".
func firstCells(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(l, "| ") {
			continue
		}
		cell, _, _ := strings.Cut(strings.TrimPrefix(l, "| "), " | ")
		out = append(out, cell)
	}
	return out
}

// TestDocsListEveryRunFlagAndCommand: docs/flags.md has a row for each flag of
// `kbrun run` (by its name or its shorthand), and the README a row for each
// command, so that a new one cannot go undocumented.
func TestDocsListEveryRunFlagAndCommand(t *testing.T) {
	root := app.NewRootCommand(context.Background(), app.IO{})
	run, _, err := root.Find([]string{"run"})
	if err != nil {
		t.Fatal(err)
	}
	cells := strings.Join(firstCells(readPage(t, "docs/flags.md")), "\n")
	n := 0
	run.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) {
		if f.Name == "help" || f.Hidden {
			return
		}
		n++
		long := regexp.MustCompile("(^|[\\s`,])--" + regexp.QuoteMeta(f.Name) + "([\\s`=\\[]|$)")
		short := regexp.MustCompile("(^|[\\s`])-" + regexp.QuoteMeta(f.Shorthand) + "([\\s`,]|$)")
		if !long.MatchString(cells) && (f.Shorthand == "" || !short.MatchString(cells)) {
			t.Errorf("docs/flags.md: no row for kbrun run's flag --%s", f.Name)
		}
	})
	if n == 0 {
		t.Fatal("kbrun run has no flags: has the command moved?")
	}

	cells = strings.Join(firstCells(readPage(t, "README.md")), "\n")
	for _, c := range root.Commands() {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		if !strings.Contains(cells, "`kbrun "+c.Name()) {
			t.Errorf("README.md, Commands: no row for kbrun %s", c.Name())
		}
	}
}
