package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"syscall"
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
	for _, h := range layerHeaders(t, raw) {
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

// TestLayerTarFileCapability: a file capability on disk (setcap's
// cap_setuid=ep, as the BuildKit image's newuidmap has) is in the layer as the
// xattr container runtimes apply; a file without one has no xattr record.
func TestLayerTarFileCapability(t *testing.T) {
	root := t.TempDir()
	withCap, without := filepath.Join(root, "newuidmap"), filepath.Join(root, "plain")
	for _, f := range []string{withCap, without} {
		if err := os.WriteFile(f, []byte("x"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// VFS_CAP_REVISION_2 with the effective flag, permitted CAP_SETUID (7).
	capV2 := []byte{0x01, 0, 0, 0x02, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if err := syscall.Setxattr(withCap, capabilityXattr, capV2, 0); err != nil {
		t.Fatalf("setting %s needs root (the harness builds its images as root): %v", capabilityXattr, err)
	}
	raw, err := layerTar(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, h := range layerHeaders(t, raw) {
		got[h.Name] = h.PAXRecords["SCHILY.xattr."+capabilityXattr]
	}
	if got["newuidmap"] != string(capV2) {
		t.Errorf("newuidmap's capability in the layer: %x, want %x", got["newuidmap"], capV2)
	}
	if c, ok := got["plain"]; !ok || c != "" {
		t.Errorf("plain: present %v, capability %x; want present without one", ok, c)
	}
}

// layerHeaders are the entries of a layer tarball, in order.
func layerHeaders(t *testing.T, raw []byte) []*tar.Header {
	t.Helper()
	var hs []*tar.Header
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hs
		}
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
}
