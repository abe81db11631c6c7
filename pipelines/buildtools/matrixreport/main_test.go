package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The errors as lib/probe-build.yaml's build task reports them: the exec
// error with the build program's last lines.
const (
	mkdirErr = "/busybox/sh in kbrun-capabilities/probe-seed-multistage-x exited with code 1, expected 0; last output:\n" +
		"    build: the builder likely lacks DAC_OVERRIDE (Kaniko saves files of a stage for later use under /kaniko/0): run with --set capabilities=[CHOWN,SETUID,SETGID,FOWNER,DAC_OVERRIDE] (values file: capabilities: [CHOWN, SETUID, SETGID, FOWNER, DAC_OVERRIDE]); Kaniko failed (exit status 1): error building image: could not save file: copying file: mkdir /kaniko/0/out: permission denied"
	runErr = "/busybox/sh in x exited with code 1, expected 0; last output:\n" +
		"    chown: /data: Operation not permitted\n" +
		"    build: Kaniko failed (exit status 1): error building image: error building stage: failed to execute command: waiting for process to exit: exit status 1"
	naErr = "/busybox/sh in x exited with code 1, expected 0; last output:\n" +
		"    imagetool build: Dockerfile line 3: RUN: the no-privilege builder runs no commands, it only adds files to a base image; a Dockerfile with RUN needs Kaniko (root with capabilities)"
)

func TestExplain(t *testing.T) {
	for _, c := range []struct {
		result, err, short, missing string
	}{
		{"fails", mkdirErr, "mkdir /kaniko/0/out: permission denied", "DAC_OVERRIDE"},
		{"fails", runErr, "RUN: chown: /data: Operation not permitted", ""},
		{"n/a", naErr, "RUN (line 3)", ""},
		{"ok", "", "", ""},
	} {
		short, missing := explain(c.result, c.err)
		if short != c.short || missing != c.missing {
			t.Errorf("explain(%s, %q) = %q, %q; want %q, %q", c.result, c.err, short, missing, c.short, c.missing)
		}
	}
}

