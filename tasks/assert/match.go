package assert

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// A matcher is one expected value, compiled: it says how an actual value
// differs from it. Paths in mismatches are kubectl's (spec.containers[0].image).
type matcher interface {
	match(path string, actual any, present bool, root map[string]any) []Mismatch
	// String is the expectation as the user wrote it, for messages.
	String() string
}

// Mismatch is one way a live object differs from its expectation.
type Mismatch struct {
	Path     string
	Expected string
	Actual   string
	// Note replaces "expected X, got Y" when the difference is of shape
	// (no list item matches); the differences that explain it follow, one
	// level deeper.
	Note  string
	Depth int
}

func (m Mismatch) String() string {
	p := m.Path
	if p == "" {
		p = "(the whole object)"
	}
	if m.Note != "" {
		return p + ": " + m.Note
	}
	return fmt.Sprintf("%s: expected %s, got %s", p, m.Expected, m.Actual)
}

// compileError is a problem with the expectation at path (its keys and
// list indices, for ErrorAt).
type compileError struct {
	path []string
	msg  string
}

// Operators of list expectations: a map holding only one of them stands
// for a list matched in any order.
const (
	opAny = "$any" // each expected item matches some item
	opAll = "$all" // every item matches one of the expected items, each of which is matched
)

// compile turns an expected value (YAML decoded as JSON) into a matcher.
func compile(v any, path []string, errs *[]compileError) matcher {
	switch x := v.(type) {
	case map[string]any:
		for k := range x {
			if strings.HasPrefix(k, "$") && k != opAny && k != opAll {
				*errs = append(*errs, compileError{append(path, k), fmt.Sprintf("unknown operator %s: the list forms are %s and %s", k, opAny, opAll)})
				return nil
			}
		}
		for _, op := range []string{opAny, opAll} {
			if items, ok := x[op]; ok {
				if len(x) > 1 {
					*errs = append(*errs, compileError{append(path, op), op + " stands alone in its map: it is the expected list"})
					return nil
				}
				return compileList(op, items, append(path, op), errs)
			}
		}
		m := &mapM{fields: map[string]matcher{}}
		for k, item := range x {
			m.keys = append(m.keys, k)
			m.fields[k] = compile(item, append(path[:len(path):len(path)], k), errs)
		}
		sort.Strings(m.keys)
		return m
	case []any:
		l := &listM{}
		for i, item := range x {
			l.items = append(l.items, compile(item, append(path[:len(path):len(path)], strconv.Itoa(i)), errs))
		}
		return l
	case string:
		if src, ok := celSource(x); ok {
			c, err := compileCEL(src)
			if err != nil {
				*errs = append(*errs, compileError{path, err.Error()})
				return nil
			}
			return c
		}
	}
	return valueM{v}
}

func compileList(op string, items any, path []string, errs *[]compileError) matcher {
	list, ok := items.([]any)
	if !ok {
		// "$all: {ready: true}": every item is like this one.
		list = []any{items}
	}
	if len(list) == 0 {
		*errs = append(*errs, compileError{path, op + " needs at least one expected item"})
		return nil
	}
	u := &unorderedM{all: op == opAll}
	for i, item := range list {
		p := path
		if ok {
			p = append(path[:len(path):len(path)], strconv.Itoa(i))
		}
		u.items = append(u.items, compile(item, p, errs))
	}
	return u
}

// valueM is a plain value: equal (numbers by value); null is also met by
// an absent field.
type valueM struct{ v any }

func (m valueM) String() string { return show(m.v) }

func (m valueM) match(path string, actual any, present bool, _ map[string]any) []Mismatch {
	if m.v == nil && actual == nil {
		return nil
	}
	if present && equal(m.v, actual) {
		return nil
	}
	return []Mismatch{{Path: path, Expected: m.String(), Actual: shown(actual, present)}}
}

