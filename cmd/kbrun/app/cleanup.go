package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	coordv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/kbrun/kbrun/engine/exit"
	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/ownership"
	"github.com/kbrun/kbrun/engine/runner"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/tmpl"
	"github.com/kbrun/kbrun/engine/vars"
	"github.com/kbrun/kbrun/tasks"
)

// CleanupOptions are the options of `kbrun cleanup`.
type CleanupOptions struct {
	IO
	KubeFlags *genericclioptions.ConfigFlags

	File          string
	Run           string
	Expired       bool
	AllNamespaces bool
	DryRun        bool
	ValuesFiles   []string
	Sets          []string
	SetFiles      []string
	Timeout       time.Duration
}

func newCleanupCommand(streams IO, kubeFlags *genericclioptions.ConfigFlags) *cobra.Command {
	o := &CleanupOptions{IO: streams, KubeFlags: kubeFlags}
	cmd := &cobra.Command{
		Use:   "cleanup (FILE | --run ID | --expired) [-n NAMESPACE | -A]",
		Short: "Delete what earlier runs left in the cluster (killed, or kept with --keep)",
		Long: `Delete what earlier runs left: the objects they created, found through the
lease each run keeps in its namespace (docs/ownership.md), and the local work
folders of runs that are gone. Only runs that are provably gone are cleaned
up: their lease was released (the run ended and left objects, e.g. with
--keep) or has not been renewed for its duration. Objects that do not carry
the run's kbrun.dev/run label (a user's, or taken over by another run) are
never deleted, nor is a namespace another live run works in.

  FILE         runs of this pipeline, in its namespace (-n, the pipeline's, or the context's)
  --run ID     the run with this id
  --expired    every gone run in the namespace (-A: in all namespaces)`,
		Example: `  kbrun cleanup --expired --dry-run
  kbrun cleanup pipelines/kaniko-rootless.yaml
  kbrun cleanup --run 20261127075037-62b7 -n ones`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.File = args[0]
			}
			return o.RunCleanup(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&o.Run, "run", "", "Clean up after the run with this id")
	cmd.Flags().BoolVar(&o.Expired, "expired", false, "Clean up after every run that is gone")
	cmd.Flags().BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "Look in every namespace (needs the right to list leases cluster-wide)")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "Only list what would be deleted")
	cmd.Flags().StringArrayVarP(&o.ValuesFiles, "values", "f", nil, "With FILE: YAML file of var values (for the pipeline's namespace)")
	cmd.Flags().StringArrayVar(&o.Sets, "set", nil, "With FILE: set a var, NAME=VALUE (for the pipeline's namespace)")
	cmd.Flags().StringArrayVar(&o.SetFiles, "set-file", nil, "With FILE: set a var to a file's content, NAME=PATH (as run takes it: a required secret must be given)")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 5*time.Minute, "Bound on the deletions")
	return cmd
}

