//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	nodev1 "k8s.io/api/node/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// probe is a cell of matrixreport's JSON.
type probe struct {
	Cell string `json:"cell"`
	Set  struct {
		Name    string   `json:"name"`
		Builder string   `json:"builder"`
		Add     []string `json:"add"`
	} `json:"set"`
	Kind          string `json:"kind"`
	Result        string `json:"result"`
	Level         string `json:"level"`
	Error         string `json:"error"`
	Short         string `json:"short"`
	LikelyMissing string `json:"likelyMissing"`
	UserNamespace string `json:"userNamespace"`
}

func runProbes(t *testing.T, file string, args ...string) (result, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "result.json")
	r := kbrun(t, append([]string{"run", filepath.Join(repoRoot, "pipelines", file), "-o", "json", "--set", "output=" + out}, args...)...)
	return r, out
}

func readJSON(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("the run wrote no JSON: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// assertProbesGone: every probe's builder and the namespace the run made
// are gone.
func assertProbesGone(t *testing.T, ns string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err == nil {
		t.Errorf("namespace %s is still there after the run", ns)
	}
}

// defaultSets are the names of the matrix's default columns (the
// capabilitySets var of pipelines/kaniko-capabilities.yaml).
func defaultSets(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, s := range defaultSetsRaw(t) {
		names = append(names, s["name"].(string))
	}
	return names
}

// kanikoSets is the matrix's default columns but rootless BuildKit's, as a
// --set value: make test's cluster has no BuildKit image (it is built only
// for make capabilities-matrix, test/cluster/builders.sh, which measures it).
func kanikoSets(t *testing.T) (value string, n int) {
	t.Helper()
	var sets []map[string]any
	for _, s := range defaultSetsRaw(t) {
		if s["builder"] != "buildkit" {
			sets = append(sets, s)
		}
	}
	b, err := json.Marshal(sets)
	if err != nil {
		t.Fatal(err)
	}
	return "capabilitySets=" + string(b), len(sets)
}

func defaultSetsRaw(t *testing.T) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "pipelines", "kaniko-capabilities.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Vars struct {
			CapabilitySets struct {
				Default []map[string]any `yaml:"default"`
			} `yaml:"capabilitySets"`
		} `yaml:"vars"`
	}
	if err := yaml.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Vars.CapabilitySets.Default) == 0 {
		t.Fatal("pipelines/kaniko-capabilities.yaml: no default capabilitySets")
	}
	return p.Vars.CapabilitySets.Default
}

// measureCapabilities runs pipelines/kaniko-capabilities.yaml with args,
// requires the run to pass (the matrix was measured) and returns its cells
// by "set,kind".
func measureCapabilities(t *testing.T, args ...string) (result, []probe, map[string]probe) {
	t.Helper()
	r, out := runProbes(t, "kaniko-capabilities.yaml", args...)
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.summary())
	}
	var m struct {
		Cells []probe `json:"cells"`
	}
	readJSON(t, out, &m)
	at := map[string]probe{}
	for _, c := range m.Cells {
		at[c.Set.Name+","+c.Kind] = c
	}
	return r, m.Cells, at
}

// assertCells checks what holds for every cell of a matrix measured on
// the project cluster (whose node gives pods a user namespace): each is
// judged, n/a only for the no-privilege builder, Kaniko builders are
// baseline, the no-privilege builder restricted and rootless BuildKit
// (seccomp and AppArmor Unconfined) privileged, and a user-namespace cell
// that built did so under a uid_map that is not the host's.
func assertCells(t *testing.T, cells []probe) {
	t.Helper()
	for _, c := range cells {
		switch c.Result {
		case "ok", "fails", "n/a", "image wrong", "image differs":
		default:
			t.Errorf("%s not measured: %s: %s", c.Cell, c.Result, c.Error)
		}
		if c.Result == "n/a" && c.Set.Builder != "nopriv" {
			t.Errorf("%s: n/a outside the no-privilege builder", c.Cell)
		}
		wantLevel := map[string]string{"nopriv": "restricted", "buildkit": "privileged"}[c.Set.Builder]
		if wantLevel == "" {
			wantLevel = "baseline"
		}
		if c.Level != wantLevel {
			t.Errorf("%s: Pod Security level %q, want %s", c.Cell, c.Level, wantLevel)
		}
		if c.Set.Name == "userns" && c.Result == "ok" && !strings.Contains(c.UserNamespace, "uid_map 0 ") {
			t.Errorf("%s passed without its uid_map check: %q", c.Cell, c.UserNamespace)
		}
	}
}

