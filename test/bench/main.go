// Command bench compares kbrun with the kubectl script it replaces, on the
// same cluster in the same run: it alternates N times between
// seed-procedure.sh (kubectl) and `kbrun run pipelines/kaniko-rootless.yaml`,
// and prints per-run wall times, the median ratio, per-step medians, kbrun's
// own CPU share, and peak memory of kbrun vs the kubectl processes.
//
//	go run ./test/bench -kubeconfig /var/lib/kbrun-cluster/kubeconfig -n 9 -o bench-results.md
//
// With -requests it counts instead the requests each side sends to the API
// server, by kind, through test/faultproxy with faults off; with
// -concurrent N it times N kbrun runs at once against one alone.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "wrap" {
		os.Exit(wrap(os.Args[2:]))
	}
	var (
		n          = flag.Int("n", 5, "runs of each (alternating)")
		kubeconfig = flag.String("kubeconfig", os.Getenv("KBRUN_TEST_KUBECONFIG"), "cluster")
		out        = flag.String("o", "", "also write the report to this file")
		requests   = flag.Bool("requests", false, "count the requests each side sends to the API server instead of timing them")
		concurrent = flag.Int("concurrent", 0, "instead: time one kbrun run alone against this many at once (in as many namespaces)")
		shared     = flag.Int("shared", 5, "with -concurrent: then this many at once in one namespace, with their own names")
	)
	flag.Parse()
	if *kubeconfig == "" {
		fatalf("no cluster: give -kubeconfig or KBRUN_TEST_KUBECONFIG")
	}
	root, err := repoRoot()
	if err != nil {
		fatalf("%v", err)
	}
	work, _ := os.MkdirTemp("", "kbrun-bench-")
	defer os.RemoveAll(work)
	kbrun, self := buildTools(root, work)
	env := append(os.Environ(), "KUBECONFIG="+*kubeconfig, "KUBECACHEDIR="+filepath.Join(work, "kubecache"))
	switch {
	case *requests:
		write(measureRequests(root, work, kbrun, env, *kubeconfig, *n), *out)
		return
	case *concurrent > 0:
		write(measureConcurrent(root, work, kbrun, env, *kubeconfig, *concurrent, *shared), *out)
		return
	}

	var scripts, kbruns []runResult
	for i := 0; i < *n; i++ {
		// Alternate which goes first, so neither always meets a warmer cluster.
		order := []string{"script", "kbrun"}
		if i%2 == 1 {
			order = []string{"kbrun", "script"}
		}
		for _, which := range order {
			id := fmt.Sprintf("%s-%d-%d", which, time.Now().Unix()%100000, i)
			var r runResult
			if which == "script" {
				ns := "bench-s-" + strconv.Itoa(i)
				teamNamespace(env, ns)
				r = runScript(root, work, env, ns, id, "")
				scripts = append(scripts, r)
				deleteNamespace(env, ns)
			} else {
				ns := "bench-k-" + strconv.Itoa(i)
				teamNamespace(env, ns)
				r = runKbrun(root, kbrun, env, ns, *kubeconfig)
				kbruns = append(kbruns, r)
				deleteNamespace(env, ns)
			}
			fmt.Fprintf(os.Stderr, "%-6s run %d: %s (ok=%v)\n", which, i+1, r.wall.Round(time.Millisecond), r.ok)
		}
	}
	// One more script run through the RSS wrapper (kept out of the timings:
	// the wrapper adds an exec per kubectl call).
	teamNamespace(env, "bench-rss")
	rss := runScript(root, work, env, "bench-rss", "rss", self)
	deleteNamespace(env, "bench-rss")

	write(render(scripts, kbruns, rss), *out)
}

// write prints the report, and writes it to out too when given.
func write(report, out string) {
	fmt.Print(report)
	if out != "" {
		if err := os.WriteFile(out, []byte(report), 0o644); err != nil {
			fatalf("%v", err)
		}
	}
}

// teamNamespace creates ns before a run, outside the timings: like the
// seed's "ones", the namespace is the team's and exists before and after the
// procedure (both sides apply into it and delete only what they applied).
func teamNamespace(env []string, ns string) {
	deleteNamespace(env, ns)
	cmd := exec.Command("kubectl", "create", "namespace", ns)
	cmd.Env, cmd.Stderr = env, os.Stderr
	if err := cmd.Run(); err != nil {
		fatalf("create namespace %s: %v", ns, err)
	}
}

// deleteNamespace removes ns and waits until it is gone (untimed).
func deleteNamespace(env []string, ns string) {
	cmd := exec.Command("kubectl", "delete", "namespace", ns, "--ignore-not-found", "--wait=true", "--timeout=3m")
	cmd.Env, cmd.Stdout, cmd.Stderr = env, io.Discard, os.Stderr
	if err := cmd.Run(); err != nil {
		fatalf("delete namespace %s: %v", ns, err)
	}
}

