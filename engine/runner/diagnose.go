package runner

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kbrun/kbrun/engine/diagnose"
	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/prepare"
	"github.com/kbrun/kbrun/engine/report"
	"github.com/kbrun/kbrun/engine/task"
)

// diag is what a run keeps for a diagnosis should it fail: the
// namespaces its tasks used, the tasks that failed, its last events. It
// sends no request: a run that passes costs the cluster nothing more.
type diag struct {
	mu         sync.Mutex
	namespaces []string
	failed     []diagnose.Failed
	events     []report.Event
	next       int // where the next event goes once events is full
	max        int
	dir        string // the folder written, once it is
}

// Report implements report.Reporter: the last max events (masked by the
// runner's reporter before they come here).
func (d *diag) Report(e report.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.events) < d.max {
		d.events = append(d.events, e)
		return
	}
	d.events[d.next] = e
	d.next = (d.next + 1) % d.max
}

// used records a namespace a task works in.
func (d *diag) used(ns string) {
	if d == nil || ns == "" {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.namespaces = append(d.namespaces, ns)
}

// fail records a failed task with its rendered manifests (their shown
// form: a Secret's data blanked) and its diagnose: stanza.
func (d *diag) fail(st *prepare.Step) {
	if d == nil {
		return
	}
	f := diagnose.Failed{Task: st.Task.Name, Namespace: st.Namespace, Diagnose: st.Task.Diagnose}
	if mu, ok := st.Action.(task.ManifestUser); ok {
		for _, m := range mu.ManifestFiles() {
			f.Manifests = append(f.Manifests, diagnose.Manifest{Name: m.Name, Text: cmp.Or(m.Shown, m.Text)})
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failed = append(d.failed, f)
}

// runEvents are the kept events as JSON lines, oldest first.
func (d *diag) runEvents() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	evs := append(append([]report.Event(nil), d.events[d.next:]...), d.events[:d.next]...)
	out := make([]string, 0, len(evs))
	for _, e := range evs {
		if b, err := json.Marshal(e); err == nil {
			out = append(out, string(b))
		}
	}
	return out
}

// newDiag returns the run's record for a diagnosis, or nil when the run
// makes none: diagnostics are off, or the pipeline never uses the cluster.
func (r *runner) newDiag() *diag {
	if r.opts.Diagnostics == "" || r.opts.DryRun != task.DryRunNone || !r.usesCluster() {
		return nil
	}
	return &diag{max: diagnose.DefaultLimits.RunEvents}
}

// diagnose collects the failed run's diagnostics within ctx (the finally
// tasks' budget), bounded by a budget of its own, and says where they are.
// Nothing it meets fails the run.
func (r *runner) diagnose(ctx context.Context) {
	d := r.diag
	if d == nil {
		return
	}
	d.mu.Lock()
	failed := append([]diagnose.Failed(nil), d.failed...)
	namespaces := append([]string{r.namespace}, d.namespaces...)
	d.mu.Unlock()
	if len(failed) == 0 {
		// No task failed while it ran: the run stopped at a value refused
		// before its task could run (or at a group's bound), which the
		// cluster cannot explain, and nothing invalid may reach it.
		return
	}
	for i := range failed {
		// A diagnose: stanza without a namespace means the task's, else
		// the run's.
		failed[i].Namespace = cmp.Or(failed[i].Namespace, r.namespace)
	}
	var clients *kube.Clients
	var noCluster string
	if r.opts.Kube != nil {
		var err error
		if clients, err = r.opts.Kube.Clients(); err != nil {
			noCluster = err.Error()
		}
	}
	if r.opts.Outages != nil {
		// Requests wait for a server that does not answer: they would
		// only spend the budget the finally tasks need.
		if outages := r.opts.Outages(time.Now()); len(outages) > 0 && outages[len(outages)-1].Back.IsZero() {
			o := outages[len(outages)-1]
			clients, noCluster = nil, fmt.Sprintf("not collected: the API server has not answered since %s (%v)", o.Since.Format("15:04:05"), o.Err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, diagnose.Budget(r.opts.FinallyTimeout))
	defer cancel()
	dir := filepath.Join(r.opts.Diagnostics, r.opts.RunID)
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	s, err := diagnose.Collect(ctx, diagnose.Request{Clients: clients, NoCluster: noCluster, Namespaces: namespaces, Objects: r.applied.List(),
		Failed: failed, RunEvents: d.runEvents(), Mask: r.secrets.Mask, Dir: dir})
	if err != nil {
		r.rep.Report(report.Event{Time: time.Now(), Type: report.Diagnostics, Reason: "the diagnostics folder could not be made: " + err.Error()})
		return
	}
	d.mu.Lock()
	d.dir = s.Dir
	d.mu.Unlock()
	r.rep.Report(report.Event{Time: time.Now(), Type: report.Diagnostics, Reason: strings.Join(s.Lines, "\n"), Diagnostics: s.Dir})
}
