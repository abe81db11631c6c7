package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// JUnit collects events and writes a JUnit XML report: one testsuite for the
// run, one testcase per task (finally tasks included), output in system-out.
type JUnit struct {
	mu     sync.Mutex
	suite  junitSuite
	output map[string]*strings.Builder
}

// NewJUnit returns an empty collector.
func NewJUnit() *JUnit {
	return &JUnit{output: map[string]*strings.Builder{}}
}

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string `xml:"name,attr"`
	Tests    int    `xml:"tests,attr"`
	Failures int    `xml:"failures,attr"`
	Skipped  int    `xml:"skipped,attr"`
	// Errors is 1 when the run failed with no task failing (a timeout of
	// the whole run, a cluster it could not reach), so that CI still sees
	// the suite fail.
	Errors    int         `xml:"errors,attr,omitempty"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr,omitempty"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr,omitempty"`
}

// maxCaseOutput bounds the output kept per testcase.
const maxCaseOutput = 64 << 10

// Report implements Reporter.
func (j *JUnit) Report(e Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	switch e.Type {
	case RunStart:
		j.suite.Name = e.Pipeline
		j.suite.Timestamp = e.Time.UTC().Format(time.RFC3339)
	case TaskOutput, TaskLog:
		b := j.output[e.Task]
		if b == nil {
			b = &strings.Builder{}
			j.output[e.Task] = b
		}
		if b.Len() < maxCaseOutput {
			b.WriteString(e.Line + "\n")
		}
	case TaskEnd:
		c := &junitCase{Name: e.Task, Classname: j.suite.Name + "." + e.TaskType, Time: seconds(e.DurationMS)}
		switch e.Status {
		case StatusFailed:
			c.Failure = &junitFailure{Message: firstLine(e.Error), Type: e.TaskType, Body: e.Error}
			j.suite.Failures++
		case StatusSkipped:
			c.Skipped = &junitSkipped{Message: e.Reason}
			j.suite.Skipped++
		}
		if b := j.output[e.Task]; b != nil {
			c.SystemOut = b.String()
		}
		j.suite.Cases = append(j.suite.Cases, *c)
		j.suite.Tests++
	case Diagnostics:
		// The failed cases ended before the folder was written: each
		// links it.
		for i := range j.suite.Cases {
			if c := &j.suite.Cases[i]; c.Failure != nil {
				c.Failure.Body += "\n\ndiagnostics: " + e.Diagnostics
				c.SystemOut += "diagnostics: " + e.Diagnostics + "\n"
			}
		}
	case RunEnd:
		j.suite.Time = seconds(e.DurationMS)
		if e.Error != "" && j.suite.Failures == 0 {
			j.suite.Errors = 1
		}
	}
}

// Write writes the XML document.
func (j *JUnit) Write(w io.Writer) error { return WriteJUnits(w, j) }

// SetName names the suite if no run.start did: a pipeline of a batch that
// failed before its first task still has its suite.
func (j *JUnit) SetName(name string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.suite.Name == "" {
		j.suite.Name = name
	}
}

// WriteJUnits writes one XML document with a testsuite per collector, in
// order: the report of a batch of pipelines.
func WriteJUnits(w io.Writer, js ...*JUnit) error {
	doc := junitSuites{Suites: make([]junitSuite, 0, len(js))}
	for _, j := range js {
		j.mu.Lock()
		doc.Suites = append(doc.Suites, j.suite)
		j.mu.Unlock()
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// WriteJUnitFile writes the report of js (one pipeline, or a batch) to
// path.
func WriteJUnitFile(path string, js ...*JUnit) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := WriteJUnits(f, js...); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func seconds(ms int64) string { return fmt.Sprintf("%.3f", float64(ms)/1000) }
