package runner

import (
	"errors"

	"github.com/kbrun/kbrun/engine/load"
	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/task"
	"github.com/kbrun/kbrun/engine/vars"
)

// Given are the values given for a run on the command line: -f, --set,
// --set-file.
type Given struct{ Files, Sets, SetFiles []string }

// Values reads the values given for p and returns them. loadErr is what
// loading p failed with, if it did (then p is nil): when it is a
// load.Partial, or when the values have problems, the pipeline is compiled
// anyway, with the values that are good and stand-ins for the others, so
// that every problem comes at once (a *Problems): the values', the
// file's and those only the compile walk finds. walk compiles a sound
// pipeline with sound values too (validate); Run does that itself.
func Values(p *pipeline.Pipeline, loadErr error, given Given, opts Options, walk bool) (map[string]any, error) {
	var part *load.Partial
	if loadErr != nil {
		if !errors.As(loadErr, &part) {
			return nil, loadErr
		}
		p = part.Pipeline
	}
	ov, probs := vars.ReadAll(p, given.Files, given.Sets, given.SetFiles)
	if part == nil && len(probs) == 0 {
		if walk {
			opts.Overrides = ov.Values()
			if err := Check(p, opts); err != nil {
				return nil, err
			}
		}
		return ov.Values(), nil
	}
	opts.Overrides = standIns(p, ov)
	all := &Problems{Values: probs, Errs: &pipeline.Errors{}}
	if part != nil {
		all.Errs.AddAll(part.Errs)
	}
	// Problems the walk finds are the pipeline's; one that is not a list
	// comes from a stand-in, not from the file.
	var more *pipeline.Errors
	if errors.As(Check(p, opts), &more) {
		all.Errs.AddAll(more)
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

// Problems are a pipeline's problems together with those of the values
// given for it.
type Problems struct {
	Values vars.Problems
	Errs   *pipeline.Errors
}

func (p *Problems) Error() string {
	if p.Errs.Len() == 0 {
		return p.Values.Error()
	}
	return p.Values.Error() + "\n" + p.Errs.Error()
}

// Lines are the problems one a line, the values' first.
func (p *Problems) Lines() []string {
	lines := append([]string(nil), p.Values...)
	for _, e := range p.Errs.List() {
		lines = append(lines, e.Error())
	}
	return lines
}
