package fanout

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

func event(name, msg string) *corev1.Event {
	return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Message: msg}
}

func next(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("the subscription ended")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	return watch.Event{}
}

// A subscriber that comes late gets what the watch holds now (the latest
// of each object, none deleted) as ADDED, then the events that follow;
// one that does not read holds nobody up.
func TestLateSubscriberGetsWhatAFreshWatchWould(t *testing.T) {
	src := watch.NewFake()
	h := Start(src, nil)
	defer h.Stop()
	early := h.Subscribe() // never read
	defer early.Stop()
	reader := h.Subscribe()
	defer reader.Stop()
	src.Add(event("a", "1"))
	src.Modify(event("a", "2"))
	src.Add(event("b", "1"))
	src.Delete(event("b", "1"))
	for i := 0; i < 4; i++ {
		next(t, reader) // the hub has stored all four
	}

	late := h.Subscribe()
	defer late.Stop()
	ev := next(t, late)
	if e := ev.Object.(*corev1.Event); ev.Type != watch.Added || e.Name != "a" || e.Message != "2" {
		t.Fatalf("replayed %s %s %q, want ADDED a \"2\"", ev.Type, e.Name, e.Message)
	}
	src.Add(event("c", "1"))
	if ev := next(t, late); ev.Object.(*corev1.Event).Name != "c" {
		t.Fatalf("got %s, want c (b was deleted)", ev.Object.(*corev1.Event).Name)
	}
}

// When the API server ends the watch, the hub is done before any
// subscriber sees its end, so that one who subscribes again opens anew.
func TestEndIsDoneFirst(t *testing.T) {
	src := watch.NewFake()
	h := Start(src, nil)
	s := h.Subscribe()
	src.Stop()
	for range s.ResultChan() {
	}
	select {
	case <-h.Done():
	default:
		t.Fatal("a subscriber saw the end before the hub was done")
	}
	s.Stop()
}
