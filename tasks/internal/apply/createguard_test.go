package apply

import (
	"errors"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kbrun/kbrun/engine/apicall"
)

// A guarded apply's conflict is a race, which Idempotent must not repeat
// (a plain conflict is transient); an unguarded one stays a conflict.
func TestRacedIsNotRepeated(t *testing.T) {
	conflict := apierrors.NewConflict(schema.GroupResource{Group: "apps", Resource: "deployments"}, "b", errors.New("the object has been modified"))
	r := raced(true, conflict)
	if !isRace(r) || apicall.IsTransient(r) {
		t.Errorf("guarded conflict: race %v, transient %v", isRace(r), apicall.IsTransient(r))
	}
	calls := 0
	err := apicall.Idempotent(t.Context(), func() error { calls++; return raced(true, conflict) })
	if calls != 1 || !isRace(err) {
		t.Errorf("Idempotent sent a guarded apply %d times: %v", calls, err)
	}
	if r := raced(false, conflict); isRace(r) || !apicall.IsTransient(r) {
		t.Errorf("unguarded conflict: %v", r)
	}
	if r := raced(true, apierrors.NewServiceUnavailable("x")); isRace(r) || !apicall.IsTransient(r) {
		t.Errorf("a 503 of a guarded apply: %v", r)
	}
	obj := &unstructured.Unstructured{Object: map[string]any{}}
	if guardCreate(obj, false) || obj.GetResourceVersion() != "" {
		t.Errorf("unguarded: %q", obj.GetResourceVersion())
	}
	if !guardCreate(obj, true) || obj.GetResourceVersion() != createGuard {
		t.Errorf("guarded: %q", obj.GetResourceVersion())
	}
}
