package compile_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/tasks/compile"
)

// run is one run of a compile task of dir with its own work folder; it
// returns the outputs and the task's log lines.
func run(t *testing.T, ctx context.Context, dir string, params map[string]any) (task.Outputs, string, error) {
	t.Helper()
	p := map[string]any{"package": ".", "cgo": false}
	for k, v := range params {
		p[k] = v
	}
	a, err := compile.Type{}.Prepare(task.Params{Dir: dir, Rendered: true, Value: p})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var logs strings.Builder
	work := t.TempDir()
	res, err := a.Run(ctx, &task.Env{Task: "c", Stdout: os.Stderr, Stderr: os.Stderr,
		Logf: func(f string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(&logs, f+"\n", args...)
		},
		WorkDir: func() (string, error) { return work, nil }})
	return res, logs.String(), err
}

func mustRun(t *testing.T, dir string, params map[string]any) (task.Outputs, string) {
	t.Helper()
	res, logs, err := run(t, context.Background(), dir, params)
	if err != nil {
		t.Fatal(err)
	}
	return res, logs
}

// checkOutput checks that the reported file is the reported binary.
func checkOutput(t *testing.T, res task.Outputs) {
	t.Helper()
	path := res["path"].(string)
	out, err := exec.Command(path).CombinedOutput()
	if err != nil {
		t.Errorf("%s: %v: %s", path, err, out)
	}
	if got := sha256File(t, path); got != res["sha256"] {
		t.Errorf("%s has sha256 %s, reported %s", path, got, res["sha256"])
	}
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("sha256sum", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(out))[0]
}

// tempCache points the user cache folder (and so the compile cache) at a
// new folder, and keeps go's build cache where it was.
func tempCache(t *testing.T) string {
	t.Helper()
	gocache, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOCACHE", strings.TrimSpace(string(gocache)))
	dir := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", dir)
	return dir
}

// cachedBinary is the one binary the compile cache holds.
func cachedBinary(t *testing.T, cache string) string {
	t.Helper()
	bins, _ := filepath.Glob(filepath.Join(cache, "kbrun", "compile", "*", "bin", "*"))
	if len(bins) != 1 {
		t.Fatalf("cached binaries %v, want one", bins)
	}
	return bins[0]
}

func TestUnchangedNotLinkedAgain(t *testing.T) {
	cache := tempCache(t)
	dir := writeProgram(t, "package main\n\nfunc main() { println(\"one\") }\n")
	first, logs := mustRun(t, dir, map[string]any{"ldflags": "-s -w"})
	if !strings.Contains(logs, "built ") {
		t.Errorf("first run's log: %s", logs)
	}
	checkOutput(t, first)
	bin := cachedBinary(t, cache)

	second, logs := mustRun(t, dir, map[string]any{"ldflags": "-s -w"})
	if !strings.Contains(logs, "up to date in ") {
		t.Errorf("second run's log: %s", logs)
	}
	checkOutput(t, second)
	// Both runs' files are the binary that go linked once.
	a, _ := os.Stat(first["path"].(string))
	b, _ := os.Stat(second["path"].(string))
	if !os.SameFile(a, b) || first["sha256"] != second["sha256"] {
		t.Errorf("second run got another binary: %v, %v", first, second)
	}
	// And go itself has nothing to link there.
	x := exec.Command("go", "build", "-x", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".")
	x.Dir, x.Env = dir, append(os.Environ(), "CGO_ENABLED=0")
	out, err := x.CombinedOutput()
	if err != nil || strings.Contains(string(out), "/link ") {
		t.Errorf("go build -x of the cached binary (%v):\n%s", err, out)
	}
}

// A changed source is linked again, and the earlier run's file stays the
// binary that run reported.
func TestChangedSourceLinkedAgain(t *testing.T) {
	tempCache(t)
	dir := writeProgram(t, "package main\n\nfunc main() { println(\"one\") }\n")
	first, _ := mustRun(t, dir, nil)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() { println(\"two\") }\n"), 0o644)
	second, logs := mustRun(t, dir, nil)
	if !strings.Contains(logs, "built ") || first["sha256"] == second["sha256"] {
		t.Errorf("changed source: %v, log: %s", second, logs)
	}
	checkOutput(t, first)
	checkOutput(t, second)
	if out, _ := exec.Command(first["path"].(string)).CombinedOutput(); string(out) != "one\n" {
		t.Errorf("the first run's binary prints %q", out)
	}
}

