package main

import (
	"encoding/json"
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
	res := table(&b, probes(cells))
	out := b.String()
	for _, want := range []string{
		"| Dockerfile | `nopriv` (restricted) | `seed` (baseline) |",
		"| `copy` | OK | OK |",
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
	in := ladderInput{Context: "/app", Dockerfile: "Dockerfile",
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
	none := ladderInput{Ladder: in.Ladder[:2]}
	b.Reset()
	if v := ladder(&b, none); v.Needs != nil || v.Paste != "" || !strings.Contains(b.String(), "nothing up to the last set tried builds it") {
		t.Errorf("nothing built: %+v\n%s", v, b.String())
	}

	// The no-privilege builder built it: restricted, nothing to paste.
	nopriv := ladderInput{Ladder: []rawCell{cell(t, `{"matrix":{"set":{"name":"nopriv","builder":"nopriv","add":[]}},"status":"ok","result":"ok","level":"restricted"}`)}}
	b.Reset()
	if v := ladder(&b, nopriv); v.Needs == nil || v.Needs.Builder != "nopriv" || v.Paste != "" || !strings.Contains(v.Verdict, "needs no privilege — restricted level") {
		t.Errorf("no-privilege builder: %+v", v)
	}
}
