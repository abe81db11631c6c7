package main

import (
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// fixturePage renders the page of a recorded input (testdata/NAME.json,
// what kbrun gives the report on stdin).
func fixturePage(t *testing.T, name string) []byte {
	t.Helper()
	in, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var pg page
	switch name {
	case "table":
		var ti tableInput
		if err := json.Unmarshal(in, &ti); err != nil {
			t.Fatal(err)
		}
		pg = matrixPage(table(io.Discard, ti))
	case "ladder":
		var li ladderInput
		if err := json.Unmarshal(in, &li); err != nil {
			t.Fatal(err)
		}
		pg = ladderPage(ladder(io.Discard, li), li.Dockerfile, li.Context)
	}
	b, err := renderPage(pg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var cellRE = regexp.MustCompile(`<td class="cell r-(\w+)" data-result="([^"]*)" data-set="([^"]*)" data-kind="([^"]*)"`)

func TestPageGolden(t *testing.T) {
	for _, c := range []struct {
		name  string
		cells int // the grid's and the references'
		want  []string
	}{
		{"table", 20 + 10, []string{
			`<td class="cell r-differs" data-result="image differs" data-set="none" data-kind="tolerant" data-level="baseline"><b>image differs</b> <span class="level">baseline</span><div class="why">/app: owner 0:0, reference 1000:1000 (and 1 more)</div>`,
			`<th>nopriv<br><small>no-privilege builder (non-root, no capability)</small><br><span class="level">restricted</span></th>`,
			`<div class="missing">likely missing: DAC_OVERRIDE</div><details><summary>log</summary><pre>/busybox/sh in kbrun-capabilities/probe-seed-multistage`,
			// What kbrun masked stays masked.
			"pushing with the registry account ci:***",
		}},
		{"ladder", 9 + 2, []string{
			`<p class="verdict" id="verdict">needs: CHOWN, DAC_OVERRIDE — baseline level (Kaniko as root)</p>`,
			`<pre class="paste">capabilities: [CHOWN, DAC_OVERRIDE]</pre>`,
			`<th>trim dac-chown<br><small class="note">without CHOWN</small></th><td class="cell r-differs"`,
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := fixturePage(t, c.name)
			s := string(got)
			for _, w := range c.want {
				if !strings.Contains(s, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			if n := len(cellRE.FindAllString(s, -1)); n != c.cells {
				t.Errorf("%d cells in the grid, want %d", n, c.cells)
			}
			// Self-contained: nothing to fetch.
			if m := regexp.MustCompile(`(?i)\b(src|href)=|url\(|@import|<script|<link`).FindString(s); m != "" {
				t.Errorf("the page would fetch something: %q", m)
			}
			golden := filepath.Join("testdata", c.name+".html.golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test ./matrixreport -update writes it)", err)
			}
			if s != string(want) {
				t.Errorf("the page differs from %s (go test ./matrixreport -update rewrites it)", golden)
			}
		})
	}
}
