//go:build e2e && capmatrix

package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestKanikoCapabilitiesFull measures the whole matrix of
// pipelines/kaniko-capabilities.yaml (7 privilege sets x 9 Dockerfile
// kinds, a fresh builder pod per cell) and, in the same run, one run of the
// default pipeline, for BENCHMARKS.md: make capabilities-matrix. It asserts
// every cell was judged, the known cells, and that Shipwright's set builds
// every kind (with and without a user namespace); KBRUN_CAPS_OUT names a
// file for the Markdown table and the times.
func TestKanikoCapabilitiesFull(t *testing.T) {
	def := runPipeline(t)
	mustPass(t, def)
	assertGone(t)

	r, cells, at := measureCapabilities(t)
	if len(cells) != 63 {
		t.Fatalf("%d cells, want 7 sets x 9 kinds", len(cells))
	}
	assertCells(t, cells)
	assertKnownCells(t, at)
	// Shipwright's set builds every kind, in a user namespace of its own too.
	for _, c := range cells {
		if (c.Set.Name == "shipwright" || c.Set.Name == "userns") && c.Result != "ok" {
			t.Errorf("%s: %s %q, want ok", c.Cell, c.Result, c.Short)
		}
	}
	md := markdown(t, r)
	t.Logf("the matrix as measured:\n%s", md)
	logTimes(t, r)
	assertProbesGone(t, "kbrun-capabilities")

	times := fmt.Sprintf("Default pipeline, one run: %s. The whole matrix (%d cells, 4 at once): run %s, the cells task %s = %.1f default-pipeline runs.",
		def.duration.Round(100*time.Millisecond), len(cells), r.duration.Round(100*time.Millisecond),
		(time.Duration(r.ends["cells"].Duration) * time.Millisecond).Round(100*time.Millisecond),
		float64(r.duration)/float64(def.duration))
	t.Log(times)
	if out := os.Getenv("KBRUN_CAPS_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(strings.Join([]string{md, "", times, ""}, "\n")), 0o644); err != nil {
			t.Errorf("write %s: %v", out, err)
		}
	}
}
