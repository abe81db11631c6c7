package assert

import (
	"fmt"
	"sort"
	"strings"
)

// Bounds of a timeout's report: the objects shown per expectation, the
// differences shown per object.
const (
	maxObjects = 3
	maxDiffs   = 20
)

// report says, for a timeout, which expectations do not hold and why:
// per expected object, the closest live object (or, with match: all,
// those that differ) and how it differs, field by field.
func report(rs []result) string {
	var bad []string
	for _, r := range rs {
		if !r.ok {
			bad = append(bad, r.explain())
		}
	}
	verb := "do"
	if len(bad) == 1 {
		verb = "does"
	}
	return fmt.Sprintf("every expected object matches; %d of %d %s not:\n%s", len(bad), len(rs), verb, strings.Join(bad, "\n"))
}

func (r result) explain() string {
	e := r.w.e
	head := fmt.Sprintf("%s (%s)", e.what(r.w.ns, r.match), e.source)
	if len(r.found) == 0 {
		if e.name != "" {
			return head + ": not found"
		}
		return head + ": none exists"
	}
	if e.name != "" {
		return head + " differs:\n" + diffLines(r.diffs[e.name])
	}
	names := make([]string, 0, len(r.diffs))
	for n := range r.diffs {
		names = append(names, n)
	}
	if r.match == MatchAny {
		// The closest: fewest differences, then by name.
		sort.Slice(names, func(i, j int) bool {
			di, dj := len(r.diffs[names[i]]), len(r.diffs[names[j]])
			return di < dj || di == dj && names[i] < names[j]
		})
		return fmt.Sprintf("%s: %d found, none matches; the closest, %s, differs:\n%s", head, len(r.found), names[0], diffLines(r.diffs[names[0]]))
	}
	sort.Strings(names)
	var b strings.Builder
	verb := "differ"
	if len(names) == 1 {
		verb = "differs"
	}
	fmt.Fprintf(&b, "%s: %d of %d %s", head, len(names), len(r.found), verb)
	for i, n := range names {
		if i == maxObjects {
			fmt.Fprintf(&b, "\n  and %d more: %s", len(names)-maxObjects, strings.Join(names[maxObjects:], ", "))
			break
		}
		fmt.Fprintf(&b, "\n  %s differs:\n%s", n, indent(diffLines(r.diffs[n]), "  "))
	}
	return b.String()
}

func diffLines(ds []Mismatch) string {
	var lines []string
	for i, d := range ds {
		if i == maxDiffs {
			lines = append(lines, fmt.Sprintf("  and %d more differences", len(ds)-maxDiffs))
			break
		}
		lines = append(lines, strings.Repeat("  ", 1+d.Depth)+d.String())
	}
	return strings.Join(lines, "\n")
}
