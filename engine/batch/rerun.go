package batch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"

	"github.com/kbrun/kbrun/engine/report"
)

// FailedIn reads a previous run's report, kbrun's JSON lines (-o json) or
// a JUnit XML file (--junit), and returns the names of the pipelines that
// failed in it, in the report's order. A pipeline that started and never
// ended (its run was killed) counts as failed.
func FailedIn(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--rerun-failed %s: %w", path, err)
	}
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '<' {
		names, err := failedInJUnit(t)
		if err != nil {
			return nil, fmt.Errorf("--rerun-failed %s: not a JUnit XML report: %w", path, err)
		}
		return names, nil
	}
	names, ok := failedInJSON(data)
	if !ok {
		return nil, fmt.Errorf("--rerun-failed %s: neither a JUnit XML report (--junit) nor kbrun's JSON lines (-o json)", path)
	}
	return names, nil
}

// failedInJSON reads JSON lines; ok is false when no line is a kbrun run
// event.
func failedInJSON(data []byte) (names []string, ok bool) {
	ended := map[string]bool{}
	failed := map[string]bool{}
	var order []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var e report.Event
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Pipeline == "" {
			continue
		}
		switch e.Type {
		case report.RunStart:
			ok = true
			if !ended[e.Pipeline] && !failed[e.Pipeline] {
				order = append(order, e.Pipeline)
			}
		case report.RunEnd:
			ok = true
			ended[e.Pipeline] = true
			failed[e.Pipeline] = e.Error != "" || e.ExitCode != nil && *e.ExitCode != 0
		}
	}
	for _, n := range order {
		if failed[n] || !ended[n] {
			names = append(names, n)
		}
	}
	return names, ok
}

type xmlSuite struct {
	Name     string     `xml:"name,attr"`
	Failures int        `xml:"failures,attr"`
	Errors   int        `xml:"errors,attr"`
	Suites   []xmlSuite `xml:"testsuite"`
	Cases    []struct {
		Failure *struct{} `xml:"failure"`
		Error   *struct{} `xml:"error"`
	} `xml:"testcase"`
}

// failedInJUnit reads a <testsuites> or <testsuite> document: a suite is
// a pipeline, failed when it counts or holds a failure or an error.
func failedInJUnit(data []byte) ([]string, error) {
	var root struct {
		XMLName xml.Name
		xmlSuite
	}
	if err := xml.Unmarshal(data, &root); err != nil {
		return nil, err
	}
	suites := root.Suites
	switch root.XMLName.Local {
	case "testsuites":
	case "testsuite":
		suites = []xmlSuite{root.xmlSuite}
	default:
		return nil, fmt.Errorf("its root is <%s>, not <testsuites> or <testsuite>", root.XMLName.Local)
	}
	var names []string
	for _, s := range suites {
		bad := s.Failures > 0 || s.Errors > 0
		for _, c := range s.Cases {
			bad = bad || c.Failure != nil || c.Error != nil
		}
		if bad {
			names = append(names, s.Name)
		}
	}
	return names, nil
}
