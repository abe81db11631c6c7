// Package layout holds the checks on the repository's shape that no one
// package owns.
package layout

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// maxLines is the length past which a Go file is split by job
// (CONTRIBUTING.md): a newcomer reads one job per file.
const maxLines = 400

// pending are files over maxLines that another change is splitting; each
// entry goes when its file is short again (the test says so).
var pending = map[string]string{}

// TestGoFilesAreShort: every Go file git tracks or would (not ignored),
// tests aside, in every module of the repository (test tooling too: it is
// read and kept like the product), is at most maxLines long.
func TestGoFilesAreShort(t *testing.T) {
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatalf("git rev-parse --show-toplevel: %v (the check lists the files git tracks)", err)
	}
	root := strings.TrimSpace(string(top))
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "*.go").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	seen := 0
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, name))
		if os.IsNotExist(err) {
			continue // deleted in the work tree, not yet in the index
		}
		if err != nil {
			t.Fatal(err)
		}
		seen++
		n := bytes.Count(data, []byte("\n"))
		why, isPending := pending[name]
		switch {
		case n > maxLines && !isPending:
			t.Errorf("%s: %d lines, more than %d: split it by job into files named for what they do", name, n, maxLines)
		case n <= maxLines && isPending:
			t.Errorf("%s: %d lines now: drop it from pending (%s)", name, n, why)
		}
	}
	for name := range pending {
		if _, err := os.Stat(filepath.Join(root, name)); err != nil {
			t.Errorf("%s is in pending but %v: drop it", name, err)
		}
	}
	if seen == 0 {
		t.Fatal("git lists no Go files")
	}
}
