//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// relEvilPipeline deploys a pod whose /data holds a symlink to /etc/passwd
// next to a good file, and downloads /data (3 attempts allowed).
const relEvilPipeline = `apiVersion: kbrun.dev/v1alpha1
kind: Pipeline
metadata: {name: unsafe-download}
namespace: "{{ .vars.namespace }}"
vars:
  namespace: x
  dest: ""
tasks:
  - name: evil
    deploy:
      manifest: |
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: evil}
        spec:
          replicas: 1
          selector: {matchLabels: {app: evil}}
          template:
            metadata: {labels: {app: evil}}
            spec:
              terminationGracePeriodSeconds: 0
              containers:
              - name: main
                image: kbrun.local/busybox:1.35
                imagePullPolicy: IfNotPresent
                command: [sh, -c, "mkdir -p /data && echo good > /data/good && ln -s /etc/passwd /data/bad && trap 'exit 0' TERM; while true; do sleep 1; done"]
  - name: download
    copy:
      pod: "{{ .tasks.evil.pod }}"
      download: [{from: /data, to: "{{ .vars.dest }}"}]
    retry: {attempts: 3, backoff: 100ms}
finally:
  - name: cleanup
    delete: {applied: true}
`

// TestUnsafeDownloadFailsOnce: a download refused as unsafe (a symlink
// pointing outside the destination) is final: one attempt though three are
// allowed, and the destination is as it was (the archive is unpacked
// beside it first), with nothing left beside it.
func TestUnsafeDownloadFailsOnce(t *testing.T) {
	ns := relNamespace(t, "unsafe-download")
	relMakeNamespace(t, ns)
	dir := t.TempDir()
	file := filepath.Join(dir, "unsafe.yaml")
	if err := os.WriteFile(file, []byte(relEvilPipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	parent := filepath.Join(dir, "out")
	dest := filepath.Join(parent, "data")
	if err := os.MkdirAll(dest, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dest, "keep"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := relKbrun(t, relOpts{args: []string{"run", file, "-o", "json", "--set", "namespace=" + ns, "--set", "dest=" + dest}})
	d := r.ends["download"]
	relLogf(t, "unsafe download: exit %d, %d attempt(s): %s", r.code, d.Attempt, d.Error)
	if r.code != 1 || d.Status != "failed" || !strings.Contains(d.Error, "unsafe archive entry") {
		t.Fatalf("exit %d, download %+v\n%s", r.code, d, r.summary())
	}
	if d.Attempt != 1 || len(r.retries()) > 0 {
		t.Errorf("the refused download was tried %d times (%d retries)", d.Attempt, len(r.retries()))
	}
	entries, _ := os.ReadDir(parent)
	inside, _ := os.ReadDir(dest)
	b, _ := os.ReadFile(filepath.Join(dest, "keep"))
	if len(entries) != 1 || len(inside) != 1 || string(b) != "mine" {
		var names []string
		for _, e := range append(entries, inside...) {
			names = append(names, e.Name())
		}
		t.Errorf("the destination changed or something was left beside it: %v, keep = %q", names, b)
	}
	if c := r.ends["cleanup"]; c.Status != "ok" {
		t.Errorf("cleanup: %+v", c)
	}
}
