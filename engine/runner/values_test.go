package runner_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/kbrun/kbrun/engine/runner"
)

// TestValuesGivesEveryProblemAtOnce: a value refused and a task that
// would fail with any value come out together, the values' first, and a
// required var left unset in the value's stead is not one of them.
func TestValuesGivesEveryProblemAtOnce(t *testing.T) {
	h := newHarness()
	p := h.load(t, `vars:
  count: {type: int, required: true}
tasks:
  - name: a
    fake: {id: a}
    timeout: "{{ .vars.count }}"
`)
	_, err := runner.Values(p, nil, runner.Given{Sets: []string{"count=many"}}, h.opts(), false)
	var probs *runner.Problems
	if !errors.As(err, &probs) {
		t.Fatalf("got %v, want the problems", err)
	}
	lines := probs.Lines()
	if len(lines) != 2 || !strings.Contains(lines[0], "count") || !strings.Contains(lines[1], "timeout") {
		t.Errorf("problems:\n%s", strings.Join(lines, "\n"))
	}

	ov, err := runner.Values(p, nil, runner.Given{Sets: []string{"count=3"}}, h.opts(), false)
	if err != nil || ov["count"] != int64(3) {
		t.Errorf("sound values, not walked: %v %v", ov, err)
	}
	if _, err := runner.Values(p, nil, runner.Given{Sets: []string{"count=3"}}, h.opts(), true); err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Errorf("sound values, walked: %v, want the task's problem", err)
	}
}
