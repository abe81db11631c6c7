package runner

import (
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kbrun/kbrun/engine/report"
)

// lockName is the file in a run's work folder that the run keeps locked
// (flock) while it lives. The kernel drops the lock when the process ends,
// however it ends (SIGKILL, OOM), so a folder whose lock can be taken
// belongs to a run that is gone.
const lockName = ".kbrun-lock"

// makeWorkDir creates the run's work folder, /tmp/kbrun-<run id>-*, and
// locks it; closing the returned file releases it.
func makeWorkDir(runID string) (string, *os.File, error) {
	dir, err := os.MkdirTemp("", "kbrun-"+runID+"-")
	if err != nil {
		return "", nil, err
	}
	f, err := lockDir(dir)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return dir, f, nil
}

// lockDir puts the locked lock file into dir. It gets its name only once
// it is locked (made aside, locked, renamed): a sweep never finds it
// unlocked while the run lives.
func lockDir(dir string) (*os.File, error) {
	f, err := os.CreateTemp(dir, lockName+".*")
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, lockName)); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
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

// SweepWorkDirs removes the work folders that runs which are gone left in
// the temporary folder (a run removes its own when it ends, unless killed
// or kept with --keep), and returns them; with dryRun it only lists them.
// A folder whose lock is held (a live run's), that has no lock file (not a
// run's work folder) or that is another user's is never touched.
func SweepWorkDirs(dryRun bool) ([]string, error) {
	dirs, err := filepath.Glob(filepath.Join(os.TempDir(), "kbrun-*"))
	if err != nil {
		return nil, err
	}
	var removed []string
	var first error
	for _, d := range dirs {
		fi, err := os.Lstat(d)
		if err != nil || !fi.IsDir() {
			continue
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != os.Getuid() {
			continue
		}
		f, err := os.OpenFile(filepath.Join(d, lockName), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			f.Close() // a live run's
			continue
		}
		if dryRun {
			err = nil
		} else {
			err = os.RemoveAll(d)
		}
		f.Close()
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		removed = append(removed, d)
	}
	return removed, first
}
