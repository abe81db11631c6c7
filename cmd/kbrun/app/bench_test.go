package app_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kbrun/kbrun/cmd/kbrun/app"
)

const defaultPipeline = "../../../pipelines/kaniko-rootless.yaml"

// BenchmarkPlanDefaultPipeline is `kbrun plan` of the default pipeline in
// process: load, schema validation, checks, render and print.
func BenchmarkPlanDefaultPipeline(b *testing.B) {
	for i := 0; i < b.N; i++ {
		var out, errOut bytes.Buffer
		if code := app.Main([]string{"plan", defaultPipeline}, nil, &out, &errOut); code != 0 {
			b.Fatalf("exit %d: %s", code, errOut.String())
		}
	}
}

// BenchmarkPlanDefaultPipelineProcess is the same as a whole process, as a
// user runs it (binary start-up included). Target: ≤ 50 ms.
func BenchmarkPlanDefaultPipelineProcess(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "kbrun")
	build := exec.Command("go", "build", "-o", bin, "github.com/kbrun/kbrun/cmd/kbrun")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(bin, "plan", defaultPipeline)
		cmd.Stdout, cmd.Stderr = nil, os.Stderr
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
	}
}
