package valid

import "strings"

// Closest returns the known value s differs from by at most two letters
// (the nearest; with fold, case aside), or "" when none is that near: the
// "did you mean" of every error that names a known value.
func Closest(s string, known []string, fold bool) string {
	if fold {
		s = strings.ToLower(s)
	}
	best, bestD := "", 3
	for _, k := range known {
		kk := k
		if fold {
			kk = strings.ToLower(k)
		}
		if d := distance(kk, s); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
