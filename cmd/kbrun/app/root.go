// Package app is the kbrun command line: cobra commands over the engine,
// with kubectl's configuration flags.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/klog/v2"

	"github.com/kbrun/kbrun/engine/exit"
	"github.com/kbrun/kbrun/engine/load"
	"github.com/kbrun/kbrun/tasks"
)

// Version is set at build time with -ldflags -X; otherwise it comes from the
// module's build info.
var Version = ""

// IO are the command's streams.
type IO struct {
	In       io.Reader
	Out, Err io.Writer
	// Term is stdout when it is a terminal (Out writes to it).
	Term *os.File
}

// Main runs kbrun with args and returns the exit code.
func Main(args []string, in io.Reader, out, errOut io.Writer) int {
	return MainAs("kbrun", args, in, out, errOut)
}

// MainAs is Main for the program arg0 (os.Args[0]): run as kubectl-kbrun,
// kbrun calls itself "kubectl kbrun" in its help and errors.
func MainAs(arg0 string, args []string, in io.Reader, out, errOut io.Writer) int {
	// client-go logs transient trouble through klog ("Couldn't get current
	// server API group list"); kbrun reports errors itself, with context.
	klog.SetLogger(logr.Discard())
	rawOut := out
	ctx, out, errOut, stop := signalContext(out, errOut)
	defer stop()
	streams := IO{In: in, Out: out, Err: errOut, Term: terminal(rawOut)}
	prof := &profileFlags{}
	cmd := newRootCommand(ctx, streams, prof, commandName(arg0))
	cmd.SetArgs(args)
	err := cmd.Execute()
	if perr := prof.stop(); perr != nil && err == nil {
		err = fmt.Errorf("writing the %s profile: %w", prof.name, perr)
	}
	if err == nil {
		return exit.OK
	}
	code := exit.Code(err)
	var silent *silentError
	if !errors.As(err, &silent) {
		fmt.Fprintf(streams.Err, "error: %v\n", err)
	}
	return code
}

// terminal returns w when it is a terminal.
func terminal(w io.Writer) *os.File {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return f
	}
	return nil
}

// silentError is an error already shown to the user (e.g. by the run's
// report); Main only turns it into the exit code.
type silentError struct{ err error }

func (e *silentError) Error() string { return e.err.Error() }
func (e *silentError) Unwrap() error { return e.err }

// NewRootCommand builds the kbrun command tree.
func NewRootCommand(ctx context.Context, streams IO) *cobra.Command {
	return newRootCommand(ctx, streams, &profileFlags{}, "kbrun")
}

func newRootCommand(ctx context.Context, streams IO, prof *profileFlags, name string) *cobra.Command {
	kubeFlags := genericclioptions.NewConfigFlags(true)
	root := &cobra.Command{
		Use:   "kbrun",
		Short: "Run declarative YAML pipelines against a Kubernetes cluster",
		Long: `kbrun runs the ordered tasks of a pipeline file against a Kubernetes cluster:
apply manifests, compile programs, copy files into pods, exec in pods,
deploy and wait for rollouts, assert on pod logs.

Exit codes: 0 success, 1 a task failed, 2 invalid pipeline or usage,
128+n stopped by signal n (129 SIGHUP, 130 SIGINT, 131 SIGQUIT,
141 stdout or stderr closed, 143 SIGTERM).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetContext(ctx)
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &exit.UsageError{Err: err} })
	// kbrun with no command prints help; an unknown command is a usage
	// error (exit 2), as in kubectl.
	root.Args = cobra.ArbitraryArgs
	root.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return exit.Usagef("unknown command %q for %q%s\nRun '%s --help' for usage.", args[0], name, suggestCommand(cmd, args[0]), name)
		}
		return cmd.Help()
	}
	kubeFlags.AddFlags(root.PersistentFlags())
	prof.addFlags(root.PersistentFlags())
	root.PersistentPreRunE = func(*cobra.Command, []string) error { return prof.start() }

	root.AddCommand(
		newRunCommand(streams, kubeFlags, false),
		newRunCommand(streams, kubeFlags, true),
		newCleanupCommand(streams, kubeFlags),
		newValidateCommand(streams, kubeFlags),
		newInitCommand(streams),
		newSchemaCommand(streams),
		newTasksCommand(streams),
		newVersionCommand(streams),
	)
	// Unknown commands and missing arguments are usage errors (exit 2).
	for _, c := range root.Commands() {
		wrapArgs(c)
	}
	setCommandName(root, name)
	return root
}

func suggestCommand(root *cobra.Command, name string) string {
	if s := root.SuggestionsFor(name); len(s) > 0 {
		return fmt.Sprintf("\n\nDid you mean this?\n\t%s", strings.Join(s, "\n\t"))
	}
	return ""
}

func wrapArgs(c *cobra.Command) {
	if c.Args == nil {
		return
	}
	inner := c.Args
	c.Args = func(cmd *cobra.Command, args []string) error {
		if err := inner(cmd, args); err != nil {
			return &exit.UsageError{Err: err}
		}
		return nil
	}
}

// newLoader builds the loader for all task types.
func newLoader() (*load.Loader, error) {
	return load.New(tasks.Registry())
}

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func newVersionCommand(streams IO) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print kbrun's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(streams.Out, "kbrun %s\n", version())
			return nil
		},
	}
}
