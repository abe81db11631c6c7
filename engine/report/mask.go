package report

import (
	"sort"
	"strings"
)

// Masker replaces secret values with *** in everything kbrun shows.
type Masker struct {
	repl *strings.Replacer
}

// NewMasker masks the given secrets; empty ones are ignored. Longer secrets
// are replaced first so that one containing another is masked whole.
func NewMasker(secrets []string) *Masker {
	var uniq []string
	seen := map[string]bool{}
	for _, s := range secrets {
		if s != "" && !seen[s] {
			seen[s] = true
			uniq = append(uniq, s)
		}
	}
	if len(uniq) == 0 {
		return &Masker{}
	}
	sort.Slice(uniq, func(i, j int) bool { return len(uniq[i]) > len(uniq[j]) })
	pairs := make([]string, 0, 2*len(uniq))
	for _, s := range uniq {
		pairs = append(pairs, s, "***")
	}
	return &Masker{repl: strings.NewReplacer(pairs...)}
}

// String masks s.
func (m *Masker) String(s string) string {
	if m == nil || m.repl == nil {
		return s
	}
	return m.repl.Replace(s)
}

// Value masks every string in a generic value, returning a copy.
func (m *Masker) Value(v any) any {
	if m == nil || m.repl == nil {
		return v
	}
	switch x := v.(type) {
	case string:
		return m.String(x)
	case []any:
		out := make([]any, len(x))
		for i, item := range x {
			out[i] = m.Value(item)
		}
		return out
	case []string:
		out := make([]string, len(x))
		for i, item := range x {
			out[i] = m.String(item)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, item := range x {
			out[k] = m.Value(item)
		}
		return out
	default:
		return v
	}
}

// Masked wraps a reporter so that no event reaches it unmasked.
func Masked(m *Masker, r Reporter) Reporter {
	if m == nil || m.repl == nil {
		return r
	}
	return Func(func(e Event) {
		e.Describe = m.String(e.Describe)
		e.Line = m.String(e.Line)
		e.Error = m.String(e.Error)
		e.Reason = m.String(e.Reason)
		e.Params = m.Value(e.Params)
		if e.Outputs != nil {
			e.Outputs = m.Value(e.Outputs).(map[string]any)
		}
		r.Report(e)
	})
}
