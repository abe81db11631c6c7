package main

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// buildConfig is what the no-privilege builder builds: a Dockerfile
// without RUN over a context folder, pushed to destination.
type buildConfig struct {
	context, dockerfile, destination string
	buildArgs                        map[string]string
	// setcaps gives files of the appended layers file capabilities
	// (path in the image -> capability set), as setcap would.
	setcaps map[string]uint64
	reg     registryOptions
}

// refusal is a Dockerfile feature the no-privilege builder cannot do.
type refusal struct{ msg string }

func (r refusal) Error() string { return r.msg }

// plan checks a whole Dockerfile before anything is pulled: one stage, no
// RUN, only instructions that edit files or the config.
func plan(ins []instruction) error {
	froms := 0
	for _, in := range ins {
		switch in.cmd {
		case "FROM":
			if froms++; froms > 1 {
				return refusal{fmt.Sprintf("line %d: a second FROM (a multi-stage build): the no-privilege builder builds one stage; build it with Kaniko", in.line)}
			}
		case "RUN":
			return refusal{fmt.Sprintf("line %d: RUN: the no-privilege builder runs no commands, it only adds files to a base image; a Dockerfile with RUN needs Kaniko (root with capabilities)", in.line)}
		case "COPY", "ADD":
			for f := range in.flags {
				if f != "chown" && f != "chmod" && f != "link" {
					return refusal{fmt.Sprintf("line %d: %s --%s is not supported by the no-privilege builder", in.line, in.cmd, f)}
				}
			}
			if in.cmd == "ADD" {
				for _, a := range in.args[:len(in.args)-1] {
					if strings.Contains(a, "://") || isArchive(a) {
						return refusal{fmt.Sprintf("line %d: ADD %s: the no-privilege builder adds local files as they are (no URLs, no archives to unpack); use COPY", in.line, a)}
					}
				}
			}
		case "ARG", "ENV", "WORKDIR", "USER", "ENTRYPOINT", "CMD", "EXPOSE", "LABEL", "STOPSIGNAL", "VOLUME", "SHELL", "MAINTAINER":
		default:
			return refusal{fmt.Sprintf("line %d: %s is not supported by the no-privilege builder", in.line, in.cmd)}
		}
	}
	if froms == 0 {
		return refusal{"no FROM"}
	}
	return nil
}

func isArchive(p string) bool {
	for _, s := range []string{".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar.zst"} {
		if strings.HasSuffix(p, s) {
			return true
		}
	}
	return false
}

// stage is the image being built.
type stage struct {
	c       buildConfig
	vars    map[string]string // ARG and ENV values in scope
	cfg     v1.Config
	adds    []mutate.Addendum
	base    *baseFS // the base's files (headers), read on first need
	baseImg v1.Image
	made    map[string]bool // paths the new layers hold
	capsSet map[string]bool
}

// buildImage builds the image of a Dockerfile without RUN.
func buildImage(c buildConfig) (v1.Image, error) {
	text, err := os.ReadFile(c.dockerfile)
	if err != nil {
		return nil, err
	}
	ins, err := parseDockerfile(string(text))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.dockerfile, err)
	}
	if err := plan(ins); err != nil {
		return nil, err
	}
	s := &stage{c: c, vars: map[string]string{}, made: map[string]bool{}, capsSet: map[string]bool{}}
	global := map[string]string{} // ARGs before FROM
	i := 0
	for ; ins[i].cmd == "ARG"; i++ {
		k, v := argValue(ins[i], c.buildArgs, global)
		global[k] = v
	}
	from := ins[i]
	ref := expand(from.args[0], global)
	if len(from.args) > 1 && !strings.EqualFold(from.args[1], "AS") {
		return nil, fmt.Errorf("line %d: FROM %s: unexpected %q", from.line, ref, from.args[1])
	}
	if ref == "scratch" {
		s.baseImg = empty.Image
	} else {
		img, err := c.reg.image(ref)
		if err != nil {
			return nil, fmt.Errorf("line %d: FROM %s: %w", from.line, ref, err)
		}
		s.baseImg = img
	}
	cf, err := s.baseImg.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("FROM %s: config: %w", ref, err)
	}
	s.cfg = *cf.Config.DeepCopy()
	if s.cfg.Env == nil {
		// A base without environment (scratch) gets the default PATH, as
		// Docker and Kaniko give it: the same Dockerfile makes the same
		// config whichever builds it (the reference comparison).
		s.cfg.Env = []string{defaultPath}
	}
	for _, e := range s.cfg.Env {
		if k, v, ok := strings.Cut(e, "="); ok {
			s.vars[k] = v
		}
	}
	for _, in := range ins[i+1:] {
		if err := s.apply(in, global); err != nil {
			return nil, fmt.Errorf("line %d: %s: %w", in.line, in.cmd, err)
		}
	}
	for p := range c.setcaps {
		if !s.capsSet[p] {
			return nil, fmt.Errorf("-setcap %s: no COPY or ADD puts a file there", p)
		}
	}
	img, err := mutate.Append(s.baseImg, s.adds...)
	if err != nil {
		return nil, err
	}
	out, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	out = out.DeepCopy()
	out.Config = s.cfg
	out.Created = v1.Time{Time: time.Now().UTC().Truncate(time.Second)}
	if out.OS == "" {
		out.OS, out.Architecture = runtime.GOOS, runtime.GOARCH
	}
	return mutate.ConfigFile(img, out)
}

