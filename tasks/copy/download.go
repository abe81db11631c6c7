package copy

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/tasks/internal/k8s"
)

// downloadOne copies a file or directory out of the container with
// `tar -cf - -C DIR NAME` and unpacks it safely to d.local: into a staging
// folder beside it first, moved into place only once the whole archive
// was unpacked, so that a refused or broken archive leaves d.local as it
// was.
func (a *action) downloadOne(ctx context.Context, env *task.Env, r *remote, d download) (int64, []string, error) {
	dir, name := path.Split(d.remote)
	argv := []string{"tar", "-cf", "-", "-C", path.Clean(dir), name}
	dest, err := filepath.Abs(d.local)
	if err != nil {
		return 0, nil, err
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return 0, nil, err
	}
	stage, err := os.MkdirTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".kbrun-")
	if err != nil {
		return 0, nil, err
	}
	defer os.RemoveAll(stage)
	staged := filepath.Join(stage, filepath.Base(dest))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	type result struct {
		n     int64
		files []string
		err   error
	}
	done := make(chan result, 1)
	go func() {
		n, files, err := Untar(pr, name, staged)
		if err != nil {
			cancel() // stop the stream: nothing more will be read
		}
		_, _ = io.Copy(io.Discard, pr)
		done <- result{n, files, err}
	}()
	stderr := k8s.NewTail(4096)
	err = r.ex.Execute(ctx, k8s.ExecRequest{Namespace: r.ns, Pod: r.pod, Container: r.container, Command: argv, Stdout: pw, Stderr: stderr})
	pw.CloseWithError(io.EOF)
	res := <-done
	// On failure nothing was placed: the files unpacked so far go with
	// the staging folder.
	if res.err != nil {
		return res.n, nil, fmt.Errorf("copy %s out of %s: %w", d.remote, r.where(), res.err)
	}
	if err != nil {
		if code := k8s.ExitCode(err); code > 0 {
			return res.n, nil, fmt.Errorf("tar -c %s in %s failed (exit %d): %s", d.remote, r.where(), code, strings.TrimSpace(stderr.String()))
		}
		return res.n, nil, err
	}
	if len(res.files) == 0 {
		return 0, nil, fmt.Errorf("copy %s out of %s: the archive was empty", d.remote, r.where())
	}
	if err := place(staged, dest); err != nil {
		return res.n, nil, fmt.Errorf("copy %s out of %s: %w", d.remote, r.where(), err)
	}
	files := make([]string, len(res.files))
	for i, f := range res.files {
		files[i] = filepath.Join(dest, strings.TrimPrefix(f, staged))
	}
	k8s.Logf(env, "copied %s out of %s/%s to %s (%d bytes)", d.remote, r.ns, r.pod, d.shown, res.n)
	return res.n, files, nil
}

