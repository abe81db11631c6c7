package app

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/kbrun/kbrun/engine/exit"
	"github.com/kbrun/kbrun/engine/kube"
	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/report"
	"github.com/kbrun/kbrun/engine/runner"
	"github.com/kbrun/kbrun/engine/task"
)

// RunOptions are the options of `kbrun run` and `kbrun plan`, completed and
// validated before anything runs (kubectl's Complete/Validate/Run).
type RunOptions struct {
	IO
	KubeFlags *genericclioptions.ConfigFlags

	File           string
	DryRunFlag     string
	ValuesFiles    []string
	Sets           []string
	Timeout        time.Duration
	FinallyTimeout time.Duration
	Keep           bool
	Only, Skip     []string
	From           string
	Output         string
	JUnitFile      string
	RunID          string

	// Completed.
	dryRun    task.DryRun
	pipeline  *pipeline.Pipeline
	overrides map[string]any
}

func newRunCommand(streams IO, kubeFlags *genericclioptions.ConfigFlags, planOnly bool) *cobra.Command {
	o := &RunOptions{IO: streams, KubeFlags: kubeFlags}
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Run a pipeline",
		Example: `  kbrun run pipelines/kaniko-rootless.yaml
  kbrun run pipelines/kaniko-rootless.yaml -n team-a --set capabilities='[CHOWN,SETUID,SETGID,FOWNER,DAC_OVERRIDE]'
  kbrun run pipelines/kaniko-rootless.yaml --dry-run`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd)
		},
	}
	if planOnly {
		cmd.Use = "plan FILE"
		cmd.Short = "Print the numbered plan of a pipeline, rendered, without running anything"
		cmd.Example = "  kbrun plan pipelines/kaniko-rootless.yaml"
		o.DryRunFlag = "client"
	} else {
		cmd.Flags().StringVar(&o.DryRunFlag, "dry-run", "none", `"none" runs the pipeline; "client" (or bare --dry-run) prints the planned actions, rendered, touching nothing`)
		cmd.Flags().Lookup("dry-run").NoOptDefVal = "client"
		cmd.Flags().DurationVar(&o.Timeout, "timeout", 0, "Bound on the whole run (finally excluded), e.g. 15m; 0 means none")
		cmd.Flags().DurationVar(&o.FinallyTimeout, "finally-timeout", 10*time.Minute, "Bound on the finally tasks together")
		cmd.Flags().BoolVar(&o.Keep, "keep", false, "Skip the finally tasks, leaving what the run created (for debugging)")
		cmd.Flags().StringVar(&o.JUnitFile, "junit", "", "Write a JUnit XML report (one testcase per task) to this file")
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "text", "Output format: text or json (one event per line)")
	cmd.Flags().StringArrayVarP(&o.ValuesFiles, "values", "f", nil, "YAML file of var values (repeatable; later files win)")
	cmd.Flags().StringArrayVar(&o.Sets, "set", nil, "Set a var: NAME=VALUE (repeatable; wins over --values). Lists: NAME=[a,b] or NAME=a,b")
	cmd.Flags().StringSliceVar(&o.Only, "only", nil, "Run only these tasks (finally still runs)")
	cmd.Flags().StringVar(&o.From, "from", "", "Start at this task (finally still runs)")
	cmd.Flags().StringSliceVar(&o.Skip, "skip", nil, "Skip these tasks (finally still runs)")
	cmd.Flags().StringVar(&o.RunID, "run-id", "", "Run id (.pipeline.runId); default: time and a random suffix")
	_ = cmd.Flags().MarkHidden("run-id")
	return cmd
}

// Complete loads the pipeline and the var overrides.
func (o *RunOptions) Complete(args []string) error {
	o.File = args[0]
	switch o.DryRunFlag {
	case "", "none", "false":
		o.dryRun = task.DryRunNone
	case "client", "true":
		o.dryRun = task.DryRunClient
	case "server":
		return exit.Usagef("--dry-run=server is not supported yet; use --dry-run (client)")
	default:
		return exit.Usagef(`--dry-run must be "none" or "client", got %q`, o.DryRunFlag)
	}
	loader, err := newLoader()
	if err != nil {
		return err
	}
	p, err := loader.Load(o.File)
	if err != nil {
		return invalid(o.Err, o.File, err)
	}
	o.pipeline = p
	o.overrides, err = overrides(p, o.ValuesFiles, o.Sets)
	if err != nil {
		return &exit.InvalidError{Err: err}
	}
	return nil
}

