package compile

import (
	"os"
	"os/exec"

	"github.com/kbrun/kbrun/engine/task"
)

// toolchain reports a missing `go` before anything runs, rather than when
// the task starts, after earlier tasks changed the cluster. The usual place
// is kbrun's own container image (docs/in-cluster.md), which has no Go.
func toolchain() *task.FieldError {
	if _, err := exec.LookPath("go"); err == nil {
		return nil
	}
	msg := `compile needs a Go toolchain, and "go" is not on PATH`
	if os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		msg += `: kbrun runs in a pod whose image has no Go, so this pipeline cannot run here (compile tasks need an image with Go; see docs/in-cluster.md for what a run in a pod can do)`
	} else {
		msg += " (install Go, or put it on PATH)"
	}
	return &task.FieldError{Message: msg}
}
