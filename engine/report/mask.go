package report

import "github.com/kbrun/kbrun/engine/secret"

// Masked wraps a reporter so that no event reaches it unmasked: every text
// field, names included (a matrix cell is named after its values, a
// namespace may be rendered from a var). The set may grow during the run;
// each event is masked with what it holds then.
func Masked(s *secret.Set, r Reporter) Reporter {
	if s == nil {
		return r
	}
	return Func(func(e Event) {
		if s.Empty() {
			r.Report(e)
			return
		}
		for _, f := range []*string{&e.Pipeline, &e.RunID, &e.Task, &e.TaskType, &e.Index, &e.Describe,
			&e.Namespace, &e.Origin, &e.Stream, &e.Line, &e.Status, &e.Reason, &e.Error, &e.Diagnostics} {
			*f = s.Mask(*f)
		}
		e.Params = s.Value(e.Params)
		e.Manifests = s.Value(e.Manifests).([]string)
		if e.Outputs != nil {
			e.Outputs = s.Value(e.Outputs).(map[string]any)
		}
		if e.Changes != nil {
			// A copy: the sender keeps its own.
			changes := make([]Change, len(e.Changes))
			for i, c := range e.Changes {
				changes[i] = Change{Object: s.Mask(c.Object), Action: s.Mask(c.Action), Fields: s.Value(c.Fields).([]string), Note: s.Mask(c.Note)}
			}
			e.Changes = changes
		}
		r.Report(e)
	})
}