// assertKnownCells checks the cells whose answer is known (issue 13):
// COPY from scratch builds with no capability, and with the no-privilege
// builder; multi-stage fails under the seed's four quoting Kaniko's mkdir
// and builds once DAC_OVERRIDE is added; RUN and multi-stage are n/a for
// the no-privilege builder.
func assertKnownCells(t *testing.T, at map[string]probe) {
	t.Helper()
	expect := func(cell, result, short string) {
		t.Helper()
		c, ok := at[cell]
		if !ok {
			t.Errorf("no cell %s", cell)
			return
		}
		if c.Result != result || !strings.Contains(c.Short, short) {
			t.Errorf("%s: %s %q, want %s %q\n%s", cell, c.Result, c.Short, result, short, c.Error)
		}
	}
	expect("none,copy", "ok", "")
	expect("nopriv,copy", "ok", "")
	expect("nopriv,multistage", "n/a", "multi-stage")
	expect("seed,multistage", "fails", "mkdir /kaniko/0/out: permission denied")
	expect("dac,multistage", "ok", "")
	if lm := at["seed,multistage"].LikelyMissing; lm != "DAC_OVERRIDE" {
		t.Errorf("seed,multistage: likely missing %q, want DAC_OVERRIDE", lm)
	}
	if c, ok := at["nopriv,run"]; ok && (c.Result != "n/a" || !strings.Contains(c.Short, "RUN")) {
		t.Errorf("nopriv,run: %s %q, want n/a RUN", c.Result, c.Short)
	}
}

// markdown is the Markdown table the run printed.
func markdown(t *testing.T, r result) string {
	t.Helper()
	var md []string
	on := false
	for _, e := range r.events {
		if e.Task != "matrix" || e.Type != "task.output" {
			continue
		}
		if strings.HasPrefix(e.Line, "Markdown:") {
			on = true
			continue
		}
		if on && !strings.HasPrefix(e.Line, "JSON: ") {
			md = append(md, e.Line)
		}
	}
	if len(md) < 4 {
		t.Errorf("no Markdown table printed:\n%s", r.summary())
	}
	return strings.Join(md, "\n")
}

// TestKanikoCapabilities runs pipelines/kaniko-capabilities.yaml cut down
// to the two Dockerfile kinds whose cells are known (COPY from scratch,
// multi-stage) under every Kaniko and no-privilege set, each cell a fresh builder pod,
// and asserts the known cells. The whole matrix: make capabilities-matrix.
func TestKanikoCapabilities(t *testing.T) {
	sets, n := kanikoSets(t)
	r, cells, at := measureCapabilities(t, "--set", "kinds=[copy,multistage]", "--set", sets)
	if want := n * 2; len(cells) != want {
		t.Fatalf("%d cells, want %d (the default sets but BuildKit's x 2 kinds)", len(cells), want)
	}
	assertCells(t, cells)
	assertKnownCells(t, at)
	t.Logf("the matrix as measured:\n%s", markdown(t, r))
	logTimes(t, r)
	assertProbesGone(t, "kbrun-capabilities")
}

// cellTimes are the durations (ms) of the matrix's cells by "set,kind":
// the cells themselves, not their tasks.
func cellTimes(r result) map[string]int64 {
	out := map[string]int64{}
	for name, e := range r.ends {
		if strings.HasPrefix(name, "cells[") && strings.HasSuffix(name, "]") {
			out[strings.TrimSuffix(strings.TrimPrefix(name, "cells["), "]")] = e.Duration
		}
	}
	return out
}