func equal(a, b any) bool {
	if x, ok := number(a); ok {
		y, ok := number(b)
		return ok && x == y
	}
	return reflect.DeepEqual(a, b)
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

// mapM is a map: a subset of the actual one.
type mapM struct {
	keys   []string
	fields map[string]matcher
}

func (m *mapM) String() string {
	parts := make([]string, len(m.keys))
	for i, k := range m.keys {
		parts[i] = strconv.Quote(k) + ":" + m.fields[k].String()
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func (m *mapM) match(path string, actual any, present bool, root map[string]any) []Mismatch {
	obj, ok := actual.(map[string]any)
	if present && actual != nil && !ok {
		got := show(actual)
		if _, isList := actual.([]any); isList {
			got += " (a list: {" + opAny + ": [...]} or {" + opAll + ": ...} match its items in any order)"
		}
		return []Mismatch{{Path: path, Expected: "a map " + m.String(), Actual: got}}
	}
	var out []Mismatch
	for _, k := range m.keys {
		v, has := obj[k]
		out = append(out, m.fields[k].match(join(path, k), v, has, root)...)
	}
	return out
}

// listM is a list matched item by item, in order, with as many items.
type listM struct{ items []matcher }

func (m *listM) String() string {
	parts := make([]string, len(m.items))
	for i, it := range m.items {
		parts[i] = it.String()
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func (m *listM) match(path string, actual any, present bool, root map[string]any) []Mismatch {
	list, ok := actual.([]any)
	if !ok && (present && actual != nil || len(m.items) > 0) {
		return []Mismatch{{Path: path, Expected: "a list of " + items(len(m.items)) + ", in order", Actual: shown(actual, present)}}
	}
	var out []Mismatch
	if len(list) != len(m.items) {
		out = append(out, Mismatch{Path: path, Expected: items(len(m.items)) + ", in order", Actual: items(len(list))})
	}
	for i := range min(len(list), len(m.items)) {
		out = append(out, m.items[i].match(index(path, i), list[i], true, root)...)
	}
	return out
}

// unorderedM is a list matched in any order: $any or $all.
type unorderedM struct {
	all   bool
	items []matcher
}

func (m *unorderedM) String() string {
	op := opAny
	if m.all {
		op = opAll
	}
	return op + (&listM{items: m.items}).String()
}

func (m *unorderedM) match(path string, actual any, present bool, root map[string]any) []Mismatch {
	list, ok := actual.([]any)
	if !ok || len(list) == 0 {
		want := "an item matching " + m.items[0].String()
		if m.all {
			want = "items that each match one of " + (&listM{items: m.items}).String()
		}
		return []Mismatch{{Path: path, Expected: want, Actual: shown(actual, present)}}
	}
	// diffs[i][j]: how item j differs from expected item i.
	diffs := make([][][]Mismatch, len(m.items))
	for i, e := range m.items {
		diffs[i] = make([][]Mismatch, len(list))
		for j, v := range list {
			diffs[i][j] = e.match(index(path, j), v, true, root)
		}
	}
	var out []Mismatch
	for i, e := range m.items {
		best := closest(diffs[i])
		if len(diffs[i][best]) == 0 {
			continue
		}
		out = append(out, Mismatch{Path: path, Note: fmt.Sprintf("no item matches %s; the closest, [%d], differs:", e.String(), best)})
		out = append(out, deeper(diffs[i][best])...)
	}
	if !m.all {
		return out
	}
	for j := range list {
		col := make([][]Mismatch, len(m.items))
		for i := range m.items {
			col[i] = diffs[i][j]
		}
		best := closest(col)
		if len(col[best]) == 0 {
			continue
		}
		if len(m.items) == 1 {
			// Already said, unless it was not the closest item.
			if !containsAll(out, col[best]) {
				out = append(out, Mismatch{Path: index(path, j), Note: "does not match " + m.items[0].String() + ":"})
				out = append(out, deeper(col[best])...)
			}
			continue
		}
		out = append(out, Mismatch{Path: index(path, j), Note: fmt.Sprintf("matches none of the expected items; the closest, %s, differs:", m.items[best].String())})
		out = append(out, deeper(col[best])...)
	}
	return out
}

// deeper is ds one level down, under the note they explain.
func deeper(ds []Mismatch) []Mismatch {
	out := make([]Mismatch, len(ds))
	for i, d := range ds {
		d.Depth++
		out[i] = d
	}
	return out
}

func containsAll(list, part []Mismatch) bool {
	for _, p := range part {
		found := false
		for _, l := range list {
			found = found || l.Path == p.Path && l.Expected == p.Expected && l.Actual == p.Actual && l.Note == p.Note
		}
		if !found {
			return false
		}
	}
	return true
}

// closest is the index of the shortest list of differences; of equals,
// one whose name or type (what tells list items apart) is as expected,
// else the first.
func closest(diffs [][]Mismatch) int {
	score := func(d []Mismatch) int {
		s := 2 * len(d)
		for _, m := range d {
			if m.Depth == 0 && (strings.HasSuffix(m.Path, "].name") || strings.HasSuffix(m.Path, "].type")) {
				return s + 1
			}
		}
		return s
	}
	best := 0
	for i, d := range diffs {
		if score(d) < score(diffs[best]) {
			best = i
		}
	}
	return best
}

func join(path, key string) string {
	if strings.ContainsAny(key, "./[]\" ") || key == "" {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func items(n int) string {
	if n == 1 {
		return "1 item"
	}
	return strconv.Itoa(n) + " items"
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// maxShown bounds a value quoted in a message.
const maxShown = 120

// show writes a value compactly, as JSON.
func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	s := string(b)
	if len(s) > maxShown {
		s = s[:maxShown-3] + "..."
	}
	return s
}

func shown(v any, present bool) string {
	if !present {
		return "nothing (the field is absent)"
	}
	return show(v)
}