// Other ldflags are another key: each keeps its binary.
func TestChangedFlagsLinkedAgain(t *testing.T) {
	cache := tempCache(t)
	dir := writeProgram(t, "package main\n\nvar v = \"none\"\n\nfunc main() { println(v) }\n")
	a, _ := mustRun(t, dir, map[string]any{"ldflags": "-X main.v=a"})
	b, logs := mustRun(t, dir, map[string]any{"ldflags": "-X main.v=b"})
	if !strings.Contains(logs, "built ") || a["sha256"] == b["sha256"] {
		t.Errorf("changed ldflags: %v, %v, log: %s", a, b, logs)
	}
	if out, _ := exec.Command(b["path"].(string)).CombinedOutput(); string(out) != "b\n" {
		t.Errorf("-X main.v=b prints %q", out)
	}
	if _, logs := mustRun(t, dir, map[string]any{"ldflags": "-X main.v=a"}); !strings.Contains(logs, "up to date in ") {
		t.Errorf("the first flags again: %s", logs)
	}
	if keys, _ := filepath.Glob(filepath.Join(cache, "kbrun", "compile", "*")); len(keys) != 2 {
		t.Errorf("cache folders %v, want two", keys)
	}
}

// A cached binary that is not the one built there (cut short while go
// copied it, changed since) is not reused though its build ID matches.
func TestDamagedCacheLinkedAgain(t *testing.T) {
	cache := tempCache(t)
	dir := writeProgram(t, "package main\n\nfunc main() { println(\"one\") }\n")
	first, _ := mustRun(t, dir, nil)
	bin := cachedBinary(t, cache)
	st, _ := os.Stat(bin)
	if err := os.Truncate(bin, st.Size()/2); err != nil {
		t.Fatal(err)
	}
	second, logs := mustRun(t, dir, nil)
	if !strings.Contains(logs, "built ") || second["sha256"] != first["sha256"] {
		t.Errorf("after truncation: %v (first %v), log: %s", second, first, logs)
	}
	checkOutput(t, second)
}

// Runs that build the same key at once each get a whole binary, the one
// they report, while the source changes under them.
func TestConcurrentSameKey(t *testing.T) {
	tempCache(t)
	dir := writeProgram(t, "package main\n\nfunc main() { println(\"v\") }\n")
	const n = 4
	var wg sync.WaitGroup
	results := make([]task.Outputs, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := filepath.Join(dir, fmt.Sprintf("main.go.%d", i))
			os.WriteFile(src, fmt.Appendf(nil, "package main\n\nfunc main() { println(\"v%d\") }\n", i%2), 0o644)
			os.Rename(src, filepath.Join(dir, "main.go"))
			results[i], _, errs[i] = run(t, context.Background(), dir, nil)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("run %d: %v", i, errs[i])
		}
		checkOutput(t, results[i])
	}
}

// A run waiting for another's build of the same key ends with its timeout.
func TestLockWaitEndsWithContext(t *testing.T) {
	cache := tempCache(t)
	// A package folder named lock is no lock file's name.
	dir := filepath.Join(writeProgram(t, "package main\n\nfunc main() {}\n"), "lock")
	os.Mkdir(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644)
	mustRun(t, dir, nil)
	lock, err := os.Open(filepath.Join(cachedBinary(t, cache), "..", "..", "lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if st, _ := lock.Stat(); st.Size() != 0 {
		t.Fatalf("the lock file is a binary of %d bytes", st.Size())
	}
	// flock locks belong to the open file: this one is another holder.
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, logs, err := run(t, ctx, dir, nil)
	if err != context.DeadlineExceeded || !strings.Contains(logs, "waiting for another run") {
		t.Errorf("err %v, log: %s", err, logs)
	}
}
