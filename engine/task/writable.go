package task

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// Writable says why kbrun could not write a file at path, so that a report
// or a task's output that has nowhere to go stops the run before it starts
// rather than after. nil: it can. makeDirs: the writer creates missing
// folders, so the nearest existing one must be a folder kbrun may write
// in; otherwise the file's folder must exist. kbrun's own user decides
// (access(2)), so a read-only file system counts too.
func Writable(path string, makeDirs bool) error {
	st, err := os.Stat(path)
	switch {
	case err == nil && st.IsDir():
		return fmt.Errorf("%s is a folder", path)
	case err == nil:
		if err := unix.Access(path, unix.W_OK); err != nil {
			return fmt.Errorf("%s cannot be written: %w", path, err)
		}
		return nil
	case !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR):
		return err
	}
	return WritableIn(filepath.Dir(path), makeDirs)
}

// WritableIn says why kbrun could not make files in folder dir; nil: it
// can. makeDirs: the writer creates dir and missing folders above it.
func WritableIn(dir string, makeDirs bool) error {
	for ; ; dir = filepath.Dir(dir) {
		st, err := os.Stat(dir)
		switch {
		case err == nil && !st.IsDir():
			return fmt.Errorf("%s is not a folder", dir)
		case err == nil:
			if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
				return fmt.Errorf("cannot write in folder %s: %w", dir, err)
			}
			return nil
		case errors.Is(err, syscall.ENOTDIR):
			// A folder above is a file: found further up.
		case !errors.Is(err, fs.ErrNotExist):
			return err
		case !makeDirs:
			return fmt.Errorf("folder %s does not exist", dir)
		}
		if filepath.Dir(dir) == dir {
			return fmt.Errorf("no folder of %s exists", dir)
		}
	}
}
