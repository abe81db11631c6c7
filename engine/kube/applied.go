package kube

import (
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// ObjectRef names one object a run applied.
type ObjectRef struct {
	GVR       schema.GroupVersionResource `json:"-"`
	Kind      string                      `json:"kind"`
	Namespace string                      `json:"namespace,omitempty"`
	Name      string                      `json:"name"`
	UID       types.UID                   `json:"uid,omitempty"`
	// Task is the task that applied it.
	Task string `json:"task"`
	// Existed is true when the object was there before this run applied it
	// (the run only updated it): cleanup leaves such objects in place.
	Existed bool `json:"existed,omitempty"`
	// Run is the kbrun run the object's kbrun.dev/run label names: this
	// run for what it created or took over, an ended run for what this
	// run's cleanup deletes on its behalf, another live run for an object
	// shared with it; "" for objects kbrun does not own (a user's).
	// Cleanup deletes an object only while it still carries that label.
	Run string `json:"run,omitempty"`
	// LeftBy is the ended run this run took the object over from.
	LeftBy string `json:"leftBy,omitempty"`
}

// sameObject reports whether o names the same object as r.
func (r ObjectRef) sameObject(o ObjectRef) bool {
	return r.GVR == o.GVR && r.Namespace == o.Namespace && r.Name == o.Name
}

// AppliedSet records, in order, what a run applied, so that delete and
// cleanup can remove "everything this run applied" (newest first).
type AppliedSet struct {
	// Owner marks and records what the run creates in the cluster; nil
	// applies objects unmarked.
	Owner Owner

	mu   sync.Mutex
	refs []ObjectRef
}

// Add records refs; an object applied twice is kept once, at its first place.
func (s *AppliedSet) Add(refs ...ObjectRef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range refs {
		if s.index(r) < 0 {
			s.refs = append(s.refs, r)
		}
	}
}

// Adopt adds what ended runs left, for cleanup to delete with the run's own
// objects (cleanup goes newest first: these first). An object already
// recorded as shared with the run that left it becomes the run's to delete.
func (s *AppliedSet) Adopt(refs ...ObjectRef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range refs {
		i := s.index(r)
		if i < 0 {
			s.refs = append(s.refs, r)
			continue
		}
		if have := s.refs[i]; have.Existed && have.Run == r.Run && r.Run != "" {
			s.refs[i].Existed, s.refs[i].LeftBy = false, r.LeftBy
		}
	}
}

// Remove forgets refs (after they were deleted).
func (s *AppliedSet) Remove(refs ...ObjectRef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refs = slices.DeleteFunc(s.refs, func(have ObjectRef) bool {
		return slices.ContainsFunc(refs, have.sameObject)
	})
}

// index is where the object r names is recorded, or -1.
func (s *AppliedSet) index(r ObjectRef) int {
	return slices.IndexFunc(s.refs, r.sameObject)
}

// List returns the recorded refs in the order they were applied.
func (s *AppliedSet) List() []ObjectRef {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ObjectRef(nil), s.refs...)
}