func cell(t *testing.T, js string) rawCell {
	t.Helper()
	var c rawCell
	if err := json.Unmarshal([]byte(js), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTable(t *testing.T) {
	cells := []rawCell{
		cell(t, `{"name":"cells[nopriv,copy]","matrix":{"set":{"name":"nopriv","builder":"nopriv","add":[]},"kind":"copy"},"status":"ok","result":"ok","level":"restricted"}`),
		cell(t, `{"name":"cells[seed,copy]","matrix":{"set":{"name":"seed","builder":"kaniko","add":["CHOWN","SETUID","SETGID","FOWNER"]},"kind":"copy"},"status":"ok","result":"ok","level":"baseline"}`),
		cell(t, `{"name":"cells[nopriv,run]","matrix":{"set":{"name":"nopriv","builder":"nopriv","add":[]},"kind":"run"},"status":"ok","result":"n/a","level":"restricted"}`),
		cell(t, `{"name":"cells[seed,multistage]","matrix":{"set":{"name":"seed","builder":"kaniko","add":["CHOWN","SETUID","SETGID","FOWNER"]},"kind":"multistage"},"status":"ok","result":"fails","level":"baseline"}`),
	}
	cells[2].Why, cells[3].Why = naErr, mkdirErr
	var b strings.Builder
	res := table(&b, tableInput{Cells: cells, Reference: []rawCell{cell(t, `{"name":"reference[copy,a]","matrix":{"kind":"copy","build":"a"},"status":"ok","result":"ok"}`)}})
	out := b.String()
	for _, want := range []string{
		"| Dockerfile | `nopriv` (restricted) | `seed` (baseline) |",
		"| `copy` | OK | OK |",
		"compared with its row's reference, the kind built by seed",
		"| `run` | n/a: `RUN (line 3)` | – |",
		"| `multistage` | – | fails: `mkdir /kaniko/0/out: permission denied` |",
		"[2] cells[seed,multistage]: fails: mkdir /kaniko/0/out: permission denied\n      likely missing: DAC_OVERRIDE",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if len(res.Cells) != 4 || strings.Join(res.Kinds, ",") != "copy,run,multistage" || len(res.Sets) != 2 {
		t.Errorf("JSON: %+v", res)
	}
}

func TestLadder(t *testing.T) {
	seed := `{"name":"seed","builder":"kaniko","add":["CHOWN","SETUID","SETGID","FOWNER"]}`
	dac := `{"name":"dac","builder":"kaniko","add":["CHOWN","SETUID","SETGID","FOWNER","DAC_OVERRIDE"]}`
	// As lib/least-privilege.yaml gives them: a matrix over the build, not the set.
	ref := []rawCell{cell(t, `{"name":"reference[a]","matrix":{"build":"a"},"status":"ok","result":"ok","level":"baseline"}`)}
	in := ladderInput{Context: "/app", Dockerfile: "Dockerfile", Reference: ref,
		Ladder: []rawCell{
			cell(t, `{"matrix":{"set":{"name":"nopriv","builder":"nopriv","add":[]}},"status":"ok","result":"n/a","level":"restricted"}`),
			cell(t, `{"matrix":{"set":`+seed+`},"status":"ok","result":"fails","level":"baseline"}`),
			cell(t, `{"matrix":{"set":`+dac+`},"status":"ok","result":"ok","level":"baseline"}`),
			cell(t, `{"matrix":{"set":{"name":"shipwright","builder":"kaniko","add":["KILL"]}},"status":"skipped","error":"until met"}`),
		},
		Verify: []rawCell{cell(t, `{"matrix":{"set":{"name":"needed","builder":"kaniko","add":["DAC_OVERRIDE"]}},"status":"ok","result":"ok","level":"baseline"}`)},
	}
	in.Ladder[0].Why, in.Ladder[1].Why = naErr, mkdirErr
	for _, c := range []string{"CHOWN", "SETUID", "SETGID", "FOWNER", "DAC_OVERRIDE"} {
		var add []string
		for _, a := range []string{"CHOWN", "SETUID", "SETGID", "FOWNER", "DAC_OVERRIDE"} {
			if a != c {
				add = append(add, a)
			}
		}
		s, _ := json.Marshal(set{Name: "without-" + c, Builder: "kaniko", Add: add})
		r := cell(t, `{"matrix":{"set":`+string(s)+`},"status":"ok","result":"ok","level":"baseline"}`)
		if c == "DAC_OVERRIDE" {
			r.Result, r.Why = "fails", mkdirErr
		}
		in.Trim = append(in.Trim, r)
	}
	var b strings.Builder
	v := ladder(&b, in)
	if v.Needs == nil || strings.Join(v.Needs.Add, ",") != "DAC_OVERRIDE" || v.Level != "baseline" {
		t.Fatalf("needs %+v, level %s\n%s", v.Needs, v.Level, b.String())
	}
	out := b.String()
	for _, want := range []string{
		"verdict: needs: DAC_OVERRIDE — baseline level (Kaniko as root)",
		"the context built by shipwright: file tree and config",
		"seed         Kaniko + CHOWN SETUID SETGID FOWNER",
		"fails (baseline): mkdir /kaniko/0/out: permission denied",
		"shipwright", "not tried",
		"without DAC_OVERRIDE     fails (baseline): mkdir /kaniko/0/out: permission denied",
		"  capabilities: [DAC_OVERRIDE]\n",
		"kbrun run pipelines/kaniko-rootless.yaml --set capabilities=[DAC_OVERRIDE]\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("ladder lacks %q:\n%s", want, out)
		}
	}

	// Nothing built: no verdict of a set, no value to paste.
	none := ladderInput{Reference: ref, Ladder: in.Ladder[:2]}
	b.Reset()
	if v := ladder(&b, none); v.Needs != nil || v.Paste != "" || !strings.Contains(b.String(), "nothing up to the last set tried builds it") {
		t.Errorf("nothing built: %+v\n%s", v, b.String())
	}

	// The no-privilege builder built it: restricted, nothing to paste.
	nopriv := ladderInput{Reference: ref, Ladder: []rawCell{cell(t, `{"matrix":{"set":{"name":"nopriv","builder":"nopriv","add":[]}},"status":"ok","result":"ok","level":"restricted"}`)}}
	b.Reset()
	if v := ladder(&b, nopriv); v.Needs == nil || v.Needs.Builder != "nopriv" || v.Paste != "" || !strings.Contains(v.Verdict, "needs no privilege — restricted level") {
		t.Errorf("no-privilege builder: %+v", v)
	}

	// Rootless BuildKit built it: its level and what it runs with, nothing to
	// paste (kaniko-rootless.yaml's builder is Kaniko).
	bk := ladderInput{Reference: ref, Ladder: []rawCell{
		in.Ladder[1],
		cell(t, `{"matrix":{"set":{"name":"buildkit","builder":"buildkit","add":["SETUID","SETGID"]}},"status":"ok","result":"ok","level":"privileged"}`),
	}}
	b.Reset()
	v = ladder(&b, bk)
	if v.Needs == nil || v.Needs.Builder != "buildkit" || v.Paste != "" || len(v.Trim) != 0 ||
		v.Verdict != "needs: rootless BuildKit (uid 1000, seccomp and AppArmor Unconfined, + SETUID SETGID) — privileged level" {
		t.Errorf("rootless BuildKit: %+v\n%s", v, b.String())
	}
}

// An image that is not the reference's: the first difference, without the
// reference's whole entry, and how many more.
const differsErr = "/busybox/sh in x exited with code 1, expected 0; last output:\n" +
	"    DIFFERS /data/secret/f: missing (reference: file 0644 1000:1000 2 B sha256:0a1b2c3d4e5f)\n" +
	"    imagetool compare: image differs from the reference in 3 places (of 40 paths and the config): /data/secret/f: missing (reference: file 0644 1000:1000 2 B sha256:0a1b2c3d4e5f) | /data/secret/g: missing (reference: file 0644 1000:1000 2 B sha256:0a1b2c3d4e5f) | /x: mode 0700, reference 0755"

func TestImageDiffers(t *testing.T) {
	if short, _ := explain("image differs", differsErr); short != "/data/secret/f: missing (and 2 more)" {
		t.Errorf("short %q", short)
	}
	// A row without a reference image: what built there is not OK.
	cells := []rawCell{
		cell(t, `{"name":"cells[seed,private]","matrix":{"set":{"name":"seed"},"kind":"private"},"status":"ok","result":"ok","level":"baseline"}`),
		cell(t, `{"name":"cells[dac,private]","matrix":{"set":{"name":"dac"},"kind":"private"},"status":"ok","result":"image differs","level":"baseline"}`),
	}
	cells[1].Why = differsErr
	refs := []rawCell{cell(t, `{"name":"reference[private,a]","matrix":{"set":{"name":"shipwright"},"kind":"private"},"status":"ok","result":"fails","level":"baseline"}`)}
	refs[0].Why = runErr
	var b strings.Builder
	res := table(&b, tableInput{Cells: cells, Reference: refs})
	out := b.String()
	for _, want := range []string{
		"| `private` | unverified: `no reference image: shipwright fails: RUN: chown: /data: Operation not permitted` | image differs: `/data/secret/f: missing (and 2 more)` |",
		"reference reference[private,a]: fails: RUN: chown",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if res.Cells[0].Result != "unverified" {
		t.Errorf("cell without a reference: %+v", res.Cells[0])
	}

	// The ladder without a reference image gives no verdict.
	var lb strings.Builder
	v := ladder(&lb, ladderInput{Reference: refs, Ladder: cells[:1]})
	if v.Needs != nil || !strings.Contains(lb.String(), "no verdict: the most privileged set did not build it") {
		t.Errorf("no reference: %+v\n%s", v, lb.String())
	}
}

// TestContextKey: the same context and inputs give the same key; a changed
// file, mode, Dockerfile path or input another.
func TestContextKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("Dockerfile", "FROM scratch\nCOPY f /f\n", 0o644)
	write("f", "one", 0o644)
	key := func(dockerfile string, extra ...string) string {
		k, err := contextKey(dir, dockerfile, extra)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	k0 := key("Dockerfile", "BASE=x")
	if key("Dockerfile", "BASE=x") != k0 {
		t.Fatal("the same context gave two keys")
	}
	seen := map[string]string{k0: "first"}
	for what, k := range map[string]string{
		"input":      key("Dockerfile", "BASE=y"),
		"dockerfile": key("other/Dockerfile", "BASE=x"),
	} {
		if seen[k] != "" {
			t.Errorf("%s changed, the key did not", what)
		}
		seen[k] = what
	}
	write("f", "two", 0o644)
	if k := key("Dockerfile", "BASE=x"); seen[k] != "" {
		t.Error("content changed, the key did not")
	} else {
		seen[k] = "content"
	}
	if err := os.Chmod(filepath.Join(dir, "f"), 0o755); err != nil {
		t.Fatal(err)
	}
	if k := key("Dockerfile", "BASE=x"); seen[k] != "" {
		t.Error("mode changed, the key did not")
	}
}
