package main

import (
	"fmt"
	"io"
	"strings"
)

// tableInput is what kaniko-capabilities.yaml gives: each kind's reference
// builds (the most privileged set, twice) and the cells.
type tableInput struct {
	Reference []rawCell `json:"reference"`
	Cells     []rawCell `json:"cells"`
}

// matrixResult is the JSON of a table.
type matrixResult struct {
	Sets      []set    `json:"sets"`
	Kinds     []string `json:"kinds"`
	Cells     []probe  `json:"cells"`
	Reference []probe  `json:"reference"`
}

// unverified: a cell that built while its kind has no reference image
// cannot be judged (the most privileged set did not build it), so it is
// not OK.
func unverified(ps []probe, refs []probe) {
	built := map[string]bool{}
	why := map[string]string{}
	for _, r := range refs {
		if r.Result == "ok" {
			built[r.Kind] = true
		} else if why[r.Kind] == "" {
			why[r.Kind] = fmt.Sprintf("no reference image: %s %s: %s", r.Set.Name, r.Result, r.Short)
		}
	}
	for i, p := range ps {
		if p.Result == "ok" && !built[p.Kind] {
			ps[i].Result, ps[i].Error, ps[i].Short = "unverified", why[p.Kind], why[p.Kind]
		}
	}
}

// table prints the matrix: kinds down, sets across.
func table(w io.Writer, in tableInput) matrixResult {
	ps, refs := probes(in.Cells), probes(in.Reference)
	unverified(ps, refs)
	res := matrixResult{Reference: refs}
	seenSet, seenKind := map[string]bool{}, map[string]bool{}
	at := map[[2]string]probe{}
	for _, p := range ps {
		if !seenSet[p.Set.Name] {
			seenSet[p.Set.Name] = true
			res.Sets = append(res.Sets, p.Set)
		}
		if !seenKind[p.Kind] {
			seenKind[p.Kind] = true
			res.Kinds = append(res.Kinds, p.Kind)
		}
		at[[2]string{p.Set.Name, p.Kind}] = p
	}
	res.Cells = ps
	levels := setLevels(ps)
	// Notes: every cell that did not pass, numbered, quoted.
	notes := map[string]int{}
	var noteList []probe
	for _, k := range res.Kinds {
		for _, s := range res.Sets {
			p := at[[2]string{s.Name, k}]
			if p.Result != "ok" && p.Result != "" {
				noteList = append(noteList, p)
				notes[p.Cell] = len(noteList)
			}
		}
	}
	cellText := func(p probe, md bool) string {
		switch p.Result {
		case "":
			return "–"
		case "ok":
			return "OK"
		}
		if md {
			if p.Short == "" {
				return p.Result
			}
			return fmt.Sprintf("%s: `%s`", p.Result, strings.ReplaceAll(p.Short, "|", `\|`))
		}
		return fmt.Sprintf("%s [%d]", p.Result, notes[p.Cell])
	}
	// Text.
	head := []string{"Dockerfile"}
	for _, s := range res.Sets {
		head = append(head, fmt.Sprintf("%s (%s)", s.Name, levels[s.Name]))
	}
	rows := [][]string{head}
	for _, k := range res.Kinds {
		row := []string{k}
		for _, s := range res.Sets {
			row = append(row, cellText(at[[2]string{s.Name, k}], false))
		}
		rows = append(rows, row)
	}
	fmt.Fprintln(w, "Which builds work with which privileges (rows: Dockerfile kinds; columns: builder privilege sets, with their Pod Security level):")
	if len(refs) > 0 {
		// Reference cells carry no set: the pipeline builds them with the
		// last one, the last column.
		ref := refs[0].Set.Name
		if ref == "" && len(res.Sets) > 0 {
			ref = res.Sets[len(res.Sets)-1].Name
		}
		fmt.Fprintf(w, "each cell's image compared with its row's reference, the kind built by %s (file tree and config); image differs: not the reference's image\n", ref)
	}
	fmt.Fprintln(w)
	widths := make([]int, len(head))
	for _, r := range rows {
		for i, c := range r {
			if n := len([]rune(c)); n > widths[i] {
				widths[i] = n
			}
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			fmt.Fprintf(&b, "%-*s  ", widths[i], c)
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Sets:")
	for _, s := range res.Sets {
		fmt.Fprintf(w, "  %-12s %s\n", s.Name, setText(s))
	}
	if len(noteList) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Cells that did not pass:")
		for i, p := range noteList {
			fmt.Fprintf(w, "  [%d] %s: %s: %s\n", i+1, p.Cell, p.Result, p.Short)
			if p.LikelyMissing != "" {
				fmt.Fprintf(w, "      likely missing: %s\n", p.LikelyMissing)
			}
		}
	}
	for _, r := range refs {
		if r.Result != "ok" {
			fmt.Fprintf(w, "  reference %s: %s: %s\n", r.Cell, r.Result, r.Short)
		}
	}
	// Markdown.
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Markdown:")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "| Dockerfile | %s |\n", strings.Join(mdHeads(res.Sets, levels), " | "))
	fmt.Fprintf(w, "|---|%s\n", strings.Repeat("---|", len(res.Sets)))
	for _, k := range res.Kinds {
		var cells []string
		for _, s := range res.Sets {
			cells = append(cells, cellText(at[[2]string{s.Name, k}], true))
		}
		fmt.Fprintf(w, "| `%s` | %s |\n", k, strings.Join(cells, " | "))
	}
	fmt.Fprintln(w)
	for _, s := range res.Sets {
		fmt.Fprintf(w, "- `%s`: %s\n", s.Name, setText(s))
	}
	return res
}

func mdHeads(sets []set, levels map[string]string) []string {
	var out []string
	for _, s := range sets {
		out = append(out, fmt.Sprintf("`%s` (%s)", s.Name, levels[s.Name]))
	}
	return out
}

// setLevels is each set's Pod Security level over its cells ("mixed" when
// they differ).
func setLevels(ps []probe) map[string]string {
	levels := map[string]string{}
	for _, p := range ps {
		if l := levels[p.Set.Name]; l == "" || l == p.Level {
			levels[p.Set.Name] = p.Level
		} else {
			levels[p.Set.Name] = "mixed"
		}
	}
	return levels
}
