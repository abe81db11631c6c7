// Command soak runs kbrun's default pipeline many times in a row on the
// project's cluster and checks that nothing grows: every run must pass,
// kbrun's peak RSS per run (its run.end event's maxRssKb) must stay flat,
// and what is in the cluster (objects of every kind, pods, Leases), in the
// registry (repositories, tags, bytes), on the node (images) and on the
// machine (kbrun's temporary files, the discovery cache) is counted before
// and after.
//
//	go run ./test/soak -kubeconfig /var/lib/kbrun-cluster/kubeconfig -n 200 -o soak-results.md
//
// The runs push a fixed tag (imageTag=soak) built with Kaniko's
// --reproducible: the same sources make the same image digest every run, so
// the registry and the node's image store hold one image however many runs
// there are. With a new tag per run (the pipeline's default) each run adds
// one tag to the registry and one image to the node: what the pipeline
// builds, not what kbrun leaves.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	var (
		n          = flag.Int("n", 200, "runs")
		kubeconfig = flag.String("kubeconfig", os.Getenv("KBRUN_TEST_KUBECONFIG"), "cluster")
		out        = flag.String("o", "", "also write the report to this file")
		ns         = flag.String("namespace", "soak", "namespace of the runs (each run creates and deletes it)")
	)
	flag.Parse()
	if *kubeconfig == "" {
		fatalf("no cluster: give -kubeconfig or KBRUN_TEST_KUBECONFIG")
	}
	root, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		fatalf("run inside the kbrun repository: %v", err)
	}
	repo := strings.TrimSpace(string(root))
	work, err := os.MkdirTemp("", "soak-")
	if err != nil {
		fatalf("%v", err)
	}
	defer os.RemoveAll(work)
	kbrun := filepath.Join(work, "kbrun")
	build := exec.Command("go", "build", "-o", kbrun, "./cmd/kbrun")
	build.Dir, build.Stderr = repo, os.Stderr
	if err := build.Run(); err != nil {
		fatalf("go build: %v", err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fatalf("%v", err)
	}
	cfg.QPS, cfg.Burst = 100, 200
	c := &cluster{typed: kubernetes.NewForConfigOrDie(cfg), dyn: dynamic.NewForConfigOrDie(cfg), disc: discovery.NewDiscoveryClientForConfigOrDie(cfg)}
	cache := filepath.Join(work, "kubecache") // the runs' discovery cache
	env := append(os.Environ(), "KUBECACHEDIR="+cache, "NO_COLOR=1")

	before := c.snapshot(cache)
	// After run 1 too: what the first run adds for good (the pushed tag,
	// the pulled image, the discovery cache) is not growth.
	var first snapshot
	start := time.Now()
	var runs []run
	for i := 0; i < *n; i++ {
		r := runOnce(repo, kbrun, env, *kubeconfig, *ns)
		runs = append(runs, r)
		if i == 0 {
			first = c.snapshot(cache)
		}
		status := "ok"
		if r.code != 0 {
			status = fmt.Sprintf("FAILED (exit %d): %s", r.code, r.why)
		}
		fmt.Fprintf(os.Stderr, "soak run %d/%d: %s in %s, peak RSS %.1f MiB\n", i+1, *n, status, r.wall.Round(100*time.Millisecond), float64(r.maxRSS)/1024)
	}
	total := time.Since(start)
	after := c.snapshot(cache)
	report := render(runs, []snapshot{before, first, after}, total)
	fmt.Print(report)
	if *out != "" {
		if err := os.WriteFile(*out, []byte(report), 0o644); err != nil {
			fatalf("%v", err)
		}
	}
	for _, r := range runs {
		if r.code != 0 {
			os.Exit(1)
		}
	}
}

type run struct {
	code   int
	why    string
	wall   time.Duration
	maxRSS int64 // KiB
	cpu    time.Duration
}

// runOnce runs the default pipeline once with a fixed, reproducible image.
func runOnce(repo, kbrun string, env []string, kubeconfig, ns string) run {
	cmd := exec.Command(kbrun, "run", "pipelines/kaniko-rootless.yaml", "-o", "json", "--kubeconfig", kubeconfig,
		"--set", "namespace="+ns, "--set", "imageTag=soak", "--set", "kanikoArgs=--reproducible")
	cmd.Dir, cmd.Env = repo, env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, _ := cmd.StdoutPipe()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		fatalf("%v", err)
	}
	var r run
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var ev struct {
			Type     string `json:"type"`
			Task     string `json:"task"`
			Status   string `json:"status"`
			Error    string `json:"error"`
			CPUMS    int64  `json:"cpuMs"`
			MaxRSSKB int64  `json:"maxRssKb"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		switch {
		case ev.Type == "task.end" && ev.Status == "failed":
			r.why += ev.Task + ": " + ev.Error + "; "
		case ev.Type == "run.end":
			r.maxRSS, r.cpu = ev.MaxRSSKB, time.Duration(ev.CPUMS)*time.Millisecond
		}
	}
	err := cmd.Wait()
	r.wall = time.Since(start)
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
		r.why += strings.TrimSpace(stderr.String())
	} else if err != nil {
		r.code, r.why = -1, err.Error()
	}
	return r
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "soak: "+format+"\n", args...)
	os.Exit(1)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
