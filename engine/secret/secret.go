// Package secret keeps what kbrun must never show: the values of secret
// vars, the forms templates commonly turn them into, and every rendered
// value computed from one. Everything kbrun prints or writes goes through
// a Set's Mask.
//
// A Set also gives every secret two stand-ins (see standin): rendering a
// template once with the real values and once with the stand-ins shows
// whether, and where, a secret reached the result, whatever the template
// did to it (see Alt and Cuts).
package secret

import (
	"sort"
	"strings"
	"sync"
)

// MinLen is the shortest string a Set masks: masking shorter ones would
// blank out common letters everywhere (a one-letter secret masks that
// letter in every line). Secret vars shorter than this are refused at
// load, and so is a multi-line secret with a line shorter than this (it is
// masked line by line, as output is printed).
const MinLen = 6

// Mask replaces a secret in output.
const Mask = "***"

// Families is the number of stand-ins each secret has: a piece of a
// secret is reported only when the renderings with both show it at the
// same place, so that a stand-in's letters turning up by chance (in a
// hash) are not taken for one.
const Families = 2

// entry is one string to mask, with what it becomes in each stand-in
// rendering.
type entry struct {
	s   string
	alt [Families]string
	// forms are a secret's common forms (see variantPairs), itself first.
	forms []*entry
}

// Set is a concurrency-safe set of strings to mask. It grows during a run
// as templates compute new values from secrets.
type Set struct {
	mu sync.RWMutex
	// masked are the strings masked wherever they occur, longest first.
	masked []string
	have   map[string]bool
	// cores are the secrets, their forms and the parts of rendered values
	// that secrets made, longest first: the strings a stand-in rendering
	// replaces.
	cores    []*entry
	coreHave map[string]bool
	// units are the secrets themselves (each line of a multi-line one):
	// what a piece is a piece of.
	units []*entry
	// leaves are values computed from secrets that are too short to mask
	// in running text, masked where a parameter is exactly one of them
	// (an env value that a template cut from a secret).
	leaves map[string]bool
}

// Add adds secret values with the encodings templates commonly apply to
// them (base64, quoting, JSON and URL escaping, case changes), and the
// same for each value without its surrounding white space (a secret read
// from a file with --set-file usually ends with a newline that templates
// trim) and for each line of a multi-line value (output is masked line by
// line as it is printed).
func (s *Set) Add(values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range values {
		for _, u := range units(v) {
			e := &entry{s: u}
			for f := range Families {
				e.alt[f] = standin(u, f)
			}
			e.forms = variantPairs(e)
			s.units = append(s.units, e)
			for _, p := range e.forms {
				s.addCore(p)
			}
		}
	}
	s.sortAll()
}

// units are the strings of v that must each be masked on their own: v,
// v trimmed, and each line of a multi-line v.
func units(v string) []string {
	out := []string{v}
	if t := strings.TrimSpace(v); t != v && t != "" {
		out = append(out, t)
	}
	if strings.Contains(strings.TrimSpace(v), "\n") {
		for _, line := range strings.Split(v, "\n") {
			if t := strings.TrimSpace(line); len(t) >= MinLen {
				out = append(out, t)
			}
		}
	}
	return out
}

// AddDerived adds values computed from secrets (the part of a rendered
// value that a secret made), as they are. Their stand-ins keep what is not
// a secret: the secrets inside are replaced by theirs.
func (s *Set) AddDerived(values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range values {
		if s.coreHave[v] || len(v) < MinLen {
			continue
		}
		e := &entry{s: v}
		for f := range Families {
			e.alt[f] = s.replace(v, f)
			if e.alt[f] == v {
				e.alt[f] = standin(v, f)
			}
		}
		s.addCore(e)
	}
	s.sortAll()
}

// AddWhole adds whole rendered values computed from secrets: masked where
// they occur, but not taken apart (they hold text that is not secret).
func (s *Set) AddWhole(values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range values {
		s.addMasked(v)
	}
	s.sortAll()
}

