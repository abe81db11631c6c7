package task

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWritable(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path     string
		makeDirs bool
		want     string // "" = writable
	}{
		{file, false, ""},
		{filepath.Join(dir, "new"), false, ""},
		{filepath.Join(dir, "a", "b", "new"), true, ""},
		{filepath.Join(dir, "a", "b", "new"), false, "folder " + filepath.Join(dir, "a", "b") + " does not exist"},
		{filepath.Join(file, "a", "new"), true, file + " is not a folder"},
		{dir, true, dir + " is a folder"},
	} {
		err := Writable(tc.path, tc.makeDirs)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("Writable(%s, %v) = %v, want %q", tc.path, tc.makeDirs, err, tc.want)
		}
	}
}
