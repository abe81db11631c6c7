package app

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/kbrun/kbrun/engine/batch"
	"github.com/kbrun/kbrun/engine/exit"
	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/runner"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/vars"
	"github.com/kbrun/kbrun/tasks"
)

func newValidateCommand(streams IO, kubeFlags *genericclioptions.ConfigFlags) *cobra.Command {
	o := &RunOptions{IO: streams, KubeFlags: kubeFlags}
	cmd := &cobra.Command{
		Use:   "validate PATH...",
		Short: "Check pipeline files completely, as run would prepare them, without running anything",
		Long: `validate loads each pipeline file and prepares every task exactly as run does
before it starts (vars with --values and --set, when, timeouts, parameters,
manifest files rendered and parsed), touching no cluster. A file it accepts
does not fail run for any of these reasons.`,
		Example: `  kbrun validate pipelines/kaniko-rootless.yaml
  kbrun validate examples/   # every pipeline file in the folder, at any depth
  kbrun validate pipelines/kaniko-rootless.yaml --set dockerfile=multistage -f values.yaml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			exitAtOnce(cmd.Context())
			loader, err := newLoader()
			if err != nil {
				return err
			}
			if err := o.validateSelection(); err != nil {
				return err
			}
			paths, err := batch.Find(args)
			if err != nil {
				return exit.Usagef("%v", err)
			}
			var bad error
			for _, path := range paths {
				f := path.File
				p, err := loader.LoadAny(f)
				if err == nil && p.IsLibrary() {
					// Its params are known only where a pipeline uses it.
					fmt.Fprintf(streams.Out, "%s: valid (a library of tasks: its tasks are prepared where a pipeline uses it)\n", f)
					continue
				}
				if _, err := runner.Values(p, err, o.given(), o.checkOptions(), true); err != nil {
					bad = invalid(streams.Err, f, err)
					continue
				}
				fmt.Fprintf(streams.Out, "%s: valid\n", f)
			}
			return bad
		},
	}
	addRunFlags(cmd, o, validateCommand)
	return cmd
}

// MaxShownProblems caps the problems printed for one file: past a point,
// more lines only hide the first ones.
const MaxShownProblems = 50

// invalid prints the problems of a pipeline (every problem on its own line,
// at most MaxShownProblems) and returns the typed error for exit code 2.
func invalid(w io.Writer, file string, err error) error {
	var all *runner.Problems
	if errors.As(err, &all) {
		printProblems(w, file, all)
		return &silentError{err: &exit.InvalidError{Err: err}}
	}
	var errs *pipeline.Errors
	if errors.As(err, &errs) {
		printProblems(w, file, &runner.Problems{Errs: errs})
		return &silentError{err: &exit.InvalidError{Err: err}}
	}
	var usage *exit.UsageError
	if errors.As(err, &usage) {
		return err
	}
	return &exit.InvalidError{Err: err}
}

// invalidValues prints the problems of --values files and --set values.
func invalidValues(w io.Writer, file string, err error) error {
	var probs vars.Problems
	if !errors.As(err, &probs) {
		return &exit.InvalidError{Err: err}
	}
	fmt.Fprintln(w, strings.Join(probs, "\n"))
	fmt.Fprintf(w, "%s: %s in the values given; nothing was run\n", file, plural(len(probs), "problem"))
	return &silentError{err: &exit.InvalidError{Err: err}}
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func mustRegistry() *task.Registry { return tasks.Registry() }
