package compile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/tasks/internal/proc"
)

// A default output is built in the compile cache (<user cache
// folder>/kbrun/compile), in a folder per key: what decides the binary
// besides the sources (package folder, toolchain, target, cgo, flags, tags,
// env). go build then finds the binary of the last run there and, when its
// build ID is current (nothing it depends on changed), does not link it
// again. The run gets a hard link (or a copy) of it in its work folder: go
// replaces a binary it relinks (rename, or remove and create) rather than
// writing into it, so the file a run reported never changes under it when
// another run relinks the cached one.

// cacheRoot is the compile cache's folder.
func cacheRoot() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "kbrun", "compile"), nil
}

// keyDir is the cache folder of this build: <root>/<name>-<hash of the key>.
// The toolchain and target are go's own resolution (go env in the package
// folder, with the build's environment): GOTOOLCHAIN may pick a toolchain
// per module, and an empty goos is the host's.
func (a *action) keyDir(ctx context.Context, root string, environ []string) (string, error) {
	res, err := proc.Run(ctx, proc.Command{Argv: []string{"go", "env", "-json", "GOVERSION", "GOOS", "GOARCH", "CGO_ENABLED"}, Dir: a.pkgDir, Env: environ})
	if err != nil {
		return "", err
	}
	if res.ExitCode != 0 {
		return "", fmt.Errorf("go env failed (exit %d): %s", res.ExitCode, proc.Tail(res.Stderr, 5))
	}
	var goenv map[string]string
	if err := json.Unmarshal([]byte(res.Stdout), &goenv); err != nil {
		return "", fmt.Errorf("go env: %v", err)
	}
	dir, err := filepath.Abs(a.pkgDir)
	if err != nil {
		return "", err
	}
	env := make([]string, 0, len(a.Env))
	for k, v := range a.Env {
		env = append(env, k+"="+v)
	}
	slices.Sort(env)
	key, _ := json.Marshal(struct {
		Dir     string
		GoEnv   map[string]string
		LDFlags string
		Tags    []string
		Env     []string
	}{dir, goenv, a.LDFlags, a.Tags, env})
	h := sha256.Sum256(key)
	return filepath.Join(root, filepath.Base(dir)+"-"+hex.EncodeToString(h[:8])), nil
}

// lockKey locks the key's folder (made if missing) until the returned file
// is closed: two runs building the same key take turns, so that neither
// sees the binary half written by the other. The kernel drops the lock of a
// process that ends, however it ends.
func lockKey(ctx context.Context, dir string, logf func(string, ...any)) (*os.File, error) {
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	waited := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, err
		}
		if !waited {
			logf("waiting for another run that builds the same program in %s", dir)
			waited = true
		}
		// A blocking flock would not end with the task's timeout.
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// cachedBuild builds into the key's folder, then links (or copies) the
// binary to out. It returns the binary's sha256 and size, and whether go
// linked it (false: the cached one was up to date).
func (a *action) cachedBuild(ctx context.Context, env *task.Env, dir string, environ []string, out string) (sum string, size int64, linked bool, err error) {
	lock, err := lockKey(ctx, dir, env.Logf)
	if err != nil {
		return "", 0, false, err
	}
	defer lock.Close()
	// In a folder of its own: a package folder may be named lock.
	bin := filepath.Join(dir, "bin", filepath.Base(a.pkgDir))
	sumFile := filepath.Join(dir, "sha256")
	for {
		// Held open, the old binary's inode cannot be reused by a new
		// one: the same file afterwards means that go did not link.
		prev, _ := os.Open(bin)
		err = a.goBuild(ctx, env, bin, environ)
		linked = !sameFile(prev, bin)
		if prev != nil {
			prev.Close()
		}
		if err != nil {
			return "", 0, false, err
		}
		if sum, size, err = digest(bin); err != nil {
			return "", 0, false, err
		}
		if linked {
			// Written after the binary, so a run cut short in between
			// leaves a sum that does not match, and the next links again.
			if err := os.WriteFile(sumFile, []byte(sum), 0o644); err != nil {
				return "", 0, false, err
			}
			break
		}
		// Up to date by its build ID, but go reads only the binary's
		// start: one cut short while go copied it (killed run) or changed
		// since must not be reused.
		if kept, _ := os.ReadFile(sumFile); string(kept) == sum {
			break
		}
		// Without it go links again (prev is nil then).
		if err := os.Remove(bin); err != nil {
			return "", 0, false, err
		}
	}
	return sum, size, linked, linkOrCopy(bin, out)
}

// sameFile reports whether the open file prev is still the one at path.
func sameFile(prev *os.File, path string) bool {
	if prev == nil {
		return false
	}
	a, err := prev.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

// linkOrCopy makes dst the file src: a hard link, or a copy when they are
// on different file systems.
func linkOrCopy(src, dst string) error {
	if err := os.Remove(dst); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	o, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(o, in); err != nil {
		o.Close()
		return err
	}
	return o.Close()
}

// goBuild runs go build of the package into out.
func (a *action) goBuild(ctx context.Context, env *task.Env, out string, environ []string) error {
	argv := []string{"go", "build", "-trimpath", "-o", out}
	if a.LDFlags != "" {
		argv = append(argv, "-ldflags", a.LDFlags)
	}
	if len(a.Tags) > 0 {
		argv = append(argv, "-tags", strings.Join(a.Tags, ","))
	}
	argv = append(argv, ".")
	res, err := proc.Run(ctx, proc.Command{Argv: argv, Dir: a.pkgDir, Env: environ, Stdout: env.Stdout, Stderr: env.Stderr})
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("go build of %s failed (exit %d):\n%s", a.Package, res.ExitCode, proc.Tail(res.Stderr, 30))
	}
	return nil
}
