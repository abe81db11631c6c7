package main

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

func render(runs []run, snaps []snapshot, total time.Duration) string {
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	failed := 0
	var walls []time.Duration
	var rss []float64
	for _, r := range runs {
		if r.code != 0 {
			failed++
		}
		walls = append(walls, r.wall)
		rss = append(rss, float64(r.maxRSS)/1024)
	}
	w("## Soak: %d runs of the default pipeline in a row\n\n", len(runs))
	w("Measured %s; %s in all. Every run: `kbrun run pipelines/kaniko-rootless.yaml --set namespace=soak --set imageTag=soak --set kanikoArgs=--reproducible` (it creates the namespace and deletes it).\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), total.Round(time.Second))
	sorted := append([]time.Duration(nil), walls...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	w("| | result |\n|---|---|\n")
	w("| runs failed | **%d of %d** |\n", failed, len(runs))
	w("| wall per run | median %s, 95th percentile %s, slowest %s |\n", sorted[len(sorted)/2].Round(100*time.Millisecond), sorted[len(sorted)*95/100].Round(100*time.Millisecond), sorted[len(sorted)-1].Round(100*time.Millisecond))
	k := min(20, len(rss))
	w("| kbrun's peak RSS per run | first %d runs: mean %.1f MiB; last %d: mean %.1f MiB; all: min %.1f, max %.1f MiB; trend %+.2f MiB per 100 runs (least squares) |\n",
		k, mean(rss[:k]), k, mean(rss[len(rss)-k:]), minF(rss), maxF(rss), slope(rss)*100)
	heads := []string{"before", "after run 1", fmt.Sprintf("after run %d", len(runs))}
	w("\nBefore, after the first run and after the last (everything in the cluster, every namespace; events excluded):\n\n| what | %s |\n|---|---|---|---|\n", strings.Join(heads, " | "))
	row := func(what string, get func(snapshot) string) {
		cells := make([]string, len(snaps))
		for i, s := range snaps {
			cells[i] = get(s)
		}
		w("| %s | %s |\n", what, strings.Join(cells, " | "))
	}
	num := func(f func(snapshot) int) func(snapshot) string {
		return func(s snapshot) string { return strconv.Itoa(f(s)) }
	}
	row("pods", num(func(s snapshot) int { return s.pods }))
	row("Leases", num(func(s snapshot) int { return s.leases }))
	row("objects of every kind", num(func(s snapshot) int {
		t := 0
		for _, v := range s.objects {
			t += v
		}
		return t
	}))
	kinds := map[string]bool{}
	for _, s := range snaps {
		for k, v := range s.objects {
			if v != snaps[0].objects[k] || v != snaps[len(snaps)-1].objects[k] {
				kinds[k] = true
			}
		}
	}
	for _, k := range sortedKeys(kinds) {
		row("↳ "+k+" (changed)", num(func(s snapshot) int { return s.objects[k] }))
	}
	row("images on the node", func(s snapshot) string {
		if s.images < 0 {
			return "unknown (" + s.imageErr + ")"
		}
		return strconv.Itoa(s.images)
	})
	repos := map[string]bool{}
	for _, s := range snaps {
		for r := range s.repos {
			repos[r] = true
		}
	}
	for _, r := range sortedKeys(repos) {
		row("registry tags of "+r, num(func(s snapshot) int { return s.repos[r] }))
	}
	row("registry storage", func(s snapshot) string { return mib(s.regBytes) })
	row("kbrun-* entries in "+os.TempDir(), num(func(s snapshot) int { return len(s.tmp) }))
	row("files in the runs' discovery cache", num(func(s snapshot) int { return s.cacheN }))
	if failed > 0 {
		w("\nFailed runs:\n\n")
		for i, r := range runs {
			if r.code != 0 {
				w("- run %d: exit %d: %s\n", i+1, r.code, r.why)
			}
		}
	}
	w("\nPeak RSS per run (MiB), in order: %s\n", joinF(rss))
	return b.String()
}

func mib(n int64) string {
	if n < 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(max(1, len(v)))
}

func minF(v []float64) float64 {
	m := v[0]
	for _, x := range v {
		m = min(m, x)
	}
	return m
}

func maxF(v []float64) float64 {
	m := v[0]
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

// slope is the least-squares slope of v against its index.
func slope(v []float64) float64 {
	n := float64(len(v))
	if n < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i, y := range v {
		x := float64(i)
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}

func joinF(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.1f", x)
	}
	return strings.Join(parts, " ")
}