// logTimes reports the matrix's wall time against its cells' (one run).
func logTimes(t *testing.T, r result) {
	var cells []int64
	var sum int64
	for _, d := range cellTimes(r) {
		cells = append(cells, d)
		sum += d
	}
	sort.Slice(cells, func(i, j int) bool { return cells[i] < cells[j] })
	if len(cells) == 0 {
		return
	}
	whole := r.ends["cells"].Duration
	t.Logf("timing: run %s; matrix task %d ms for %d cells (4 at once); one cell: median %d ms, min %d, max %d; cells' sum %d ms = %.1f cells at once on average; matrix / median cell = %.1f",
		r.duration.Round(100*time.Millisecond), whole, len(cells), cells[len(cells)/2], cells[0], cells[len(cells)-1], sum, float64(sum)/float64(whole), float64(whole)/float64(cells[len(cells)/2]))
}

// TestKanikoCapabilitiesNoUserNamespace: where the runtime cannot give the
// builder a user namespace (the project cluster's runc-1-1 handler), the
// user-namespace column says why not, quoting kubelet, instead of building.
func TestKanikoCapabilitiesNoUserNamespace(t *testing.T) {
	const rc = "kbrun-e2e-caps-runc-1-1"
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := client.NodeV1().RuntimeClasses().Create(ctx, &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: rc}, Handler: "runc-1-1"}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create RuntimeClass %s: %v", rc, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := client.NodeV1().RuntimeClasses().Delete(ctx, rc, metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete RuntimeClass %s: %v", rc, err)
		}
	})
	r, out := runProbes(t, "kaniko-capabilities.yaml", "--set", "runtimeClassName="+rc, "--set", "kinds=[copy]",
		"--set", "namespace=kbrun-capabilities-runc11",
		"--set", "capabilitySets=[{name: userns, builder: kaniko, add: [CHOWN], hostUsers: false}, {name: seed, builder: kaniko, add: [CHOWN,SETUID,SETGID,FOWNER]}]")
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.summary())
	}
	var m struct {
		Cells []probe `json:"cells"`
	}
	readJSON(t, out, &m)
	if len(m.Cells) != 2 {
		t.Fatalf("cells: %+v", m.Cells)
	}
	for _, c := range m.Cells {
		switch c.Set.Name {
		case "userns":
			if c.Result != "not run" || !strings.Contains(c.Short, "does not support user namespaces") {
				t.Errorf("userns on runc-1-1: %s %q, want not run quoting the runtime\n%s", c.Result, c.Short, c.Error)
			}
		case "seed":
			if c.Result != "ok" {
				t.Errorf("seed on runc-1-1: %s %s", c.Result, c.Error)
			}
		}
	}
	assertProbesGone(t, "kbrun-capabilities-runc11")
}

type verdict struct {
	Needs *struct {
		Builder string   `json:"builder"`
		Add     []string `json:"add"`
	} `json:"needs"`
	Level   string  `json:"level"`
	Verdict string  `json:"verdict"`
	Paste   string  `json:"paste"`
	Ladder  []probe `json:"ladder"`
	Trim    []probe `json:"trim"`
}

func runLadder(t *testing.T, kind string, args ...string) (result, verdict) {
	t.Helper()
	r, out := runProbes(t, "kaniko-least-privilege.yaml", append([]string{"--set", "context=" + filepath.Join(repoRoot, "pipelines", "kaniko-capabilities", "kinds", kind),
		"--set", "expect=" + filepath.Join(repoRoot, "pipelines", "kaniko-capabilities", "kinds", kind, "expect")}, args...)...)
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.summary())
	}
	var v verdict
	readJSON(t, out, &v)
	var lines []string
	for _, e := range r.events {
		if e.Task == "verdict" && e.Type == "task.output" {
			lines = append(lines, e.Line)
		}
	}
	t.Logf("kaniko-least-privilege on %s in %s:\n%s", kind, r.duration.Round(100*time.Millisecond), strings.Join(lines, "\n"))
	return r, v
}

