package runner_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/kbrun/kbrun/engine/load"
	"github.com/kbrun/kbrun/engine/report"
	"github.com/kbrun/kbrun/engine/runner"
	"github.com/kbrun/kbrun/engine/task"
)

// BenchmarkRun1000NoopTasks runs a generated pipeline of 1,000 no-op tasks
// end to end (load, validate, render, run, report as JSON), measuring the
// engine's own cost per task. Target: ≤ 1 s per pipeline.
func BenchmarkRun1000NoopTasks(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(header + "vars: {x: y}\ntasks:\n")
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&sb, "  - name: t%d\n    fake: {id: t%d, out: \"{{ .vars.x }}\"}\n", i, i)
	}
	data := []byte(sb.String())
	f := newFake()
	reg := task.NewRegistry(f)
	l, err := load.New(reg)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, err := l.LoadBytes("bench.yaml", data)
		if err != nil {
			b.Fatal(err)
		}
		res := runner.Run(context.Background(), p, runner.Options{Registry: reg, Reporter: report.NewJSON(discard{})})
		if res.Err != nil {
			b.Fatal(res.Err)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
