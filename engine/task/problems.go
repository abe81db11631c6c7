package task

import "errors"

// Problems collects the problems a Prepare finds, so that it reports all
// of them at once, each at its own place.
type Problems struct{ list []error }

// Check runs a field's check (an engine/valid function) on its value,
// unless the value is empty or holds a stand-in for an output known only
// at run time: the task is prepared again with the real value before it
// runs, and the same check runs then.
func (p *Problems) Check(path []string, value string, check func(string) error) {
	if value == "" || IsUnknown(value) {
		return
	}
	if err := check(value); err != nil {
		p.Add(path, err)
	}
}

// Add records err at path (relative to the task's parameters), unless it
// is a FieldError with a path of its own.
func (p *Problems) Add(path []string, err error) {
	if _, ok := Field(err); !ok {
		err = FieldError{Path: path, Message: err.Error()}
	}
	p.list = append(p.list, err)
}

// Keep records an error that says where it is itself (problems in a
// manifest file) or that concerns the task as a whole, as it is.
func (p *Problems) Keep(err error) {
	if err != nil {
		p.list = append(p.list, err)
	}
}

// Err is the problems found: nil when there are none, else one error that
// unwraps to each.
func (p *Problems) Err() error {
	if len(p.list) == 1 {
		return p.list[0]
	}
	return errors.Join(p.list...)
}