// argValue is an ARG's value: the build argument, else its default.
func argValue(in instruction, buildArgs, vars map[string]string) (string, string) {
	k, def, _ := strings.Cut(in.args[0], "=")
	if v, ok := buildArgs[k]; ok {
		return k, v
	}
	return k, expand(strings.Trim(def, `"`), vars)
}

func (s *stage) apply(in instruction, global map[string]string) error {
	x := func(v string) string { return expand(v, s.vars) }
	switch in.cmd {
	case "ARG":
		k, v := argValue(in, s.c.buildArgs, s.vars)
		if _, isGlobal := global[k]; isGlobal && !strings.Contains(in.args[0], "=") {
			if _, given := s.c.buildArgs[k]; !given {
				v = global[k]
			}
		}
		if _, isEnv := s.envIndex(k); !isEnv {
			s.vars[k] = v
		}
	case "ENV":
		kvs, err := keyValues(in)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			k, v := kv[0], x(kv[1])
			s.vars[k] = v
			if i, ok := s.envIndex(k); ok {
				s.cfg.Env[i] = k + "=" + v
			} else {
				s.cfg.Env = append(s.cfg.Env, k+"="+v)
			}
		}
	case "LABEL", "MAINTAINER":
		kvs := [][2]string{{"maintainer", in.raw}}
		if in.cmd == "LABEL" {
			var err error
			if kvs, err = keyValues(in); err != nil {
				return err
			}
		}
		if s.cfg.Labels == nil {
			s.cfg.Labels = map[string]string{}
		}
		for _, kv := range kvs {
			s.cfg.Labels[x(kv[0])] = x(kv[1])
		}
	case "USER":
		s.cfg.User = x(in.args[0])
	case "WORKDIR":
		dir := x(in.raw)
		if !path.IsAbs(dir) {
			dir = path.Join(s.workdir(), dir)
		}
		s.cfg.WorkingDir = path.Clean(dir)
		return s.ensureDir(in, s.cfg.WorkingDir)
	case "ENTRYPOINT":
		s.cfg.Entrypoint = s.command(in)
		s.cfg.Cmd = nil // Docker: a new ENTRYPOINT drops the base's CMD
	case "CMD":
		s.cfg.Cmd = s.command(in)
	case "SHELL":
		if !in.json {
			return errors.New("SHELL needs the JSON form, e.g. [\"/bin/sh\", \"-c\"]")
		}
		s.cfg.Shell = in.args
	case "EXPOSE":
		if s.cfg.ExposedPorts == nil {
			s.cfg.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range in.args {
			p = x(p)
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			s.cfg.ExposedPorts[p] = struct{}{}
		}
	case "STOPSIGNAL":
		s.cfg.StopSignal = x(in.args[0])
	case "VOLUME":
		if s.cfg.Volumes == nil {
			s.cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range in.args {
			s.cfg.Volumes[x(v)] = struct{}{}
		}
	case "COPY", "ADD":
		return s.copy(in)
	}
	return nil
}

func (s *stage) envIndex(k string) (int, bool) {
	for i, e := range s.cfg.Env {
		if strings.HasPrefix(e, k+"=") {
			return i, true
		}
	}
	return 0, false
}

func (s *stage) workdir() string {
	if s.cfg.WorkingDir == "" {
		return "/"
	}
	return s.cfg.WorkingDir
}

// command is the exec form as given, the shell form under the shell.
func (s *stage) command(in instruction) []string {
	if in.json {
		return in.args
	}
	if in.raw == "" {
		return nil
	}
	sh := s.cfg.Shell
	if len(sh) == 0 {
		sh = []string{"/bin/sh", "-c"}
	}
	return append(append([]string(nil), sh...), in.raw)
}

// entry is one tar entry of a new layer; src is the context file whose
// bytes a regular file carries.
type entry struct {
	hdr *tar.Header
	src string
}

// ensureDir adds a layer with dir when neither the base nor an earlier
// layer has it (WORKDIR makes its folder, as Docker does).
func (s *stage) ensureDir(in instruction, dir string) error {
	if dir == "/" || s.made[dir] {
		return nil
	}
	base, err := s.baseFiles()
	if err != nil {
		return err
	}
	if h, ok := base.files[dir]; ok && h.Typeflag == tar.TypeDir {
		return nil
	}
	var entries []entry
	s.parents(&entries, dir+"/x", 0, 0, base)
	return s.addLayer(in, entries)
}

// parents adds the folders above p that neither the base nor the layers
// have, owned by uid:gid (Docker makes them with mode 0755).
// defaultPath is the environment Docker and Kaniko give an image whose
// base has none.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func (s *stage) parents(entries *[]entry, p string, uid, gid int, base *baseFS) {
	var missing []string
	for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
		if _, ok := base.files[d]; ok || s.made[d] {
			break
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		d := missing[i]
		s.made[d] = true
		*entries = append(*entries, entry{hdr: &tar.Header{Typeflag: tar.TypeDir, Name: d[1:] + "/", Mode: 0o755, Uid: uid, Gid: gid, ModTime: time.Now().UTC().Truncate(time.Second)}})
	}
}

