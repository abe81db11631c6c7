package main

import (
	"archive/tar"
	"bufio"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

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
