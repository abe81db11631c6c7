package runner

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/kbrun/kbrun/engine/report"
)

// lockSuffix names the file beside a run's work folder that the run keeps
// locked (flock) while it lives: /tmp/kbrun-<run id>-N.workdir-lock for
// the folder /tmp/kbrun-<run id>-N (a name no other file has: the project's
// /tmp/kbrun-cluster.lock must never look like one). The kernel drops the
// lock when the process ends, however it ends (SIGKILL, OOM), so a lock
// that can be taken belongs to a run that is gone. The lock comes first
// and the folder after it: a run killed at any moment leaves nothing that
// a sweep cannot judge.
const lockSuffix = ".workdir-lock"

// makeWorkDir locks the run's lock file, then creates its work folder;
// closing the returned file releases it.
func makeWorkDir(runID string) (string, *os.File, error) {
	for {
		f, err := os.CreateTemp("", "kbrun-"+runID+"-*"+lockSuffix)
		if err != nil {
			return "", nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			return "", nil, err
		}
		// A sweep may have found the file in the instant before it was
		// locked and removed it: then start over with another.
		if !stillNamed(f) {
			f.Close()
			continue
		}
		dir := strings.TrimSuffix(f.Name(), lockSuffix)
		if err := os.Mkdir(dir, 0o700); err != nil {
			releaseWorkDir(f)
			return "", nil, err
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			os.RemoveAll(dir)
			releaseWorkDir(f)
			return "", nil, err
		}
		return abs, f, nil
	}
}

// stillNamed reports whether f is still the file its name points to.
func stillNamed(f *os.File) bool {
	open, err := f.Stat()
	if err != nil {
		return false
	}
	named, err := os.Lstat(f.Name())
	return err == nil && os.SameFile(open, named)
}

// releaseWorkDir removes the lock file and releases the lock.
func releaseWorkDir(f *os.File) {
	os.Remove(f.Name())
	f.Close()
}

// SweepWorkDirs removes the work folders (and lock files) that runs which
// are gone left in the temporary folder (a run removes its own when it
// ends, unless killed or kept with --keep), and returns them; with dryRun
// it only lists them. A folder whose lock is held (a live run's), that has
// no lock file (not a run's work folder) or that is another user's is
// never touched.
func SweepWorkDirs(dryRun bool) ([]string, error) {
	locks, err := filepath.Glob(filepath.Join(os.TempDir(), "kbrun-*"+lockSuffix))
	if err != nil {
		return nil, err
	}
	var removed []string
	var first error
	for _, l := range locks {
		if !ownedRegular(l) {
			continue
		}
		f, err := os.OpenFile(l, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			f.Close() // a live run's
			continue
		}
		dir := strings.TrimSuffix(l, lockSuffix)
		gone := l
		if fi, err := os.Lstat(dir); err == nil && fi.IsDir() {
			gone = dir
		}
		if !dryRun {
			// The folder goes first, while the lock is held.
			if err := os.RemoveAll(dir); err != nil {
				if first == nil {
					first = err
				}
				f.Close()
				continue
			}
			os.Remove(l)
		}
		f.Close()
		removed = append(removed, gone)
	}
	return removed, first
}

func ownedRegular(p string) bool {
	fi, err := os.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Getuid()
}

// sweep removes the work folders of runs that are gone, saying so.
func (r *runner) sweep() {
	removed, err := SweepWorkDirs(false)
	for _, d := range removed {
		r.rep.Report(report.Event{Time: time.Now(), Type: report.Cleanup, Reason: "removed " + d + ": the work folder of a run that is gone"})
	}
	if err != nil {
		r.rep.Report(report.Event{Time: time.Now(), Type: report.Cleanup, Reason: "could not remove the work folder of a run that is gone: " + err.Error()})
	}
}