type runResult struct {
	ok    bool
	wall  time.Duration
	steps map[string]time.Duration
	cpu   time.Duration // kbrun's own CPU
	// kbrun's own time from its events: process start to run.start
	// (start-up, load, validate), gaps between top-level tasks, run.end to
	// exit (removing the compiled programs).
	startup, gaps, shutdown time.Duration
	maxRSS                  int64 // KiB: kbrun's peak
	// kubectl processes (RSS pass): sum and count of peaks.
	kubectlRSSSum, kubectlRSSMax int64
	kubectlCalls                 int
}

func runScript(root, work string, env []string, ns, runID, wrapper string) runResult {
	stepsFile := filepath.Join(work, "steps-"+ns)
	rssFile := filepath.Join(work, "rss-"+ns)
	os.Remove(stepsFile)
	os.Remove(rssFile)
	cmd := exec.Command("bash", filepath.Join(root, "test/bench/seed-procedure.sh"), ns, runID)
	cmd.Env = append(env, "STEPS_FILE="+stepsFile, "BENCH_RSS_FILE="+rssFile)
	if wrapper != "" {
		cmd.Env = append(cmd.Env, "KUBECTL="+wrapper+" wrap kubectl")
	}
	cmd.Stderr = os.Stderr
	start := time.Now()
	err := cmd.Run()
	r := runResult{ok: err == nil, wall: time.Since(start), steps: map[string]time.Duration{}}
	if data, err := os.ReadFile(stepsFile); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			f := strings.Fields(line)
			if len(f) == 3 {
				s, _ := strconv.ParseInt(f[1], 10, 64)
				e, _ := strconv.ParseInt(f[2], 10, 64)
				r.steps[f[0]] = time.Duration(e-s) * time.Millisecond
			}
		}
	}
	if data, err := os.ReadFile(rssFile); err == nil {
		for _, line := range strings.Fields(string(data)) {
			v, _ := strconv.ParseInt(line, 10, 64)
			r.kubectlRSSSum += v
			r.kubectlRSSMax = max(r.kubectlRSSMax, v)
			r.kubectlCalls++
		}
	}
	return r
}

