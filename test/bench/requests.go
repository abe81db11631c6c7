package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/kbrun/kbrun/test/apicost"
	"github.com/kbrun/kbrun/test/faultproxy"
)

// side is one of the two contenders of the request count, behind its own
// proxy (faults off) so that its requests are counted apart.
type side struct {
	name       string
	proxy      *faultproxy.Proxy
	kubeconfig string // the proxy's
	cacheDir   string // KUBECACHEDIR for all its runs: run 1 is cold
	runs       []apicost.Breakdown
	first      []faultproxy.Request // run 1's requests, for the listing
	failed     int
}

func newSide(work, name, kubeconfig string) *side {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		fatalf("%v", err)
	}
	p, err := faultproxy.NewForConfig(cfg, faultproxy.Options{})
	if err != nil {
		fatalf("%v", err)
	}
	if err := p.Start(); err != nil {
		fatalf("%v", err)
	}
	s := &side{name: name, proxy: p, kubeconfig: filepath.Join(work, name+".kubeconfig"), cacheDir: filepath.Join(work, name+"-kubecache")}
	if err := p.WriteKubeconfig(s.kubeconfig); err != nil {
		fatalf("%v", err)
	}
	return s
}

// count runs one measured run and records its requests.
func (s *side) count(run func() bool) {
	s.proxy.ResetCounts()
	ok := run()
	log := s.proxy.Log()
	if !ok {
		s.failed++
	}
	if len(s.runs) == 0 {
		s.first = log
	}
	s.runs = append(s.runs, apicost.Count(log))
}

// measureRequests alternates n runs of the kubectl script and of kbrun,
// each behind its own faultproxy with faults off, and reports the requests
// each sent to the API server by kind: run 1 with empty discovery caches
// (a fresh CI runner), and the median of the later runs (cache kept, as on
// a workstation).
func measureRequests(root, work, kbrun string, env []string, kubeconfig string, n int) string {
	script, kb := newSide(work, "script", kubeconfig), newSide(work, "kbrun", kubeconfig)
	defer script.proxy.Close()
	defer kb.proxy.Close()
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("req-%d-%d", time.Now().Unix()%100000, i)
		ns := "bench-rq-s-" + strconv.Itoa(i)
		teamNamespace(env, ns)
		script.count(func() bool {
			senv := append(append([]string{}, env...), "KUBECONFIG="+script.kubeconfig, "KUBECACHEDIR="+script.cacheDir)
			return runScript(root, work, senv, ns, id, "").ok
		})
		deleteNamespace(env, ns)
		ns = "bench-rq-k-" + strconv.Itoa(i)
		teamNamespace(env, ns)
		kb.count(func() bool {
			kenv := append(append([]string{}, env...), "KUBECACHEDIR="+kb.cacheDir)
			return runKbrun(root, kbrun, kenv, ns, kb.kubeconfig).ok
		})
		deleteNamespace(env, ns)
		fmt.Fprintf(os.Stderr, "requests run %d: script %d, kbrun %d\n", i+1, script.runs[i].Total(), kb.runs[i].Total())
	}
	return renderRequests(script, kb, n)
}

func renderRequests(script, kb *side, n int) string {
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("## Requests per run: kbrun vs the kubectl script\n\n")
	w("Measured %s: %d runs of each, alternating, each side behind its own faultproxy with faults off (test/apicost sorts the requests). Run 1 starts with an empty discovery cache (KUBECACHEDIR), later runs keep it.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), n)
	if script.failed+kb.failed > 0 {
		w("**Failed runs: script %d, kbrun %d** (their requests are counted too).\n\n", script.failed, kb.failed)
	}
	headers := []string{"script, run 1", "kbrun, run 1"}
	bs := []apicost.Breakdown{script.runs[0], kb.runs[0]}
	if n > 1 {
		headers = append(headers, fmt.Sprintf("script, median of runs 2-%d", n), fmt.Sprintf("kbrun, median of runs 2-%d", n))
		bs = append(bs, apicost.MedianRun(script.runs[1:]), apicost.MedianRun(kb.runs[1:]))
	}
	w("%s\n", apicost.Table(headers, bs))
	w("kbrun / script: run 1 **%.2f** (%d / %d)", ratio(kb.runs[0], script.runs[0]), kb.runs[0].Total(), script.runs[0].Total())
	if n > 1 {
		w(", later runs **%.2f** (%d / %d)", ratio(bs[3], bs[2]), bs[3].Total(), bs[2].Total())
	}
	w("; every run: script %s, kbrun %s.\n\n", totals(script.runs), totals(kb.runs))
	for _, s := range []*side{script, kb} {
		w("<details><summary>%s, run 1: every request</summary>\n\n```\n%s\n```\n</details>\n\n", s.name, strings.Join(apicost.Lines(s.first), "\n"))
	}
	return b.String()
}

func ratio(a, b apicost.Breakdown) float64 {
	if b.Total() == 0 {
		return 0
	}
	return float64(a.Total()) / float64(b.Total())
}

func totals(bs []apicost.Breakdown) string {
	parts := make([]string, len(bs))
	for i, b := range bs {
		parts[i] = strconv.Itoa(b.Total())
	}
	return strings.Join(parts, " ")
}

// buildTools builds kbrun and the bench itself into work.
func buildTools(root, work string) (kbrun, self string) {
	kbrun, self = filepath.Join(work, "kbrun"), filepath.Join(work, "bench")
	for bin, pkg := range map[string]string{kbrun: "./cmd/kbrun", self: "./test/bench"} {
		cmd := exec.Command("go", "build", "-o", bin, pkg)
		cmd.Dir, cmd.Stderr = root, os.Stderr
		if err := cmd.Run(); err != nil {
			fatalf("build %s: %v", pkg, err)
		}
	}
	return kbrun, self
}
