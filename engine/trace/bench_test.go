package trace_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kbrun/kbrun/engine/load"
	"github.com/kbrun/kbrun/engine/report"
	"github.com/kbrun/kbrun/engine/runner"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/trace"
	"github.com/kbrun/kbrun/test/otlpsink"
)

// BenchmarkReportOff is what an event costs the tracing when it is off:
// the reporter is a nil *Pipeline, and Report a nil check (0 allocs).
func BenchmarkReportOff(b *testing.B) {
	var tr *trace.Run
	var r report.Reporter = tr.Pipeline()
	e := report.Event{Time: time.Now(), Type: report.TaskEnd, Task: "t", TaskType: "run", Index: "1", Status: report.StatusOK, Attempt: 1}
	b.ReportAllocs()
	for b.Loop() {
		r.Report(e)
	}
}

// BenchmarkRun200Tasks runs a pipeline of 200 tasks (a parallel group of
// 10 among them) reported as JSON, with tracing off and on (exported over
// OTLP/HTTP to a receiver in the process, the end's flush included).
func BenchmarkRun200Tasks(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(header + "tasks:\n")
	for i := 0; i < 190; i++ {
		fmt.Fprintf(&sb, "  - {name: t%d, flaky: {id: t%d}}\n", i, i)
	}
	sb.WriteString("  - name: g\n    parallel:\n      tasks:\n")
	for i := 0; i < 9; i++ {
		fmt.Fprintf(&sb, "        - {name: g%d, flaky: {id: g%d}}\n", i, i)
	}
	data := []byte(sb.String())
	reg := task.NewRegistry(&flaky{calls: map[string]int{}})
	l, err := load.New(reg)
	if err != nil {
		b.Fatal(err)
	}
	sink := otlpsink.New(b)
	b.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.URL)
	for _, on := range []bool{false, true} {
		name := map[bool]string{false: "off", true: "on"}[on]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, err := l.LoadBytes("bench.yaml", data)
				if err != nil {
					b.Fatal(err)
				}
				tr := trace.Start(context.Background(), trace.Options{Flag: &on, Getenv: os.Getenv, Warn: io.Discard})
				res := runner.Run(context.Background(), p, runner.Options{Registry: reg, Reporter: report.Multi{report.NewJSON(io.Discard), tr.Pipeline()}})
				tr.End()
				if res.Err != nil {
					b.Fatal(res.Err)
				}
			}
		})
	}
}
