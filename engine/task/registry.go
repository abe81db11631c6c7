package task

import (
	"fmt"
	"sort"
)

// Registry holds the task types a build of kbrun knows, by name.
type Registry struct {
	types map[string]Type
}

// NewRegistry registers the given types; a duplicate name is a programming
// error and panics.
func NewRegistry(types ...Type) *Registry {
	r := &Registry{types: map[string]Type{}}
	for _, t := range types {
		if _, dup := r.types[t.Name()]; dup {
			panic(fmt.Sprintf("task type %q registered twice", t.Name()))
		}
		r.types[t.Name()] = t
	}
	return r
}

// Get returns the type with the given name.
func (r *Registry) Get(name string) (Type, bool) {
	t, ok := r.types[name]
	return t, ok
}

// Names returns the registered type names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.types))
	for n := range r.types {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Types returns the registered types sorted by name.
func (r *Registry) Types() []Type {
	out := make([]Type, 0, len(r.types))
	for _, n := range r.Names() {
		out = append(out, r.types[n])
	}
	return out
}
