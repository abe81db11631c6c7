package assert

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	"github.com/kbrun/kbrun/engine/apicall"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/tasks/internal/k8s"
)

// watched is one expectation with the informer over its live objects.
type watched struct {
	e        *expectation
	ns       string // "" for cluster-scoped objects
	resource string
	inf      cache.SharedIndexInformer
}

// objects are the live objects the expectation names, as the informer
// has them now.
func (w *watched) objects() []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	sel, _ := labels.Parse(w.e.selector) // made by labels.SelectorFromSet
	for _, o := range w.inf.GetStore().List() {
		if u, ok := o.(*unstructured.Unstructured); ok && (w.e.name == "" || u.GetName() == w.e.name) && sel.Matches(labels.Set(u.GetLabels())) {
			out = append(out, u)
		}
	}
	return out
}

// Run implements task.Action: one informer per expected object; every
// change re-checks them all, until all match at once (or, with absent,
// none matches).
func (a *action) Run(ctx context.Context, env *task.Env) (task.Outputs, error) {
	if !a.manifests.Complete() {
		return nil, fmt.Errorf("internal: %s not rendered before the run", task.JoinAnd(a.manifests.RunTime))
	}
	c, err := k8s.Clients(env)
	if err != nil {
		return nil, err
	}
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		stop()
		wg.Wait()
	}()
	poke := make(chan struct{}, 1)
	nudge := func() {
		select {
		case poke <- struct{}{}:
		default:
		}
	}
	refused := make(chan error, 1)
	var ws []*watched
	var synced []cache.InformerSynced
	for _, e := range a.expected {
		m, err := k8s.Mapping(c, e.gvk)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.source, err)
		}
		w := &watched{e: e, resource: m.Resource.Resource}
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			w.ns = cmp.Or(e.namespace, k8s.Namespace(a.Namespace, env))
		}
		fs := ""
		if e.name != "" {
			fs = fields.OneTermEqualSelector("metadata.name", e.name).String()
		}
		lw := k8s.ListWatch(k8s.Scoped(c.Dynamic.Resource(m.Resource), w.ns), fs, e.selector)
		w.inf = cache.NewSharedIndexInformer(lw, &unstructured.Unstructured{}, 0, cache.Indexers{})
		// Set before the informer starts: they cannot fail.
		_, _ = w.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { nudge() },
			UpdateFunc: func(_, _ any) { nudge() },
			DeleteFunc: func(any) { nudge() },
		})
		_ = w.inf.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
			// Waiting does not mend a refusal: say it now.
			if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) || apierrors.IsNotFound(err) {
				select {
				case refused <- fmt.Errorf("%s: %w", e.source, apicall.Classify(err, "watch", w.resource)):
				default:
				}
			}
		})
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.inf.RunWithContext(wctx)
		}()
		ws = append(ws, w)
		synced = append(synced, w.inf.HasSynced)
	}
	start := time.Now()
	syncDone := make(chan bool, 1)
	go func() { syncDone <- cache.WaitForCacheSync(wctx.Done(), synced...) }()
	select {
	case err := <-refused:
		return nil, err
	case ok := <-syncDone:
		if !ok {
			return nil, fmt.Errorf("timed out (%w) before the expected objects' resources were listed", ctx.Err())
		}
	}
	var stableEnd <-chan time.Time
	if a.stable > 0 {
		t := time.NewTimer(a.stable)
		defer t.Stop()
		stableEnd = t.C
	}
	for first := true; ; first = false {
		results := a.evaluate(ws)
		switch {
		case a.Absent && a.stable > 0 && matching(results) != "":
			return nil, fmt.Errorf("after %s of the %s that nothing may match: %s", time.Since(start).Round(100*time.Millisecond), a.stable, matching(results))
		case a.Absent && a.stable == 0 && matching(results) == "":
			return outputs(nil), nil
		case !a.Absent && allMatch(results):
			return outputs(results), nil
		}
		if first {
			a.sayWatching(env, results)
		}
		select {
		case <-poke:
		case <-stableEnd:
			return outputs(nil), nil
		case err := <-refused:
			return nil, err
		case <-ctx.Done():
			if a.Absent && a.stable > 0 {
				return nil, fmt.Errorf("timed out (%w) before the %s that nothing may match had passed", ctx.Err(), a.stable)
			}
			if a.Absent {
				return nil, fmt.Errorf("timed out (%w) waiting until nothing matches: %s", ctx.Err(), matching(results))
			}
			return nil, fmt.Errorf("timed out (%w) waiting until %s", ctx.Err(), report(results))
		}
	}
}

// sayWatching tells, once, that the task waits: what does not match yet.
func (a *action) sayWatching(env *task.Env, rs []result) {
	if a.Absent {
		if a.stable > 0 {
			k8s.Logf(env, "watching for %s that nothing matches", a.stable)
		} else {
			k8s.Logf(env, "watching until nothing matches (something does)")
		}
		return
	}
	n := 0
	for _, r := range rs {
		if !r.ok {
			n++
		}
	}
	k8s.Logf(env, "watching until they match: %d of %d expected objects do not yet", n, len(rs))
}

// result is how the live objects of one expectation compare with it.
type result struct {
	w *watched
	// found are the live objects the expectation names; matched those
	// that match; diffs how the others differ, by name.
	found, matched []*unstructured.Unstructured
	diffs          map[string][]Mismatch
	ok             bool
	match          string
}

func (a *action) evaluate(ws []*watched) []result {
	out := make([]result, len(ws))
	for i, w := range ws {
		r := result{w: w, found: w.objects(), diffs: map[string][]Mismatch{}, match: a.Match}
		for _, o := range r.found {
			if d := w.e.check(o); len(d) > 0 {
				r.diffs[o.GetName()] = d
			} else {
				r.matched = append(r.matched, o)
			}
		}
		switch {
		case w.e.name != "" || a.Match == MatchAll:
			r.ok = len(r.found) > 0 && len(r.matched) == len(r.found)
		default:
			r.ok = len(r.matched) > 0
		}
		out[i] = r
	}
	return out
}

func allMatch(rs []result) bool {
	for _, r := range rs {
		if !r.ok {
			return false
		}
	}
	return true
}

// matching quotes the live objects that match what must be absent ("" when none does).
func matching(rs []result) string {
	var parts []string
	for _, r := range rs {
		for _, o := range r.matched {
			parts = append(parts, fmt.Sprintf("%s matches what must be absent (%s):\n%s", k8s.Describe(o.GetKind(), o.GetNamespace(), o.GetName()), r.w.e.source, indent(r.w.e.quote(o), "  ")))
		}
	}
	return strings.Join(parts, "\n")
}

func outputs(rs []result) task.Outputs {
	names, objects := []any{}, []any{}
	for _, r := range rs {
		for _, n := range sortedNames(r.matched) {
			names = append(names, n)
			objects = append(objects, strings.ToLower(r.w.e.gvk.Kind)+"/"+n)
		}
	}
	name := ""
	if len(names) > 0 {
		name = names[0].(string)
	}
	return task.Outputs{"name": name, "names": names, "objects": objects}
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}
