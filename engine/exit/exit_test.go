package exit

import (
	"errors"
	"fmt"
	"testing"
)

// The exit codes are kbrun's interface (docs/flags.md, "Exit codes"): each error
// kind maps to its code however deeply it is wrapped.
func TestCode(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("outer: %w", &TaskError{Task: "t", Err: err}) }
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"plain error", errors.New("boom"), 1},
		{"task error", &TaskError{Task: "t", Err: errors.New("boom")}, 1},
		{"usage", Usagef("unknown flag %q", "--x"), 2},
		{"invalid", &InvalidError{Err: errors.New("bad file")}, 2},
		{"invalid, wrapped", fmt.Errorf("load: %w", &InvalidError{Err: errors.New("bad")}), 2},
		{"SIGINT (no number)", &InterruptedError{Signal: "SIGINT"}, 130},
		{"SIGHUP", &InterruptedError{Signal: "SIGHUP", Number: 1}, 129},
		{"SIGQUIT", &InterruptedError{Signal: "SIGQUIT", Number: 3}, 131},
		{"SIGPIPE (broken stdout)", &InterruptedError{Signal: "SIGPIPE", Number: 13, Stream: true}, 141},
		{"SIGTERM inside a task error", wrap(&InterruptedError{Signal: "SIGTERM", Number: 15}), 143},
		{"interrupted wins over invalid", errors.Join(&InvalidError{Err: errors.New("x")}, &InterruptedError{Signal: "SIGINT"}), 130},
	} {
		if got := Code(tc.err); got != tc.want {
			t.Errorf("%s: Code = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestMessagesAndUnwrap(t *testing.T) {
	cause := errors.New("exit code 3")
	te := &TaskError{Task: "build", Err: cause}
	if te.Error() != `task "build" failed: exit code 3` || !errors.Is(te, cause) {
		t.Errorf("TaskError: %q, Is(cause) %v", te.Error(), errors.Is(te, cause))
	}
	u := Usagef("--only %s: no such task", "x")
	if u.Error() != "--only x: no such task" {
		t.Errorf("Usagef: %q", u.Error())
	}
	inv := &InvalidError{Err: cause}
	if inv.Error() != cause.Error() || !errors.Is(inv, cause) {
		t.Errorf("InvalidError: %q", inv.Error())
	}
	if e := (&InterruptedError{Signal: "SIGTERM"}).Error(); e != "interrupted by SIGTERM" {
		t.Errorf("InterruptedError: %q", e)
	}
}
