package app

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/kbrun/kbrun/engine/exit"
	"github.com/kbrun/kbrun/engine/load"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/tasks"
)

func newValidateCommand(streams IO) *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check pipeline files completely without running anything",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			loader, err := newLoader()
			if err != nil {
				return err
			}
			var bad error
			for _, f := range args {
				if _, err := loader.Load(f); err != nil {
					bad = invalid(streams.Err, f, err)
					continue
				}
				fmt.Fprintf(streams.Out, "%s: valid\n", f)
			}
			return bad
		},
	}
}

// invalid prints a load failure (every problem on its own line) and returns
// the typed error for exit code 2.
func invalid(w io.Writer, file string, err error) error {
	var errs *load.Errors
	if errors.As(err, &errs) {
		fmt.Fprintln(w, errs.Error())
		n := errs.Len()
		plural := "s"
		if n == 1 {
			plural = ""
		}
		fmt.Fprintf(w, "%s: %d problem%s found; nothing was run\n", file, n, plural)
		return &silentError{err: &exit.InvalidError{Err: err}}
	}
	return &exit.InvalidError{Err: err}
}

func mustRegistry() *task.Registry { return tasks.Registry() }
