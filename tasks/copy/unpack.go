package copy

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// ErrUnsafeEntry is an archive entry that would reach outside the
// destination, or that kbrun does not create from a container's archive:
// an absolute or ..-escaping name, a write through a symlink, a symlink or
// hard link that resolves outside, a device, a named pipe, a sparse file.
var ErrUnsafeEntry = errors.New("unsafe archive entry")

// stage is a fresh folder beside a download's destination that its archive
// is unpacked into; place moves the result into the destination once the
// whole archive was unpacked and its container exited well, so that a
// refused or broken archive leaves the destination as it was.
type stage struct {
	dir    string   // the fresh folder
	root   *os.Root // dir: no write can leave it, whatever the checks miss
	base   string   // the destination's name: the archive lands at dir/base
	dest   string   // the destination, its parent's symlinks resolved: where symlinks are resolved
	shown  string   // the destination as the caller named it, for the paths returned
	made   []string // parent folders created for it, removed again when nothing is placed
	placed bool

	name     string                 // the archive's top entry
	unpacked map[string]fs.FileInfo // what was unpacked, by path relative to dest ("." for dest)
	watch    map[string][]string    // a path not unpacked (yet) -> the symlinks whose resolution looked there
	above    map[string]fs.FileInfo // dest's ancestors, the only places outside it a resolution may pass
	lookups  int
	budget   int
}

// newStage creates the staging folder beside dest (on the same file
// system, so that placing is a rename), and dest's parent folders.
func newStage(dest string) (*stage, error) {
	dest, err := filepath.Abs(dest)
	if err != nil {
		return nil, err
	}
	s := &stage{base: filepath.Base(dest), shown: dest, budget: lookupsBase,
		unpacked: map[string]fs.FileInfo{}, watch: map[string][]string{}, above: map[string]fs.FileInfo{}}
	for p := filepath.Dir(dest); ; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); err == nil || filepath.Dir(p) == p {
			break
		}
		s.made = append(s.made, p)
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return nil, err
	}
	parent, err := filepath.EvalSymlinks(filepath.Dir(dest))
	if err != nil {
		s.discard()
		return nil, err
	}
	s.dest = filepath.Join(parent, s.base)
	for p := parent; ; p = filepath.Dir(p) {
		if s.above[p], err = os.Lstat(p); err != nil {
			s.discard()
			return nil, err
		}
		if filepath.Dir(p) == p {
			break
		}
	}
	if s.dir, err = os.MkdirTemp(parent, "."+s.base+".kbrun-"); err != nil {
		s.discard()
		return nil, err
	}
	if s.root, err = os.OpenRoot(s.dir); err != nil {
		s.discard()
		return nil, err
	}
	return s, nil
}

// place moves what was unpacked into the destination (see place in
// download.go).
func (s *stage) place() error {
	if err := place(filepath.Join(s.dir, s.base), s.dest); err != nil {
		return err
	}
	s.placed = true
	return nil
}

// discard removes the staging folder, and the parent folders newStage
// created when nothing was placed in them.
func (s *stage) discard() {
	if s.root != nil {
		s.root.Close()
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
	for i := 0; i < len(s.made) && !s.placed; i++ {
		if os.Remove(s.made[i]) != nil {
			break // not empty: something else uses it now
		}
	}
}

// unpack reads an archive whose entries are name or name/..., mapping name
// to the destination, into the staging folder. Every entry is checked
// before it is created: its name stays inside, no folder on its way is a
// symlink, it appears once; a symlink (or a hard link to one) must resolve
// inside the destination, as the kernel will resolve it once placed (with
// what the destination holds now), and is checked again whenever a later
// entry changes what it resolves to. It returns the bytes written and the
// regular files as they will be named once placed.
func (s *stage) unpack(r io.Reader, name string) (int64, []string, error) {
	s.name = name
	tr := tar.NewReader(r)
	var total int64
	var files []string
	prev := ""
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return total, files, nil
		}
		if err != nil {
			if prev == "" {
				return total, files, fmt.Errorf("reading the archive's first entry: %w", err)
			}
			return total, files, fmt.Errorf("reading the archive after entry %q: %w", prev, err)
		}
		prev = hdr.Name
		s.budget += lookupsPerEntry
		rel, n, err := s.entry(hdr, tr)
		total += n
		var why refusal
		if errors.As(err, &why) {
			return total, files, fmt.Errorf("%w %q: %s", ErrUnsafeEntry, hdr.Name, why)
		}
		if err != nil {
			return total, files, fmt.Errorf("unpacking %q: %w", hdr.Name, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			files = append(files, filepath.Join(s.shown, rel))
		}
	}
}

