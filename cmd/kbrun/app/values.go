package app

import (
	"errors"
	"fmt"
	"io"

	"github.com/kbrun/kbrun/engine/load"
	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/runner"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/vars"
)

// valueFlags are the values given on the command line: -f, --set,
// --set-file.
type valueFlags struct{ files, sets, setFiles []string }

func (o *RunOptions) valueFlags() valueFlags { return valueFlags{o.ValuesFiles, o.Sets, o.SetFiles} }

// withValues reads the values for p and returns them. loadErr is what
// loading p failed with, if it did (then p is nil): when it is a
// load.Partial, or when the values have problems, the pipeline is compiled
// anyway, with the values that are good and stand-ins for the others, so
// that every problem comes at once: the values', the file's and those only
// the compile walk finds. walk compiles a sound pipeline with sound values
// too (validate); run does that itself.
func withValues(p *pipeline.Pipeline, loadErr error, vf valueFlags, opts runner.Options, walk bool) (map[string]any, error) {
	var part *load.Partial
	if loadErr != nil {
		if !errors.As(loadErr, &part) {
			return nil, loadErr
		}
		p = part.Pipeline
	}
	ov, probs := vars.ReadAll(p, vf.files, vf.sets, vf.setFiles)
	if part == nil && len(probs) == 0 {
		if walk {
			opts.Overrides = ov.Values()
			if err := runner.Check(p, opts); err != nil {
				return nil, err
			}
		}
		return ov.Values(), nil
	}
	opts.Overrides = standIns(p, ov)
	all := &problems{values: probs, errs: &pipeline.Errors{}}
	if part != nil {
		all.errs.AddAll(part.Errs)
	}
	// Problems the walk finds are the pipeline's; one that is not a list
	// comes from a stand-in, not from the file.
	var more *pipeline.Errors
	if errors.As(runner.Check(p, opts), &more) {
		all.errs.AddAll(more)
	}
	return nil, all
}

// standIns are the values the compile walk uses when some given values
// are wrong: the good ones, and for a required var without a good one a
// value of its type that no check refuses (a string is "decided at run
// time", which checks skip). A var that is not required takes its
// default, as if the wrong value had not been given.
func standIns(p *pipeline.Pipeline, ov vars.Overrides) map[string]any {
	out := ov.Values()
	for _, v := range p.Vars {
		if _, ok := out[v.Name]; ok || !v.Required {
			continue
		}
		if len(v.Enum) > 0 {
			out[v.Name] = v.Enum[0]
			continue
		}
		switch v.Type {
		case pipeline.TypeInt, pipeline.TypeNumber:
			out[v.Name] = int64(1)
		case pipeline.TypeBool:
			out[v.Name] = false
		case pipeline.TypeDuration:
			out[v.Name] = "1s"
		case pipeline.TypeList:
			out[v.Name] = []any{task.RunTime}
		case pipeline.TypeMap:
			out[v.Name] = map[string]any{}
		default:
			out[v.Name] = task.RunTime
		}
	}
	return out
}

// problems are a pipeline's problems together with those of the values
// given for it.
type problems struct {
	values vars.Problems
	errs   *pipeline.Errors
}

func (p *problems) Error() string {
	if p.errs.Len() == 0 {
		return p.values.Error()
	}
	return p.values.Error() + "\n" + p.errs.Error()
}

// print writes every problem on its own line (the values' first, at most
// MaxShownProblems) and the summary line.
func (p *problems) print(w io.Writer, file string) {
	lines := append([]string(nil), p.values...)
	for _, e := range p.errs.List() {
		lines = append(lines, e.Error())
	}
	for i, l := range lines {
		if i == MaxShownProblems {
			fmt.Fprintf(w, "... and %d more problems\n", len(lines)-i)
			break
		}
		fmt.Fprintln(w, l)
	}
	if p.errs.Len() == 0 {
		fmt.Fprintf(w, "%s: %s in the values given; nothing was run\n", file, plural(len(lines), "problem"))
		return
	}
	fmt.Fprintf(w, "%s: %s found; nothing was run\n", file, plural(len(lines), "problem"))
}
