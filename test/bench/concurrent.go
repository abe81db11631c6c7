package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kbrun/kbrun/test/apicost"
)

// batch is runs of the default pipeline started at the same instant.
type batch struct {
	name    string
	wall    time.Duration
	runs    []runResult
	reqs    []apicost.Breakdown
	cpu     cpuUse
	failed  int
	sharedN bool // in one namespace, with their own names
}

// measureConcurrent times one run alone, then n runs at once in n
// namespaces, then shared runs at once in one namespace (their own
// builderName and testName), each run behind its own faultproxy (faults
// off) for its request count, and accounts for the machine's CPU during
// each batch.
func measureConcurrent(root, work, kbrun string, env []string, kubeconfig string, n, shared int) string {
	warm := runBatch(root, work, kbrun, env, kubeconfig, "warm-up", 1, false)
	if warm.failed > 0 {
		fmt.Fprintln(os.Stderr, "bench: the warm-up run failed")
	}
	alone := runBatch(root, work, kbrun, env, kubeconfig, "1 alone", 1, false)
	many := runBatch(root, work, kbrun, env, kubeconfig, fmt.Sprintf("%d at once, %d namespaces", n, n), n, false)
	var one batch
	if shared > 0 {
		one = runBatch(root, work, kbrun, env, kubeconfig, fmt.Sprintf("%d at once, one namespace", shared), shared, true)
	}
	return renderConcurrent(alone, many, one)
}

func runBatch(root, work, kbrun string, env []string, kubeconfig, name string, n int, sharedNS bool) batch {
	b := batch{name: name, runs: make([]runResult, n), reqs: make([]apicost.Breakdown, n), sharedN: sharedNS}
	type slot struct {
		ns   string
		args []string
		side *side
	}
	slots := make([]slot, n)
	tag := strconv.FormatInt(time.Now().Unix()%100000, 10)
	for i := range slots {
		ns := fmt.Sprintf("bench-c-%s-%d", tag, i)
		var args []string
		if sharedNS {
			ns = "bench-c-" + tag
			args = []string{"--set", fmt.Sprintf("builderName=builder-%d", i), "--set", fmt.Sprintf("testName=test-%d", i)}
		}
		if i == 0 || !sharedNS {
			teamNamespace(env, ns)
		}
		slots[i] = slot{ns: ns, args: args, side: newSide(work, fmt.Sprintf("c%s-%d", tag, i), kubeconfig)}
	}
	before := sampleCPU()
	start := time.Now()
	var wg sync.WaitGroup
	for i, s := range slots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kenv := append(append([]string{}, env...), "KUBECACHEDIR="+s.side.cacheDir)
			b.runs[i] = runKbrun(root, kbrun, kenv, s.ns, s.side.kubeconfig, s.args...)
			b.reqs[i] = apicost.Count(s.side.proxy.Log())
		}()
	}
	wg.Wait()
	b.wall = time.Since(start)
	b.cpu = sampleCPU().since(before)
	for _, r := range b.runs {
		b.cpu.kbrun += r.cpu
		if !r.ok {
			b.failed++
		}
	}
	b.cpu.goBuild = b.cpu.children - b.cpu.kbrun
	for i, s := range slots {
		s.side.proxy.Close()
		if i == 0 || !sharedNS {
			deleteNamespace(env, s.ns)
		}
	}
	fmt.Fprintf(os.Stderr, "%s: %s, %d failed\n", name, b.wall.Round(time.Millisecond), b.failed)
	return b
}

// cpuUse is CPU time spent during a batch, by whom.
type cpuUse struct {
	wall     time.Duration
	machine  time.Duration            // every core, busy
	parts    map[string]time.Duration // cluster components (by pidfile), pods (cgroup)
	children time.Duration            // this process's children: kbrun and the go builds it ran
	kbrun    time.Duration            // kbrun's own (run.end cpuMs)
	goBuild  time.Duration            // children minus kbrun's own
	at       time.Time
}

var clusterPids = "/var/lib/kbrun-cluster/pids"

