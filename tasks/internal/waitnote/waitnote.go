// Package waitnote makes a wait that lasts say what it waits for: lines
// on a pace (first after a few seconds, then every few more) and, for an
// object being deleted, what still holds it (a pod's grace period, a
// namespace's content, finalizers), as the wait's own watch shows it.
// apply (an object still being deleted), delete and deploy wait through
// it, so that their lines read alike.
package waitnote

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/utils/clock"

	"github.com/kbrun/kbrun/tasks/internal/k8s"
)

// A wait that lasts says what it waits for: first After it began (most
// deletes and rollouts are over by then, and say nothing), then Every
// while it lasts.
const (
	After = 2 * time.Second
	Every = 10 * time.Second
)

// Note paces the lines of one wait. Its timers are local: what a line
// says comes from the wait's watch, never from a request of its own.
type Note struct {
	clock clock.Clock
	start time.Time
	timer clock.Timer
}

// New starts pacing a wait that begins now; c nil is the real clock.
func New(c clock.Clock) *Note {
	if c == nil {
		c = clock.RealClock{}
	}
	return &Note{clock: c, start: c.Now(), timer: c.NewTimer(After)}
}

// C fires when the next line is due.
func (n *Note) C() <-chan time.Time { return n.timer.C() }

// Say returns the line due now, "waiting for WHAT (S so far): WHY", and
// sets the next one Every later.
func (n *Note) Say(what, why string) string {
	n.timer.Stop()
	n.timer = n.clock.NewTimer(Every)
	line := fmt.Sprintf("waiting for %s (%s so far)", what, n.Waited().Round(time.Second))
	if why != "" {
		line += ": " + why
	}
	return line
}

// Waited is how long the wait has lasted.
func (n *Note) Waited() time.Duration { return n.clock.Since(n.start) }

// Now is the note's clock's time.
func (n *Note) Now() time.Time { return n.clock.Now() }

// Stop ends the pacing.
func (n *Note) Stop() { n.timer.Stop() }

// Wait runs wait and returns its error; while it lasts, it logs
// what it waits for on the note's pace, with why(now) as the reason.
func Wait(wait func() error, c clock.Clock, what string, why func(now time.Time) string, logf func(string, ...any)) error {
	done := make(chan error, 1)
	go func() { done <- wait() }()
	note := New(c)
	defer note.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-note.C():
			logf("%s", note.Say(what, why(note.Now())))
		}
	}
}

// WatchGone watches the object name (with uid, when given) until it is
// gone; seen gets it each time the watch shows it. When ctx ends first it
// returns ctx's error.
func WatchGone(ctx context.Context, ri dynamic.ResourceInterface, name string, uid types.UID, seen func(*unstructured.Unstructured)) error {
	lw := k8s.ListWatch(ri, fields.OneTermEqualSelector("metadata.name", name).String(), "")
	ours := func(o any) *unstructured.Unstructured {
		u, ok := o.(*unstructured.Unstructured)
		if ok && u.GetName() == name && (uid == "" || u.GetUID() == uid) {
			return u
		}
		return nil
	}
	gone := func(s cache.Store) bool {
		for _, o := range s.List() {
			if u := ours(o); u != nil {
				seen(u)
				return false
			}
		}
		return true
	}
	var store cache.Store
	_, err := watchtools.UntilWithSync(ctx, lw, &unstructured.Unstructured{}, func(s cache.Store) (bool, error) {
		store = s
		return gone(s), nil
	}, func(ev watch.Event) (bool, error) {
		if ev.Type == watch.Deleted {
			return gone(store), nil
		}
		if u := ours(ev.Object); u != nil {
			seen(u)
		}
		return false, nil
	})
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// AsUnstructured returns o as an unstructured object of apiVersion and
// kind: typed objects from an informer carry no TypeMeta. nil when o is
// nil or cannot be converted.
func AsUnstructured(o any, apiVersion, kind string) *unstructured.Unstructured {
	switch o := o.(type) {
	case nil:
		return nil
	case *unstructured.Unstructured:
		return o
	default:
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			return nil
		}
		u := &unstructured.Unstructured{Object: m}
		u.SetAPIVersion(apiVersion)
		u.SetKind(kind)
		return u
	}
}

