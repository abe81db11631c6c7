package copy

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kbrun/kbrun/engine/apicall"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/tasks/internal/k8s"
	"github.com/kbrun/kbrun/tasks/internal/pod"
)

// entry is one regular file sent, with what the container must end up with.
type entry struct {
	remote string
	size   int64
	sum    string // hex sha256, filled while streaming
}

type uploadResult struct {
	files    []string
	bytes    int64
	attempts int
}

// uploadAll sends every upload, verifies, and resends what arrived short,
// up to a.attempts tries.
func (a *action) uploadAll(ctx context.Context, env *task.Env, r *remote) (uploadResult, error) {
	var res uploadResult
	pending := a.up
	for attempt := 1; ; attempt++ {
		res.attempts = attempt
		entries, err := sendTar(ctx, r, pending)
		if err != nil && !retryableCopy(err) {
			return res, err
		}
		var bad []upload
		var why string
		if err != nil {
			bad, why = pending, err.Error()
		} else if a.verify {
			bad, why, err = verify(ctx, r, pending, entries)
			if err != nil {
				return res, err
			}
		}
		if len(bad) == 0 {
			for _, u := range a.up {
				res.files = append(res.files, u.remote)
			}
			for _, e := range entries {
				res.bytes += e.size
			}
			if attempt > 1 {
				k8s.Logf(env, "copy complete on attempt %d", attempt)
			}
			return res, nil
		}
		if attempt >= a.attempts {
			return res, task.Retryablef("copy into %s did not arrive intact after %d attempts: %s", r.where(), attempt, why)
		}
		k8s.Logf(env, "copy attempt %d arrived incomplete (%s); sending %d path(s) again", attempt, why, len(bad))
		pending = bad
	}
}

// errShortStdin wraps a failing tar -x, which is what an exec whose stdin
// arrived empty or cut looks like.
type errShortStdin struct{ err error }

func (e *errShortStdin) Error() string { return e.err.Error() }
func (e *errShortStdin) Unwrap() error { return e.err }

func retryableCopy(err error) bool {
	var s *errShortStdin
	return errors.As(err, &s) || apicall.IsTransient(err) || streamBroke(err)
}

// extractScript checks for tar (exit 3 without it: Skaffold's exit-126
// trap, caught before anything is unpacked), makes the parent directories,
// then unpacks stdin at / without restoring owners (-o: files belong to the
// container's user). Whenever it stops early it drains stdin, so the stream
// ends instead of stalling (and SPDY reports the real exit code, which it
// may not when stdin is left). One exec instead of a probe and an extract:
// each exec costs a connection and a process start.
const extractScript = `command -v tar >/dev/null 2>&1 || { cat >/dev/null; exit 3; }; mkdir -p -- "$@" && tar -xof - -C /; rc=$?; [ $rc = 0 ] || cat >/dev/null; exit $rc`