// sampleCPU reads the cumulative CPU counters.
func sampleCPU() cpuUse {
	u := cpuUse{parts: map[string]time.Duration{}, at: time.Now()}
	if data, err := os.ReadFile("/proc/stat"); err == nil {
		f := strings.Fields(strings.SplitN(string(data), "\n", 2)[0])
		var busy int64
		for i, v := range f[1:] {
			n, _ := strconv.ParseInt(v, 10, 64)
			if i != 3 && i != 4 && i < 8 { // not idle, not iowait; guest time is in user
				busy += n
			}
		}
		u.machine = ticks(busy)
	}
	files, _ := filepath.Glob(filepath.Join(clusterPids, "*.pid"))
	for _, f := range files {
		pid, _ := os.ReadFile(f)
		if d, ok := procCPU(strings.TrimSpace(string(pid))); ok {
			u.parts[strings.TrimSuffix(filepath.Base(f), ".pid")] = d
		}
	}
	for _, p := range []string{"/sys/fs/cgroup/cpuacct/kubepods/cpuacct.usage", "/sys/fs/cgroup/cpu,cpuacct/kubepods/cpuacct.usage"} {
		if data, err := os.ReadFile(p); err == nil {
			ns, _ := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
			u.parts["pods (Kaniko, test pods, registry)"] = time.Duration(ns)
			break
		}
	}
	for _, p := range []string{"/sys/fs/cgroup/kubepods/cpu.stat", "/sys/fs/cgroup/kubepods.slice/cpu.stat"} {
		if data, err := os.ReadFile(p); err == nil {
			for _, line := range strings.Split(string(data), "\n") {
				if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
					us, _ := strconv.ParseInt(v, 10, 64)
					u.parts["pods (Kaniko, test pods, registry)"] = time.Duration(us) * time.Microsecond
				}
			}
			break
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru) == nil {
		u.children = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return u
}

func (u cpuUse) since(b cpuUse) cpuUse {
	out := cpuUse{wall: u.at.Sub(b.at), machine: u.machine - b.machine, children: u.children - b.children, parts: map[string]time.Duration{}}
	for k, v := range u.parts {
		if old, ok := b.parts[k]; ok {
			out.parts[k] = v - old
		}
	}
	return out
}

// procCPU is a process's user+system time from /proc/PID/stat.
func procCPU(pid string) (time.Duration, bool) {
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, false
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ticks(ut + st), true
}

// ticks converts clock ticks (USER_HZ, 100 on Linux) to time.
func ticks(n int64) time.Duration { return time.Duration(n) * 10 * time.Millisecond }

func renderConcurrent(alone, many, shared batch) string {
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("## Many runs at once\n\n")
	w("Measured %s: one warm-up run, then the batches below; runs in a batch start at the same instant, each in a namespace created beforehand (outside the timings, like the seed's team namespace), each behind its own faultproxy with faults off.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	batches := []batch{alone, many}
	if shared.runs != nil {
		batches = append(batches, shared)
	}
	w("| batch | wall (all done) | per run: median / slowest | failed | requests per run: median (min-max) |\n|---|---|---|---|---|\n")
	for _, bt := range batches {
		var walls []time.Duration
		var totals []int
		for i, r := range bt.runs {
			walls = append(walls, r.wall)
			totals = append(totals, bt.reqs[i].Total())
		}
		sort.Ints(totals)
		w("| %s | **%s** | %s / %s | %d | %d (%d-%d) |\n", bt.name, bt.wall.Round(100*time.Millisecond), median(walls).Round(100*time.Millisecond), maxDur(walls).Round(100*time.Millisecond), bt.failed, totals[(len(totals)-1)/2], totals[0], totals[len(totals)-1])
	}
	w("\n%d at once took **%.1f×** the wall time of one run alone (%s vs %s).\n\n", len(many.runs), float64(many.wall)/float64(alone.wall), many.wall.Round(100*time.Millisecond), alone.wall.Round(100*time.Millisecond))
	w("Per task, median over the batch's runs:\n\n| task |")
	for _, bt := range batches {
		w(" %s |", bt.name)
	}
	w("\n|---|%s\n", strings.Repeat("---|", len(batches)))
	for _, task := range []string{"namespace", "builder", "buildProgram", "server", "prepare", "checkUserNamespace", "copy", "build", "test", "logs", "health", "cleanup"} {
		w("| %s |", task)
		for _, bt := range batches {
			w(" %s |", stepMedian(bt.runs, task))
		}
		w("\n")
	}
	w("\nCPU time during each batch (2 cores = 2 s of CPU per second of wall time):\n\n| where | ")
	for _, bt := range batches {
		w(" %s |", bt.name)
	}
	w("\n|---|%s\n", strings.Repeat("---|", len(batches)))
	row := func(name string, get func(cpuUse) time.Duration) {
		w("| %s |", name)
		for _, bt := range batches {
			w(" %.1f s |", get(bt.cpu).Seconds())
		}
		w("\n")
	}
	row("capacity (cores × wall)", func(u cpuUse) time.Duration { return time.Duration(2 * int64(u.wall)) })
	row("**machine, busy**", func(u cpuUse) time.Duration { return u.machine })
	var parts []string
	for k := range many.cpu.parts {
		parts = append(parts, k)
	}
	sort.Strings(parts)
	for _, k := range parts {
		row(k, func(u cpuUse) time.Duration { return u.parts[k] })
	}
	row("go build (compile tasks)", func(u cpuUse) time.Duration { return u.goBuild })
	row("kbrun processes", func(u cpuUse) time.Duration { return u.kbrun })
	row("other (shims, kubectl, other users)", func(u cpuUse) time.Duration {
		o := u.machine - u.goBuild - u.kbrun
		for _, v := range u.parts {
			o -= v
		}
		return o
	})
	var ratios []string
	for _, bt := range batches {
		ratios = append(ratios, fmt.Sprintf("%s %.0f %%", bt.name, 100*float64(bt.cpu.machine)/float64(2*bt.cpu.wall)))
	}
	w("\nMachine busy: %s.\n", strings.Join(ratios, ", "))
	return b.String()
}

func maxDur(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}
