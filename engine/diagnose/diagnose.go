// Package diagnose collects, when a run fails, what explains it into a
// folder: the events of the namespaces the run used (sorted, deduplicated
// with counts), its pods' phases and container states, the last lines of
// each failing container's logs, the failed tasks' rendered manifests,
// what the tasks' diagnose: stanzas ask for, and the run's own events.
// Everything is masked and bounded; collection has a time budget, and its
// problems are noted in the folder's summary, never failing the run
// (docs/diagnostics.md). A run that passes never calls it: no request.
package diagnose

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/pipeline"
)

// Limits bound what a diagnosis collects (docs/diagnostics.md).
type Limits struct {
	// LogLines and LogBytes bound each container log (its last lines).
	LogLines, LogBytes int64
	// Logs bounds the failing containers whose logs are kept.
	Logs int
	// Pods and Events bound each namespace's list.
	Pods, Events int64
	// Output bounds what each diagnose command prints.
	Output int64
	// RunEvents bounds the run's own events kept (the last ones).
	RunEvents int
	// Total bounds the whole folder.
	Total int64
}

// DefaultLimits are the bounds of docs/diagnostics.md.
var DefaultLimits = Limits{LogLines: 200, LogBytes: 256 << 10, Logs: 20, Pods: 200, Events: 500, Output: 64 << 10, RunEvents: 5000, Total: 8 << 20}

// Failed is a task that failed, as the diagnosis needs it.
type Failed struct {
	Task      string
	Namespace string
	// Manifests are its manifest files as rendered: NAME and text.
	Manifests []Manifest
	Diagnose  *pipeline.Diagnose
}

// Manifest is one rendered manifest file.
type Manifest struct{ Name, Text string }

// Request is what a diagnosis works from.
type Request struct {
	// Clients are the run's (nil: nothing is asked of the cluster; NoCluster
	// says why).
	Clients   *kube.Clients
	NoCluster string
	// Namespaces the run used; Objects what it applied.
	Namespaces []string
	Objects    []kube.ObjectRef
	Failed     []Failed
	// RunEvents are the run's events, one JSON object per line, masked.
	RunEvents []string
	// Mask hides secrets in everything written.
	Mask func(string) string
	// Dir is the folder to write.
	Dir    string
	Limits Limits
}

// Summary is what a diagnosis says about itself: a few lines for the
// run's output (also the folder's summary.txt).
type Summary struct {
	Dir   string
	Lines []string
}

type collector struct {
	req      Request
	limits   Limits
	f        *folder
	events   []event
	bad      []failing
	pods     int
	logsKept int
}

// Collect writes the diagnostics folder within ctx's deadline. It never
// fails: what it could not collect is said in the summary (an error only
// when the folder itself could not be made).
func Collect(ctx context.Context, req Request) (*Summary, error) {
	if req.Limits == (Limits{}) {
		req.Limits = DefaultLimits
	}
	f, err := newFolder(req.Dir, req.Limits.Total, req.Mask)
	if err != nil {
		return nil, err
	}
	c := &collector{req: req, limits: req.Limits, f: f}
	c.collect(ctx)
	if ctx.Err() != nil {
		f.note("collection stopped: %v (its time budget)", context.Cause(ctx))
	}
	s := &Summary{Dir: req.Dir, Lines: c.summary()}
	if n := len(f.notes); n > 0 {
		s.Lines = append(s.Lines, fmt.Sprintf("  %d thing(s) could not be collected: see summary.txt", n))
	}
	f.save("summary.txt", f.mask(strings.Join(s.Lines, "\n")+"\n"+c.notes()))
	return s, nil
}

// collect writes the folder's files. A diagnosis must never end the run
// it explains: a panic in it is noted, like any problem it meets.
func (c *collector) collect(ctx context.Context) {
	defer func() {
		if p := recover(); p != nil {
			c.f.note("collection stopped by an internal error: %v", p)
		}
	}()
	c.local()
	if c.req.NoCluster != "" {
		c.f.note("the cluster's state: %s", c.req.NoCluster)
	}
	if c.req.Clients != nil {
		c.cluster(ctx)
	}
}

// local writes what needs no request: the run's events and the failed
// tasks' manifests.
func (c *collector) local() {
	evs := c.req.RunEvents
	if n := c.limits.RunEvents; len(evs) > n {
		evs = evs[len(evs)-n:]
	}
	if len(evs) > 0 {
		c.f.write("run-events.jsonl", strings.Join(evs, "\n")+"\n")
	}
	for _, t := range c.req.Failed {
		var b strings.Builder
		for _, m := range t.Manifests {
			fmt.Fprintf(&b, "# %s\n%s\n---\n", m.Name, strings.TrimRight(m.Text, "\n"))
		}
		if b.Len() > 0 {
			c.f.write("manifests/"+fileName(t.Task)+".yaml", b.String())
		}
	}
}

