package app_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestMeaningCorpus: every file of testdata/meaning has values of the
// right shape and the wrong meaning, one class a file: Kubernetes names,
// namespaces (also from --set), labels, annotations, ports and containers
// the API server refuses; GOOS/GOARCH that do not exist or do not pair;
// environment variable names that are not POSIX names; capabilities the
// kernel does not have or with a CAP_ prefix; HTTP header names with
// spaces, header values and paths with CR/LF; body expectations that can
// never hold; NaN and Inf numbers; negative durations, stableFor past the
// timeout, retry waits that overflow; when that renders neither true nor
// false; folders that do not exist. Each exits 2 at validate, at its
// FILE:LINE:COL, and run sends nothing.
func TestMeaningCorpus(t *testing.T) { checkCorpus(t, "testdata/meaning", 40) }

// TestMeaningControls: the valid counterparts of the corpus are accepted.
func TestMeaningControls(t *testing.T) {
	files, _ := filepath.Glob("testdata/meaning/valid/*.yaml")
	if len(files) < 5 {
		t.Fatalf("%d controls", len(files))
	}
	for _, f := range files {
		if code, out, errOut := kbrun("validate", f); code != 0 {
			t.Errorf("%s: exit %d\n%s%s", f, code, out, errOut)
		}
	}
}

// TestRunTimeValuesCheckedBeforeUse: a value that is known only once an
// earlier task has run (a folder, a capability in a manifest, a
// condition) is checked by the same rule the moment it is known: the run
// fails with the template's FILE:LINE:COL and the task that would use it
// never starts.
func TestRunTimeValuesCheckedBeforeUse(t *testing.T) {
	cases := []struct{ file, task, want string }{
		{"package.yaml", "build", `testdata/meaning-runtime/package.yaml:9:24: tasks[1].compile.package: package folder "./no-such-package" does not exist`},
		{"dir.yaml", "list", `testdata/meaning-runtime/dir.yaml:9:31: tasks[1].run.dir: folder "no-such-dir" does not exist`},
		{"caps.yaml", "check", `testdata/meaning-runtime/caps.yaml.tmpl:10:17: document 1, Pod builder: spec.containers[0].securityContext.capabilities.add[0]: capability "CAP_CHOWN": Kubernetes names capabilities without the CAP_ prefix: give "CHOWN"`},
		{"when.yaml", "gated", `testdata/meaning-runtime/when.yaml:10:11: tasks[1].when: renders "yes"; a condition must render true or false`},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			f := filepath.Join("testdata/meaning-runtime", c.file)
			if code, out, errOut := kbrun("validate", f); code != 0 {
				t.Fatalf("validate: exit %d (the value is known only at run time)\n%s%s", code, out, errOut)
			}
			code, out, errOut := kbrun("run", f, "-o", "json")
			if code != 1 {
				t.Fatalf("run: exit %d, want 1\n%s%s", code, out, errOut)
			}
			var ended bool
			for _, line := range strings.Split(out, "\n") {
				var ev struct{ Type, Task, Status, Error string }
				if json.Unmarshal([]byte(line), &ev) != nil || ev.Task != c.task {
					continue
				}
				switch ev.Type {
				case "task.start":
					t.Errorf("task %s started: %s", c.task, line)
				case "task.end":
					ended = true
					if ev.Status != "failed" || !strings.Contains(ev.Error, c.want) {
						t.Errorf("task %s ended %s: %s\nwant the error %s", c.task, ev.Status, ev.Error, c.want)
					}
				}
			}
			if !ended {
				t.Errorf("no task.end for %s:\n%s", c.task, out)
			}
		})
	}
}

// TestUntilRunTime: an until known only once a cell ended is decided by
// the rule a when has: "yes" is neither true nor false, so the matrix task
// fails at the until's FILE:LINE:COL, no further cell starts and neither
// does the task after it.
func TestUntilRunTime(t *testing.T) {
	f := "testdata/meaning-runtime/until.yaml"
	if code, out, errOut := kbrun("validate", f); code != 0 {
		t.Fatalf("validate: exit %d (until reads the cell)\n%s%s", code, out, errOut)
	}
	code, out, errOut := kbrun("run", f, "-o", "json")
	if code != 1 {
		t.Fatalf("run: exit %d, want 1\n%s%s", code, out, errOut)
	}
	want := `testdata/meaning-runtime/until.yaml:12:12: tasks[0].until: renders "yes"; a condition must render true or false`
	status := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		var ev struct{ Type, Task, Status, Error string }
		if json.Unmarshal([]byte(line), &ev) != nil || ev.Type != "task.end" {
			continue
		}
		status[ev.Task] = ev.Status
		if ev.Task == "ladder" && !strings.Contains(ev.Error, want) {
			t.Errorf("ladder ended with %q, want %s", ev.Error, want)
		}
	}
	wantStatus := map[string]string{"ladder": "failed", "ladder[1]": "ok", "ladder[2]": "skipped", "ladder[3]": "skipped", "after": "skipped"}
	for task, s := range wantStatus {
		if status[task] != s {
			t.Errorf("task %s: status %q, want %q (all: %v)", task, status[task], s, status)
		}
	}
}
