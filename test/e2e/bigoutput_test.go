//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// bigOutputPipeline execs two commands in a pod that print 106 MiB each, in
// lines of 8 KiB: one with "FATAL ERROR" after the first 105 MiB and more,
// the other without it.
const bigOutputPipeline = `apiVersion: kbrun.dev/v1alpha1
kind: Pipeline
metadata: {name: big-output}
namespace: "{{ .vars.namespace }}"
vars:
  namespace: x
tasks:
  - name: pod
    deploy:
      manifest: |
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: talker}
        spec:
          replicas: 1
          selector: {matchLabels: {app: talker}}
          template:
            metadata: {labels: {app: talker}}
            spec:
              terminationGracePeriodSeconds: 0
              containers:
              - name: main
                image: kbrun.local/busybox:1.35
                imagePullPolicy: IfNotPresent
                command: [sh, -c, "trap 'exit 0' TERM; while true; do sleep 1; done"]
  - name: late
    continueOnError: true
    retry: {attempts: 1}
    exec:
      pod: "{{ .tasks.pod.pod }}"
      command: [sh, -c, 'L=$(head -c 8191 /dev/zero | tr "\0" x); echo START-1; yes "$L" | head -c 110100480; echo "FATAL ERROR: disk full"; yes "$L" | head -c 1048576; echo digest: sha256:abc123']
      expect: {stdout: {absent: FATAL ERROR}}
  - name: clean
    retry: {attempts: 1}
    exec:
      pod: "{{ .tasks.pod.pod }}"
      command: [sh, -c, 'L=$(head -c 8191 /dev/zero | tr "\0" x); echo START-1; yes "$L" | head -c 110100480; yes "$L" | head -c 1048576; echo digest: sha256:abc123']
      expect:
        stdout: {contains: START-1, absent: FATAL ERROR, matches: '(?m)^digest: (?P<d>sha256:[0-9a-f]+)$'}
finally:
  - name: cleanup
    delete: {applied: true}
`

// TestExecExpectOver100MiB: expect judges all of a command's output in a
// pod, not the 1 MiB kept as .stdout: "FATAL ERROR" 105 MiB in fails
// absent at its line and byte, a pattern on the last line of 106 MiB
// matches, and the log says how much of .stdout was cut. The test reads
// kbrun's events as they come and keeps only the ends and log lines.
func TestExecExpectOver100MiB(t *testing.T) {
	ns := relNamespace(t, "big-output")
	relMakeNamespace(t, ns)
	file := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(file, []byte(bigOutputPipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(kbrunBin, "run", file, "-o", "json", "--set", "namespace="+ns, "--kubeconfig", kubeconfig)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killer := time.AfterFunc(5*time.Minute, func() { _ = cmd.Process.Kill() })
	defer killer.Stop()
	ends := map[string]event{}
	var logs []string
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 16<<20) // task.end carries .stdout: up to 1 MiB, more once JSON-escaped
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		switch e.Type {
		case "task.end":
			ends[e.Task] = e
		case "task.log":
			logs = append(logs, e.Task+": "+e.Line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading events: %v", err)
	}
	_ = cmd.Wait()
	t.Logf("kbrun ran in %s; late %dms, clean %dms", time.Since(start).Round(100*time.Millisecond), ends["late"].Duration, ends["clean"].Duration)
	late, clean := ends["late"], ends["clean"]
	// START-1 is line 1, then 13440 lines of 8 KiB.
	if late.Status != "failed" || !strings.Contains(late.Error, `stdout contains "FATAL ERROR", which must be absent (line 13442, byte 110100488`) {
		t.Errorf("late: %+v\nstderr:\n%s", late, stderr.String())
	}
	if clean.Status != "ok" || clean.Outputs["d"] != "sha256:abc123" {
		t.Errorf("clean: %+v\nstderr:\n%s", clean, stderr.String())
	}
	total := 8 + 110100480 + len("FATAL ERROR: disk full\n") + 1048576 + len("digest: sha256:abc123\n")
	want := "late: stdout was " + strconv.Itoa(total) + " bytes: .tasks.late.stdout keeps its first 1048576"
	found := false
	for _, l := range logs {
		found = found || strings.HasPrefix(l, want)
	}
	if !found {
		t.Errorf("no log line %q in %q", want, logs)
	}
	if c := ends["cleanup"]; c.Status != "ok" {
		t.Errorf("cleanup: %+v", c)
	}
}
