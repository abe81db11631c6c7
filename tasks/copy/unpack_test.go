package copy

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// ent is one entry of a test archive.
type ent struct {
	name, link string
	typ        byte
	body       string
	mode       int64
	format     tar.Format
}

func dir(name string) ent             { return ent{name: name, typ: tar.TypeDir} }
func file(name, body string) ent      { return ent{name: name, typ: tar.TypeReg, body: body} }
func symlink(name, target string) ent { return ent{name: name, typ: tar.TypeSymlink, link: target} }
func hardlink(name, to string) ent    { return ent{name: name, typ: tar.TypeLink, link: to} }

// archive writes es with archive/tar.
func archive(t testing.TB, es ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Format: e.format}
		if h.Mode == 0 {
			h.Mode = 0o644
			if e.typ == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("%s: %v", e.name, err)
		}
		io.WriteString(tw, e.body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// raw is a header block archive/tar would not write (a lying size, a
// sparse or unknown type, bytes it refuses), followed by payload padded to
// a block. gnu picks the GNU magic over ustar's.
func raw(name string, typ byte, size int64, payload string, gnu bool) []byte {
	b := make([]byte, 512)
	copy(b[0:100], name)
	copy(b[100:108], "0000644\x00")
	copy(b[108:116], "0000000\x00")
	copy(b[116:124], "0000000\x00")
	copy(b[124:136], fmt.Sprintf("%011o\x00", size))
	copy(b[136:148], "00000000000\x00")
	b[156] = typ
	if gnu {
		copy(b[257:265], "ustar  \x00")
	} else {
		copy(b[257:265], "ustar\x0000")
	}
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	pad := (512 - len(payload)%512) % 512
	return append(append(b, payload...), make([]byte, pad)...)
}

// paxRecord is one "LEN key=value\n" record.
func paxRecord(k, v string) string {
	rec := " " + k + "=" + v + "\n"
	n := len(rec) + 1
	for len(fmt.Sprint(n))+len(rec) != n {
		n++
	}
	return fmt.Sprint(n) + rec
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

var end = make([]byte, 1024)

// sandbox is a folder holding the destination work/out, with files and
// folders of its own, files beside it and elsewhere that escapes would
// reach, and a symlink of the user's inside it pointing outside.
func sandbox(t testing.TB) (root, dest string) {
	root = t.TempDir()
	for p, body := range map[string]string{
		"x": "top", "work/x": "beside", "work/out-evil/f": "sibling", "elsewhere/secret": "secret",
		"work/out/keep": "mine", "work/out/sub/a": "old", "work/out/a/b/c": "deep",
	} {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dest = filepath.Join(root, "work", "out")
	for link, target := range map[string]string{"mine": "../../elsewhere", "u": "a/b"} {
		if err := os.Symlink(target, filepath.Join(dest, link)); err != nil {
			t.Fatal(err)
		}
	}
	return root, dest
}

// snapshot is every path under root with its type, mode, inode, size,
// content hash, modification time (files) and link target: equal
// snapshots mean nothing was created, deleted, replaced or written.
// Folders' times are left out (the staging folder comes and goes).
func snapshot(t testing.TB, root string) string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		line := fmt.Sprintf("%s %v ino=%d", rel, fi.Mode(), fi.Sys().(*syscall.Stat_t).Ino)
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			line += " -> " + l
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			line += fmt.Sprintf(" %d %x %d", len(b), sha256.Sum256(b), fi.ModTime().UnixNano())
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// untar stages, unpacks and places as a download does.
func untar(r io.Reader, name, dest string) ([]string, error) {
	st, err := newStage(dest)
	if err != nil {
		return nil, err
	}
	defer st.discard()
	_, files, err := st.unpack(r, name)
	if err == nil && len(files) == 0 {
		err = errors.New("the archive was empty") // as downloadOne says
	}
	if err == nil {
		err = st.place()
	}
	return files, err
}

// runDownload runs the copy task's download of /var/out to dest, the
// container's tar sending data.
func runDownload(t *testing.T, data []byte, dest string) (map[string]any, error) {
	t.Helper()
	fc := &fakeContainer{t: t, root: t.TempDir(), evil: data}
	a := newAction(t, filepath.Dir(dest), map[string]any{"download": []any{map[string]any{"from": "/var/out", "to": filepath.Base(dest)}}})
	return a.run(context.Background(), env(), &remote{ex: fc, ns: "ones", pod: "builder", container: "c"})
}

// hostile is an archive a download must refuse, the error naming the
// entry (name) and saying why; plain marks refusals that are not
// ErrUnsafeEntry (the archive or the file system fails).
type hostile struct {
	name, why string
	data      func(t testing.TB) []byte
	plain     bool
}

func entries(es ...ent) func(testing.TB) []byte {
	return func(t testing.TB) []byte { return archive(t, es...) }
}

func bytesOf(b []byte) func(testing.TB) []byte { return func(testing.TB) []byte { return b } }

var long = strings.Repeat("n", 300)

var hostiles = map[string]hostile{
	// Names (CVE-2019-1002101, CVE-2019-11249).
	"absolute path":            {`"/tmp/evil"`, "absolute path", entries(file("/tmp/evil", "x")), false},
	"absolute path of NAME":    {`"/out/x"`, "absolute path", entries(dir("out/"), file("/out/x", "x")), false},
	"dot-dot":                  {`"out/../../evil"`, `climbs with ".."`, entries(file("out/../../evil", "x")), false},
	"dot-dot in the middle":    {`"out/sub/../../x"`, `climbs with ".."`, entries(dir("out/"), file("out/sub/../../x", "x")), false},
	"dot-dot at the start":     {`"../x"`, "not under the requested", entries(file("../x", "x")), false},
	"dot after NAME then up":   {`"out/./../x"`, `climbs with ".."`, entries(file("out/./../x", "x")), false},
	"sibling prefix":           {`"out-evil/f"`, "not under the requested", entries(file("out-evil/f", "x")), false},
	"another top folder":       {`"etc/passwd"`, "not under the requested", entries(dir("out/"), file("etc/passwd", "x")), false},
	"Windows separators":       {`"out\\..\\..\\evil"`, "backslash", entries(file(`out\..\..\evil`, "x")), false},
	"Windows separator inside": {`"out/..\\x"`, "backslash", entries(dir("out/"), file(`out/..\x`, "x")), false},
	"Windows drive":            {`"C:/x"`, "not under the requested", entries(file("C:/x", "x")), false},
	"GNU long name climbing":   {"climbs", `climbs with ".."`, entries(ent{name: "out/" + strings.Repeat("d/", 60) + strings.Repeat("../", 62) + "x", typ: tar.TypeReg, format: tar.FormatGNU}), false},
	"PAX long name climbing":   {"climbs", `climbs with ".."`, entries(ent{name: "out/" + strings.Repeat("d/", 60) + strings.Repeat("../", 62) + "x", typ: tar.TypeReg, format: tar.FormatPAX}), false},
	"empty name":               {`""`, "empty name", bytesOf(cat(raw("", tar.TypeReg, 0, "", false), end)), false},
	"NUL in a PAX name": {`after entry "out/first"`, "invalid tar header", func(t testing.TB) []byte {
		nul := paxRecord("path", "out/a\x00/../../x")
		return cat(archive(t, file("out/first", "1"))[:1024], raw("PaxHeaders/x", tar.TypeXHeader, int64(len(nul)), nul, false), raw("out/a", tar.TypeReg, 0, "", false), end)
	}, true},
	"name too long":             {`"out/` + long + `"`, "file name too long", entries(dir("out/"), file("out/"+long, "x")), true},
	"size beyond the archive":   {`"out/big"`, "unexpected EOF", bytesOf(cat(raw("out/big", tar.TypeReg, 1<<40, "only this", false))), true},
	"cut in a header":           {`after entry "out/a"`, "unexpected EOF", func(t testing.TB) []byte { return archive(t, file("out/a", "1"), file("out/b", "2"))[:1024+100] }, true},
	"unknown entry type":        {`"out/v"`, "entry type 'V'", bytesOf(cat(raw("out/v", 'V', 0, "", false), end)), false},
	"contiguous file type":      {`"out/c"`, "entry type '7'", bytesOf(cat(raw("out/c", '7', 1, "x", false), end)), false},
	"character device":          {`"out/tty"`, "device file", entries(dir("out/"), ent{name: "out/tty", typ: tar.TypeChar}), false},
	"block device":              {`"out/sda"`, "device file", entries(dir("out/"), ent{name: "out/sda", typ: tar.TypeBlock}), false},
	"named pipe":                {`"out/fifo"`, "named pipe", entries(dir("out/"), ent{name: "out/fifo", typ: tar.TypeFifo}), false},
	"old GNU sparse file":       {`"out/sparse"`, "sparse file", bytesOf(cat(raw("out/sparse", tar.TypeGNUSparse, 0, "", true), end)), false},
	"PAX sparse file (1 TiB)":   {`"out/bomb"`, "sparse file", bytesOf(cat(raw("PaxHeaders/b", tar.TypeXHeader, int64(len(paxSparse)), paxSparse, false), raw("out/bomb", tar.TypeReg, 512, "1\n0\n0\n", false), end)), false},
	"duplicate file":            {`"out/f"`, "second time", entries(dir("out/"), file("out/f", "1"), file("out/f", "2")), false},
	"file then folder":          {`"out/f/"`, "second time", entries(dir("out/"), file("out/f", "1"), dir("out/f/")), false},
	"file then entry under it":  {`"out/f/x"`, `"out/f", which is not a folder`, entries(dir("out/"), file("out/f", "1"), file("out/f/x", "2")), false},
	"NAME a file then under it": {`"out/x"`, `"out", which is not a folder`, entries(file("out", "1"), file("out/x", "2")), false},
	"symlink replacing a file":  {`"out/f"`, "second time", entries(dir("out/"), file("out/f", "1"), symlink("out/f", "../x")), false},
	"file replacing a symlink":  {`"out/l"`, "second time", entries(dir("out/"), symlink("out/l", "keep"), file("out/l", "2")), false},
	"hard link replacing file":  {`"out/f"`, "second time", entries(dir("out/"), file("out/f", "1"), file("out/g", "2"), hardlink("out/f", "out/g")), false},
	// Symlinks (CVE-2019-11246, CVE-2019-11251 and beyond).
	"absolute symlink":             {`"out/etc"`, `symlink to the absolute path "/etc"`, entries(dir("out/"), symlink("out/etc", "/etc")), false},
	"symlink to the parent":        {`"out/l"`, "points outside the destination (to ..)", entries(dir("out/"), symlink("out/l", "..")), false},
	"symlink beside":               {`"out/l"`, "points outside the destination (to ../x)", entries(dir("out/"), symlink("out/l", "../x")), false},
	"symlink to the sibling":       {`"out/l"`, "(to ../out-evil)", entries(dir("out/"), symlink("out/l", "../out-evil/f")), false},
	"deep symlink climbing":        {`"out/d/e/l"`, "(to ../x)", entries(dir("out/"), symlink("out/d/e/l", "../../../x")), false},
	"empty symlink":                {`"out/l"`, "empty target", entries(dir("out/"), symlink("out/l", "")), false},
	"NAME a symlink":               {`"out"`, "points outside the destination (to ..)", entries(symlink("out", ".")), false},
	"NAME an absolute symlink":     {`"out"`, "absolute path", entries(symlink("out", "/etc")), false},
	"chain through an earlier one": {`"out/esc"`, "(to ..)", entries(dir("out/"), symlink("out/up", "."), symlink("out/esc", "up/..")), false},
	"chain a -> b/c/../.., b/c -> .": {`"out/b/c": changes what the symlink "out/a" -> "b/c/../.." resolves to`, "(to ..)",
		entries(dir("out/"), symlink("out/a", "b/c/../.."), symlink("out/b/c", ".")), false},
	"chain b/c -> . then a":        {`"out/a"`, "(to ..)", entries(dir("out/"), symlink("out/b/c", "."), symlink("out/a", "b/c/../..")), false},
	"chain of three made later":    {`"out/q/r": changes what the symlink "out/l" -> "p/x"`, "(to ../x)", entries(dir("out/"), symlink("out/l", "p/x"), symlink("out/p", "q/r/../.."), symlink("out/q/r", ".")), false},
	"symlink loop":                 {`"out/b"`, "a loop of them", entries(dir("out/"), symlink("out/a", "b"), symlink("out/b", "a")), false},
	"symlink then file through it": {`"out/l/f"`, `goes through the symlink "out/l"`, entries(dir("out/"), dir("out/sub/"), symlink("out/l", "sub"), file("out/l/f", "x")), false},
	"CVE-2019-11246 write through": {`"out/link"`, "outside", entries(dir("out/"), symlink("out/link", "../../.."), file("out/link/evil", "x")), false},
	"symlink then folder through":  {`"out/l/d/"`, `goes through the symlink "out/l"`, entries(dir("out/"), symlink("out/l", "."), dir("out/l/d/")), false},
	"symlink then link through":    {`"out/l/m"`, `goes through the symlink "out/l"`, entries(dir("out/"), symlink("out/l", "."), symlink("out/l/m", "x")), false},
	"folder replaced by a symlink": {`"out/d"`, "second time", entries(dir("out/"), dir("out/d/"), symlink("out/d", "..")), false},
	"folder replaced, inside":      {`"out/d"`, "second time", entries(dir("out/"), dir("out/d/"), symlink("out/d", ".")), false},
	"expansion bomb":               {`"out/l1"`, "lookups", entries(dir("out/"), symlink("out/l0", strings.Repeat("./", 2000)+"."), symlink("out/l1", strings.Repeat("l0/", 400)+".")), false},
	// Hard links.
	"hard link to an absolute path":     {`"out/h"`, `hard link to "/etc/passwd", which is an absolute path`, entries(dir("out/"), hardlink("out/h", "/etc/passwd")), false},
	"hard link climbing":                {`"out/h"`, `climbs with ".."`, entries(dir("out/"), hardlink("out/h", "out/../../x")), false},
	"hard link to another top":          {`"out/h"`, "not under the requested", entries(dir("out/"), hardlink("out/h", "etc/passwd")), false},
	"hard link to a later entry":        {`"out/h"`, "not a file or symlink unpacked before it", entries(dir("out/"), hardlink("out/h", "out/later"), file("out/later", "x")), false},
	"hard link to a folder":             {`"out/h"`, "not a file or symlink unpacked before it", entries(dir("out/"), dir("out/d/"), hardlink("out/h", "out/d")), false},
	"hard link to a destination file":   {`"out/h"`, "not a file or symlink unpacked before it", entries(dir("out/"), hardlink("out/h", "out/keep")), false},
	"hard link to inside symlink a/l":   {`"out/h"`, `hard link to the symlink "out/a/l" -> "../x", which from here points outside the destination (to ../x)`, entries(dir("out/"), symlink("out/a/l", "../x"), hardlink("out/h", "out/a/l")), false},
	"hard link to d/l -> .. at the top": {`"out/h"`, "(to ..)", entries(dir("out/"), symlink("out/d/l", ".."), hardlink("out/h", "out/d/l")), false},
	"hard link made under a symlink":    {`"out/l/h"`, `goes through the symlink "out/l"`, entries(dir("out/"), file("out/f", "x"), symlink("out/l", "."), hardlink("out/l/h", "out/f")), false},
	// What the destination holds.
	"through the user's symlink":      {`"out/l"`, "(to ../../elsewhere)", entries(dir("out/"), symlink("out/l", "mine/secret")), false},
	"file through the user's symlink": {`"out/mine/secret"`, `goes through "out/mine", a symlink in the destination`, entries(dir("out/"), file("out/mine/secret", "x")), false},
	"folder into the user's symlink":  {`"out/mine/"`, `goes through "out/mine", a symlink in the destination`, entries(dir("out/"), dir("out/mine/")), false},
	"file hiding the user's symlink": {`"out/u": changes what the symlink "out/l" -> "u/../../x" resolves to`, "(to ../x)",
		entries(dir("out/"), symlink("out/l", "u/../../x"), file("out/u", "x")), false},
	// Good entries first: the destination is still as it was.
	"good entries, then an escape": {`"out/z"`, "outside", entries(dir("out/"), file("out/keep", "overwritten"), dir("out/new/"), file("out/new/f", "new"), symlink("out/z", "../x")), false},
}

// paxSparse declares out/bomb a 1 TiB GNU 1.0 sparse file.
var paxSparse = paxRecord("GNU.sparse.major", "1") + paxRecord("GNU.sparse.minor", "0") +
	paxRecord("GNU.sparse.name", "out/bomb") + paxRecord("GNU.sparse.realsize", "1099511627776")

// TestHostileArchives: each archive fails the download with the entry
// named and why, is not retried, and leaves the destination and
// everything around it as it was: no file created, changed, replaced or
// deleted, nothing left beside it.
func TestHostileArchives(t *testing.T) {
	if len(hostiles) < 40 {
		t.Fatalf("%d cases", len(hostiles))
	}
	for name, h := range hostiles {
		t.Run(name, func(t *testing.T) {
			root, dest := sandbox(t)
			before := snapshot(t, root)
			_, err := runDownload(t, h.data(t), dest)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), h.name) || !strings.Contains(err.Error(), h.why) {
				t.Errorf("error does not say %s and %q:\n%v", h.name, h.why, err)
			}
			if errors.Is(err, ErrUnsafeEntry) == h.plain {
				t.Errorf("errors.Is(err, ErrUnsafeEntry) = %v: %v", !h.plain, err)
			}
			if !h.plain && streamBroke(err) {
				t.Errorf("counted as a broken stream (retried): %v", err)
			}
			if after := snapshot(t, root); after != before {
				t.Errorf("changed:\nbefore\n%s\nafter\n%s", before, after)
			}
		})
	}
}

// A destination under folders that do not exist yet: they are created for
// the staging folder, and removed again when the archive is refused.
func TestRefusedDownloadRemovesParentsItMade(t *testing.T) {
	root := t.TempDir()
	before := snapshot(t, root)
	_, err := runDownload(t, archive(t, dir("out/"), file("out/f", "x"), symlink("out/l", "../../..")), filepath.Join(root, "new", "deeper", "out"))
	if !errors.Is(err, ErrUnsafeEntry) {
		t.Fatalf("err = %v", err)
	}
	if after := snapshot(t, root); after != before {
		t.Errorf("left behind:\n%s", after)
	}
}

// Benign archives: symlinks and hard links that stay inside unpack as
// they are, merged into what the destination holds; permission bits are
// kept without setuid, setgid or sticky.
func TestBenignArchives(t *testing.T) {
	root, dest := sandbox(t)
	before := withoutDest(snapshot(t, root))
	data := archive(t,
		dir("out/"),
		ent{name: "out/bin/", typ: tar.TypeDir, mode: 0o1777},
		ent{name: "out/bin/tool", typ: tar.TypeReg, body: "#!/bin/sh\n", mode: 0o6755},
		symlink("out/bin/alias", "tool"),
		symlink("out/up", "bin/.."),
		symlink("out/back-in", "../out/keep"),
		symlink("out/dangling", "not/yet/there"),
		symlink("out/b/c", "."),
		symlink("out/a2", "b/c/x"),
		symlink("out/weird", `..\x`),
		symlink("out/via-user", "u/c"),
		hardlink("out/hard", "out/bin/tool"),
		hardlink("out/bin/alias2", "out/bin/alias"),
		file("out/sub/b", "new"),
		ent{name: "out/" + strings.Repeat("d/", 100) + "f", typ: tar.TypeReg, body: "deep", format: tar.FormatPAX},
	)
	out, err := runDownload(t, data, dest)
	if err != nil {
		t.Fatal(err)
	}
	if after := withoutDest(snapshot(t, root)); after != before {
		t.Errorf("outside the destination:\nbefore\n%s\nafter\n%s", before, after)
	}
	for p, want := range map[string]string{
		"bin/tool": "#!/bin/sh\n", "bin/alias": "#!/bin/sh\n", "bin/alias2": "#!/bin/sh\n", "hard": "#!/bin/sh\n",
		"up/keep": "mine", "back-in": "mine", "sub/a": "old", "sub/b": "new", "via-user": "deep",
		strings.Repeat("d/", 100) + "f": "deep",
	} {
		if b, err := os.ReadFile(filepath.Join(dest, p)); err != nil || string(b) != want {
			t.Errorf("%s: %q %v, want %q", p, b, err, want)
		}
	}
	if fi, _ := os.Stat(filepath.Join(dest, "bin/tool")); fi.Mode() != 0o755 {
		t.Errorf("bin/tool mode %v, want -rwxr-xr-x", fi.Mode())
	}
	if fi, _ := os.Stat(filepath.Join(dest, "bin")); !fi.IsDir() || fi.Mode()&fs.ModeSticky != 0 {
		t.Errorf("bin mode %v, want a folder without the sticky bit", fi.Mode())
	}
	if files := out["files"].([]any); len(files) != 3 || files[0] != filepath.Join(dest, "bin/tool") {
		t.Errorf("files %v", files)
	}
	if entries, _ := os.ReadDir(filepath.Dir(dest)); len(entries) != 3 {
		t.Errorf("beside the destination: %v", entries)
	}
}

// assertContained checks an unpacked destination as a later user of it
// would meet it: every symlink in it resolves inside (when it resolves),
// and writing through each one, as a file and as a folder, changes
// nothing outside the destination (before is root's snapshot before
// unpacking; the user's own symlinks, still as they were, are skipped).
func assertContained(t testing.TB, root, dest, before string) {
	t.Helper()
	own := map[string]bool{}
	for _, l := range strings.Split(before, "\n") {
		own[l] = true
	}
	filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink == 0 {
			return err
		}
		fi, _ := d.Info()
		rel, _ := filepath.Rel(root, p)
		l, _ := os.Readlink(p)
		if own[fmt.Sprintf("%s %v ino=%d -> %s", rel, fi.Mode(), fi.Sys().(*syscall.Stat_t).Ino, l)] {
			return nil
		}
		if r, err := filepath.EvalSymlinks(p); err == nil && r != dest && !strings.HasPrefix(r, dest+"/") {
			t.Errorf("%s resolves to %s", p, r)
		}
		if f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err == nil {
			f.WriteString("probe")
			f.Close()
		}
		os.WriteFile(filepath.Join(p, "probe"), []byte("probe"), 0o644)
		return nil
	})
	if after := withoutDest(snapshot(t, root)); after != withoutDest(before) {
		t.Errorf("outside the destination:\nbefore\n%s\nafter\n%s", withoutDest(before), after)
	}
}