// place moves what was unpacked at staged to dest: renamed there when dest
// does not exist, else merged into it (a folder's entries renamed into the
// existing folder, replacing files, as unpacking into it did). Every entry
// is checked before anything is moved: dest is changed entirely or not at
// all, unless the file system fails half-way.
func place(staged, dest string) error {
	if _, err := os.Lstat(dest); errors.Is(err, fs.ErrNotExist) {
		return os.Rename(staged, dest)
	}
	walk := func(visit func(rel string, e fs.DirEntry, target string, existing fs.FileInfo) error) error {
		return filepath.WalkDir(staged, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(staged, p)
			target := filepath.Join(dest, rel)
			existing, lerr := os.Lstat(target)
			if lerr != nil && !errors.Is(lerr, fs.ErrNotExist) {
				return lerr
			}
			return visit(rel, e, target, existing)
		})
	}
	err := walk(func(rel string, e fs.DirEntry, target string, existing fs.FileInfo) error {
		// A symlink already in dest on the way to an entry would take
		// the write elsewhere; renaming over a final symlink replaces it.
		if err := noSymlinkBetween(dest, target); err != nil {
			return fmt.Errorf("%w: %q: %v", ErrUnsafeEntry, rel, err)
		}
		switch {
		case existing == nil:
		case e.IsDir() && existing.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("%w: %q: %s is a symlink", ErrUnsafeEntry, rel, target)
		case e.IsDir() && !existing.IsDir():
			return fmt.Errorf("cannot unpack folder %s: %s exists and is not a folder", rel, target)
		case !e.IsDir() && existing.IsDir():
			return fmt.Errorf("cannot unpack %s: %s is a folder", rel, target)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return walk(func(rel string, e fs.DirEntry, target string, existing fs.FileInfo) error {
		switch {
		case existing != nil && e.IsDir():
			return nil // merge into it
		case e.IsDir():
			if err := os.Rename(filepath.Join(staged, rel), target); err != nil {
				return err
			}
			return filepath.SkipDir
		}
		return os.Rename(filepath.Join(staged, rel), target)
	})
}

// ErrUnsafeEntry is an archive entry that would write outside the
// destination: an absolute or ..-escaping name, a symlink pointing out, or a
// write through a symlink.
var ErrUnsafeEntry = errors.New("unsafe archive entry")

// Untar unpacks an archive whose entries are NAME or NAME/..., mapping NAME
// to dest. Whatever the archive says, nothing is written outside dest:
// entries escaping it (CVE-2019-1002101, CVE-2019-11249), symlinks whose
// target leaves it (CVE-2019-11246, CVE-2019-11251) and writes through a
// symlink are rejected with ErrUnsafeEntry. It returns the bytes written
// and the local paths of regular files.
func Untar(r io.Reader, name, dest string) (int64, []string, error) {
	dest, err := filepath.Abs(dest)
	if err != nil {
		return 0, nil, err
	}
	tr := tar.NewReader(r)
	var total int64
	var files []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return total, files, nil
		}
		if err != nil {
			return total, files, fmt.Errorf("reading the archive: %w", err)
		}
		target, err := entryPath(hdr.Name, name, dest)
		if err != nil {
			return total, files, err
		}
		if err := noSymlinkBetween(dest, target); err != nil {
			return total, files, fmt.Errorf("%w: %q: %v", ErrUnsafeEntry, hdr.Name, err)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, os.FileMode(hdr.Mode).Perm()|0o700); err != nil {
				return total, files, err
			}
		case tar.TypeReg: // the reader turns the old TypeRegA into TypeReg
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return total, files, err
			}
			if fi, err := os.Lstat(target); err == nil && fi.Mode()&os.ModeSymlink != 0 {
				return total, files, fmt.Errorf("%w: %q would be written through a symlink", ErrUnsafeEntry, hdr.Name)
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|noFollow, os.FileMode(hdr.Mode).Perm())
			if err != nil {
				return total, files, err
			}
			n, err := io.Copy(f, tr)
			total += n
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return total, files, err
			}
			_ = os.Chmod(target, os.FileMode(hdr.Mode).Perm())
			files = append(files, target)
		case tar.TypeSymlink:
			if err := checkLink(dest, target, hdr.Linkname); err != nil {
				return total, files, fmt.Errorf("%w: symlink %q -> %q %v", ErrUnsafeEntry, hdr.Name, hdr.Linkname, err)
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return total, files, err
			}
			if _, err := os.Lstat(target); err == nil {
				return total, files, fmt.Errorf("%w: symlink %q would replace an entry already unpacked", ErrUnsafeEntry, hdr.Name)
			}
			if err := os.Symlink(hdr.Linkname, target); err != nil {
				return total, files, err
			}
		case tar.TypeLink:
			src, err := entryPath(hdr.Linkname, name, dest)
			if err != nil {
				return total, files, fmt.Errorf("%w: hard link %q -> %q leaves the destination", ErrUnsafeEntry, hdr.Name, hdr.Linkname)
			}
			if err := noSymlinkBetween(dest, src); err != nil {
				return total, files, fmt.Errorf("%w: hard link %q: %v", ErrUnsafeEntry, hdr.Name, err)
			}
			_ = os.Remove(target)
			if err := os.Link(src, target); err != nil {
				return total, files, err
			}
		default:
			// devices, fifos: never created
		}
	}
}