// RunCleanup finds gone runs, lists what they left, and deletes it.
func (o *CleanupOptions) RunCleanup(ctx context.Context) error {
	modes := 0
	for _, set := range []bool{o.File != "", o.Run != "", o.Expired} {
		if set {
			modes++
		}
	}
	if modes != 1 {
		return exit.Usagef("give exactly one of FILE, --run ID and --expired")
	}
	explicitNS, _ := nsFlag(o.KubeFlags)
	if o.AllNamespaces && explicitNS != "" {
		return exit.Usagef("-A and -n cannot be used together")
	}
	if o.File == "" && (len(o.ValuesFiles) > 0 || len(o.Sets) > 0 || len(o.SetFiles) > 0) {
		return exit.Usagef("--values and --set go with FILE")
	}
	selector := ownership.LabelRun
	var pipelineNS string
	switch {
	case o.File != "":
		name, ns, err := o.pipelineNamespace()
		if err != nil {
			return err
		}
		selector, pipelineNS = labels.Set{ownership.LabelPipeline: name}.String(), ns
	case o.Run != "":
		selector = labels.Set{ownership.LabelRun: o.Run}.String()
	}
	provider := kube.NewFlagsProvider(o.KubeFlags)
	c, err := provider.Clients()
	if err != nil {
		return &exit.InvalidError{Err: err}
	}
	ns := c.Namespace
	switch {
	case o.AllNamespaces:
		ns = ""
	case explicitNS == "" && pipelineNS != "":
		ns = pipelineNS
	}
	ctxs := contexts(ctx)
	ctx, cancel := context.WithTimeout(ctxs.run, o.Timeout)
	defer cancel()

	obs := ownership.NewObserver(c.Typed)
	found, err := obs.Find(ctx, ns, selector, "", func(l *coordv1.Lease, upTo time.Duration) {
		fmt.Fprintf(o.Out, "run %s has not renewed its lease %s/%s lately: watching it for up to %s to tell whether it still runs\n", l.Labels[ownership.LabelRun], l.Namespace, l.Name, upTo)
	})
	if err != nil {
		return err
	}
	set := &kube.AppliedSet{Owner: ownership.Cleaner{Observer: obs}}
	var alive []string
	now := time.Now()
	for _, f := range found {
		run := f.Lease.Labels[ownership.LabelRun]
		if !f.Verdict.State.Dead() {
			alive = append(alive, run)
			fmt.Fprintf(o.Out, "run %s of pipeline %s still runs (%s): left to it\n", run, f.Lease.Labels[ownership.LabelPipeline], f.Verdict.Explain(now))
			continue
		}
		refs, err := ownership.Refs(f.Lease)
		if err != nil {
			fmt.Fprintf(o.Out, "warning: %v; only its lease is deleted\n", err)
		}
		fmt.Fprintf(o.Out, "run %s of pipeline %s is gone (%s); it left:\n%s", run, f.Lease.Labels[ownership.LabelPipeline], f.Verdict.Explain(now), listRefs(refs))
		set.Adopt(refs...)
	}
	if o.Run == "" {
		var names []string
		if ns != "" {
			names = []string{ns}
		}
		orphans, err := obs.Unrecorded(ctx, names)
		if err != nil {
			return err
		}
		for _, ref := range orphans {
			fmt.Fprintf(o.Out, "namespace %s was created by run %s, which is gone without having recorded itself\n", ref.Name, ref.Run)
			set.Adopt(ref)
		}
	}
	folders, ferr := runner.SweepWorkDirs(true)
	if o.DryRun {
		for _, d := range folders {
			fmt.Fprintf(o.Out, "work folder %s of a run that is gone\n", d)
		}
		if len(set.List()) == 0 && len(folders) == 0 {
			fmt.Fprintln(o.Out, "nothing to clean up")
		} else {
			fmt.Fprintln(o.Out, "dry run: nothing was deleted")
		}
		return nil
	}
	if len(set.List()) > 0 {
		if err := o.delete(ctx, provider, set, ns); err != nil {
			return err
		}
	}
	if ferr == nil {
		var removed []string
		removed, ferr = runner.SweepWorkDirs(false)
		for _, d := range removed {
			fmt.Fprintf(o.Out, "removed work folder %s\n", d)
		}
	}
	if ferr != nil {
		return fmt.Errorf("removing work folders of gone runs: %w", ferr)
	}
	if len(set.List()) == 0 && len(folders) == 0 && len(found) == 0 {
		if o.Run != "" {
			return fmt.Errorf("no lease of run %s in %s", o.Run, where(ns))
		}
		fmt.Fprintln(o.Out, "nothing to clean up")
	}
	if o.Run != "" && len(alive) > 0 {
		return fmt.Errorf("run %s still runs: it cleans up after itself", o.Run)
	}
	return nil
}

// delete runs the delete task's "what this run applied" over the set.
func (o *CleanupOptions) delete(ctx context.Context, provider kube.Provider, set *kube.AppliedSet, ns string) error {
	typ, _ := tasks.Registry().Get("delete")
	action, err := typ.Prepare(task.Params{Value: map[string]any{"applied": true}, Rendered: true})
	if err != nil {
		return err
	}
	env := &task.Env{
		Task: "cleanup", Namespace: ns, Kube: provider, Applied: set,
		Logf: func(format string, args ...any) { fmt.Fprintf(o.Out, format+"\n", args...) },
	}
	_, err = action.Run(ctx, env)
	if err == nil {
		return nil
	}
	if left := set.List(); len(left) > 0 {
		return fmt.Errorf("%w; left:\n%s", err, listRefs(left))
	}
	return err
}

func listRefs(refs []kube.ObjectRef) string {
	var b strings.Builder
	for _, r := range refs {
		name := r.Name
		if r.Namespace != "" {
			name = r.Namespace + "/" + name
		}
		fmt.Fprintf(&b, "  %s %s\n", r.Kind, name)
	}
	return b.String()
}

func where(ns string) string {
	if ns == "" {
		return "any namespace"
	}
	return "namespace " + ns
}

// pipelineNamespace loads FILE and resolves its name and namespace, as a
// run would (vars from --values and --set).
func (o *CleanupOptions) pipelineNamespace() (string, string, error) {
	loader, err := newLoader()
	if err != nil {
		return "", "", err
	}
	p, err := loader.Load(o.File)
	if err != nil {
		return "", "", invalid(o.Err, o.File, err)
	}
	ov, err := vars.Read(p, o.ValuesFiles, o.Sets, o.SetFiles)
	if err != nil {
		return "", "", invalidValues(o.Err, o.File, err)
	}
	env := map[string]any{}
	for k, v := range environ() {
		env[k] = v
	}
	base := map[string]any{"env": env, "pipeline": map[string]any{"name": p.Name, "dir": p.Dir, "file": p.File, "runId": ""}}
	values, err := vars.Resolve(p, ov.Values(), base)
	if err != nil {
		return "", "", &exit.InvalidError{Err: err}
	}
	base["vars"] = values
	if p.Namespace == "" {
		return p.Name, "", nil
	}
	ns, err := tmpl.Render("namespace", p.Namespace, base)
	if err != nil {
		return "", "", &exit.InvalidError{Err: fmt.Errorf("namespace: %w", err)}
	}
	return p.Name, ns, nil
}
