package main

import (
	"archive/tar"
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// ent is one tar entry of a test layer.
type ent struct {
	name    string
	typ     byte
	mode    int64
	uid     int
	content string
	link    string
	pax     map[string]string
}

// layerOf makes a layer of entries, every one stamped with mtime.
func layerOf(t *testing.T, mtime time.Time, es ...ent) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.uid, Linkname: e.link,
			Size: int64(len(e.content)), ModTime: mtime, PAXRecords: e.pax, Uname: "someone"}
		if e.typ == 0 {
			h.Typeflag = tar.TypeReg
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return layer
}

// imageOf stacks layers into an image with config c, created at created.
func imageOf(t *testing.T, c v1.Config, created time.Time, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config, cf.OS, cf.Architecture = c, "linux", "amd64"
	cf.Created = v1.Time{Time: created}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

func diffText(t *testing.T, img v1.Image, refs ...v1.Image) string {
	t.Helper()
	c, err := compareImages(img, refs...)
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, d := range c.diffs {
		s = append(s, d.String())
	}
	return strings.Join(s, "\n")
}

var (
	t1 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t2 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
)

// A private folder of another user, as the Dockerfile makes it.
func secretLayer(t *testing.T, mtime time.Time, withFile bool) v1.Layer {
	es := []ent{{name: "data/", typ: tar.TypeDir, mode: 0o755}, {name: "data/secret/", typ: tar.TypeDir, mode: 0o700, uid: 1000}}
	if withFile {
		es = append(es, ent{name: "data/secret/f", mode: 0o644, uid: 1000, content: "x\n"})
	}
	return layerOf(t, mtime, es...)
}

// TestCompareIgnoresTimes: the same files built at other times, with other
// owner names, another created date and empty config maps for absent ones,
// are the same image.
func TestCompareIgnoresTimes(t *testing.T) {
	cfg := v1.Config{User: "1000", Env: []string{"PATH=/bin"}}
	ref := imageOf(t, v1.Config{User: "1000", Env: []string{"PATH=/bin"}, ExposedPorts: map[string]struct{}{}, Labels: map[string]string{}}, t1, layerOf(t, t1, ent{name: "bin/", typ: tar.TypeDir, mode: 0o755}, ent{name: "bin/sh", mode: 0o755, content: "sh"}), secretLayer(t, t1, true))
	img := imageOf(t, cfg, t2, layerOf(t, t2, ent{name: "./bin/", typ: tar.TypeDir, mode: 0o755}, ent{name: "./bin/sh", mode: 0o755, content: "sh"}), secretLayer(t, t2, true))
	if d := diffText(t, img, ref); d != "" {
		t.Errorf("same files at other times differ:\n%s", d)
	}
}

// TestCompareFindsLostFiles: a build that left a private folder's file out
// (Kaniko without the capability to read it) differs, naming the path and
// what the reference has there.
func TestCompareFindsLostFiles(t *testing.T) {
	ref := imageOf(t, v1.Config{}, t1, secretLayer(t, t1, true))
	img := imageOf(t, v1.Config{}, t1, secretLayer(t, t1, false))
	want := "/data/secret/f: missing (reference: file 0644 1000:1000 2 B sha256:"
	if d := diffText(t, img, ref); !strings.HasPrefix(d, want) || strings.Count(d, "\n") != 0 {
		t.Errorf("diff:\n%s\nwant one line starting %q", d, want)
	}
	// The other way round: a file the reference lacks.
	if d := diffText(t, ref, img); !strings.HasPrefix(d, "/data/secret/f: extra (file 0644 1000:1000 2 B") {
		t.Errorf("diff:\n%s", d)
	}
}

// TestCompareAttributes: mode, owner, content of the same size, symlink
// target, file capability, type and config fields each count.
func TestCompareAttributes(t *testing.T) {
	capRaw := string(encodeCaps(1 << 13)) // cap_net_raw
	ref := imageOf(t, v1.Config{User: "1000:1000", Entrypoint: []string{"/server"}, Env: []string{"A=1"}, WorkingDir: "/w",
		ExposedPorts: map[string]struct{}{"8081/tcp": {}}, Labels: map[string]string{"l": "1"}}, t1,
		layerOf(t, t1,
			ent{name: "a", mode: 0o644, content: "one"},
			ent{name: "b", mode: 0o600, uid: 1000, content: "b"},
			ent{name: "c", typ: tar.TypeSymlink, mode: 0o777, link: "a"},
			ent{name: "ping", mode: 0o755, content: "p", pax: map[string]string{xattrCaps: capRaw}},
			ent{name: "d", typ: tar.TypeDir, mode: 0o755},
		))
	img := imageOf(t, v1.Config{User: "0", Entrypoint: []string{"/server"}, Env: []string{"A=1"}, WorkingDir: "/",
		ExposedPorts: map[string]struct{}{"8081/tcp": {}}, Labels: map[string]string{"l": "2"}}, t2,
		layerOf(t, t2,
			ent{name: "a", mode: 0o644, content: "two"},
			ent{name: "b", mode: 0o644, uid: 0, content: "b"},
			ent{name: "c", typ: tar.TypeSymlink, mode: 0o777, link: "b"},
			ent{name: "ping", mode: 0o755, content: "p"},
			ent{name: "d", mode: 0o755},
		))
	d := diffText(t, img, ref)
	for _, want := range []string{
		`config: user "0", reference "1000:1000"`,
		`config: workdir "/", reference "/w"`,
		`config: labels {"l":"2"}, reference {"l":"1"}`,
		"/a: content sha256:",
		"/b: mode 0644, reference 0600; owner 0:0, reference 1000:1000",
		`/c: link "b", reference "a"`,
		"/d: type file, reference dir",
		"/ping: xattr security.capability none, reference cap_net_raw=ep",
	} {
		if !strings.Contains(d, want) {
			t.Errorf("diff lacks %q:\n%s", want, d)
		}
	}
	if strings.Contains(d, "entrypoint") || strings.Contains(d, "env") || strings.Contains(d, "ports") {
		t.Errorf("equal config fields reported:\n%s", d)
	}
}

// TestCompareWhiteouts: files deleted by a later layer (a whiteout, an
// opaque folder) are gone from the tree compared, as from a container's.
func TestCompareWhiteouts(t *testing.T) {
	ref := imageOf(t, v1.Config{}, t1, layerOf(t, t1,
		ent{name: "keep", mode: 0o644, content: "k"},
		ent{name: "o/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "o/new", mode: 0o644, content: "n"},
	))
	img := imageOf(t, v1.Config{}, t2,
		layerOf(t, t2,
			ent{name: "keep", mode: 0o644, content: "k"},
			ent{name: "gone", mode: 0o644, content: "g"},
			ent{name: "o/", typ: tar.TypeDir, mode: 0o755},
			ent{name: "o/old", mode: 0o644, content: "o"},
		),
		layerOf(t, t2,
			ent{name: ".wh.gone", mode: 0o644},
			ent{name: "o/", typ: tar.TypeDir, mode: 0o755},
			ent{name: "o/.wh..wh..opq", mode: 0o644},
			ent{name: "o/new", mode: 0o644, content: "n"},
		))
	if d := diffText(t, img, ref); d != "" {
		t.Errorf("whiteouts not applied:\n%s", d)
	}
}

// TestCompareImplicitFolders: a folder a layer does not list but holds
// files in is what the runtime makes of it, 0755 root's.
func TestCompareImplicitFolders(t *testing.T) {
	ref := imageOf(t, v1.Config{}, t1, layerOf(t, t1, ent{name: "/", typ: tar.TypeDir, mode: 0o755}, ent{name: "x/", typ: tar.TypeDir, mode: 0o755}, ent{name: "x/f", mode: 0o644}))
	img := imageOf(t, v1.Config{}, t1, layerOf(t, t1, ent{name: "x/f", mode: 0o644}))
	if d := diffText(t, img, ref); d != "" {
		t.Errorf("implicit folders differ:\n%s", d)
	}
	other := imageOf(t, v1.Config{}, t1, layerOf(t, t1, ent{name: "x/", typ: tar.TypeDir, mode: 0o700}, ent{name: "x/f", mode: 0o644}))
	if d := diffText(t, other, ref); d != "/x: mode 0700, reference 0755" {
		t.Errorf("diff %q", d)
	}
}

// TestCompareRuntimeDefaults: what every container runtime supplies is the
// same listed or not: an empty /dev, /proc, /sys (BuildKit keeps the ones
// its RUN made) and the working folder / (BuildKit writes it, Kaniko
// nothing). A /dev with something in it, another folder, or another
// working folder still differ.
func TestCompareRuntimeDefaults(t *testing.T) {
	ref := imageOf(t, v1.Config{}, t1, layerOf(t, t1, ent{name: "x", mode: 0o644, content: "x"}))
	img := imageOf(t, v1.Config{WorkingDir: "/"}, t1, layerOf(t, t1,
		ent{name: "dev/", typ: tar.TypeDir, mode: 0o755}, ent{name: "proc/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "sys/", typ: tar.TypeDir, mode: 0o755}, ent{name: "x", mode: 0o644, content: "x"}))
	if d := diffText(t, img, ref); d != "" {
		t.Errorf("runtime defaults differ:\n%s", d)
	}
	if d := diffText(t, ref, img); d != "" {
		t.Errorf("runtime defaults differ, the other way:\n%s", d)
	}
	other := imageOf(t, v1.Config{WorkingDir: "/w"}, t1, layerOf(t, t1,
		ent{name: "dev/", typ: tar.TypeDir, mode: 0o755}, ent{name: "dev/null", mode: 0o644},
		ent{name: "tmp/", typ: tar.TypeDir, mode: 0o755}, ent{name: "x", mode: 0o644, content: "x"}))
	d := diffText(t, other, ref)
	for _, want := range []string{`config: workdir "/w", reference "/"`, "/dev: extra", "/dev/null: extra", "/tmp: extra"} {
		if !strings.Contains(d, want) {
			t.Errorf("diff lacks %q:\n%s", want, d)
		}
	}
}

// TestCompareCommand: imagetool compare against a registry prints the
// differing paths and fails; an image equal to its reference passes.
func TestCompareCommand(t *testing.T) {
	reg := testRegistry(t)
	push := func(repo string, img v1.Image) string {
		ref, err := name.ParseReference(reg+"/"+repo, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		return reg + "/" + strings.Split(repo, ":")[0] + "@" + d.String()
	}
	ref := push("k:ref", imageOf(t, v1.Config{}, t1, secretLayer(t, t1, true)))
	same := push("k:same", imageOf(t, v1.Config{}, t2, secretLayer(t, t2, true)))
	lost := push("k:lost", imageOf(t, v1.Config{}, t2, secretLayer(t, t2, false)))

	var out bytes.Buffer
	if err := runCompare([]string{"-image", same, "-reference", ref, "-insecure"}, &out); err != nil || !strings.HasPrefix(out.String(), "image same as the reference: config and 4 paths agree") {
		t.Errorf("same image: %v\n%s", err, out.String())
	}
	out.Reset()
	err := runCompare([]string{"-image", lost, "-reference", ref, "-insecure"}, &out)
	if err == nil || !strings.Contains(err.Error(), "image differs from the reference in 1 places (of 4 paths and the config): /data/secret/f: missing (reference: file 0644 1000:1000") {
		t.Errorf("err = %v", err)
	}
	if !strings.HasPrefix(out.String(), "DIFFERS /data/secret/f: missing") {
		t.Errorf("output:\n%s", out.String())
	}
}

// TestCompareUnstable: what differs between two builds of the reference
// (a RUN writing the date) differs by nature and is left out; the rest of
// the same path still counts.
func TestCompareUnstable(t *testing.T) {
	mk := func(stamp string, mode int64, extra bool) v1.Image {
		es := []ent{{name: "built-at", mode: mode, content: stamp}, {name: "f", mode: 0o644, content: "f"}}
		if extra {
			es = append(es, ent{name: "tmp.123", mode: 0o600, content: "t"})
		}
		return imageOf(t, v1.Config{Labels: map[string]string{"at": stamp}}, t1, layerOf(t, t1, es...))
	}
	ref1, ref2 := mk("10:00", 0o644, true), mk("10:01", 0o644, false)
	if d := diffText(t, mk("10:02", 0o644, false), ref1, ref2); d != "" {
		t.Errorf("unstable paths counted:\n%s", d)
	}
	if d := diffText(t, mk("10:02", 0o600, false), ref1, ref2); d != "/built-at: mode 0600, reference 0644" {
		t.Errorf("diff %q", d)
	}
	if d := diffText(t, mk("10:02", 0o644, false), ref1); !strings.Contains(d, "/built-at: content") || !strings.Contains(d, "config: labels") {
		t.Errorf("one reference: diff %q", d)
	}
}