// entryPath maps an archive name (NAME or NAME/rest) to a path under dest,
// or fails when it would land outside.
func entryPath(entry, name, dest string) (string, error) {
	if path.IsAbs(entry) || strings.HasPrefix(entry, "\\") || filepath.IsAbs(entry) {
		return "", fmt.Errorf("%w: %q is an absolute path", ErrUnsafeEntry, entry)
	}
	for _, part := range strings.Split(strings.ReplaceAll(entry, "\\", "/"), "/") {
		if part == ".." {
			return "", fmt.Errorf("%w: %q climbs out with \"..\"", ErrUnsafeEntry, entry)
		}
	}
	clean := path.Clean(entry)
	var rest string
	switch {
	case clean == name:
	case strings.HasPrefix(clean, name+"/"):
		rest = strings.TrimPrefix(clean, name+"/")
	default:
		return "", fmt.Errorf("%w: %q is not under the requested %q", ErrUnsafeEntry, entry, name)
	}
	target := filepath.Join(dest, filepath.FromSlash(rest))
	if !within(dest, target) {
		return "", fmt.Errorf("%w: %q lands outside %s", ErrUnsafeEntry, entry, dest)
	}
	return target, nil
}

// within reports whether p is dest or below it (component-wise, so
// /tmp/foobar is not within /tmp/foo).
func within(dest, p string) bool {
	rel, err := filepath.Rel(dest, p)
	if err != nil {
		return false
	}
	return rel == "." || rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// checkLink allows a symlink only when its target, resolved from the link's
// folder the way the kernel would (following the symlinks already unpacked),
// stays under dest.
func checkLink(dest, link, target string) error {
	if target == "" {
		return fmt.Errorf("has an empty target")
	}
	if filepath.IsAbs(target) || path.IsAbs(target) {
		return fmt.Errorf("points to an absolute path")
	}
	rel, err := filepath.Rel(dest, filepath.Dir(link))
	if err != nil {
		return fmt.Errorf("is outside the destination")
	}
	var stack []string
	if rel != "." {
		stack = strings.Split(rel, string(filepath.Separator))
	}
	if _, err := resolveIn(dest, stack, target, 0); err != nil {
		return err
	}
	return nil
}

// resolveIn walks target's components from the folder stack (relative to
// dest), following symlinks found on disk, and fails when it climbs above
// dest.
func resolveIn(dest string, stack []string, target string, depth int) ([]string, error) {
	if depth > 40 {
		return nil, fmt.Errorf("has too many levels of symlinks")
	}
	if filepath.IsAbs(target) || path.IsAbs(target) {
		return nil, fmt.Errorf("points to an absolute path")
	}
	for _, part := range strings.Split(filepath.ToSlash(target), "/") {
		switch part {
		case "", ".":
			continue
		case "..":
			if len(stack) == 0 {
				return nil, fmt.Errorf("points outside the destination")
			}
			stack = stack[:len(stack)-1]
			continue
		}
		next := append(append([]string(nil), stack...), part)
		full := filepath.Join(append([]string{dest}, next...)...)
		fi, err := os.Lstat(full)
		if err == nil && fi.Mode()&os.ModeSymlink != 0 {
			t, err := os.Readlink(full)
			if err != nil {
				return nil, err
			}
			resolved, err := resolveIn(dest, stack, t, depth+1)
			if err != nil {
				return nil, err
			}
			stack = resolved
			continue
		}
		stack = next
	}
	return stack, nil
}

// noSymlinkBetween fails when a folder between dest and target (excluded
// both) is a symlink: writing there would follow it.
func noSymlinkBetween(dest, target string) error {
	rel, err := filepath.Rel(dest, filepath.Dir(target))
	if err != nil || rel == "." {
		return nil
	}
	cur := dest
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		cur = filepath.Join(cur, part)
		fi, err := os.Lstat(cur)
		if err != nil {
			return nil // does not exist yet: created as a real folder
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("%s is a symlink", cur)
		}
	}
	return nil
}
