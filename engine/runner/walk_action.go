package runner

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/prepare"
	"github.com/kbrun/kbrun/engine/report"
	"github.com/kbrun/kbrun/engine/task"
)

// action runs a prepared task's action under its retry policy, its output
// streamed as task.output events (the compile walk only gives its outputs
// their stand-ins).
func (w *walker) action(ctx context.Context, n *node, st *prepare.Step, s *scope, start time.Time) error {
	if !w.run {
		w.compiled(n, s)
		return nil
	}
	r, t := w.r, n.task
	r.diag.used(st.Namespace)
	r.rep.Report(report.Event{Time: time.Now(), Type: report.TaskStart, Task: t.Name, TaskType: t.Type, Index: n.index, Finally: n.finally, Describe: st.Action.Describe(), Namespace: st.Namespace, MaxAttempts: t.Retry.Attempts})
	stdout := &lineWriter{emit: r.emitter(t, "stdout")}
	stderr := &lineWriter{emit: r.emitter(t, "stderr")}
	env := &task.Env{
		Task:      t.Name,
		Pipeline:  task.PipelineInfo{Name: r.p.Name, Dir: r.p.Dir, File: r.p.File, RunID: r.opts.RunID},
		Namespace: r.namespace,
		Stdout:    stdout,
		Stderr:    stderr,
		Logf: func(format string, args ...any) {
			r.rep.Report(report.Event{Time: time.Now(), Type: report.TaskLog, Task: t.Name, TaskType: t.Type, Line: fmt.Sprintf(format, args...)})
		},
		Kube:    r.opts.Kube,
		Applied: r.applied,
		WorkDir: r.work,
	}
	rctx := task.WithRetryNotice(ctx, func(attempt int, err error) {
		r.rep.Report(report.Event{Time: time.Now(), Type: report.RequestRetry, Task: t.Name, TaskType: t.Type, Attempt: attempt, Error: err.Error()})
	})
	outputs, attempts, err := r.attempt(rctx, t, st.Action, env)
	if cut := prepare.DropCuts(r.secrets, outputs); len(cut) > 0 && err == nil {
		err = fmt.Errorf("output %s cuts a secret: a piece cannot be masked, so the output is dropped and the task fails", strings.Join(cut, ", "))
	}
	stdout.Flush()
	stderr.Flush()
	if err != nil {
		r.diag.fail(st)
		return w.fail(n, start, attempts, outputs, err, s)
	}
	w.ok(n, start, attempts, outputs, "", s)
	return nil
}

func (r *runner) work() (string, error) {
	r.workOnce.Do(func() {
		r.workDir, r.workLock, r.workErr = makeWorkDir(r.opts.RunID)
	})
	return r.workDir, r.workErr
}

func (r *runner) emitter(t *pipeline.Task, stream string) func(string) {
	return func(line string) {
		r.rep.Report(report.Event{Time: time.Now(), Type: report.TaskOutput, Task: t.Name, TaskType: t.Type, Stream: stream, Line: line})
	}
}

// lineWriter turns a byte stream into lines for task.output events.
type lineWriter struct {
	emit func(string)
	buf  strings.Builder
}

func (w *lineWriter) Write(p []byte) (int, error) {
	for _, b := range p {
		if b == '\n' {
			w.emit(strings.TrimSuffix(w.buf.String(), "\r"))
			w.buf.Reset()
			continue
		}
		w.buf.WriteByte(b)
	}
	return len(p), nil
}

// Flush emits a last line without a newline.
func (w *lineWriter) Flush() {
	if w.buf.Len() > 0 {
		w.emit(w.buf.String())
		w.buf.Reset()
	}
}
