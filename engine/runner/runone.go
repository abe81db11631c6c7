package runner

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kbrun/kbrun/engine/exit"
	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/prepare"
	"github.com/kbrun/kbrun/engine/report"
	"github.com/kbrun/kbrun/engine/task"
)

func (r *runner) skip(t *pipeline.Task, idx, reason string) {
	r.end(t, idx, TaskResult{Status: report.StatusSkipped}, reason)
	for i, c := range t.Children {
		r.skip(c, fmt.Sprintf("%s.%d", idx, i+1), reason)
	}
}

// end records a task's result and reports it. Every task that ended has
// .tasks.NAME.status and .error; outputs are kept whatever the status
// (a failed exec still has its exit code).
func (r *runner) end(t *pipeline.Task, idx string, tr TaskResult, reason string) {
	tr.Name, tr.Type, tr.Index = t.Name, t.Type, idx
	outs := make(map[string]any, len(tr.Outputs)+2)
	for k, v := range tr.Outputs {
		outs[k] = v
	}
	outs["status"], outs["error"] = tr.Status, ""
	if tr.Err != nil {
		outs["error"] = r.secrets.Mask(tr.Err.Error())
	}
	r.mu.Lock()
	r.results = append(r.results, tr)
	r.ran[t.Name] = true
	r.outputs[t.Name] = outs
	r.mu.Unlock()
	ev := report.Event{Time: time.Now(), Type: report.TaskEnd, Task: t.Name, TaskType: t.Type, Index: idx, Status: tr.Status, Reason: reason, Attempt: tr.Attempts, DurationMS: tr.Duration.Milliseconds()}
	if tr.Err != nil {
		ev.Error = tr.Err.Error()
	}
	if len(tr.Outputs) > 0 {
		ev.Outputs = map[string]any(tr.Outputs)
	}
	r.rep.Report(ev)
}

// runOne prepares a task (or a parallel group) with the values of now and
// runs it; it returns the task's error unless the task may fail
// (continueOnError).
//
// groupData is the template data a group's children share (nil for a task
// outside groups: it reads the live data).
func (r *runner) runOne(ctx context.Context, t *pipeline.Task, idx string, finally bool, groupData map[string]any) error {
	start := time.Now()
	data := groupData
	if data == nil {
		data = r.data()
	}
	st, err := r.pp.Task(t, prepare.Data{Values: data})
	if err != nil {
		return r.fail(t, idx, start, 0, nil, err, finally)
	}
	if st.Skip != "" {
		r.end(t, idx, TaskResult{Status: report.StatusSkipped}, st.Skip)
		for i, c := range t.Children {
			r.skip(c, fmt.Sprintf("%s.%d", idx, i+1), "group skipped")
		}
		return nil
	}
	tctx, cancel := context.WithTimeoutCause(ctx, st.Timeout, &timeoutError{task: t.Name, d: st.Timeout})
	defer cancel()

	if len(t.Matrix) > 0 {
		return r.matrix(ctx, t, idx, start, finally, groupData)
	}
	if t.Type == pipeline.ParallelType {
		return r.group(tctx, t, idx, start, finally, groupData)
	}
	if t.Type == pipeline.UsesType {
		return r.use(tctx, t, idx, start, finally, groupData)
	}
	action := st.Action
	r.rep.Report(report.Event{Time: time.Now(), Type: report.TaskStart, Task: t.Name, TaskType: t.Type, Index: idx, Finally: finally, Describe: action.Describe(), Namespace: st.Namespace, MaxAttempts: t.Retry.Attempts})

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
		DryRun:  r.opts.DryRun,
		WorkDir: r.work,
	}
	rctx := task.WithRetryNotice(tctx, func(attempt int, err error) {
		r.rep.Report(report.Event{Time: time.Now(), Type: report.RequestRetry, Task: t.Name, TaskType: t.Type, Attempt: attempt, Error: err.Error()})
	})
	outputs, attempts, err := r.attempt(rctx, t, action, env)
	if cut := prepare.DropCuts(r.secrets, outputs); len(cut) > 0 && err == nil {
		err = fmt.Errorf("output %s cuts a secret: a piece cannot be masked, so the output is dropped and the task fails", strings.Join(cut, ", "))
	}
	stdout.Flush()
	stderr.Flush()
	if err != nil {
		return r.fail(t, idx, start, attempts, outputs, err, finally)
	}
	r.end(t, idx, TaskResult{Status: report.StatusOK, Attempts: attempts, Duration: time.Since(start), Outputs: outputs}, "")
	return nil
}

func (r *runner) fail(t *pipeline.Task, idx string, start time.Time, attempts int, outputs task.Outputs, err error, finally bool) error {
	r.end(t, idx, TaskResult{Status: report.StatusFailed, Attempts: attempts, Duration: time.Since(start), Err: err, Outputs: outputs}, "")
	if t.ContinueOnError {
		return nil
	}
	return &exit.TaskError{Task: t.Name, Err: err}
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