// copy is COPY and ADD of local files: the sources (globs allowed) from
// the context to dest, owned by --chown (default 0:0), with their own
// modes or --chmod, as one new layer.
func (s *stage) copy(in instruction) error {
	args := in.args
	if len(args) < 2 {
		return errors.New("needs a source and a destination")
	}
	for i := range args {
		args[i] = expand(args[i], s.vars)
	}
	srcs, dest := args[:len(args)-1], args[len(args)-1]
	toDir := strings.HasSuffix(dest, "/") || len(srcs) > 1
	if !path.IsAbs(dest) {
		dest = path.Join(s.workdir(), dest)
	}
	dest = path.Clean(dest)
	base, err := s.baseFiles()
	if err != nil {
		return err
	}
	uid, gid := 0, 0
	if o, ok := in.flags["chown"]; ok {
		if uid, gid, err = s.owner(expand(o, s.vars), base); err != nil {
			return err
		}
	}
	var chmod *int64
	if m, ok := in.flags["chmod"]; ok {
		v, err := strconv.ParseInt(m, 8, 32)
		if err != nil || v < 0 || v > 0o7777 {
			return fmt.Errorf("--chmod=%s: not an octal mode", m)
		}
		chmod = &v
	}
	var matches []string
	for _, src := range srcs {
		if path.IsAbs(src) {
			src = src[1:]
		}
		if cleaned := path.Clean(src); cleaned == ".." || strings.HasPrefix(cleaned, "../") {
			return fmt.Errorf("%s is outside the build context", src)
		}
		found, err := filepath.Glob(filepath.Join(s.c.context, filepath.FromSlash(src)))
		if err != nil {
			return err
		}
		if len(found) == 0 {
			return fmt.Errorf("%s: no such file in the build context %s", src, s.c.context)
		}
		matches = append(matches, found...)
	}
	if len(matches) > 1 {
		toDir = true
	}
	var entries []entry
	add := func(file, target string, fi fs.FileInfo) error {
		hdr, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			if hdr.Linkname, err = os.Readlink(file); err != nil {
				return err
			}
		}
		hdr.Name = strings.TrimPrefix(target, "/")
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = uid, gid, "", ""
		hdr.ModTime = fi.ModTime().UTC().Truncate(time.Second)
		hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
		if chmod != nil && fi.Mode()&fs.ModeSymlink == 0 {
			hdr.Mode = *chmod
		}
		if set, ok := s.c.setcaps[target]; ok && fi.Mode().IsRegular() {
			hdr.PAXRecords = map[string]string{xattrCaps: string(encodeCaps(set))}
			hdr.Format = tar.FormatPAX
			s.capsSet[target] = true
		}
		s.made[target] = true
		e := entry{hdr: hdr}
		if fi.Mode().IsRegular() {
			e.src = file
		}
		entries = append(entries, e)
		return nil
	}
	for _, m := range matches {
		fi, err := os.Lstat(m)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			target := dest
			if toDir {
				target = path.Join(dest, filepath.Base(m))
			}
			s.parents(&entries, target, 0, 0, base)
			if err := add(m, target, fi); err != nil {
				return err
			}
			continue
		}
		// A folder: its contents go into dest (made when missing, with
		// the folder's mode and the --chown owner).
		s.parents(&entries, dest, 0, 0, base)
		if _, inBase := base.files[dest]; !inBase && !s.made[dest] && dest != "/" {
			if err := add(m, dest, fi); err != nil {
				return err
			}
		}
		err = filepath.WalkDir(m, func(p string, d fs.DirEntry, err error) error {
			if err != nil || p == m {
				return err
			}
			rel, err := filepath.Rel(m, p)
			if err != nil {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			return add(p, path.Join(dest, filepath.ToSlash(rel)), fi)
		})
		if err != nil {
			return err
		}
	}
	return s.addLayer(in, entries)
}