func runKbrun(root, kbrun string, env []string, ns, kubeconfig string, extra ...string) runResult {
	args := append([]string{"run", "pipelines/kaniko-rootless.yaml", "-o", "json", "--kubeconfig", kubeconfig, "--set", "namespace=" + ns}, extra...)
	cmd := exec.Command(kbrun, args...)
	cmd.Dir, cmd.Env, cmd.Stderr = root, env, os.Stderr
	stdout, _ := cmd.StdoutPipe()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		fatalf("%v", err)
	}
	r := runResult{steps: map[string]time.Duration{}}
	var runStart, runEnd time.Time
	type span struct{ from, to time.Time }
	var spans []span
	open := map[string]time.Time{}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var ev struct {
			Time       time.Time `json:"time"`
			Index      string    `json:"index"`
			Type       string    `json:"type"`
			Task       string    `json:"task"`
			Status     string    `json:"status"`
			DurationMS int64     `json:"durationMs"`
			CPUMS      int64     `json:"cpuMs"`
			MaxRSSKB   int64     `json:"maxRssKb"`
			Error      string    `json:"error"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		topLevel := ev.Index != "" && !strings.Contains(ev.Index, ".")
		switch ev.Type {
		case "run.start":
			runStart = ev.Time
		case "task.start":
			if topLevel {
				open[ev.Task] = ev.Time
			}
		}
		switch ev.Type {
		case "task.end":
			if from, ok := open[ev.Task]; ok {
				spans = append(spans, span{from, ev.Time})
				delete(open, ev.Task)
			}
			r.steps[ev.Task] = time.Duration(ev.DurationMS) * time.Millisecond
			if ev.Status == "failed" {
				fmt.Fprintf(os.Stderr, "kbrun task %s failed: %s\n", ev.Task, ev.Error)
			}
		case "run.end":
			runEnd = ev.Time
			r.cpu = time.Duration(ev.CPUMS) * time.Millisecond
			r.maxRSS = ev.MaxRSSKB
		}
	}
	err := cmd.Wait()
	end := time.Now()
	r.wall = end.Sub(start)
	if !runStart.IsZero() && !runEnd.IsZero() {
		r.startup, r.shutdown = runStart.Sub(start), end.Sub(runEnd)
		sort.Slice(spans, func(i, j int) bool { return spans[i].from.Before(spans[j].from) })
		cur := runStart // end of the tasks seen so far
		for _, sp := range spans {
			if sp.from.After(cur) {
				r.gaps += sp.from.Sub(cur)
			}
			if sp.to.After(cur) {
				cur = sp.to
			}
		}
		if runEnd.After(cur) {
			r.gaps += runEnd.Sub(cur)
		}
	}
	r.ok = err == nil
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && r.maxRSS == 0 {
		r.maxRSS = ru.Maxrss
	}
	return r
}

// wrap runs a command (kubectl) and appends its peak RSS in KiB to
// $BENCH_RSS_FILE.
func wrap(argv []string) int {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		if f, ferr := os.OpenFile(os.Getenv("BENCH_RSS_FILE"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); ferr == nil {
			fmt.Fprintln(f, ru.Maxrss)
			f.Close()
		}
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return 127
	}
	return 0
}

func medianFloat(fs []float64) float64 {
	if len(fs) == 0 {
		return 0
	}
	s := append([]float64(nil), fs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func render(scripts, kbruns []runResult, rss runResult) string {
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	host, _ := os.Hostname()
	w("## kbrun vs the kubectl script (seed procedure)\n\n")
	w("Measured %s on %s (%s/%s, %d CPUs), same cluster, same run, alternating order.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), host, runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	w("| run | kubectl script | kbrun | ratio |\n|---|---|---|---|\n")
	var sw, kw []time.Duration
	var ratios []float64
	for i := range scripts {
		s, k := scripts[i], kbruns[i]
		ratio := float64(k.wall) / float64(s.wall)
		w("| %d | %s%s | %s%s | %.2f |\n", i+1, s.wall.Round(time.Millisecond), failMark(s.ok), k.wall.Round(time.Millisecond), failMark(k.ok), ratio)
		sw, kw = append(sw, s.wall), append(kw, k.wall)
		ratios = append(ratios, ratio)
	}
	sort.Float64s(ratios)
	medRatio := ratios[len(ratios)/2]
	if len(ratios)%2 == 0 {
		medRatio = (ratios[len(ratios)/2-1] + ratios[len(ratios)/2]) / 2
	}
	w("| **median** | **%s** | **%s** | **%.2f** |\n\n", median(sw).Round(time.Millisecond), median(kw).Round(time.Millisecond), medRatio)

	w("Per step (medians); each row pairs a script step with the kbrun task that does the same work. kbrun runs builder, buildProgram and server at the same time (parallel group prepare: %s).\n\n", stepMedian(kbruns, "prepare"))
	w("| script step | median | kbrun task | median |\n|---|---|---|---|\n")
	// kbrun task names come from pipelines/kaniko-rootless.yaml; "(in X)"
	// marks a script step that kbrun does inside task X.
	pairs := [][2]string{{"", "podSecurity"}, {"", "namespace"}, {"apply", "(in builder)"}, {"builder", "builder"}, {"compile", "buildProgram"}, {"findPod", "(in builder)"}, {"copy", "copy"}, {"build", "build"}, {"test", "test"}, {"logs", "logs"}, {"cleanup", "cleanup"}}
	for _, p := range pairs {
		w("| %s | %s | %s | %s |\n", orDash(p[0]), stepMedian(scripts, p[0]), p[1], stepMedian(kbruns, p[1]))
	}
	var cpu, own, startup, gaps, shutdown []time.Duration
	var ownShare, cpuShare []float64
	var peak int64
	for _, k := range kbruns {
		cpu = append(cpu, k.cpu)
		o := k.startup + k.gaps + k.shutdown
		own, startup, gaps, shutdown = append(own, o), append(startup, k.startup), append(gaps, k.gaps), append(shutdown, k.shutdown)
		ownShare = append(ownShare, float64(o)/float64(k.wall)*100)
		cpuShare = append(cpuShare, float64(k.cpu)/float64(k.wall)*100)
		peak = max(peak, k.maxRSS)
	}
	w("\nkbrun's own time, from its events (wall time outside its tasks; inside a task kbrun waits on the cluster or on go build): median **%s = %.2f %%** of its wall time (start-up to run.start %s, gaps between tasks %s, run.end to exit %s; medians).\n\n",
		median(own).Round(100*time.Microsecond), medianFloat(ownShare), median(startup).Round(100*time.Microsecond), median(gaps).Round(100*time.Microsecond), median(shutdown).Round(100*time.Microsecond))
	w("kbrun's CPU time (user+system, go build children excluded; an upper bound that also counts the CPU of its API and stream traffic, mostly spent while waiting): median %s = %.2f %% of its wall time.\n\n", median(cpu).Round(time.Millisecond), medianFloat(cpuShare))
	w("Peak memory: kbrun **%.1f MiB** (max over runs); the script's %d kubectl processes: largest %.1f MiB, sum %.1f MiB.\n",
		float64(peak)/1024, rss.kubectlCalls, float64(rss.kubectlRSSMax)/1024, float64(rss.kubectlRSSSum)/1024)
	return b.String()
}

func stepMedian(rs []runResult, name string) string {
	if name == "" || strings.HasPrefix(name, "(") {
		return "-"
	}
	var ds []time.Duration
	for _, r := range rs {
		if d, ok := r.steps[name]; ok {
			ds = append(ds, d)
		}
	}
	if len(ds) == 0 {
		return "-"
	}
	return median(ds).Round(time.Millisecond).String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func failMark(ok bool) string {
	if ok {
		return ""
	}
	return " (FAILED)"
}

func repoRoot() (string, error) {
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return "", fmt.Errorf("run inside the kbrun repository: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}
