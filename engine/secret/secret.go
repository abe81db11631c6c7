// Package secret keeps what kbrun must never show: the values of secret
// vars, the forms templates commonly turn them into, and every rendered
// value computed from one. Everything kbrun prints or writes goes through
// a Set's Mask.
package secret

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// MinLen is the shortest string a Set masks: masking shorter ones would
// blank out common letters everywhere (a one-letter secret masks that
// letter in every line). Secret vars shorter than this are refused at load.
const MinLen = 6

// Mask replaces a secret in output.
const Mask = "***"

// Set is a concurrency-safe set of strings to mask. It grows during a run
// as templates compute new values from secrets.
type Set struct {
	mu   sync.RWMutex
	have map[string]bool
	repl *strings.Replacer
}

// Add adds secret values with the encodings templates commonly apply to
// them (base64, quoting, JSON and URL escaping), and the same for each
// value without its surrounding white space: a secret read from a file
// (--set-file) usually ends with a newline that templates trim.
func (s *Set) Add(values ...string) {
	var all []string
	for _, v := range values {
		all = append(all, Variants(v)...)
		if t := strings.TrimSpace(v); t != v {
			all = append(all, Variants(t)...)
		}
	}
	s.addExact(all)
}

// AddDerived adds values computed from secrets (a whole rendered string,
// or the part of it that a secret changed), as they are.
func (s *Set) AddDerived(values ...string) { s.addExact(values) }

func (s *Set) addExact(values []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.have == nil {
		s.have = map[string]bool{}
	}
	added := false
	for _, v := range values {
		if len(v) >= MinLen && !s.have[v] {
			s.have[v] = true
			added = true
		}
	}
	if !added {
		return
	}
	list := make([]string, 0, len(s.have))
	for v := range s.have {
		list = append(list, v)
	}
	// Longest first, so that a value containing another is masked whole.
	sort.Slice(list, func(i, j int) bool {
		if len(list[i]) != len(list[j]) {
			return len(list[i]) > len(list[j])
		}
		return list[i] < list[j]
	})
	pairs := make([]string, 0, 2*len(list))
	for _, v := range list {
		pairs = append(pairs, v, Mask)
	}
	s.repl = strings.NewReplacer(pairs...)
}

// Empty reports whether nothing is masked.
func (s *Set) Empty() bool {
	if s == nil {
		return true
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.repl == nil
}

// Mask returns str with every secret replaced by ***.
func (s *Set) Mask(str string) string {
	if s == nil {
		return str
	}
	s.mu.RLock()
	r := s.repl
	s.mu.RUnlock()
	if r == nil {
		return str
	}
	return r.Replace(str)
}

// Value masks every string in a generic value (maps, lists), returning a
// copy; map keys are masked too.
func (s *Set) Value(v any) any {
	if s.Empty() {
		return v
	}
	switch x := v.(type) {
	case string:
		return s.Mask(x)
	case []any:
		out := make([]any, len(x))
		for i, item := range x {
			out[i] = s.Value(item)
		}
		return out
	case []string:
		out := make([]string, len(x))
		for i, item := range x {
			out[i] = s.Mask(item)
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

// Variants returns v and the forms a template commonly turns it into.
func Variants(v string) []string {
	out := []string{v}
	add := func(s string) {
		if s != v {
			out = append(out, s)
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		add(enc.EncodeToString([]byte(v)))
	}
	q := strconv.Quote(v)
	add(q[1 : len(q)-1])
	if j, err := json.Marshal(v); err == nil {
		add(string(j[1 : len(j)-1]))
	}
	add(url.QueryEscape(v))
	add(url.PathEscape(v))
	return out
}

// Alt returns a stand-in for a secret that differs from it in every letter
// and digit, with the same length: rendering a template with it instead of
// the secret shows which part of the output the secret made.
func Alt(v string) string {
	b := []byte(v)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z':
			b[i] = 'a' + (c-'a'+13)%26
		case c >= 'A' && c <= 'Z':
			b[i] = 'A' + (c-'A'+13)%26
		case c >= '0' && c <= '9':
			b[i] = '0' + (c-'0'+5)%10
		case c < 0x80:
			b[i] = 'x'
		}
	}
	return string(b)
}

// Segments compares a value rendered with the secrets (real) and with
// their stand-ins (alt) and returns the parts of real that the secrets
// made, widened to whole tokens (a base64 or hex run, a URL-escaped word),
// line by line when both have the same lines.
func Segments(real, alt string) []string {
	if real == alt {
		return nil
	}
	rl, al := strings.Split(real, "\n"), strings.Split(alt, "\n")
	if len(rl) != len(al) {
		return []string{segment(real, alt)}
	}
	var out []string
	for i := range rl {
		if rl[i] != al[i] {
			out = append(out, segment(rl[i], al[i]))
		}
	}
	return out
}

func segment(real, alt string) string {
	p := 0
	for p < len(real) && p < len(alt) && real[p] == alt[p] {
		p++
	}
	q := 0
	for q < len(real)-p && q < len(alt)-p && real[len(real)-1-q] == alt[len(alt)-1-q] {
		q++
	}
	start, end := p, len(real)-q
	for start > 0 && token(real[start-1]) {
		start--
	}
	for end < len(real) && token(real[end]) {
		end++
	}
	return real[start:end]
}

// token reports whether c belongs to an encoded run: base64 (std and URL),
// hex, URL escapes.
func token(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("+/=_-%~", c) >= 0
}
