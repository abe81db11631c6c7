package apply

import (
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// createGuard is the resourceVersion kbrun sends with the apply of an
// object it found absent. Server-side apply creates an absent object
// whatever resourceVersion the configuration names, but checks it against
// an object that exists: no object ever has this one (etcd's first write
// is its revision 2), so when another run (or anyone) created the object
// between kbrun's read and its apply, the apply is refused with a conflict
// instead of taking over the other's object. Without it, two runs started
// together both "create" the same Deployment and the second rolls the
// first's pod away.
const createGuard = "1"

// maxRaces bounds how often Apply decides again after a lost race (the
// object would have to vanish and reappear each time).
const maxRaces = 3

// guardCreate sets the guard on obj when the run means to create it.
func guardCreate(obj *unstructured.Unstructured, creating bool) bool {
	if creating {
		obj.SetResourceVersion(createGuard)
	}
	return creating
}

// errRace: a guarded apply met an object created since the run looked.
var errRace = errors.New("created by someone else since this run found it absent")

// raced turns the conflict of a guarded apply into a race, which Idempotent
// does not repeat (a conflict is otherwise transient): the apply must not
// be sent again, the object must be judged again. A create whose answer
// was lost and that Idempotent repeated also ends here; judged again, the
// object is the run's own and is applied without the guard.
func raced(guarded bool, err error) error {
	if guarded && apierrors.IsConflict(err) {
		// Not wrapped: the conflict inside would make it transient.
		return fmt.Errorf("%w (%v)", errRace, err)
	}
	return err
}

func isRace(err error) bool { return errors.Is(err, errRace) }
