package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary be the build program (KBRUN_TEST_AS=build)
// or an earlier run of it that records a push when its stdin closes
// (KBRUN_TEST_AS=earlier), so that tests can kill a run and start another.
func TestMain(m *testing.M) {
	switch os.Getenv("KBRUN_TEST_AS") {
	case "build":
		// The seed's four capabilities, whatever the test's own.
		effectiveCaps = func() []string { return []string{"CHOWN", "SETUID", "SETGID", "FOWNER"} }
		main()
		os.Exit(0)
	case "earlier":
		_, _ = io.ReadAll(os.Stdin)
		err := writeState(os.Getenv("STATE"), buildState{PID: os.Getpid(), Destination: os.Getenv("DESTINATION"), Digest: testDigest})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const testDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// slowExecutor is a Kaniko that prints a line, then waits for a verdict
// on the FIFO "release" next to it: "ok" pushes (writes the digest file),
// "fail" fails like a multi-stage build without DAC_OVERRIDE. Each start
// appends its PID to "starts".
const slowExecutor = `#!/bin/sh
dir="$(dirname "$0")"
echo $$ >> "$dir/starts"
for a in "$@"; do
  case "$a" in --digest-file=*) df="${a#--digest-file=}";; esac
done
echo 'INFO[0000] step 1, waiting for release'
read verdict < "$dir/release"
if [ "$verdict" = fail ]; then
  echo 'error building image: could not save file: copying file: mkdir /kaniko/0/out: permission denied' >&2
  exit 1
fi
printf '%s' ` + testDigest + ` > "$df"
echo 'INFO[0002] Pushed registry:5000/demo@` + testDigest + `'
`

func setupSlow(t *testing.T) (config, string) {
	t.Helper()
	c, dir := setup(t)
	if err := os.WriteFile(c.executor, []byte(slowExecutor), 0o755); err != nil {
		t.Fatal(err)
	}
	release := filepath.Join(dir, "release")
	if err := syscall.Mkfifo(release, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// A test that failed half-way leaves no fake Kaniko behind.
		for _, pid := range starts(t, dir) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return c, dir
}

// starts lists the PIDs of the fake Kanikos started.
func starts(t *testing.T, dir string) []int {
	raw, err := os.ReadFile(filepath.Join(dir, "starts"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range strings.Fields(string(raw)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	return pids
}

// release gives the waiting fake Kaniko its verdict.
func release(t *testing.T, dir, verdict string) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		f, err := os.OpenFile(filepath.Join(dir, "release"), os.O_WRONLY, 0) // blocks until the fake reads
		if err == nil {
			_, err = f.WriteString(verdict + "\n")
			f.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no fake Kaniko waits for its verdict")
	}
}

// run is the build program running as a process of its own.
type run struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	lines  chan string // stderr, line by line
	stderr strings.Builder
}

func startBuild(t *testing.T, c config) *run {
	t.Helper()
	r := &run{lines: make(chan string, 1000)}
	r.cmd = exec.Command(os.Args[0], "-destination="+c.destination, "-workspace="+c.workspace, "-executor="+c.executor,
		"-busybox="+c.busybox, "-docker-config="+filepath.Join(c.workspace, "none.json"), "-insecure")
	r.cmd.Env = append(os.Environ(), "KBRUN_TEST_AS=build")
	// A process group of its own, so that the test can kill it as a
	// runtime may: the whole group.
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r.cmd.Stdout = &r.stdout
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.cmd.Stderr = pw
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
		close(r.lines)
		pr.Close()
	}()
	t.Cleanup(func() { _ = r.cmd.Process.Kill() })
	return r
}

// waitFor reads the run's stderr up to a line that holds s.
func (r *run) waitFor(t *testing.T, s string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-r.lines:
			if !ok {
				t.Fatalf("the build program's stderr ended without %q:\n%s", s, r.stderr.String())
			}
			r.stderr.WriteString(line + "\n")
			if strings.Contains(line, s) {
				return
			}
		case <-timeout:
			t.Fatalf("no %q on the build program's stderr:\n%s", s, r.stderr.String())
		}
	}
}

// wait waits for the run to exit and returns its whole stderr and its exit
// error.
func (r *run) wait(t *testing.T) (string, error) {
	t.Helper()
	for line := range r.lines {
		r.stderr.WriteString(line + "\n")
	}
	err := r.cmd.Wait()
	return r.stderr.String(), err
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// Kaniko's output streams while it runs (from its log file), and the
// digest is stdout's last line.
func TestBuildStreamsKaniko(t *testing.T) {
	c, dir := setupSlow(t)
	a := startBuild(t, c)
	a.waitFor(t, "step 1, waiting for release") // printed while Kaniko still runs
	release(t, dir, "ok")
	stderr, err := a.wait(t)
	if err != nil {
		t.Fatalf("%v:\n%s", err, stderr)
	}
	if got := lastLine(a.stdout.String()); got != "digest: "+testDigest {
		t.Errorf("stdout's last line %q; stdout:\n%s", got, a.stdout.String())
	}
	for _, want := range []string{"build: Dockerfile ", "COPY server/main /server", "INFO[0002] Pushed registry:5000/demo@" + testDigest} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// A failing Kaniko's exit code and error (read from its log) are reported
// with the capability hint as before.
func TestBuildReportsKanikoFailure(t *testing.T) {
	c, dir := setupSlow(t)
	a := startBuild(t, c)
	a.waitFor(t, "step 1")
	release(t, dir, "fail")
	stderr, err := a.wait(t)
	if err == nil {
		t.Fatalf("a failed Kaniko gave exit 0:\n%s", stderr)
	}
	msg := "error building image: could not save file: copying file: mkdir /kaniko/0/out: permission denied"
	last := lastLine(stderr)
	if !strings.Contains(last, "Kaniko failed (exit status 1): "+msg) {
		t.Errorf("last stderr line %q", last)
	}
	if h := "the builder likely lacks DAC_OVERRIDE (a multi-stage build saves files under /kaniko/<stage>/)"; !strings.Contains(last, h) {
		t.Errorf("last stderr line %q lacks the hint %q", last, h)
	}
	if strings.Contains(a.stdout.String(), "digest:") {
		t.Errorf("stdout has a digest:\n%s", a.stdout.String())
	}
}

// The build program and its process group are killed mid-build (the exec
// stream broke); Kaniko goes on. A second run follows it, starts no second
// Kaniko, and answers with the digest it pushed.
func TestResumeFollowsSurvivingKaniko(t *testing.T) {
	c, dir := setupSlow(t)
	a := startBuild(t, c)
	a.waitFor(t, "step 1")
	if err := syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = a.wait(t)
	pids := starts(t, dir)
	if len(pids) != 1 || !running(pids[0]) {
		t.Fatalf("Kaniko %v did not survive the build program", pids)
	}
	b := startBuild(t, c)
	b.waitFor(t, "still runs in this pod")
	b.waitFor(t, "step 1") // the log, from the start
	release(t, dir, "ok")
	stderr, err := b.wait(t)
	if err != nil {
		t.Fatalf("%v:\n%s", err, stderr)
	}
	if got := lastLine(b.stdout.String()); got != "digest: "+testDigest {
		t.Errorf("stdout's last line %q; stdout:\n%s", got, b.stdout.String())
	}
	if !strings.Contains(stderr, "Pushed registry:5000/demo@") {
		t.Errorf("the second run did not show Kaniko's output:\n%s", stderr)
	}
	if n := len(starts(t, dir)); n != 1 {
		t.Errorf("Kaniko started %d times", n)
	}
}

// The surviving Kaniko fails: the second run refuses to build again,
// quoting it.
func TestResumeRefusesAfterFailedKaniko(t *testing.T) {
	c, dir := setupSlow(t)
	a := startBuild(t, c)
	a.waitFor(t, "step 1")
	if err := syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = a.wait(t)
	b := startBuild(t, c)
	b.waitFor(t, "still runs in this pod")
	release(t, dir, "fail")
	stderr, err := b.wait(t)
	if err == nil {
		t.Fatalf("exit 0 after a failed Kaniko:\n%s", stderr)
	}
	want := "an earlier build in this pod ended without pushing registry:5000/demo:t1 (Kaniko: error building image: could not save file: copying file: mkdir /kaniko/0/out: permission denied); Kaniko builds only once per pod: run the pipeline again"
	if !strings.Contains(lastLine(stderr), want) {
		t.Errorf("last stderr line %q, want %q", lastLine(stderr), want)
	}
	if n := len(starts(t, dir)); n != 1 {
		t.Errorf("Kaniko started %d times", n)
	}
	if strings.Contains(b.stdout.String(), "digest:") {
		t.Errorf("stdout has a digest:\n%s", b.stdout.String())
	}
}

// resumeInTime runs resumeOrBuild, failing the test if it waits.
func resumeInTime(t *testing.T, c config) (string, error) {
	t.Helper()
	type result struct {
		digest string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		d, err := resumeOrBuild(c)
		done <- result{d, err}
	}()
	select {
	case r := <-done:
		return r.digest, r.err
	case <-time.After(30 * time.Second):
		t.Fatal("resumeOrBuild waits for a process that is not the earlier build")
		return "", nil
	}
}

// A state whose PIDs now belong to another program: not waited for; the
// digest file tells whether that Kaniko pushed.
func TestResumeIgnoresReusedPID(t *testing.T) {
	c, _ := setup(t)
	c.executor = "/nonexistent/executor" // building again would fail differently
	other := exec.Command("cat")
	stdin, err := other.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); _ = other.Wait() }()
	log := filepath.Join(c.workspace, logFileName)
	if err := os.WriteFile(log, []byte("INFO[0000] step 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	digestFile := filepath.Join(c.workspace, digestFileName)
	s := buildState{PID: other.Process.Pid, Destination: c.destination, KanikoPID: other.Process.Pid,
		Executor: c.executor, Log: log, DigestFile: digestFile}
	if kanikoRunning(s) || buildProgramRunning(s.PID) {
		t.Fatalf("cat (PID %d) taken for Kaniko or the build program", s.KanikoPID)
	}
	statePath := filepath.Join(c.workspace, stateFile)
	if err := writeState(statePath, s); err != nil {
		t.Fatal(err)
	}
	if _, err := resumeInTime(t, c); err == nil || !strings.Contains(err.Error(), "ended without pushing registry:5000/demo:t1 (its Kaniko's output is above); Kaniko builds only once per pod") {
		t.Fatalf("err %v, want a refusal to build twice", err)
	}
	if err := os.WriteFile(digestFile, []byte(testDigest), 0o644); err != nil {
		t.Fatal(err)
	}
	if d, err := resumeInTime(t, c); err != nil || d != testDigest {
		t.Fatalf("with the digest file: %q, %v", d, err)
	}
	// Another destination is never answered with this digest.
	c.destination = "registry:5000/demo:t2"
	if _, err := resumeInTime(t, c); err == nil || !strings.Contains(err.Error(), "ended without pushing registry:5000/demo:t2") {
		t.Fatalf("another destination: %v", err)
	}
}

// An earlier run of the build program that has not started Kaniko yet is
// waited for; a state from it that holds no Kaniko and no digest is
// refused.
func TestResumeWaitsForEarlierProgram(t *testing.T) {
	c, _ := setup(t)
	statePath := filepath.Join(c.workspace, stateFile)
	earlier := exec.Command(os.Args[0])
	earlier.Env = append(os.Environ(), "KBRUN_TEST_AS=earlier", "STATE="+statePath, "DESTINATION="+c.destination)
	stdin, err := earlier.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := earlier.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); _ = earlier.Wait() }()
	if err := writeState(statePath, buildState{PID: earlier.Process.Pid, Destination: c.destination}); err != nil {
		t.Fatal(err)
	}
	if !buildProgramRunning(earlier.Process.Pid) {
		t.Fatal("the earlier run is not recognised")
	}
	// Its stderr shows when resumeOrBuild waits; then the earlier run
	// records its push.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = pw
	defer func() { os.Stderr = saved }()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			fmt.Fprintln(saved, sc.Text())
			if strings.Contains(sc.Text(), "waiting for it") {
				stdin.Close()
			}
		}
	}()
	d, err := resumeInTime(t, c)
	os.Stderr = saved
	pw.Close()
	if err != nil || d != testDigest {
		t.Fatalf("resumeOrBuild = %q, %v; want the earlier run's %s", d, err, testDigest)
	}

	if err := writeState(statePath, buildState{PID: 0, Destination: c.destination}); err != nil {
		t.Fatal(err)
	}
	if _, err := resumeInTime(t, c); err == nil || !strings.Contains(err.Error(), "ended without pushing registry:5000/demo:t1 (its output was lost with its exec stream)") {
		t.Fatalf("err %v, want a refusal to build twice", err)
	}
}