// refusal says why an entry is refused (unpack makes it an
// ErrUnsafeEntry naming the entry).
type refusal string

func (r refusal) Error() string { return string(r) }

func unsafe(format string, args ...any) error { return refusal(fmt.Sprintf(format, args...)) }

// entry creates one archive entry, returning its path relative to the
// destination and the bytes written.
func (s *stage) entry(hdr *tar.Header, r io.Reader) (string, int64, error) {
	switch hdr.Typeflag {
	case tar.TypeDir, tar.TypeReg, tar.TypeSymlink, tar.TypeLink:
	case tar.TypeXGlobalHeader:
		return "", 0, nil // archive/tar applies none of it to the entries
	case tar.TypeChar, tar.TypeBlock:
		return "", 0, unsafe("is a device file: a download unpacks only files, folders and links")
	case tar.TypeFifo:
		return "", 0, unsafe("is a named pipe: a download unpacks only files, folders and links")
	case tar.TypeGNUSparse:
		return "", 0, unsafe("is a sparse file, which can be far larger on disk than in the archive")
	default:
		return "", 0, unsafe("has entry type %q, which a download does not unpack", hdr.Typeflag)
	}
	rel, why := s.rel(hdr.Name)
	if why != "" {
		return "", 0, unsafe("%s", why)
	}
	if err := s.parents(rel); err != nil {
		return "", 0, err
	}
	if fi, ok := s.unpacked[rel]; ok {
		if fi.IsDir() && hdr.Typeflag == tar.TypeDir {
			return rel, 0, s.root.Chmod(s.at(rel), dirMode(hdr))
		}
		return "", 0, unsafe("appears a second time in the archive")
	}
	var (
		n   int64
		err error
	)
	switch hdr.Typeflag {
	case tar.TypeDir:
		err = s.mkdir(rel, dirMode(hdr))
	case tar.TypeReg:
		n, err = s.file(rel, hdr, r)
	case tar.TypeSymlink:
		err = s.symlink(rel, hdr.Linkname)
	case tar.TypeLink:
		err = s.hardlink(rel, hdr.Linkname)
	}
	return rel, n, err
}

// created records what was made at rel (fi, or else what is there now),
// and checks again the symlinks whose resolution it changes.
func (s *stage) created(rel string, fi fs.FileInfo) error {
	if fi == nil {
		var err error
		if fi, err = s.root.Lstat(s.at(rel)); err != nil {
			return err
		}
	}
	s.unpacked[rel] = fi
	return s.recheck(rel, fi)
}

// mkdir makes a folder, refusing to merge it into a symlink the
// destination has there (placing would write through it).
func (s *stage) mkdir(rel string, mode fs.FileMode) error {
	if fi, err := os.Lstat(filepath.Join(s.dest, rel)); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return unsafe("goes through %q, a symlink in the destination", s.shownAs(rel))
	}
	if err := s.root.Mkdir(s.at(rel), mode); err != nil {
		return err
	}
	return s.created(rel, nil)
}