// sendTar streams the uploads as one tar archive into the container.
func sendTar(ctx context.Context, r *remote, ups []upload) ([]*entry, error) {
	parents := map[string]bool{}
	for _, u := range ups {
		parents[path.Dir(u.remote)] = true
	}
	argv := []string{"sh", "-c", extractScript, "kbrun-copy"}
	dirs := make([]string, 0, len(parents))
	for d := range parents {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	argv = append(argv, dirs...)

	pr, pw := io.Pipe()
	var entries []*entry
	werr := make(chan error, 1)
	go func() {
		var err error
		entries, err = writeTar(pw, ups)
		pw.CloseWithError(err)
		werr <- err
	}()
	_, stderr, err := r.run(ctx, argv, pr)
	pr.CloseWithError(errors.New("exec ended"))
	wErr := <-werr
	if wErr != nil && !strings.Contains(wErr.Error(), "exec ended") && !errors.Is(wErr, io.ErrClosedPipe) {
		return nil, wErr
	}
	if err != nil {
		if pod.ExitCode(err) == 3 {
			return nil, noTarError(r)
		}
		if pod.IsNotFoundInContainer(err) && pod.ExitCode(err) < 0 {
			// No sh: the probe tells which programs are missing.
			if perr := r.probe(ctx); perr != nil {
				return nil, perr
			}
		}
		if code := pod.ExitCode(err); code > 0 {
			msg := strings.TrimSpace(stderr)
			if strings.Contains(msg, "No space left") || strings.Contains(msg, "Read-only file system") || strings.Contains(msg, "Permission denied") {
				return nil, fmt.Errorf("tar -x in %s failed (exit %d): %s", r.where(), code, msg)
			}
			return nil, &errShortStdin{fmt.Errorf("tar -x in %s failed (exit %d): %s", r.where(), code, msg)}
		}
		return nil, err
	}
	return entries, nil
}

// writeTar writes the archive: entry names are the container paths without
// the leading slash; directories are walked; file contents are streamed
// (never held in memory) and hashed on the way.
func writeTar(w io.Writer, ups []upload) ([]*entry, error) {
	tw := tar.NewWriter(w)
	var entries []*entry
	for _, u := range ups {
		st, err := os.Stat(u.local)
		if err != nil {
			return nil, fmt.Errorf("copy: %w", err)
		}
		if !st.IsDir() {
			e, err := addFile(tw, u.local, u.remote, st)
			if err != nil {
				return nil, err
			}
			entries = append(entries, e)
			continue
		}
		err = filepath.WalkDir(u.local, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(u.local, p)
			if err != nil {
				return err
			}
			remote := path.Join(u.remote, filepath.ToSlash(rel))
			info, err := os.Lstat(p)
			if err != nil {
				return err
			}
			switch {
			case info.IsDir():
				return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(remote, "/") + "/", Mode: int64(info.Mode().Perm()), ModTime: info.ModTime()})
			case info.Mode()&fs.ModeSymlink != 0:
				target, err := os.Readlink(p)
				if err != nil {
					return err
				}
				return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: strings.TrimPrefix(remote, "/"), Linkname: target, Mode: 0o777, ModTime: info.ModTime()})
			case info.Mode().IsRegular():
				e, err := addFile(tw, p, remote, info)
				if err != nil {
					return err
				}
				entries = append(entries, e)
			}
			return nil // sockets, devices, pipes: skipped
		})
		if err != nil {
			return nil, fmt.Errorf("copy %s: %w", u.local, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return entries, nil
}

func addFile(tw *tar.Writer, local, remote string, st fs.FileInfo) (*entry, error) {
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("copy: %s is not a regular file or directory", local)
	}
	f, err := os.Open(local)
	if err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	defer f.Close()
	mode := int64(st.Mode().Perm())
	if st.Mode()&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if st.Mode()&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(remote, "/"), Size: st.Size(), Mode: mode, ModTime: st.ModTime().Truncate(time.Second), Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	h := sha256.New()
	n, err := io.CopyN(tw, io.TeeReader(f, h), st.Size())
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("copy: %s shrank while being copied (%d of %d bytes)", local, n, st.Size())
		}
		return nil, err
	}
	return &entry{remote: remote, size: st.Size(), sum: hex.EncodeToString(h.Sum(nil))}, nil
}

// verifyScript prints the sha256 of each path when the container has
// sha256sum, else its size; the first line says which.
const verifyScript = `if command -v sha256sum >/dev/null 2>&1; then echo sha256; exec sha256sum -- "$@"; fi; echo size; for f do if [ -f "$f" ]; then printf '%s  %s\n' "$(wc -c < "$f" | tr -d ' ')" "$f"; fi; done`

// verify compares what is in the container with what was sent: sha256 when
// the container has sha256sum, else the size. It returns the uploads to send
// again and a reason.
func verify(ctx context.Context, r *remote, ups []upload, entries []*entry) ([]upload, string, error) {
	got := map[string]string{}
	sha := true
	for start := 0; start < len(entries); start += 200 {
		end := min(start+200, len(entries))
		var paths []string
		for _, e := range entries[start:end] {
			paths = append(paths, e.remote)
		}
		// Through sh, so that sha256sum is found as a shell finds it
		// (busybox sh runs its applets without a PATH entry).
		argv := append([]string{"sh", "-c", verifyScript, "kbrun-verify"}, paths...)
		stdout, _, err := r.runRepeated(ctx, argv)
		if err != nil && pod.ExitCode(err) < 0 {
			return nil, "", fmt.Errorf("verifying the copy in %s: %w", r.where(), err)
		}
		mode, rest, _ := strings.Cut(stdout, "\n")
		sha = mode == "sha256"
		for _, line := range strings.Split(rest, "\n") {
			v, p, ok := strings.Cut(line, "  ")
			if ok {
				got[p] = strings.TrimSpace(v)
			}
		}
	}
	badTop := map[int]bool{}
	var reasons []string
	for _, e := range entries {
		v, ok := got[e.remote]
		want := e.sum
		if !sha {
			want = fmt.Sprint(e.size)
		}
		if ok && v == want {
			continue
		}
		switch {
		case !ok:
			reasons = append(reasons, e.remote+" is missing")
		case sha:
			reasons = append(reasons, e.remote+" has the wrong sha256")
		default:
			reasons = append(reasons, fmt.Sprintf("%s has %s of %d bytes", e.remote, v, e.size))
		}
		for i, u := range ups {
			if e.remote == u.remote || strings.HasPrefix(e.remote, u.remote+"/") {
				badTop[i] = true
			}
		}
	}
	var bad []upload
	for i, u := range ups {
		if badTop[i] {
			bad = append(bad, u)
		}
	}
	if len(reasons) > 3 {
		reasons = append(reasons[:3], fmt.Sprintf("and %d more", len(reasons)-3))
	}
	return bad, strings.Join(reasons, ", "), nil
}

func baseName(p string) string { return filepath.Base(filepath.Clean(p)) }
