package copy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"
)

// Where a download's symlinks resolve: github.com/cyphar/filepath-securejoin
// walks each symlink's target, component by component and following the
// symlinks it meets, over a view of the file system as it will be once the
// stage is placed; the view ends the walk as soon as it leaves the
// destination.

// Checking symlinks is bounded: an archive may make this many path
// lookups, and lookupsPerEntry more for each entry, so that chains of
// symlinks, re-checked entry after entry, cost time in proportion to the
// archive's size (a benign symlink needs a few dozen).
const (
	lookupsBase     = 1 << 16
	lookupsPerEntry = 128
)

// recheck checks again the symlinks whose resolution looked at rel before
// fi was unpacked there: their resolution changes when rel becomes a
// symlink, or hides one the destination has there.
func (s *stage) recheck(rel string, fi fs.FileInfo) error {
	links := s.watch[rel]
	if len(links) == 0 {
		return nil
	}
	delete(s.watch, rel)
	if fi.Mode()&fs.ModeSymlink == 0 {
		if had, err := os.Lstat(filepath.Join(s.dest, rel)); err != nil || had.Mode()&fs.ModeSymlink == 0 {
			return nil
		}
	}
	for _, l := range links {
		if err := s.check(l); err != nil {
			target, _ := s.root.Readlink(s.at(l))
			return unsafe("changes what the symlink %q -> %q resolves to: it now %v", s.shownAs(l), target, err)
		}
	}
	return nil
}

// check resolves the symlink at rel with securejoin over view, which
// fails as soon as the resolution leaves the destination. The walk's root
// is / and not the destination: securejoin keeps `..` from climbing above
// its root, which would turn an escape into a path that looks inside.
func (s *stage) check(rel string) error {
	target, err := s.root.Readlink(s.at(rel))
	if err != nil {
		return err
	}
	from := filepath.Dir(filepath.Join(s.dest, rel))
	got, err := securejoin.SecureJoinVFS("/", from+"/"+target, view{s, rel})
	var out *outsideError
	switch {
	case errors.As(err, &out):
		return fmt.Errorf("points outside the destination (to %s)", s.relative(out.path))
	case errors.Is(err, syscall.ELOOP):
		return fmt.Errorf("does not resolve: it goes through more than 255 symlinks, or a loop of them")
	case errors.Is(err, errTooMuchWork):
		return fmt.Errorf("needs more than %d lookups to check (with the entries before it)", s.budget)
	case err != nil:
		return fmt.Errorf("cannot be resolved: %w", err)
	case got != s.dest && !strings.HasPrefix(got, s.dest+string(filepath.Separator)):
		return fmt.Errorf("points outside the destination (to %s)", s.relative(got))
	}
	return nil
}

// relative is p as seen from the destination (../x).
func (s *stage) relative(p string) string {
	if r, err := filepath.Rel(s.dest, p); err == nil {
		return r
	}
	return p
}

// outsideError is a resolution that reached path, outside the destination
// and not one of its parent folders.
type outsideError struct{ path string }

func (e *outsideError) Error() string { return e.path + " is outside the destination" }

var errTooMuchWork = errors.New("too many lookups")

// view is the file system as it will be once the stage is placed, for
// securejoin: below the destination, what was unpacked, else what the
// destination holds now; its parent folders as they are; nothing else
// (outsideError). link is the symlink being resolved, recorded where it
// looked at a path not unpacked.
type view struct {
	s    *stage
	link string
}

func (v view) where(p string) (rel string, inside bool, err error) {
	p = filepath.Clean(p)
	if v.s.lookups++; v.s.lookups > v.s.budget {
		return "", false, errTooMuchWork
	}
	if p == v.s.dest {
		return ".", true, nil
	}
	if r, ok := strings.CutPrefix(p, v.s.dest+string(filepath.Separator)); ok {
		return r, true, nil
	}
	if _, ok := v.s.above[p]; ok {
		return "", false, nil
	}
	return "", false, &outsideError{p}
}

func (v view) Lstat(p string) (fs.FileInfo, error) {
	rel, inside, err := v.where(p)
	if err != nil || !inside {
		return v.s.above[filepath.Clean(p)], err
	}
	if fi, ok := v.s.unpacked[rel]; ok {
		return fi, nil
	}
	if w := v.s.watch[rel]; len(w) == 0 || w[len(w)-1] != v.link {
		v.s.watch[rel] = append(w, v.link)
	}
	return os.Lstat(filepath.Join(v.s.dest, rel))
}

func (v view) Readlink(p string) (string, error) {
	rel, _, err := v.where(p)
	if err != nil {
		return "", err
	}
	if _, ok := v.s.unpacked[rel]; ok {
		return v.s.root.Readlink(v.s.at(rel))
	}
	return os.Readlink(filepath.Join(v.s.dest, rel))
}