// NamespaceHoldingNow is HoldingNow for a namespace being deleted, plus
// the pods it still holds: the namespace controller's conditions say
// "All content successfully removed" while pods are still in their grace
// period (measured on Kubernetes 1.37), so only a list of its pods tells
// what the wait is for. One list per note, and notes come only to waits
// that last.
func NamespaceHoldingNow(ctx context.Context, pods func(context.Context) ([]corev1.Pod, error), current func() *unstructured.Unstructured) func(time.Time) string {
	return func(now time.Time) string {
		why := Holding(current(), now)
		list, err := pods(ctx)
		if err != nil || len(list) == 0 {
			return why
		}
		const named = 3
		var parts []string
		for i, p := range list {
			if i == named {
				parts = append(parts, fmt.Sprintf("%d more", len(list)-named))
				break
			}
			part := p.Name
			if p.DeletionTimestamp != nil {
				part += " (" + podGrace(AsUnstructured(&p, "v1", "Pod"), now) + ")"
			}
			parts = append(parts, part)
		}
		held := fmt.Sprintf("%d %s remaining: %s", len(list), plural(len(list), "pod", "pods"), strings.Join(parts, ", "))
		if why == "" {
			return held
		}
		return held + "; " + why
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// HoldingNow is Holding of the object current returns, for Wait.
func HoldingNow(current func() *unstructured.Unstructured) func(time.Time) string {
	return func(now time.Time) string { return Holding(current(), now) }
}

// Holding says what keeps an object that is being deleted from being
// gone, as its own fields tell: a pod's grace period, a namespace's
// remaining content (its status conditions), finalizers. "" when u is nil.
func Holding(u *unstructured.Unstructured, now time.Time) string {
	if u == nil {
		return ""
	}
	var why []string
	if u.GetDeletionTimestamp() == nil {
		why = append(why, "not marked for deletion yet")
	} else if u.GetKind() == "Pod" && u.GroupVersionKind().Group == "" {
		why = append(why, podGrace(u, now))
	}
	if u.GetKind() == "Namespace" && u.GroupVersionKind().Group == "" {
		why = append(why, namespaceContent(u)...)
	}
	for _, f := range u.GetFinalizers() {
		why = append(why, finalizerNote(f))
	}
	if len(why) == 0 {
		why = append(why, "the API server has not removed it yet")
	}
	return strings.Join(why, "; ")
}

// podGrace says where a terminating pod is in its grace period: for a pod,
// deletionTimestamp is when the grace period ends (the kubelet then sends
// SIGKILL), and deletionGracePeriodSeconds its length.
func podGrace(u *unstructured.Unstructured, now time.Time) string {
	end := u.GetDeletionTimestamp().Time
	grace := "its grace period"
	if s := u.GetDeletionGracePeriodSeconds(); s != nil {
		grace = fmt.Sprintf("its grace period of %s", time.Duration(*s)*time.Second)
	}
	node, _, _ := unstructured.NestedString(u.Object, "spec", "nodeName")
	if left := end.Sub(now); left > 0 {
		return fmt.Sprintf("its containers have not stopped on SIGTERM; %s ends in %s, then they get SIGKILL", grace, left.Round(time.Second))
	}
	if node == "" {
		return grace + " is over; the pod was never scheduled, the API server removes it"
	}
	return fmt.Sprintf("%s ended %s ago; waiting for the kubelet on node %s to confirm its containers stopped", grace, now.Sub(end).Round(time.Second), node)
}

// namespaceContent is what the namespace controller reports it still
// deletes: the messages of its True deletion conditions
// (NamespaceContentRemaining, NamespaceFinalizersRemaining, failures).
func namespaceContent(u *unstructured.Unstructured) []string {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	var out []string
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok || m["status"] != string(corev1.ConditionTrue) {
			continue
		}
		msg, _ := m["message"].(string)
		if msg == "" {
			msg, _ = m["type"].(string)
		}
		out = append(out, strings.TrimSpace(msg))
	}
	if len(out) == 0 && u.GetDeletionTimestamp() != nil {
		if fs, _, _ := unstructured.NestedStringSlice(u.Object, "spec", "finalizers"); len(fs) > 0 {
			out = append(out, "the namespace controller is deleting what it holds (finalizer "+strings.Join(fs, ", ")+")")
		}
	}
	return out
}

// finalizers kubelet and the controllers of a cluster add, and what each
// waits for.
var finalizers = map[string]string{
	"kubernetes.io/pvc-protection": "a pod still uses the claim",
	"kubernetes.io/pv-protection":  "a claim is still bound to the volume",
	"foregroundDeletion":           "its dependents are deleted first (foreground deletion)",
	"orphan":                       "its dependents are being orphaned",
}

func finalizerNote(f string) string {
	if why, ok := finalizers[f]; ok {
		return fmt.Sprintf("finalizer %s: %s", f, why)
	}
	return fmt.Sprintf("finalizer %s: the controller that added it has not removed it", f)
}
