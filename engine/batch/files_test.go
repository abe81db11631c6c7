package batch_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kbrun/kbrun/engine/batch"
)

// TestWriteSummaryFile: --summary's file holds this run's summary only; a
// CI page's file keeps what earlier steps wrote.
func TestWriteSummaryFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "summary.md")
	for _, appendTo := range []bool{false, false, true} {
		if err := batch.WriteSummaryFile(path, appendTo, results); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "### kbrun: "); n != 2 {
		t.Errorf("written twice, then appended to: %d summaries, want 2:\n%s", n, data)
	}
	if err := batch.WriteSummaryFile(filepath.Join(path, "sub"), false, results); err == nil {
		t.Error("a summary under a file was written")
	}
}
