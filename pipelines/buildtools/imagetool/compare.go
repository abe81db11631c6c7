package main

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"reflect"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// node is what a container sees at one path of an image's flattened file
// system: everything a layer records except what differs between two
// builds of the same Dockerfile by nature (times, owner names).
type node struct {
	typ    string
	mode   int64 // permission bits with setuid, setgid, sticky
	uid    int
	gid    int
	size   int64
	digest string // sha256 of a file's content
	link   string // a symlink's target
	dev    string // a device's major:minor
	xattrs map[string]string
}

func (n node) String() string {
	s := fmt.Sprintf("%s %04o %d:%d", n.typ, n.mode, n.uid, n.gid)
	switch n.typ {
	case "file":
		s += fmt.Sprintf(" %d B sha256:%.12s", n.size, n.digest)
	case "symlink":
		s += " -> " + n.link
	case "char", "block":
		s += " " + n.dev
	}
	for _, k := range sortedKeys(n.xattrs) {
		v := n.xattrs[k]
		if k == "security.capability" {
			if t, err := capText([]byte(v)); err == nil {
				v = t
			}
		}
		s += fmt.Sprintf(" %s=%q", k, v)
	}
	return s
}

// implicitDir is what a container runtime makes of a folder that a layer
// does not list but holds files in (containerd and Docker create it so).
var implicitDir = node{typ: "dir", mode: 0o755}

const xattrPrefix = "SCHILY.xattr."

// flatten reads img's layers as a container sees them (whiteouts and
// opaque folders applied, by mutate.Extract), hashing each file.
func flatten(img v1.Image) (map[string]node, error) {
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	tree := map[string]node{}
	hardlinks := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the image's layers: %w", err)
		}
		p := path.Clean("/" + h.Name)
		n := node{typ: typeName(h.Typeflag), mode: h.Mode & 0o7777, uid: h.Uid, gid: h.Gid}
		switch h.Typeflag {
		case tar.TypeReg:
			sum := sha256.New()
			if n.size, err = io.Copy(sum, tr); err != nil {
				return nil, fmt.Errorf("reading %s: %w", p, err)
			}
			n.digest = hex.EncodeToString(sum.Sum(nil))
		case tar.TypeSymlink:
			n.link = h.Linkname
		case tar.TypeLink:
			hardlinks[p] = path.Clean("/" + h.Linkname)
		case tar.TypeChar, tar.TypeBlock:
			n.typ = map[byte]string{tar.TypeChar: "char", tar.TypeBlock: "block"}[h.Typeflag]
			n.dev = fmt.Sprintf("%d:%d", h.Devmajor, h.Devminor)
		case tar.TypeFifo:
			n.typ = "fifo"
		}
		for k, v := range h.PAXRecords {
			if x, ok := strings.CutPrefix(k, xattrPrefix); ok {
				if n.xattrs == nil {
					n.xattrs = map[string]string{}
				}
				n.xattrs[x] = v
			}
		}
		tree[p] = n
	}
	// A hard link is its target's file (one inode) wherever it is listed.
	for p, target := range hardlinks {
		if t, ok := tree[target]; ok {
			tree[p] = t
		}
	}
	for p := range tree {
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if _, ok := tree[d]; ok {
				break
			}
			tree[d] = implicitDir
		}
	}
	if _, ok := tree["/"]; !ok {
		tree["/"] = implicitDir
	}
	return tree, nil
}

// difference is one path (or config field) where an image and the
// reference disagree.
type difference struct {
	path, field, what string
}

func (d difference) String() string { return d.path + ": " + d.what }

// attr is one attribute of a node where two disagree.
type attr struct{ name, got, ref string }

