//go:build e2e && matrix

package e2e

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestCapabilityMatrix measures which builds the default pipeline's builder
// can do, by Dockerfile kind, capabilities and user namespace, with the Pod
// Security level of each builder: the table in pipelines/README.md.
// A measurement, not a pass/fail suite: make userns-matrix (it fails only
// when a run could not be judged). KBRUN_MATRIX_OUT names a file for the table,
// KBRUN_MATRIX_DOCKERFILES (comma-separated) limits the Dockerfile kinds.
func TestCapabilityMatrix(t *testing.T) {
	const ns = "kbrun-matrix"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", ns, err)
	}
	t.Cleanup(func() { relDeleteNamespace(t, ns) })

	kinds := []string{"copy", "multistage", "run", "userrun"}
	if k := os.Getenv("KBRUN_MATRIX_DOCKERFILES"); k != "" { // e.g. to measure one row again
		kinds = strings.Split(k, ",")
	}
	capSets := []struct{ name, value string }{
		{"none", "[]"},
		{"seed four", "[CHOWN,SETUID,SETGID,FOWNER]"},
		{"seed four + DAC_OVERRIDE", "[CHOWN,SETUID,SETGID,FOWNER,DAC_OVERRIDE]"},
	}
	levelRE := regexp.MustCompile(`kaniko-rootless-demo-deployment: (privileged|baseline|restricted)`)
	kanikoRE := regexp.MustCompile(`Kaniko failed \(exit status \d+\): (.*)`)
	deniedRE := regexp.MustCompile(`(?im)^\s*((?:chown|chmod|mkdir|sh|/bin/busybox)\S*: .*(?:operation not permitted|permission denied).*)$`)
	var b strings.Builder
	b.WriteString("| Dockerfile | capabilities | host user namespace | own user namespace (hostUsers: false) |\n|---|---|---|---|\n")
	for _, kind := range kinds {
		for _, caps := range capSets {
			cells := []string{}
			for _, userns := range []string{"false", "true"} {
				r := runPipeline(t, "--set", "namespace="+ns, "--set", "createNamespace=false",
					"--set", "dockerfile="+kind, "--set", "capabilities="+caps.value, "--set", "userNamespace="+userns)
				level := "?"
				for _, e := range r.events {
					if m := levelRE.FindStringSubmatch(e.Line); e.Task == "podSecurity" && m != nil {
						level = m[1]
					}
				}
				var cell string
				switch {
				case r.code == 0:
					cell = fmt.Sprintf("OK (%s)", level)
				case r.ends["build"].Status == "failed":
					why := r.ends["build"].Error
					if m := kanikoRE.FindStringSubmatch(why); m != nil {
						why = m[1]
					}
					// A failed RUN: its command's own error says why.
					if strings.Contains(why, "failed to execute command") {
						if m := deniedRE.FindStringSubmatch(r.ends["build"].Error); m != nil {
							why = "RUN: " + strings.TrimSpace(m[1])
						}
					}
					cell = fmt.Sprintf("fails `%s` (%s)", strings.TrimSpace(strings.SplitN(why, "\n", 2)[0]), level)
				default:
					t.Errorf("%s, %s, userNamespace=%s: exit %d outside the build:\n%s", kind, caps.name, userns, r.code, r.summary())
					cell = "not judged"
				}
				if userns == "true" && r.code == 0 && r.ends["checkUserNamespace"].Status != "ok" {
					t.Errorf("%s, %s: passed without the user namespace check", kind, caps.name)
				}
				t.Logf("%s | %s | userNamespace=%s: %s in %s", kind, caps.name, userns, cell, r.duration.Round(100*time.Millisecond))
				cells = append(cells, cell)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", kind, caps.name, cells[0], cells[1])
		}
	}
	t.Logf("\n%s", b.String())
	if f := os.Getenv("KBRUN_MATRIX_OUT"); f != "" {
		if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}
