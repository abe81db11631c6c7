//go:build integration

package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kbrun/kbrun/engine/ownership"
)

// racer is one run of a simultaneous apply.
type racer struct {
	id   string
	run  *ownership.Run
	err  error
	logs []string
}

// race applies manifest (rendered per run with its id) from n runs at the
// same instant, in namespace home, and returns how each ended.
func race(t *testing.T, n int, home string, manifest func(id string) string) []*racer {
	t.Helper()
	start := make(chan struct{})
	var wg sync.WaitGroup
	rs := make([]*racer, n)
	for i := range rs {
		id := fmt.Sprintf("it-race-%d-%d", time.Now().UnixNano()%100000, i)
		owner, applied := ownedRun(t, id)
		r := &racer{id: id, run: owner}
		rs[i] = r
		env := newEnv(t, home, applied)
		var mu sync.Mutex
		env.Logf = func(f string, a ...any) {
			mu.Lock()
			defer mu.Unlock()
			r.logs = append(r.logs, fmt.Sprintf(f, a...))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, r.err = run(t, env, "apply", time.Minute, map[string]any{"manifest": manifest(id)})
		}()
		t.Cleanup(func() {
			if err := owner.Finish(context.Background(), applied.List(), ownership.EndedKept); err != nil {
				t.Errorf("finish %s: %v", id, err)
			}
		})
	}
	close(start)
	wg.Wait()
	return rs
}

// Runs that apply the same absent object at the same instant: exactly one
// creates it, every other is refused (the object belongs to a run that
// still runs) and changes nothing of it. Without the create guard they all
// "created" it, and the last apply's marks and data won.
func TestSimultaneousApplyOneCreates(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	for round := 0; round < 3; round++ {
		name := fmt.Sprintf("contested-%d", round)
		rs := race(t, 6, ns, func(id string) string {
			return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + "}\ndata: {by: " + id + "}\n"
		})
		var winners []string
		for _, r := range rs {
			switch {
			case r.err == nil:
				winners = append(winners, r.id)
			case !strings.Contains(r.err.Error(), "which still runs") || !strings.Contains(r.err.Error(), "two runs must not share an object"):
				t.Errorf("round %d, run %s: %v", round, r.id, r.err)
			}
		}
		cm, err := clients.Typed.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		races := 0
		for _, r := range rs {
			for _, l := range r.logs {
				if strings.Contains(l, "was created by someone else after this run found it absent") {
					races++
				}
			}
		}
		t.Logf("round %d: %d of %d runs created %s (%v); %d saw the race at their apply; the object carries run %s, data by=%s",
			round, len(winners), len(rs), name, winners, races, cm.Labels[ownership.LabelRun], cm.Data["by"])
		if len(winners) != 1 {
			t.Fatalf("round %d: %d runs applied %s, want exactly 1: %v", round, len(winners), name, winners)
		}
		if cm.Labels[ownership.LabelRun] != winners[0] || cm.Data["by"] != winners[0] {
			t.Errorf("round %d: %s carries run %q and data by=%q, want the winner %s's", round, name, cm.Labels[ownership.LabelRun], cm.Data["by"], winners[0])
		}
	}
}

// Runs that apply the same absent Namespace at the same instant: one
// creates it, the others work in it and leave it to that run (as they do
// with a namespace they find), all pass.
func TestSimultaneousNamespaceIsShared(t *testing.T) {
	ctx := context.Background()
	name := fmt.Sprintf("it-race-ns-%d", time.Now().UnixNano()%100000)
	t.Cleanup(func() { clients.Typed.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	rs := race(t, 4, name, func(string) string {
		return "apiVersion: v1\nkind: Namespace\nmetadata: {name: " + name + "}\n"
	})
	created, shared := 0, 0
	for _, r := range rs {
		if r.err != nil {
			t.Errorf("run %s: %v", r.id, r.err)
		}
		joined := strings.Join(r.logs, "\n")
		if strings.Contains(joined, "applied namespace "+name+" (created)") {
			created++
		}
		if strings.Contains(joined, "which still runs") && strings.Contains(joined, "this run works in it and leaves it to that run") {
			shared++
		}
	}
	got, err := clients.Typed.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d of %d runs created namespace %s, %d work in it; it carries run %s", created, len(rs), name, shared, got.Labels[ownership.LabelRun])
	if created != 1 || shared != len(rs)-1 {
		for _, r := range rs {
			t.Logf("run %s:\n  %s", r.id, strings.Join(r.logs, "\n  "))
		}
		t.Errorf("created by %d runs, shared by %d, want 1 and %d", created, shared, len(rs)-1)
	}
}
