//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestStarterReadme runs README's "Your first pipeline" (kbrun init hello,
// then kbrun run) and compares what the run prints with the output the
// README shows, times, the run's ID and notes that depend on timing aside:
// a newcomer sees what the README says.
func TestStarterReadme(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "<!-- starter output -->\n```text\n")
	shown, _, closed := strings.Cut(after, "```")
	if !ok || !closed {
		t.Fatal("README.md has no starter output block (<!-- starter output --> then a ```text fence)")
	}
	dir := filepath.Join(t.TempDir(), "hello")
	if r := kbrun(t, "init", dir); r.code != 0 {
		t.Fatalf("init: exit %d\n%s", r.code, r.stderr)
	}
	r := kbrun(t, "run", filepath.Join(dir, "pipeline.yaml"), "--set", "image=kbrun.local/busybox:1.35")
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	namespaceGone(t, "hello")
	want, got := comparable(shown), comparable(r.stdout)
	if want != got {
		t.Errorf("README.md's starter output is not what the run prints now; the run printed:\n%s\ncompared as:\n%s\nREADME, compared as:\n%s", r.stdout, got, want)
	}
}

var (
	// A duration as kbrun prints it: 8ms, 1.1s, 2m3s.
	durationRE = regexp.MustCompile(`\b\d+(\.\d+)?(ms|s|m)(\d+(\.\d+)?s)?\b`)
	runIDRE    = regexp.MustCompile(`\b\d{14}-[0-9a-f]{4}\b`)
	// Notes that appear or not with the cluster's speed: a rollout's
	// progress and a wait that lasts.
	timingNoteRE = regexp.MustCompile(`\| (Waiting for deployment|waiting for .*so far)`)
)

// comparable is output with durations and run IDs replaced, timing
// notes dropped and runs of spaces (a table's padding) made one.
func comparable(out string) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if timingNoteRE.MatchString(l) {
			continue
		}
		l = runIDRE.ReplaceAllString(l, "RUNID")
		l = durationRE.ReplaceAllString(l, "DURATION")
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	return strings.Join(lines, "\n")
}
