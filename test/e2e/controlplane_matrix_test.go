//go:build e2e && faultmatrix

package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestFaultMatrix runs the default pipeline once without a fault (the
// baseline) and once per fault of the harness at each measured point, and
// writes the figures (runs completed / faults injected, time lost, objects
// left) as markdown rows to KBRUN_FAULT_OUT when set (make fault-matrix).
// Select parts with -run, e.g. -run 'TestFaultMatrix/kubelet' (the rows
// are appended, so parts run one after the other add up).
func TestFaultMatrix(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatalf("the fault harness (test/cluster/fault.sh) restarts the project cluster's processes: run as root")
	}
	cpHealthy(t)
	ns := relNamespace(t, "cp-baseline")
	base := relKbrun(t, relOpts{args: relPipelineArgs(ns)})
	relAssertNamespaceGone(t, ns)
	if base.code != 0 {
		t.Fatalf("the baseline run without a fault failed:\n%s", base.summary())
	}
	relLogf(t, "baseline (no fault): %s", base.duration.Round(100*time.Millisecond))
	for _, f := range cpFaults {
		for _, p := range cpPoints {
			t.Run(fmt.Sprintf("%s at %s", f.kind, p.task), func(t *testing.T) {
				cpHealthy(t)
				o := cpRun(t, f, p, "")
				cpRow(t, o, base.duration)
			})
		}
	}
}

// cpRow appends one row of figures to KBRUN_FAULT_OUT.
func cpRow(t *testing.T, o cpOutcome, base time.Duration) {
	out := os.Getenv("KBRUN_FAULT_OUT")
	if out == "" {
		return
	}
	completed, injected := 0, 0
	if o.passed {
		completed = 1
	}
	if o.injected {
		injected = 1
	}
	why := ""
	if !o.passed {
		why = strings.SplitN(o.err, "\n", 2)[0]
	}
	row := fmt.Sprintf("| %s | %s | %d/%d | %.1f | %.1f | %d | %s |\n", o.fault, o.point, completed, injected,
		o.outage.Seconds(), (o.duration - base).Seconds(), o.left, why)
	f, err := os.OpenFile(out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Errorf("figures: %v", err)
		return
	}
	defer f.Close()
	if _, err := f.WriteString(row); err != nil {
		t.Errorf("figures: %v", err)
	}
}