// rel maps an archive name (NAME or NAME/...) to a path relative to the
// destination ("." for NAME), or says why it refuses the name.
func (s *stage) rel(entry string) (rel, why string) {
	switch {
	case entry == "":
		return "", "has an empty name"
	case strings.HasPrefix(entry, "/"):
		return "", "is an absolute path"
	case strings.Contains(entry, `\`):
		return "", "has a backslash, a Windows path separator"
	}
	parts := strings.Split(entry, "/")
	if parts[0] != s.name {
		return "", fmt.Sprintf("is not under the requested %q", s.name)
	}
	for _, p := range parts[1:] {
		if p == ".." {
			return "", `climbs with ".."`
		}
	}
	return path.Clean(strings.Join(parts[1:], "/")), ""
}

// at is rel's path in the staging root.
func (s *stage) at(rel string) string { return path.Join(s.base, rel) }

// shownAs is how the archive names rel.
func (s *stage) shownAs(rel string) string { return path.Join(s.name, rel) }

// parents checks the folders on the way to rel: unpacked ones must be
// folders (never a symlink: nothing is written through one), missing ones
// are created.
func (s *stage) parents(rel string) error {
	if rel == "." {
		return nil
	}
	dir := "."
	for _, part := range append([]string{""}, strings.Split(path.Dir(rel), "/")...) {
		dir = path.Join(dir, part)
		switch fi, ok := s.unpacked[dir]; {
		case !ok:
			if err := s.mkdir(dir, 0o755); err != nil {
				return err
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			return unsafe("goes through the symlink %q", s.shownAs(dir))
		case !fi.IsDir():
			return unsafe("goes through %q, which is not a folder", s.shownAs(dir))
		}
	}
	return nil
}

// dirMode is a folder's permissions, always writable by its owner (its
// entries come after it).
func dirMode(hdr *tar.Header) fs.FileMode { return fs.FileMode(hdr.Mode).Perm() | 0o700 }

// file writes a regular file with its permission bits only: no setuid,
// setgid or sticky bit from a container, and no owner.
func (s *stage) file(rel string, hdr *tar.Header, r io.Reader) (int64, error) {
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return 0, unsafe("is a sparse file, which can be far larger on disk than in the archive")
		}
	}
	mode := fs.FileMode(hdr.Mode).Perm()
	f, err := s.root.OpenFile(s.at(rel), os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, r)
	if err == nil {
		err = f.Chmod(mode) // what the umask took away
	}
	var fi fs.FileInfo
	if err == nil {
		fi, err = f.Stat()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, err
	}
	return n, s.created(rel, fi)
}

func (s *stage) symlink(rel, target string) error {
	switch {
	case target == "":
		return unsafe("is a symlink with an empty target")
	case path.IsAbs(target):
		return unsafe("is a symlink to the absolute path %q", target)
	}
	if err := s.root.Symlink(target, s.at(rel)); err != nil {
		return err
	}
	if err := s.created(rel, nil); err != nil {
		return err
	}
	if err := s.check(rel); err != nil {
		return unsafe("is a symlink to %q, which %v", target, err)
	}
	return nil
}

// hardlink links rel to an entry unpacked before it: a file, or a symlink
// (link(2) does not follow it: rel becomes a symlink with the same target,
// resolved from rel's folder, so checked again).
func (s *stage) hardlink(rel, linkname string) error {
	src, why := s.rel(linkname)
	if why != "" {
		return unsafe("is a hard link to %q, which %s", linkname, why)
	}
	fi, ok := s.unpacked[src]
	if !ok || fi.IsDir() {
		return unsafe("is a hard link to %q, which is not a file or symlink unpacked before it", linkname)
	}
	if err := s.root.Link(s.at(src), s.at(rel)); err != nil {
		return err
	}
	if err := s.created(rel, nil); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return err
	}
	if err := s.check(rel); err != nil {
		target, _ := s.root.Readlink(s.at(rel))
		return unsafe("is a hard link to the symlink %q -> %q, which from here %v", linkname, target, err)
	}
	return nil
}