// AddLeaf adds a value computed from a secret that goes only where it is
// never printed (an env value, stdin): plans and reports show a parameter
// that is exactly this value as ***, however short.
func (s *Set) AddLeaf(v string) {
	if v == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.leaves == nil {
		s.leaves = map[string]bool{}
	}
	s.leaves[v] = true
	s.addMasked(v)
	s.sortAll()
}

func (s *Set) addCore(e *entry) {
	if s.coreHave == nil {
		s.coreHave = map[string]bool{}
	}
	if len(e.s) < MinLen || s.coreHave[e.s] {
		return
	}
	s.coreHave[e.s] = true
	s.cores = append(s.cores, e)
	s.addMasked(e.s)
}

func (s *Set) addMasked(v string) {
	if s.have == nil {
		s.have = map[string]bool{}
	}
	if len(v) >= MinLen && !s.have[v] {
		s.have[v] = true
		s.masked = append(s.masked, v)
	}
}

// sortAll keeps the lists longest first, so that a value containing
// another is taken whole.
func (s *Set) sortAll() {
	longest := func(a, b string) bool {
		if len(a) != len(b) {
			return len(a) > len(b)
		}
		return a < b
	}
	sort.Slice(s.masked, func(i, j int) bool { return longest(s.masked[i], s.masked[j]) })
	sort.Slice(s.cores, func(i, j int) bool { return longest(s.cores[i].s, s.cores[j].s) })
}

// Empty reports whether nothing is masked.
func (s *Set) Empty() bool {
	if s == nil {
		return true
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.masked) == 0 && len(s.leaves) == 0
}

// Mask returns str with every secret replaced by ***. Secrets that overlap
// or touch in str are masked as one: masking them one after another would
// leave the part of one that the other covered.
func (s *Set) Mask(str string) string {
	if s == nil {
		return str
	}
	s.mu.RLock()
	list := s.masked
	s.mu.RUnlock()
	spans := find(str, list)
	if len(spans) == 0 {
		return str
	}
	var b strings.Builder
	last := 0
	for _, sp := range spans {
		b.WriteString(str[last:sp[0]])
		b.WriteString(Mask)
		last = sp[1]
	}
	b.WriteString(str[last:])
	return b.String()
}

// find returns where the strings of list occur in str, every occurrence
// (overlapping ones too), merged into disjoint spans in order.
func find(str string, list []string) [][2]int {
	var spans [][2]int
	for _, m := range list {
		if len(m) > len(str) {
			continue
		}
		for off := 0; off < len(str); {
			i := strings.Index(str[off:], m)
			if i < 0 {
				break
			}
			spans = append(spans, [2]int{off + i, off + i + len(m)})
			off += i + 1
		}
	}
	if len(spans) == 0 {
		return nil
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i][0] < spans[j][0] })
	out := spans[:1]
	for _, sp := range spans[1:] {
		if last := &out[len(out)-1]; sp[0] <= last[1] {
			last[1] = max(last[1], sp[1])
			continue
		}
		out = append(out, sp)
	}
	return out
}

// Value masks every string in a generic value (maps, lists), returning a
// copy; map keys are masked too. A string that is exactly a leaf (see
// AddLeaf) is masked whole.
func (s *Set) Value(v any) any {
	if s.Empty() {
		return v
	}
	switch x := v.(type) {
	case string:
		return s.leaf(x)
	case []any:
		out := make([]any, len(x))
		for i, item := range x {
			out[i] = s.Value(item)
		}
		return out
	case []string:
		out := make([]string, len(x))
		for i, item := range x {
			out[i] = s.leaf(item)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, item := range x {
			out[s.Mask(k)] = s.Value(item)
		}
		return out
	default:
		return v
	}
}

func (s *Set) leaf(str string) string {
	s.mu.RLock()
	whole := s.leaves[str]
	s.mu.RUnlock()
	if whole {
		return Mask
	}
	return s.Mask(str)
}
