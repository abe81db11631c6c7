package kube

import "testing"

type fakeShared struct {
	done    chan struct{}
	stopped int
}

func (f *fakeShared) Stop()                 { f.stopped++ }
func (f *fakeShared) Done() <-chan struct{} { return f.done }

// A run opens a shared watch once per key, again once it has ended, and
// stops it at Close; with nothing kept, the task's release stops its own.
func TestShare(t *testing.T) {
	var opened []*fakeShared
	open := func() (Shared, error) {
		f := &fakeShared{done: make(chan struct{})}
		opened = append(opened, f)
		return f, nil
	}
	w := &Watches{}
	for i := 0; i < 2; i++ {
		_, release, _ := w.Share("k", open)
		release()
	}
	if len(opened) != 1 || opened[0].stopped != 0 {
		t.Fatalf("opened %d, the first stopped %d times: want one, running", len(opened), opened[0].stopped)
	}
	close(opened[0].done)
	w.Share("k", open)
	w.Share("other", open)
	if len(opened) != 3 {
		t.Fatalf("opened %d, want 3 (k again once ended, other)", len(opened))
	}
	w.Close()
	if opened[1].stopped != 1 || opened[2].stopped != 1 {
		t.Fatal("Close did not stop the shared watches")
	}
	for _, w := range []*Watches{w, nil} {
		_, release, _ := w.Share("k", open)
		release()
		if last := opened[len(opened)-1]; last.stopped != 1 {
			t.Fatal("a watch the run does not keep was not stopped at release")
		}
	}
}
