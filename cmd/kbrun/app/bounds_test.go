package app_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pipelineWith is a pipeline whose one task prints a template.
func pipelineWith(tmpl string) string {
	return `apiVersion: kbrun.dev/v1alpha1
kind: Pipeline
metadata: {name: b}
tasks:
  - name: t
    run: {command: [echo, '` + tmpl + `']}
`
}

// A template that would spin or exhaust memory ends within its budget,
// in validate, plan and run alike (they prepare tasks the same way), with
// exit 2 and its position.
func TestTemplateBudget(t *testing.T) {
	dir := t.TempDir()
	for name, tmpl := range map[string]string{
		"nested ranges":   `{{ range until 100000 }}{{ range until 100000 }}{{ end }}{{ end }}`,
		"range over ints": `{{ range 100000000000 }}{{ end }}`,
		"repeat in range": `{{ range until 100000 }}{{ $x := repeat 100000 "xxxxxxxxxx" }}{{ end }}`,
		"doubling":        `{{ $x := "ab" }}{{ range until 64 }}{{ $x = print $x $x }}{{ end }}`,
		"recursion":       `{{ define "x" }}{{ template "x" }}{{ template "x" }}{{ end }}{{ template "x" }}`,
		"output":          `{{ range until 100000 }}{{ repeat 1000 "xxxxxxxxxx" }}{{ end }}`,
	} {
		file := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
		if err := os.WriteFile(file, []byte(pipelineWith(tmpl)), 0o644); err != nil {
			t.Fatal(err)
		}
		cmds := []string{"validate"}
		if name == "nested ranges" {
			cmds = append(cmds, "plan", "run") // one preparation path: once is enough
		}
		for _, cmd := range cmds {
			start := time.Now()
			code, out, errOut := kbrun(cmd, file)
			took := time.Since(start)
			// Recursion may meet text/template's own depth limit first.
			if code != 2 || !strings.Contains(errOut, file+":6:") || !strings.Contains(errOut, "budget") && !strings.Contains(errOut, "maximum template depth") {
				t.Errorf("%s %s: exit %d after %s\n%s%s", cmd, name, code, took, out, errOut)
			}
			// The budget is 1s of wall time; the machine may be loaded.
			if took > 10*time.Second {
				t.Errorf("%s %s took %s", cmd, name, took)
			}
		}
	}
}

// writeLib writes a library of tasks that uses next (twice) when given.
func writeLib(t *testing.T, file, next string) {
	t.Helper()
	body := "apiVersion: kbrun.dev/v1alpha1\nkind: Tasks\nmetadata: {name: l}\ntasks:\n"
	if next == "" {
		body += "  - name: leaf\n    run: {command: [\"true\"]}\n"
	} else {
		body += fmt.Sprintf("  - name: a\n    uses: %s\n  - name: b\n    uses: %s\n", next, next)
	}
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Libraries that each use the next twice (a uses bomb), too deep or too
// many tasks once expanded, and a library that uses itself through a
// symlinked folder are refused by validate at once, with a position.
func TestUsesBounds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		levels int
		want   string
	}{
		{"24 levels", 24, "more than 16 deep"},
		{"14 levels, 2^14 tasks", 14, "more than 10000 tasks"},
	} {
		dir := t.TempDir()
		for i := 0; i < tc.levels; i++ {
			next := ""
			if i+1 < tc.levels {
				next = fmt.Sprintf("l%d.yaml", i+1)
			}
			writeLib(t, filepath.Join(dir, fmt.Sprintf("l%d.yaml", i)), next)
		}
		file := filepath.Join(dir, "p.yaml")
		os.WriteFile(file, []byte("apiVersion: kbrun.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: p}\ntasks:\n  - name: top\n    uses: l0.yaml\n"), 0o644)
		start := time.Now()
		code, out, errOut := kbrun("validate", file)
		took := time.Since(start)
		if code != 2 || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, ".yaml:") {
			t.Errorf("%s: exit %d\n%s%s", tc.name, code, out, errOut)
		}
		if took > time.Second {
			t.Errorf("%s: validate took %s", tc.name, took)
		}
		t.Logf("%s: validate took %s", tc.name, took)
	}

	dir := t.TempDir()
	writeLib(t, filepath.Join(dir, "lib.yaml"), "link/lib.yaml")
	if err := os.Symlink(".", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "p.yaml")
	os.WriteFile(file, []byte("apiVersion: kbrun.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: p}\ntasks:\n  - name: top\n    uses: lib.yaml\n"), 0o644)
	start := time.Now()
	code, out, errOut := kbrun("validate", file)
	if code != 2 || !strings.Contains(errOut, "uses makes a cycle") || time.Since(start) > time.Second {
		t.Errorf("symlink cycle: exit %d after %s\n%s%s", code, time.Since(start), out, errOut)
	}
}

// SIGTERM and SIGINT end validate and plan at once, with the signal's exit
// code, even in the middle of a long check (here: many templates each
// running up to its budget).
func TestSignalEndsValidateAtOnce(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "slow.yaml")
	body := "apiVersion: kbrun.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: s}\ntasks:\n"
	for i := 0; i < 60; i++ {
		body += fmt.Sprintf("  - name: t%d\n    run: {command: [echo, '{{ range until 100000 }}{{ range until 100000 }}{{ end }}{{ end }}']}\n", i)
	}
	os.WriteFile(file, []byte(body), 0o644)
	for _, tc := range []struct {
		cmd  string
		sig  syscall.Signal
		code int
	}{{"validate", syscall.SIGTERM, 143}, {"plan", syscall.SIGINT, 130}} {
		c := exec.Command(os.Args[0], tc.cmd, file)
		c.Env = append(os.Environ(), "KBRUN_TEST_AS_MAIN=1")
		var errOut strings.Builder
		c.Stderr = &errOut
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		waitBusy(t, c.Process.Pid)
		sent := time.Now()
		c.Process.Signal(tc.sig)
		err := c.Wait()
		took := time.Since(sent)
		code := -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != tc.code || took > 2*time.Second {
			t.Errorf("%s after %s: exit %d %v after %s\n%s", tc.cmd, tc.sig, code, err, took, errOut.String())
		}
	}
}

// waitBusy waits until process pid has used 300ms of CPU: it is then in
// the middle of its check, long past installing its signal handlers.
func waitBusy(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatal(err)
		}
		// The fields after the command's name (which may hold spaces):
		// utime is the 12th of them, in clock ticks (100 a second).
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if ticks, err := strconv.Atoi(fields[11]); err == nil && ticks >= 30 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process %d never got busy", pid)
}
