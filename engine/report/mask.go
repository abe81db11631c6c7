package report

import "github.com/kbrun/kbrun/engine/secret"

// Masked wraps a reporter so that no event reaches it unmasked. The set may
// grow during the run; each event is masked with what it holds then.
func Masked(s *secret.Set, r Reporter) Reporter {
	if s == nil {
		return r
	}
	return Func(func(e Event) {
		if s.Empty() {
			r.Report(e)
			return
		}
		e.Describe = s.Mask(e.Describe)
		e.Line = s.Mask(e.Line)
		e.Error = s.Mask(e.Error)
		e.Reason = s.Mask(e.Reason)
		e.Params = s.Value(e.Params)
		e.Manifests = s.Value(e.Manifests).([]string)
		if e.Outputs != nil {
			e.Outputs = s.Value(e.Outputs).(map[string]any)
		}
		for i, c := range e.Changes {
			e.Changes[i].Object = s.Mask(c.Object)
			e.Changes[i].Fields = s.Value(c.Fields).([]string)
		}
		r.Report(e)
	})
}
