package runner

import (
	"fmt"

	"github.com/kbrun/kbrun/engine/exit"
	"github.com/kbrun/kbrun/engine/pipeline"
	"github.com/kbrun/kbrun/engine/valid"
)

// checkNamespace refuses a run namespace the API server would refuse
// (Team_A, a name over 63 characters), before anything runs, saying where
// it came from: -n, the pipeline's namespace (at its FILE:LINE:COL, e.g.
// from --set ns=Team_A), or the kubeconfig context.
func (r *runner) checkNamespace() error {
	err := valid.Namespace(r.namespace)
	switch {
	case err == nil:
		return nil
	case r.opts.Namespace != "":
		return &exit.InvalidError{Err: fmt.Errorf("-n/--namespace: %w", err)}
	case r.p.Namespace != "":
		return &exit.InvalidError{Err: r.namespaceError(err)}
	}
	return &exit.InvalidError{Err: fmt.Errorf("the kubeconfig context's namespace: %w", err)}
}

// namespaceError is a problem of the pipeline's namespace, at its
// FILE:LINE:COL.
func (r *runner) namespaceError(err error) *pipeline.Errors {
	pos := pipeline.Pos{Line: 1, Col: 1}
	if r.p.Source != nil {
		pos = r.p.Source.Value([]string{"namespace"})
	}
	errs := &pipeline.Errors{}
	errs.Add(&pipeline.Error{File: r.p.File, Pos: pos, Path: []string{"namespace"}, Msg: err.Error()})
	return errs
}
