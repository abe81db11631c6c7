package copy

import (
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
	"github.com/kbrun/kbrun/tasks/internal/pod"
)

// downloadOne copies a file or directory out of the container with
// `tar -cf - -C DIR NAME` and unpacks it safely to d.local: into a staging
// folder beside it first (see unpack.go), moved into place only once the
// whole archive was unpacked and tar exited well, so that a refused or
// broken archive leaves d.local as it was.
func (a *action) downloadOne(ctx context.Context, env *task.Env, r *remote, d download) (int64, []string, error) {
	dir, name := path.Split(d.remote)
	argv := []string{"tar", "-cf", "-", "-C", path.Clean(dir), name}
	st, err := newStage(d.local)
	if err != nil {
		return 0, nil, err
	}
	defer st.discard()
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
		n, files, err := st.unpack(pr, name)
		if err != nil {
			cancel() // stop the stream: nothing more will be read
		}
		_, _ = io.Copy(io.Discard, pr)
		done <- result{n, files, err}
	}()
	stderr := pod.NewTail(4096)
	err = r.ex.Execute(ctx, pod.ExecRequest{Namespace: r.ns, Pod: r.pod, Container: r.container, Command: argv, Stdout: pw, Stderr: stderr})
	pw.CloseWithError(io.EOF)
	res := <-done
	// On failure nothing was placed: the files unpacked so far go with
	// the staging folder.
	if res.err != nil {
		return res.n, nil, fmt.Errorf("copy %s out of %s: %w", d.remote, r.where(), res.err)
	}
	if err != nil {
		if code := pod.ExitCode(err); code > 0 {
			return res.n, nil, fmt.Errorf("tar -c %s in %s failed (exit %d): %s", d.remote, r.where(), code, strings.TrimSpace(stderr.String()))
		}
		return res.n, nil, err
	}
	if len(res.files) == 0 {
		return 0, nil, fmt.Errorf("copy %s out of %s: the archive was empty", d.remote, r.where())
	}
	if err := st.place(); err != nil {
		return res.n, nil, fmt.Errorf("copy %s out of %s: %w", d.remote, r.where(), err)
	}
	k8s.Logf(env, "copied %s out of %s/%s to %s (%d bytes)", d.remote, r.ns, r.pod, d.shown, res.n)
	return res.n, res.files, nil
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
