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
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
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

type cluster struct {
	typed kubernetes.Interface
	dyn   dynamic.Interface
	disc  discovery.DiscoveryInterface
}

// snapshot counts what could grow.
type snapshot struct {
	objects  map[string]int // by resource, every namespace (events excluded)
	pods     int
	leases   int
	images   int    // the node's, in containerd's k8s.io namespace (-1: unknown)
	imageErr string // why images is unknown
	repos    map[string]int
	regBytes int64 // the registry's storage (-1: unknown)
	tmp      []string
	cacheN   int // files in the runs' discovery cache
}

func (c *cluster) snapshot(cache string) snapshot {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := snapshot{objects: map[string]int{}, repos: map[string]int{}, images: -1, regBytes: -1}
	lists, err := c.disc.ServerPreferredResources()
	if err != nil && len(lists) == 0 {
		fatalf("discovery: %v", err)
	}
	for _, l := range lists {
		gv, _ := schema.ParseGroupVersion(l.GroupVersion)
		for _, res := range l.APIResources {
			if strings.Contains(res.Name, "/") || res.Kind == "Event" || !has(res.Verbs, "list") {
				continue
			}
			items, err := c.dyn.Resource(gv.WithResource(res.Name)).List(ctx, metav1.ListOptions{})
			if err != nil {
				continue
			}
			key := res.Name
			if gv.Group != "" {
				key += "." + gv.Group
			}
			s.objects[key] = len(items.Items)
		}
	}
	s.pods = s.objects["pods"]
	s.leases = s.objects["leases.coordination.k8s.io"]
	s.images, s.imageErr = nodeImages()
	s.repos = registryTags()
	s.regBytes = c.registryBytes(ctx)
	s.tmp, _ = filepath.Glob(filepath.Join(os.TempDir(), "kbrun-*"))
	_ = filepath.WalkDir(cache, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			s.cacheN++
		}
		return nil
	})
	return s
}

// nodeImages counts the images in containerd's k8s.io namespace.
func nodeImages() (int, string) {
	sock := "/var/lib/kbrun-cluster/containerd/containerd.sock"
	ctr, err := exec.LookPath("ctr")
	if err != nil {
		found, _ := filepath.Glob("/var/cache/kbrun/containerd-*/ctr")
		if len(found) == 0 {
			return -1, "no ctr binary"
		}
		ctr = found[len(found)-1]
	}
	out, err := exec.Command(ctr, "--address", sock, "-n", "k8s.io", "images", "ls", "-q").Output()
	if err != nil {
		return -1, fmt.Sprintf("ctr images ls: %v", err)
	}
	n := 0
	for _, l := range strings.Split(string(out), "\n") {
		if strings.TrimSpace(l) != "" {
			n++
		}
	}
	return n, ""
}

// registryTags lists the harness registry's repositories and their tags.
func registryTags() map[string]int {
	out := map[string]int{}
	var cat struct {
		Repositories []string `json:"repositories"`
	}
	if getJSON("http://localhost:5000/v2/_catalog?n=1000", &cat) != nil {
		return out
	}
	for _, r := range cat.Repositories {
		var tags struct {
			Tags []string `json:"tags"`
		}
		if getJSON("http://localhost:5000/v2/"+r+"/tags/list", &tags) == nil {
			out[r] = len(tags.Tags)
		}
	}
	return out
}

func getJSON(url string, v any) error {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(v)
}

// registryBytes is the size of the registry pod's emptyDir.
func (c *cluster) registryBytes(ctx context.Context) int64 {
	pods, err := c.typed.CoreV1().Pods("kbrun-registry").List(ctx, metav1.ListOptions{})
	if err != nil || len(pods.Items) == 0 {
		return -1
	}
	p := pods.Items[0]
	dirs, _ := filepath.Glob("/var/lib/*/pods/" + string(p.UID) + "/volumes/kubernetes.io~empty-dir/data")
	more, _ := filepath.Glob("/var/lib/kbrun-cluster/*/pods/" + string(p.UID) + "/volumes/kubernetes.io~empty-dir/data")
	dirs = append(dirs, more...)
	if len(dirs) == 0 {
		return -1
	}
	var n int64
	_ = filepath.WalkDir(dirs[0], func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

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