// owner reads --chown: numbers, or names from the image's /etc/passwd and
// /etc/group.
func (s *stage) owner(o string, base *baseFS) (int, int, error) {
	u, g, hasGroup := strings.Cut(o, ":")
	uid, err := strconv.Atoi(u)
	if err != nil {
		if uid, err = base.lookup("/etc/passwd", u, 2); err != nil {
			return 0, 0, fmt.Errorf("--chown=%s: %w", o, err)
		}
	}
	gid := uid
	if !hasGroup && err == nil {
		if n, err2 := base.lookup("/etc/passwd", u, 3); err2 == nil {
			gid = n
		}
	}
	if hasGroup {
		if gid, err = strconv.Atoi(g); err != nil {
			if gid, err = base.lookup("/etc/group", g, 2); err != nil {
				return 0, 0, fmt.Errorf("--chown=%s: %w", o, err)
			}
		}
	}
	return uid, gid, nil
}

func (s *stage) addLayer(in instruction, entries []entry) error {
	if len(entries) == 0 {
		return nil
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeTar(pw, entries)) }()
		return pr, nil
	})
	if err != nil {
		return err
	}
	s.adds = append(s.adds, mutate.Addendum{Layer: layer, History: v1.History{
		CreatedBy: fmt.Sprintf("%s %s # imagetool build", in.cmd, in.raw),
		Created:   v1.Time{Time: time.Now().UTC().Truncate(time.Second)},
	}})
	return nil
}

func writeTar(w io.Writer, entries []entry) error {
	tw := tar.NewWriter(w)
	for _, e := range entries {
		if err := tw.WriteHeader(e.hdr); err != nil {
			return fmt.Errorf("%s: %w", e.hdr.Name, err)
		}
		if e.src != "" {
			f, err := os.Open(e.src)
			if err != nil {
				return err
			}
			n, err := io.Copy(tw, f)
			f.Close()
			if err != nil {
				return err
			}
			if n != e.hdr.Size {
				return fmt.Errorf("%s changed while it was read", e.src)
			}
		}
	}
	return tw.Close()
}

// baseFS is what the base image's file system holds (the top-most header
// of each path), and the contents of /etc/passwd and /etc/group.
type baseFS struct {
	files map[string]*tar.Header
	text  map[string]string
}

func (s *stage) baseFiles() (*baseFS, error) {
	if s.base != nil {
		return s.base, nil
	}
	b, err := readFS(s.baseImg, func(p string) bool { return p == "/etc/passwd" || p == "/etc/group" })
	if err != nil {
		return nil, fmt.Errorf("reading the base image's files: %w", err)
	}
	s.base = b
	return b, nil
}

// readFS reads an image's flattened file system: every path's header, and
// the contents of the regular files keep says to keep.
func readFS(img v1.Image, keep func(string) bool) (*baseFS, error) {
	b := &baseFS{files: map[string]*tar.Header{}, text: map[string]string{}}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
		p := path.Clean("/" + h.Name)
		b.files[p] = h
		if h.Typeflag == tar.TypeReg && keep(p) {
			data, err := io.ReadAll(io.LimitReader(tr, 4<<20))
			if err != nil {
				return nil, err
			}
			b.text[p] = string(data)
		}
	}
}

// lookup finds name's numeric field (2: uid or gid, 3: a user's gid) in
// the image's passwd or group file.
func (b *baseFS) lookup(file, name string, field int) (int, error) {
	text, ok := b.text[file]
	if !ok {
		return 0, fmt.Errorf("%q is not a number and the image has no %s", name, file)
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) > field && f[0] == name {
			return strconv.Atoi(f[field])
		}
	}
	return 0, fmt.Errorf("no %q in the image's %s", name, file)
}

// sortedKeys lists a set's keys in order, for messages.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
