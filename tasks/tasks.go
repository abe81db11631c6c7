// Package tasks lists the task types this build of kbrun knows. Adding a
// type is one package under tasks/ (its Type, schema.json and tests) and one
// line here; the tests of this package and of schemas/ name most of what
// else is missing (CONTRIBUTING.md counts it all).
package tasks

import (
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/tasks/apply"
	"github.com/kbrun/kbrun/tasks/assert"
	"github.com/kbrun/kbrun/tasks/assertlogs"
	"github.com/kbrun/kbrun/tasks/compile"
	taskcopy "github.com/kbrun/kbrun/tasks/copy"
	taskdelete "github.com/kbrun/kbrun/tasks/delete"
	"github.com/kbrun/kbrun/tasks/deploy"
	"github.com/kbrun/kbrun/tasks/exec"
	"github.com/kbrun/kbrun/tasks/http"
	"github.com/kbrun/kbrun/tasks/podsecurity"
	"github.com/kbrun/kbrun/tasks/remember"
	"github.com/kbrun/kbrun/tasks/run"
	"github.com/kbrun/kbrun/tasks/wait"
)

// Registry returns every task type.
func Registry() *task.Registry {
	return task.NewRegistry(
		apply.Type{},
		assert.Type{},
		assertlogs.Type{},
		compile.Type{},
		taskcopy.Type{},
		taskdelete.Type{},
		deploy.Type{},
		exec.Type{},
		http.Type{},
		wait.Type{},
		podsecurity.Type{},
		run.Type{},
		remember.Type{},
	)
}
