package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestLayerTarOwnersAndModes: the layer keeps setuid and sticky bits, and
// -chown rules give a subtree (the longest rule winning) to another owner while
// everything else stays root's, whoever owns the files on disk.
func TestLayerTarOwnersAndModes(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"usr/bin", "home/user/.local/share/buildkit", "home/user/keep", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	suid := filepath.Join(root, "usr/bin/newuidmap")
	if err := os.WriteFile(suid, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Set with os.Chmod: WriteFile and MkdirAll go through the umask.
	if err := os.Chmod(suid, 0o755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "tmp"), 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	owners, err := parseOwners([]string{"/home/user=1000:1000", "home/user/keep/=0:0"})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := layerTar(root, owners)
	if err != nil {
		t.Fatal(err)
	}
	type entry struct {
		mode     int64
		uid, gid int
		uname    string
	}
	got := map[string]entry{}
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = entry{h.Mode, h.Uid, h.Gid, h.Uname}
	}
	want := map[string]entry{
		"usr/bin/newuidmap":                {0o4755, 0, 0, "root"},
		"tmp/":                             {0o1777, 0, 0, "root"},
		"home/":                            {0o755, 0, 0, "root"},
		"home/user/":                       {0o755, 1000, 1000, ""},
		"home/user/.local/share/buildkit/": {0o755, 1000, 1000, ""},
		"home/user/keep/":                  {0o755, 0, 0, "root"},
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || g != w {
			t.Errorf("%s: got %+v (present %v), want %+v", name, g, ok, w)
		}
	}
}

func TestParseOwnersErrors(t *testing.T) {
	for _, s := range []string{"home/user", "home/user=1000", "home/user=a:1", "home/user=1:-1", "/=1000:1000"} {
		if _, err := parseOwners([]string{s}); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
}