// compareTrees lists every path whose node differs, in path order, leaving
// out what varies between builds of the reference itself (unstable).
func compareTrees(got, ref map[string]node, unstable map[string]map[string]bool) []difference {
	var out []difference
	seen := map[string]bool{}
	for _, p := range append(sortedKeys(ref), sortedKeys(got)...) {
		if seen[p] {
			continue
		}
		seen[p] = true
		g, inGot := got[p]
		r, inRef := ref[p]
		switch {
		case unstable[p]["presence"] && inGot != inRef:
		case !inGot && runtimeMountPoint(p, r, ref), !inRef && runtimeMountPoint(p, g, got):
		case !inGot:
			out = append(out, difference{path: p, what: "missing (reference: " + r.String() + ")"})
		case !inRef:
			out = append(out, difference{path: p, what: "extra (" + g.String() + "; not in the reference)"})
		default:
			var parts []string
			for _, a := range nodeDiff(g, r) {
				if !unstable[p][a.name] {
					parts = append(parts, fmt.Sprintf("%s %s, reference %s", a.name, a.got, a.ref))
				}
			}
			if len(parts) > 0 {
				out = append(out, difference{path: p, what: strings.Join(parts, "; ")})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

// runtimeMountPoint: an empty /dev, /proc or /sys folder is one that every
// container runtime makes and mounts over, so whether an image lists it is
// invisible to a container (BuildKit keeps the ones its RUN steps' runc
// made; Kaniko leaves them out). With anything in it, it counts.
func runtimeMountPoint(p string, n node, tree map[string]node) bool {
	if (p != "/dev" && p != "/proc" && p != "/sys") || n.typ != "dir" {
		return false
	}
	for q := range tree {
		if strings.HasPrefix(q, p+"/") {
			return false
		}
	}
	return true
}

// unstablePaths: what differs between two builds of the reference itself
// (a RUN writing a date or a random number, a package database with
// times) differs by nature: path -> attribute names ("presence" for a
// path only one has).
func unstablePaths(a, b map[string]node) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	mark := func(p, name string) {
		if out[p] == nil {
			out[p] = map[string]bool{}
		}
		out[p][name] = true
	}
	for p, na := range a {
		nb, ok := b[p]
		if !ok {
			mark(p, "presence")
			continue
		}
		for _, d := range nodeDiff(na, nb) {
			mark(p, d.name)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			mark(p, "presence")
		}
	}
	return out
}

// nodeDiff lists the attributes in which g differs from the reference r.
func nodeDiff(g, r node) []attr {
	var out []attr
	add := func(what, got, ref string) {
		if got != ref {
			out = append(out, attr{what, got, ref})
		}
	}
	add("type", g.typ, r.typ)
	add("mode", fmt.Sprintf("%04o", g.mode), fmt.Sprintf("%04o", r.mode))
	add("owner", fmt.Sprintf("%d:%d", g.uid, g.gid), fmt.Sprintf("%d:%d", r.uid, r.gid))
	add("size", fmt.Sprint(g.size), fmt.Sprint(r.size))
	if g.size == r.size {
		add("content", "sha256:"+short(g.digest), "sha256:"+short(r.digest))
	}
	add("link", q(g.link), q(r.link))
	add("device", g.dev, r.dev)
	for _, k := range sortedKeys(mergeKeys(g.xattrs, r.xattrs)) {
		gv, gok := g.xattrs[k]
		rv, rok := r.xattrs[k]
		if gv != rv || gok != rok {
			add("xattr "+k, xattrText(k, gv, gok), xattrText(k, rv, rok))
		}
	}
	return out
}

func short(d string) string {
	if len(d) > 12 {
		return d[:12]
	}
	return d
}

func q(s string) string {
	if s == "" {
		return "none"
	}
	return fmt.Sprintf("%q", s)
}

func mergeKeys(a, b map[string]string) map[string]bool {
	m := map[string]bool{}
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	return m
}

func xattrText(k, v string, ok bool) string {
	if !ok {
		return "none"
	}
	if k == "security.capability" {
		if t, err := capText([]byte(v)); err == nil {
			return t
		}
	}
	return fmt.Sprintf("%q", v)
}

// compareConfigs lists the config fields a container runs by that differ;
// created dates, history and layer digests are left out (they differ by
// nature).
func compareConfigs(got, ref *v1.ConfigFile, unstable map[string]bool) []difference {
	// Empty and absent are the same to a container (a builder may write
	// "ExposedPorts": {} where another writes nothing).
	js := func(v any) string {
		if rv := reflect.ValueOf(v); (rv.Kind() == reflect.Map || rv.Kind() == reflect.Slice) && rv.Len() == 0 {
			return "null"
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	g, r := got.Config, ref.Config
	fields := []struct {
		name     string
		got, ref any
	}{
		{"platform", got.OS + "/" + got.Architecture + got.Variant, ref.OS + "/" + ref.Architecture + ref.Variant},
		{"user", g.User, r.User},
		{"env", g.Env, r.Env},
		{"entrypoint", g.Entrypoint, r.Entrypoint},
		{"cmd", g.Cmd, r.Cmd},
		{"workdir", rootIfEmpty(g.WorkingDir), rootIfEmpty(r.WorkingDir)},
		{"exposed ports", g.ExposedPorts, r.ExposedPorts},
		{"labels", g.Labels, r.Labels},
		{"volumes", g.Volumes, r.Volumes},
		{"stop signal", g.StopSignal, r.StopSignal},
		{"shell", g.Shell, r.Shell},
		{"healthcheck", g.Healthcheck, r.Healthcheck},
		{"onbuild", g.OnBuild, r.OnBuild},
	}
	var out []difference
	for _, f := range fields {
		if a, b := js(f.got), js(f.ref); a != b && !unstable[f.name] {
			out = append(out, difference{path: "config", field: f.name, what: fmt.Sprintf("%s %s, reference %s", f.name, a, b)})
		}
	}
	return out
}

// rootIfEmpty: a config without a working folder runs its process in /
// (the OCI runtime's default), as one naming / does (BuildKit writes "/",
// Kaniko nothing).
func rootIfEmpty(dir string) string {
	if dir == "" {
		return "/"
	}
	return dir
}

// comparison is what compare found.
type comparison struct {
	diffs    []difference
	paths    int // paths of the reference
	unstable int // paths and config fields left out: they differ between the references
}

// compareImages compares img with refs[0], its config, then its file
// tree. Further references are more builds of the same reference: what
// differs between them differs by nature and is left out.
func compareImages(img v1.Image, refs ...v1.Image) (comparison, error) {
	var c comparison
	gotCfg, err := img.ConfigFile()
	if err != nil {
		return c, fmt.Errorf("the image's config: %w", err)
	}
	got, err := flatten(img)
	if err != nil {
		return c, err
	}
	var refCfgs []*v1.ConfigFile
	var refTrees []map[string]node
	for i, r := range refs {
		cf, err := r.ConfigFile()
		if err != nil {
			return c, fmt.Errorf("reference %d's config: %w", i+1, err)
		}
		tree, err := flatten(r)
		if err != nil {
			return c, fmt.Errorf("reference %d: %w", i+1, err)
		}
		refCfgs, refTrees = append(refCfgs, cf), append(refTrees, tree)
	}
	unstableCfg := map[string]bool{}
	unstable := map[string]map[string]bool{}
	for i := 1; i < len(refs); i++ {
		for _, d := range compareConfigs(refCfgs[i], refCfgs[0], nil) {
			unstableCfg[d.field] = true
		}
		for p, attrs := range unstablePaths(refTrees[0], refTrees[i]) {
			if unstable[p] == nil {
				unstable[p] = map[string]bool{}
			}
			for a := range attrs {
				unstable[p][a] = true
			}
		}
	}
	c.diffs = append(compareConfigs(gotCfg, refCfgs[0], unstableCfg), compareTrees(got, refTrees[0], unstable)...)
	c.paths, c.unstable = len(refTrees[0]), len(unstable)+len(unstableCfg)
	return c, nil
}