// withoutDest drops the destination (work/out) and its folder (whose
// size changes) from a sandbox snapshot.
func withoutDest(snap string) string {
	var keep []string
	for _, l := range strings.Split(snap, "\n") {
		if !strings.HasPrefix(l, "work/out ") && !strings.HasPrefix(l, "work/out/") && !strings.HasPrefix(l, "work ") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// contained unpacks data into a fresh sandbox: refused, nothing changed;
// accepted, nothing outside the destination changed, even by writing
// through what it unpacked. It reports whether data was accepted.
func contained(t testing.TB, data []byte) bool {
	root, dest := sandbox(t)
	before := snapshot(t, root)
	if _, err := untar(bytes.NewReader(data), "out", dest); err != nil {
		if after := snapshot(t, root); after != before {
			t.Errorf("refused (%v) but changed:\nbefore\n%s\nafter\n%s", err, before, after)
		}
		return false
	}
	assertContained(t, root, dest, before)
	return true
}

// randomArchive is up to 8 entries named from a small alphabet, so that
// names, symlink targets and hard links meet: folders, files, symlinks
// with relative targets (.., ., the sandbox's names) and hard links.
func randomArchive(t testing.TB, rng *rand.Rand) []byte {
	pick := func(from ...string) string { return from[rng.IntN(len(from))] }
	name := func() string {
		parts := []string{"out"}
		for range rng.IntN(4) {
			parts = append(parts, pick("a", "b", "c", "d", "e", "f", "g", "a", "b", "u", "mine"))
		}
		return strings.Join(parts, "/")
	}
	var es []ent
	if rng.IntN(5) > 0 {
		es = append(es, dir("out/"))
	}
	var names []string
	for range 1 + rng.IntN(8) {
		n := name()
		switch k := rng.IntN(10); {
		case k < 2:
			es = append(es, dir(n+"/"))
		case k < 4:
			es = append(es, file(n, "data"))
		case k < 9:
			var parts []string
			for range 1 + rng.IntN(4) {
				parts = append(parts, pick("a", "b", "c", ".", "..", "out", "x", "u", "keep"))
			}
			es = append(es, symlink(n, strings.Join(parts, "/")))
		case len(names) > 0:
			es = append(es, hardlink(n, names[rng.IntN(len(names))]))
		}
		names = append(names, n)
	}
	// A download without a regular file fails as empty.
	return archive(t, append(es, file("out/z", "data"))...)
}

// TestRandomArchivesStayContained: random archives are refused with
// nothing changed, or unpacked with nothing outside reachable.
func TestRandomArchivesStayContained(t *testing.T) {
	rng := rand.New(rand.NewPCG(26, 1))
	n := 200
	if testing.Short() {
		n = 50
	}
	accepted := 0
	for range n {
		if contained(t, randomArchive(t, rng)) {
			accepted++
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	t.Logf("%d of %d random archives accepted", accepted, n)
	if accepted < n/10 || accepted > n*9/10 {
		t.Errorf("%d of %d accepted: the generator no longer makes both kinds", accepted, n)
	}
}

// FuzzUnpack: whatever the bytes, nothing outside the destination is
// written, by unpacking or by writing through what was unpacked; refused
// archives change nothing at all.
func FuzzUnpack(f *testing.F) {
	for _, h := range hostiles {
		f.Add(h.data(f))
	}
	rng := rand.New(rand.NewPCG(26, 2))
	for range 20 {
		f.Add(randomArchive(f, rng))
	}
	f.Fuzz(func(t *testing.T, data []byte) { contained(t, data) })
}

// benignTree is a build output's shape: 2,000 files of 4 KiB in 100
// folders, 500 symlinks between them and 200 hard links.
func benignTree(t testing.TB) []byte {
	es := []ent{dir("out/")}
	body := strings.Repeat("x", 4096)
	for i := range 2000 {
		if i%20 == 0 {
			es = append(es, dir(fmt.Sprintf("out/d%d/", i/20)))
		}
		es = append(es, file(fmt.Sprintf("out/d%d/f%d", i/20, i), body))
	}
	for i := range 500 {
		es = append(es, symlink(fmt.Sprintf("out/d%d/l%d", i%100, i), fmt.Sprintf("../d%d/f%d", (i*7)%100, ((i*7)%100)*20)))
	}
	for i := range 200 {
		es = append(es, hardlink(fmt.Sprintf("out/d%d/h%d", i%100, i), fmt.Sprintf("out/d%d/f%d", i%100, (i%100)*20+1)))
	}
	return archive(t, es...)
}

// BenchmarkUnpack: staging, checking and placing a benign tree into a
// destination that does not exist yet (figures in BENCHMARKS.md).
func BenchmarkUnpack(b *testing.B) {
	data := benignTree(b)
	b.SetBytes(int64(len(data)))
	parent := b.TempDir()
	i := 0
	for b.Loop() {
		i++
		if _, err := untar(bytes.NewReader(data), "out", filepath.Join(parent, fmt.Sprint(i), "out")); err != nil {
			b.Fatal(err)
		}
	}
}
