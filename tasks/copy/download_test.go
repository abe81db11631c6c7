package copy

import (
	"archive/tar"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// tree lists every path under dir with its content (symlinks as ->).
func tree(t *testing.T, dir string) string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case info.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out = append(out, rel+" -> "+l)
		case info.IsDir():
			out = append(out, rel+"/")
		default:
			b, _ := os.ReadFile(p)
			out = append(out, rel+" = "+string(b))
		}
		return nil
	})
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// A refused archive fails for good (not retried) and leaves the
// destination as it was, even when good entries came before the refused
// one; nothing of the staging folder is left beside it.
func TestRefusedDownloadLeavesDestinationAndIsFinal(t *testing.T) {
	fc := &fakeContainer{t: t, root: t.TempDir(), evil: mkTar(t,
		tarEntry{name: "out/", typ: tar.TypeDir},
		tarEntry{name: "out/good", typ: tar.TypeReg, body: "new"},
		tarEntry{name: "out/keep", typ: tar.TypeReg, body: "overwritten"},
		tarEntry{name: "out/link", link: "../../outside", typ: tar.TypeSymlink},
	)}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "got"), 0o755)
	os.WriteFile(filepath.Join(dir, "got", "keep"), []byte("mine"), 0o644)
	before := tree(t, dir)
	a := newAction(t, dir, map[string]any{"download": []any{map[string]any{"from": "/var/out", "to": "got"}}})
	_, err := a.run(context.Background(), env(), &remote{ex: fc, ns: "ones", pod: "builder", container: "c"})
	if !errors.Is(err, ErrUnsafeEntry) || !strings.Contains(err.Error(), "points outside the destination") {
		t.Fatalf("err = %v", err)
	}
	if streamBroke(err) {
		t.Errorf("a refused archive counts as a broken stream (retried): %v", err)
	}
	if after := tree(t, dir); after != before {
		t.Errorf("destination changed:\nbefore\n%s\nafter\n%s", before, after)
	}
}

// Unpacking into an existing folder merges, as before: its other files
// stay, the archive's replace theirs; a second download of the same
// archive (symlinks included) works too.
func TestDownloadMergesIntoExistingFolder(t *testing.T) {
	fc := &fakeContainer{t: t, root: t.TempDir()}
	os.MkdirAll(filepath.Join(fc.root, "var/out/sub"), 0o755)
	os.WriteFile(filepath.Join(fc.root, "var/out/sub/a"), []byte("new"), 0o644)
	os.Symlink("sub/a", filepath.Join(fc.root, "var/out/link"))
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "got/sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "got/sub/a"), []byte("old"), 0o644)
	os.WriteFile(filepath.Join(dir, "got/sub/mine"), []byte("mine"), 0o644)
	a := newAction(t, dir, map[string]any{"download": []any{map[string]any{"from": "/var/out", "to": "got"}}})
	for i := 0; i < 2; i++ {
		out, err := a.run(context.Background(), env(), &remote{ex: fc, ns: "ones", pod: "builder", container: "c"})
		if err != nil {
			t.Fatal(err)
		}
		want := "got/\ngot/link -> sub/a\ngot/sub/\ngot/sub/a = new\ngot/sub/mine = mine"
		if got := tree(t, dir); got != want {
			t.Fatalf("download %d:\n%s\nwant\n%s", i+1, got, want)
		}
		if files := out["files"].([]any); len(files) != 1 || files[0] != filepath.Join(dir, "got/sub/a") {
			t.Fatalf("files %v", files)
		}
	}
}

// A symlink already in the destination on the way to an entry would take
// the write elsewhere: refused before anything moves.
func TestDownloadRefusesSymlinkedFolderInDestination(t *testing.T) {
	fc := &fakeContainer{t: t, root: t.TempDir()}
	os.MkdirAll(filepath.Join(fc.root, "var/out/sub"), 0o755)
	os.WriteFile(filepath.Join(fc.root, "var/out/first"), []byte("1"), 0o644)
	os.WriteFile(filepath.Join(fc.root, "var/out/sub/a"), []byte("x"), 0o644)
	dir := t.TempDir()
	elsewhere := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "got"), 0o755)
	os.Symlink(elsewhere, filepath.Join(dir, "got/sub"))
	before := tree(t, dir)
	a := newAction(t, dir, map[string]any{"download": []any{map[string]any{"from": "/var/out", "to": "got"}}})
	_, err := a.run(context.Background(), env(), &remote{ex: fc, ns: "ones", pod: "builder", container: "c"})
	if !errors.Is(err, ErrUnsafeEntry) {
		t.Fatalf("err = %v", err)
	}
	if after := tree(t, dir); after != before {
		t.Errorf("destination changed:\n%s", after)
	}
	if left := tree(t, elsewhere); left != "" {
		t.Errorf("written through the symlink: %s", left)
	}
}
