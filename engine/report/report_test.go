package report

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/kbrun/kbrun/engine/secret"
)

var t0 = time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)

func end(task, typ, index, status, errText string, ms int64) Event {
	return Event{Time: t0, Type: TaskEnd, Task: task, TaskType: typ, Index: index, Status: status, Error: errText, Reason: map[bool]string{true: "when was false"}[status == StatusSkipped], DurationMS: ms, Attempt: 1}
}

// No field of an event that can carry a secret reaches a reporter unmasked,
// in any form a template may have made of it.
func TestMaskedEveryField(t *testing.T) {
	const pw = "hunter2-secret"
	var s secret.Set
	s.Add(pw)
	b64 := base64.StdEncoding.EncodeToString([]byte(pw))
	rec := &Recorder{}
	Masked(&s, rec).Report(Event{
		Type: TaskEnd, Describe: "login with " + pw, Line: "token " + b64, Error: "denied for " + pw, Reason: pw,
		Params:    map[string]any{"args": []any{"--password=" + pw}},
		Manifests: []string{"# f.yaml\npassword: " + b64},
		Outputs:   map[string]any{"stdout": pw},
		Changes:   []Change{{Object: "secret ones/" + pw, Fields: []string{"data." + pw}}},
	})
	out, err := json.Marshal(rec.Events())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), pw) || strings.Contains(string(out), b64) {
		t.Errorf("a secret reached the reporter:\n%s", out)
	}
	if n := strings.Count(string(out), secret.Mask); n != 9 {
		t.Errorf("%d masks, want 9 (one per field):\n%s", n, out)
	}
	// Without secrets the reporter is the same one.
	if r := Masked(nil, rec); r != Reporter(rec) {
		t.Error("Masked(nil) wraps")
	}
}

func TestJSONOneEventPerLine(t *testing.T) {
	var b bytes.Buffer
	j := NewJSON(&b)
	j.Report(Event{Time: t0, Type: TaskStart, Task: "a"})
	j.Report(Event{Time: t0, Type: TaskOutput, Task: "a", Stream: "stdout", Line: "x\ny"})
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines:\n%s", len(lines), b.String())
	}
	var e Event
	if err := json.Unmarshal([]byte(lines[1]), &e); err != nil || e.Line != "x\ny" || e.Type != TaskOutput {
		t.Errorf("%+v %v", e, err)
	}
	if strings.Contains(lines[0], "exitCode") || strings.Contains(lines[0], "params") {
		t.Errorf("empty fields are not omitted: %s", lines[0])
	}
}

// One testcase per task with its failure, skip reason and output; the
// suite counts them.
func TestJUnit(t *testing.T) {
	j := NewJUnit()
	j.Report(Event{Time: t0, Type: RunStart, Pipeline: "demo"})
	j.Report(Event{Type: TaskOutput, Task: "build", Line: "compiling"})
	j.Report(Event{Type: TaskOutput, Task: "build", Line: strings.Repeat("x", maxCaseOutput)})
	j.Report(Event{Type: TaskOutput, Task: "build", Line: "dropped"})
	j.Report(end("build", "compile", "1", StatusOK, "", 1500))
	j.Report(end("push", "exec", "2", StatusFailed, "exit code 1\nlast lines", 20))
	j.Report(end("tidy", "run", "3", StatusSkipped, "", 0))
	j.Report(Event{Type: RunEnd, DurationMS: 2000})
	var b bytes.Buffer
	if err := j.Write(&b); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Suites []struct {
			Name     string `xml:"name,attr"`
			Tests    int    `xml:"tests,attr"`
			Failures int    `xml:"failures,attr"`
			Skipped  int    `xml:"skipped,attr"`
			Time     string `xml:"time,attr"`
			Cases    []struct {
				Name      string `xml:"name,attr"`
				Classname string `xml:"classname,attr"`
				Time      string `xml:"time,attr"`
				Failure   *struct {
					Message string `xml:"message,attr"`
					Body    string `xml:",chardata"`
				} `xml:"failure"`
				Skipped *struct {
					Message string `xml:"message,attr"`
				} `xml:"skipped"`
				SystemOut string `xml:"system-out"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	s := doc.Suites[0]
	if s.Name != "demo" || s.Tests != 3 || s.Failures != 1 || s.Skipped != 1 || s.Time != "2.000" {
		t.Fatalf("suite %+v", s)
	}
	build, push, tidy := s.Cases[0], s.Cases[1], s.Cases[2]
	if build.Classname != "demo.compile" || build.Time != "1.500" || !strings.HasPrefix(build.SystemOut, "compiling\n") || strings.Contains(build.SystemOut, "dropped") {
		t.Errorf("build case %+v (output past %d bytes must be dropped)", build.Classname, maxCaseOutput)
	}
	if push.Failure == nil || push.Failure.Message != "exit code 1 …" || push.Failure.Body != "exit code 1\nlast lines" {
		t.Errorf("push case failure %+v", push.Failure)
	}
	if tidy.Skipped == nil || tidy.Skipped.Message != "when was false" {
		t.Errorf("tidy case skipped %+v", tidy.Skipped)
	}
}

// Live text: start and end lines, output prefixed with the task name, and a
// summary in plan order (1 < 2 < 2.1 < 10 < F1) whatever order tasks ended.
func TestText(t *testing.T) {
	var b bytes.Buffer
	tx := NewText(&b, []string{"a", "group", "g1", "j", "fin"})
	tx.Report(Event{Type: RunStart, Pipeline: "demo", RunID: "r1"})
	tx.Report(Event{Type: TaskStart, Task: "a", TaskType: "run", Index: "1", Describe: "run echo"})
	tx.Report(Event{Type: TaskOutput, Task: "a", Line: "hello"})
	for _, e := range []Event{
		end("fin", "run", "F1", StatusOK, "", 5),
		end("j", "run", "10", StatusOK, "", 5),
		end("g1", "run", "2.1", StatusFailed, "boom\nmore", 1200),
		end("group", "parallel", "2", StatusFailed, "g1 failed", 1300),
		end("a", "run", "1", StatusOK, "", 3),
	} {
		tx.Report(e)
	}
	tx.Report(Event{Type: RunEnd, Error: "task \"g1\" failed", DurationMS: 1400})
	out := b.String()
	for _, want := range []string{
		"kbrun: pipeline demo, run r1\n",
		"▶ 1 a (run): run echo\n",
		"  a     | hello\n",
		"✗ 2.1 g1 failed after 1.2s: boom\n    more\n",
		"FAILED in 1.4s: task \"g1\" failed\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	var order []string
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 6 && f[3] != "STATUS" && (f[3] == StatusOK || f[3] == StatusFailed) {
			order = append(order, f[0])
		}
	}
	if strings.Join(order, " ") != "1 2 2.1 10 F1" {
		t.Errorf("summary order %v, want 1 2 2.1 10 F1:\n%s", order, out)
	}
}

// The API server's outage is one line when it starts and one when it ends.
func TestTextAPINotes(t *testing.T) {
	var b bytes.Buffer
	tx := NewText(&b, []string{"copy"})
	since := time.Date(2026, 12, 7, 8, 40, 1, 0, time.UTC)
	tx.Report(Event{Time: since, Type: APIDown, Error: "dial tcp 10.250.250.1:6443: connect: connection refused"})
	tx.Report(Event{Time: since.Add(8 * time.Second), Type: APIBack, DurationMS: 8200})
	want := "! the API server is not answering since 08:40:01 (dial tcp 10.250.250.1:6443: connect: connection refused); requests wait for it up to their task's timeout\n" +
		"! the API server answers again, after 8.2s\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
