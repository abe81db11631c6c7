package main

import (
	"bytes"
	_ "embed"
	"html/template"
	"os"
	"strings"
)

// The page is one file that needs nothing else: its CSS is inline, it
// fetches nothing. Its text comes from the same probes as the text report,
// whose errors kbrun masked (a secret reads ***), and html/template
// escapes it.
//
//go:embed page.html.tmpl
var pageTemplate string

var pageTmpl = template.Must(template.New("page").Parse(pageTemplate))

// page is what the HTML shows: a grid of probes, rows by columns, and for
// a ladder the verdict above it.
type page struct {
	Title, Intro    string
	Verdict, Paste  string
	Corner          string
	Columns         []column
	Rows            []gridRow
	References      []gridRow
	ReferencesIntro string
}

type column struct{ Name, Adds, Level string }

type gridRow struct {
	Label, Note string
	Cells       []gridCell
}

// gridCell is one probe; an empty Result is a combination not measured.
type gridCell struct {
	Set, Kind, Result, Class, Level, Short, Missing, Log string
}

func cellOf(p probe) gridCell {
	return gridCell{Set: p.Set.Name, Kind: p.Kind, Result: p.Result, Class: resultClass(p.Result), Level: p.Level,
		Short: p.Short, Missing: p.LikelyMissing, Log: strings.TrimSpace(p.Error)}
}

// resultClass is the colour of a result.
func resultClass(r string) string {
	switch r {
	case "ok":
		return "ok"
	case "fails":
		return "fails"
	case "image differs", "image wrong":
		return "differs"
	case "n/a":
		return "na"
	case "unverified":
		return "unverified"
	}
	return "notrun"
}

// matrixPage is the capability matrix: kinds down, sets across.
func matrixPage(res matrixResult) page {
	levels := setLevels(res.Cells)
	pg := page{Title: "Which builds work with which privileges", Corner: "Dockerfile",
		Intro: "Rows: Dockerfile kinds; columns: builder privilege sets, with their Pod Security level. Each cell's image is compared with its row's reference; image differs: not the reference's image."}
	for _, s := range res.Sets {
		pg.Columns = append(pg.Columns, column{Name: s.Name, Adds: setText(s), Level: levels[s.Name]})
	}
	at := map[[2]string]probe{}
	for _, p := range res.Cells {
		at[[2]string{p.Set.Name, p.Kind}] = p
	}
	for _, k := range res.Kinds {
		row := gridRow{Label: k}
		for _, s := range res.Sets {
			c := cellOf(at[[2]string{s.Name, k}])
			c.Set, c.Kind = s.Name, k
			row.Cells = append(row.Cells, c)
		}
		pg.Rows = append(pg.Rows, row)
	}
	if len(res.Reference) > 0 {
		pg.ReferencesIntro = "The reference builds: each kind built twice by " + res.Reference[0].Set.Name + "."
	}
	for _, r := range res.Reference {
		pg.References = append(pg.References, gridRow{Label: r.Cell, Cells: []gridCell{cellOf(r)}})
	}
	return pg
}

// ladderPage is the least privilege of one Dockerfile: the verdict, then
// each build tried.
func ladderPage(v verdict, dockerfile, context string) page {
	pg := page{Title: "The least privilege for " + dockerfile, Intro: "Context " + context + ". Each image is compared with the reference's.",
		Verdict: v.Verdict, Paste: v.Paste, Corner: "build", Columns: []column{{Name: "result", Adds: "with the builder's Pod Security level"}}}
	add := func(label string, ps []probe, note func(probe) string) {
		for _, p := range ps {
			pg.Rows = append(pg.Rows, gridRow{Label: label + " " + p.Set.Name, Note: note(p), Cells: []gridCell{cellOf(p)}})
		}
	}
	add("tried", v.Ladder, func(p probe) string { return setText(p.Set) })
	if n := len(v.Ladder); n > 0 {
		win := v.Ladder[n-1].Set
		for _, p := range v.Ladder {
			if p.Result == "ok" {
				win = p.Set
				break
			}
		}
		add("trim", v.Trim, func(p probe) string { return "without " + dropped(win, p.Set) })
	}
	add("verify", v.Verify, func(p probe) string { return "with only " + strings.Join(p.Set.Add, ",") })
	for _, r := range v.Reference {
		pg.References = append(pg.References, gridRow{Label: r.Cell, Cells: []gridCell{cellOf(r)}})
	}
	if len(v.Reference) > 0 {
		pg.ReferencesIntro = "The reference builds, by the most privileged set."
	}
	return pg
}

func renderPage(pg page) ([]byte, error) {
	var b bytes.Buffer
	err := pageTmpl.Execute(&b, pg)
	return b.Bytes(), err
}

func writePage(path string, pg page) error {
	b, err := renderPage(pg)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
