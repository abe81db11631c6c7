package app_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAllProblemsAtOnce: every file of testdata/allatonce has three or
// more independent problems, in different tasks and found by different
// stages (the schema, the loader's checks, preparing each task, its
// manifest, a library, the namespace). validate reports every one in a
// single go, each at its FILE:LINE:COL with its field (the .golden
// files), exits 2, and run reports the same and sends nothing.
func TestAllProblemsAtOnce(t *testing.T) {
	checkCorpus(t, "testdata/allatonce", 4)
	files, _ := filepath.Glob("testdata/allatonce/*.golden")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if n := len(lines) - 1; n < 3 {
			t.Errorf("%s: %d problems, want 3 or more:\n%s", f, n, strings.Join(lines, "\n"))
		}
	}
}
