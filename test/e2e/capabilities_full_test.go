//go:build e2e && capmatrix

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// kanikoBuilds are the Kaniko images the project cluster has (test/cluster/
// build.sh): the archived upstream's last release and a maintained fork.
var kanikoBuilds = []struct{ name, image string }{
	{"Kaniko v1.24.0 (GoogleContainerTools, archived)", "gcr.io/kaniko-project/executor:v1.24.0-debug"},
	{"Kaniko v1.25.5 (chainguard-dev fork, maintained)", "kbrun.local/kaniko-chainguard:v1.25.5-debug"},
}

// TestKanikoCapabilitiesFull measures the whole matrix of
// pipelines/kaniko-capabilities.yaml (every default privilege set, rootless
// BuildKit's included, x every Dockerfile kind, a fresh builder pod per
// cell) once per Kaniko build, and, in the same run, one run of the default
// pipeline, for BENCHMARKS.md: make capabilities-matrix. It asserts every
// cell was judged, the known cells, and that Shipwright's set (with and
// without a user namespace) and rootless BuildKit build every kind, the
// reference's image, with both Kaniko builds as the reference; it
// lists the cells where the two Kaniko builds differ. KBRUN_CAPS_OUT names
// a file for the Markdown tables and the times.
func TestKanikoCapabilitiesFull(t *testing.T) {
	def := runPipeline(t)
	mustPass(t, def)
	assertGone(t)
	want := len(defaultSets(t)) * len(kindFolders(t))

	var out []string
	results := map[string]map[string]probe{}
	for _, k := range kanikoBuilds {
		r, cells, at := measureCapabilities(t, "--set", "kanikoImage="+k.image)
		if len(cells) != want {
			t.Fatalf("%s: %d cells, want %d (default sets x kinds)", k.name, len(cells), want)
		}
		assertCells(t, cells)
		assertKnownCells(t, at)
		for _, c := range cells {
			// Rootless BuildKit too (measured 2026-12-08: every kind).
			if (c.Set.Name == "shipwright" || c.Set.Name == "userns" || c.Set.Builder == "buildkit") && c.Result != "ok" {
				t.Errorf("%s: %s: %s %q, want ok", k.name, c.Cell, c.Result, c.Short)
			}
		}
		results[k.image] = at
		md := markdown(t, r)
		t.Logf("%s, the matrix as measured:\n%s", k.name, md)
		logTimes(t, r)
		assertProbesGone(t, "kbrun-capabilities")
		out = append(out, "### "+k.name+" (`"+k.image+"`)", "", md, "",
			fmt.Sprintf("Default pipeline, one run: %s. The whole matrix (%d cells, 4 at once): run %s, the cells task %s = %.1f default-pipeline runs; %s.",
				def.duration.Round(100*time.Millisecond), len(cells), r.duration.Round(100*time.Millisecond),
				(time.Duration(r.ends["cells"].Duration)*time.Millisecond).Round(100*time.Millisecond),
				float64(r.duration)/float64(def.duration), columnTimes(r)), "")
	}
	diff := matrixDiff(results[kanikoBuilds[0].image], results[kanikoBuilds[1].image])
	t.Logf("where the two Kaniko builds differ:\n%s", diff)
	out = append(out, "### Where the two Kaniko builds differ", "", diff, "")
	if f := os.Getenv("KBRUN_CAPS_OUT"); f != "" {
		if err := os.WriteFile(f, []byte(strings.Join(out, "\n")), 0o644); err != nil {
			t.Errorf("write %s: %v", f, err)
		}
	}
}

// kindFolders are the Dockerfile kinds of the matrix's rows.
func kindFolders(t *testing.T) []string {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(repoRoot, "pipelines", "kaniko-capabilities", "kinds"))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range es {
		if e.IsDir() {
			kinds = append(kinds, e.Name())
		}
	}
	return kinds
}

// columnTimes is each column's median cell time (cells of a set, from the
// run's task.end events).
func columnTimes(r result) string {
	by := map[string][]int64{}
	for cell, d := range cellTimes(r) {
		set, _, _ := strings.Cut(cell, ",")
		by[set] = append(by[set], d)
	}
	var parts []string
	for set, ds := range by {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		parts = append(parts, fmt.Sprintf("%s %.1f s", set, float64(ds[len(ds)/2])/1000))
	}
	sort.Strings(parts)
	return "median cell per column: " + strings.Join(parts, ", ")
}

// matrixDiff lists the cells whose result or reason differs between two
// matrices, as Markdown lines ("none" when they agree).
func matrixDiff(a, b map[string]probe) string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var lines []string
	for _, k := range keys {
		x, y := a[k], b[k]
		if x.Result != y.Result || x.Short != y.Short {
			lines = append(lines, fmt.Sprintf("- `%s`: v1.24.0 %s %q; v1.25.5 %s %q", k, x.Result, x.Short, y.Result, y.Short))
		}
	}
	if len(lines) == 0 {
		return "none: every cell has the same result and reason."
	}
	return strings.Join(lines, "\n")
}

// TestLeastPrivilegeBuildKitRung: rootless BuildKit as a rung of the ladder
// (make capabilities-matrix: its image is built only there). Before the
// Kaniko set with DAC_OVERRIDE, on the multi-stage Dockerfile, it is the
// first that builds the reference's image: the verdict names it at Pod
// Security privileged, with nothing to paste and no trim (its privileges are
// not capabilities to drop).
func TestLeastPrivilegeBuildKitRung(t *testing.T) {
	ladder := `ladder=[{name: nopriv, builder: nopriv, add: []}, {name: none, builder: kaniko, add: []}, {name: seed, builder: kaniko, add: [CHOWN, SETUID, SETGID, FOWNER]}, {name: buildkit, builder: buildkit, add: [SETUID, SETGID]}, {name: shipwright, builder: kaniko, add: [CHOWN, DAC_OVERRIDE, FOWNER, SETGID, SETUID, SETFCAP, KILL]}]`
	_, v := runLadder(t, "multistage", "--set", ladder)
	if v.Needs == nil || v.Needs.Builder != "buildkit" || v.Level != "privileged" || v.Paste != "" || len(v.Trim) != 0 {
		t.Fatalf("verdict %q (needs %+v, level %s, paste %q, %d trims), want rootless BuildKit at privileged, nothing to paste", v.Verdict, v.Needs, v.Level, v.Paste, len(v.Trim))
	}
	if !strings.Contains(v.Verdict, "rootless BuildKit") {
		t.Errorf("verdict %q does not name rootless BuildKit", v.Verdict)
	}
}
