package app_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestValidControls: every file of testdata/valid sits next to the invalid
// corpus's classes (matrix identity, guarded finally reads, index, stand-in
// values) on the accepted side of the line. validate says valid, plan
// prepares it, and neither prints a secret var's value (s3cret... in these
// files): the check is not so strict that it refuses what is right.
func TestValidControls(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBECONFIG", "")
	files, _ := filepath.Glob("testdata/valid/*.yaml")
	if len(files) < 3 {
		t.Fatalf("found %d valid controls", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			code, out, errOut := kbrun("validate", f)
			if code != 0 || out != f+": valid\n" {
				t.Fatalf("validate: exit %d\n%s%s", code, out, errOut)
			}
			code, out, errOut = kbrun("plan", f)
			if code != 0 {
				t.Fatalf("plan: exit %d\n%s%s", code, out, errOut)
			}
			if strings.Contains(out+errOut, "s3cret") {
				t.Errorf("plan shows a secret:\n%s%s", out, errOut)
			}
		})
	}
}
