package main

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

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