// cluster lists events and pods of every namespace the run used, keeps
// the failing containers' logs, and does what diagnose: stanzas ask.
func (c *collector) cluster(ctx context.Context) {
	typed := c.req.Clients.Typed
	var evs []corev1.Event
	var states strings.Builder
	for _, ns := range c.namespaces() {
		if ctx.Err() != nil {
			return
		}
		list, err := typed.CoreV1().Events(ns).List(ctx, metav1.ListOptions{Limit: c.limits.Events})
		if err != nil {
			c.f.note("events of namespace %s: %v", ns, err)
		} else {
			evs = append(evs, list.Items...)
			if list.Continue != "" {
				c.f.note("namespace %s has more than %d events: %d kept", ns, c.limits.Events, len(list.Items))
			}
		}
		pods, err := typed.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{Limit: c.limits.Pods})
		if err != nil {
			c.f.note("pods of namespace %s: %v", ns, err)
			continue
		}
		if pods.Continue != "" {
			c.f.note("namespace %s has more than %d pods: %d described", ns, c.limits.Pods, len(pods.Items))
		}
		text, bad := podStates(pods.Items)
		states.WriteString(text)
		c.bad = append(c.bad, bad...)
		c.pods += len(pods.Items)
	}
	c.events = dedupe(evs)
	if len(c.events) > 0 {
		c.f.write("events.txt", formatEvents(c.events))
	}
	if states.Len() > 0 {
		c.f.write("pods.txt", states.String())
	}
	c.logs(ctx, typed, c.bad)
	for _, t := range c.req.Failed {
		if t.Diagnose != nil {
			c.extra(ctx, t)
		}
	}
}

// namespaces are the run's, sorted, each once.
func (c *collector) namespaces() []string {
	var out []string
	for _, ns := range c.req.Namespaces {
		if ns != "" {
			out = append(out, ns)
		}
	}
	for _, o := range c.req.Objects {
		if o.Namespace != "" {
			out = append(out, o.Namespace)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// summary is a few lines: what is in the folder, the most telling
// container state and warning, and where it is.
func (c *collector) summary() []string {
	var tasks []string
	for _, t := range c.req.Failed {
		tasks = append(tasks, t.Task)
	}
	failed := ""
	if len(tasks) > 0 {
		failed = " (failed: " + strings.Join(tasks, ", ") + ")"
	}
	lines := []string{fmt.Sprintf("diagnostics of the failed run%s in %s", failed, c.req.Dir)}
	if c.req.Clients != nil {
		warnings := 0
		for _, e := range c.events {
			if e.Type == corev1.EventTypeWarning {
				warnings++
			}
		}
		lines = append(lines, fmt.Sprintf("  %d events (%d warnings) and %d pods in namespace(s) %s; %d failing containers, %d logs kept",
			len(c.events), warnings, c.pods, strings.Join(c.namespaces(), ", "), len(c.bad), c.logsKept))
	}
	if len(c.bad) > 0 {
		f := c.bad[0]
		lines = append(lines, fmt.Sprintf("  pod %s/%s container %s: %s", f.pod.Namespace, f.pod.Name, f.container, f.state))
	}
	if w := latestWarning(c.events); w != nil {
		count := ""
		if w.Count > 1 {
			count = fmt.Sprintf(" (x%d)", w.Count)
		}
		lines = append(lines, fmt.Sprintf("  latest warning: %s %s/%s%s: %s", w.Reason, w.Namespace, w.Object, count, w.Message))
	}
	for i, l := range lines {
		lines[i] = c.f.mask(l)
	}
	return lines
}

// notes is the summary's account of what could not be collected.
func (c *collector) notes() string {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	if len(c.f.notes) == 0 {
		return ""
	}
	return "\nnot collected:\n  " + strings.Join(c.f.notes, "\n  ") + "\n"
}

// Budget is how long a diagnosis may take: DefaultBudget, at most a third
// of the finally tasks' bound (it is taken from it).
func Budget(finally time.Duration) time.Duration {
	return min(DefaultBudget, finally/3)
}

// DefaultBudget bounds a diagnosis.
const DefaultBudget = 30 * time.Second
