package kube

import (
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
}

// AppliedSet records, in order, what a run applied, so that delete and
// cleanup can remove "everything this run applied" (newest first).
type AppliedSet struct {
	mu   sync.Mutex
	refs []ObjectRef
}

// Add records refs; an object applied twice is kept once, at its first place.
func (s *AppliedSet) Add(refs ...ObjectRef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range refs {
		dup := false
		for _, have := range s.refs {
			if have.GVR == r.GVR && have.Namespace == r.Namespace && have.Name == r.Name {
				dup = true
				break
			}
		}
		if !dup {
			s.refs = append(s.refs, r)
		}
	}
}

// Remove forgets refs (after they were deleted).
func (s *AppliedSet) Remove(refs ...ObjectRef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.refs[:0]
	for _, have := range s.refs {
		gone := false
		for _, r := range refs {
			if have.GVR == r.GVR && have.Namespace == r.Namespace && have.Name == r.Name {
				gone = true
				break
			}
		}
		if !gone {
			kept = append(kept, have)
		}
	}
	s.refs = kept
}

// List returns the recorded refs in the order they were applied.
func (s *AppliedSet) List() []ObjectRef {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ObjectRef(nil), s.refs...)
}