// Validate checks flag combinations.
func (o *RunOptions) Validate() error {
	if o.Output != "text" && o.Output != "json" {
		return exit.Usagef(`--output must be "text" or "json", got %q`, o.Output)
	}
	if len(o.Only) > 0 && o.From != "" {
		return exit.Usagef("--only and --from cannot be used together")
	}
	return nil
}

// Run runs (or plans) the pipeline and reports it.
func (o *RunOptions) Run(cmd *cobra.Command) error {
	ctxs := contexts(cmd.Context())
	var reps report.Multi
	if o.Output == "json" {
		reps = append(reps, report.NewJSON(o.Out))
	} else {
		reps = append(reps, report.NewText(o.Out, taskNames(o.pipeline)))
	}
	var junit *report.JUnit
	if o.JUnitFile != "" {
		junit = report.NewJUnit()
		reps = append(reps, junit)
	}
	explicitNS, _ := nsFlag(o.KubeFlags)
	opts := runner.Options{
		Registry:       mustRegistry(),
		Kube:           kube.NewFlagsProvider(o.KubeFlags),
		Reporter:       reps,
		Overrides:      o.overrides,
		Environ:        environ(),
		RunID:          o.RunID,
		Namespace:      explicitNS,
		Timeout:        o.Timeout,
		FinallyTimeout: o.FinallyTimeout,
		Keep:           o.Keep,
		DryRun:         o.dryRun,
		Only:           o.Only,
		From:           o.From,
		Skip:           o.Skip,
		HardCtx:        ctxs.hard,
		ContextNamespace: func() string {
			ns, _, err := o.KubeFlags.ToRawKubeConfigLoader().Namespace()
			if err != nil {
				return ""
			}
			return ns
		},
	}
	res := runner.Run(ctxs.run, o.pipeline, opts)
	if junit != nil {
		if err := writeFile(o.JUnitFile, junit); err != nil {
			fmt.Fprintf(o.Err, "error: writing JUnit report: %v\n", err)
		}
	}
	if res.Err != nil {
		// Errors before the run started (exit 2) go to stderr. After that
		// the text report has shown them; with -o json, stderr still gets
		// one line for the humans reading CI logs.
		if exit.Code(res.Err) == exit.Invalid || o.Output == "json" {
			return res.Err
		}
		return &silentError{err: res.Err}
	}
	return nil
}

func nsFlag(f *genericclioptions.ConfigFlags) (string, bool) {
	if f.Namespace != nil && *f.Namespace != "" {
		return *f.Namespace, true
	}
	return "", false
}

func taskNames(p *pipeline.Pipeline) []string {
	var out []string
	for _, t := range p.AllTasks() {
		out = append(out, t.Name)
	}
	return out
}

func environ() map[string]string {
	out := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out[k] = v
		}
	}
	return out
}

func writeFile(path string, j *report.JUnit) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := j.Write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// overrides reads --values files then --set pairs (later wins). A --set
// value is typed like the var's default: a string var takes the text as is;
// a list, number or bool var parses it as YAML (a list also as a,b,c).
func overrides(p *pipeline.Pipeline, files, sets []string) (map[string]any, error) {
	out := map[string]any{}
	defaults := map[string]any{}
	for _, v := range p.Vars {
		defaults[v.Name] = v.Default
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("--values %s: %w", f, err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("--values %s: %w", f, err)
		}
		for k, v := range m {
			out[k] = normalize(v)
		}
	}
	for _, s := range sets {
		name, value, ok := strings.Cut(s, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("--set %q: want NAME=VALUE", s)
		}
		def, known := defaults[name]
		if !known {
			// ResolveVars names the known vars in its error.
			out[name] = value
			continue
		}
		v, err := typed(def, value)
		if err != nil {
			return nil, fmt.Errorf("--set %s: %w", name, err)
		}
		out[name] = v
	}
	return out, nil
}

func typed(def any, value string) (any, error) {
	switch def.(type) {
	case nil, string:
		return value, nil
	case []any:
		if !strings.HasPrefix(strings.TrimSpace(value), "[") {
			var list []any
			for _, item := range strings.Split(value, ",") {
				if item = strings.TrimSpace(item); item != "" {
					list = append(list, item)
				}
			}
			return list, nil
		}
	}
	var v any
	if err := yaml.Unmarshal([]byte(value), &v); err != nil {
		return nil, fmt.Errorf("%q is not a valid value for this var: %w", value, err)
	}
	return normalize(v), nil
}

// normalize converts yaml.v3's decoded values to the generic forms the
// engine uses (map[string]any, []any, int64).
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, item := range x {
			x[k] = normalize(item)
		}
		return x
	case []any:
		for i, item := range x {
			x[i] = normalize(item)
		}
		return x
	case int:
		return int64(x)
	default:
		return v
	}
}