// TestLeastPrivilegeMultistage: given the multi-stage Dockerfile, the
// ladder stops at the set with DAC_OVERRIDE, the trim finds the seed's four
// unneeded, and the answer is DAC_OVERRIDE alone, baseline, with each set
// below it failing on Kaniko's mkdir.
func TestLeastPrivilegeMultistage(t *testing.T) {
	r, v := runLadder(t, "multistage")
	if v.Needs == nil || strings.Join(v.Needs.Add, ",") != "DAC_OVERRIDE" || v.Level != "baseline" {
		t.Fatalf("verdict %q (needs %+v, level %s), want DAC_OVERRIDE, baseline", v.Verdict, v.Needs, v.Level)
	}
	if !strings.Contains(v.Verdict, "needs: DAC_OVERRIDE — baseline level") || v.Paste != "capabilities: [DAC_OVERRIDE]" {
		t.Errorf("verdict %q, paste %q", v.Verdict, v.Paste)
	}
	var tried []string
	for _, p := range v.Ladder {
		tried = append(tried, p.Set.Name+"="+p.Result)
	}
	if got := strings.Join(tried, " "); got != "nopriv=n/a none=fails seed=fails dac=ok setfcap=not tried shipwright=not tried" {
		t.Errorf("ladder: %s", got)
	}
	if !strings.Contains(v.Ladder[2].Short, "mkdir /kaniko/0/out: permission denied") {
		t.Errorf("seed's error: %q", v.Ladder[2].Short)
	}
	if r.ends["leastPrivilege.ladder[setfcap]"].Status != "skipped" {
		t.Errorf("ladder went past the first set that built: %+v", r.ends["leastPrivilege.ladder[setfcap]"])
	}
}

// TestLeastPrivilegeCopyOnly: a COPY-only Dockerfile needs no privilege at
// all: the no-privilege builder (restricted) builds it, first rung.
func TestLeastPrivilegeCopyOnly(t *testing.T) {
	r, v := runLadder(t, "copy")
	if v.Needs == nil || v.Needs.Builder != "nopriv" || v.Level != "restricted" || !strings.Contains(v.Verdict, "needs no privilege — restricted level") {
		t.Fatalf("verdict %q (needs %+v, level %s)", v.Verdict, v.Needs, v.Level)
	}
	if r.ends["leastPrivilege.ladder[none]"].Status != "skipped" || r.ends["leastPrivilege.trim"].Status != "skipped" {
		t.Errorf("the ladder went on after the no-privilege builder: ladder[none] %s, trim %s", r.ends["leastPrivilege.ladder[none]"].Status, r.ends["leastPrivilege.trim"].Status)
	}
}

// TestDefaultPipelineOwnContext: the default pipeline builds a team's own
// context (context, expect) with the capabilities the ladder answered for
// it, reads the image back and checks it instead of running it.
func TestDefaultPipelineOwnContext(t *testing.T) {
	kind := filepath.Join(repoRoot, "pipelines", "kaniko-capabilities", "kinds", "multistage")
	r := runPipeline(t, "--set", "context="+kind, "--set", "expect="+filepath.Join(kind, "expect"), "--set", "capabilities=[DAC_OVERRIDE]")
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.summary())
	}
	for name, want := range map[string]string{"copyContext": "ok", "copyExpect": "ok", "build": "ok", "checkImage": "ok", "test": "skipped", "logs": "skipped", "health": "skipped"} {
		if got := r.ends[name].Status; got != want {
			t.Errorf("task %s: %s, want %s", name, got, want)
		}
	}
	var checked bool
	for _, e := range r.events {
		if e.Task == "checkImage" && e.Type == "task.output" && strings.HasPrefix(e.Line, "ok    /hello.txt: ") {
			checked = true
		}
	}
	if !checked {
		t.Errorf("checkImage printed no line about /hello.txt (the expectation):\n%s", r.summary())
	}
	assertGone(t)
}
