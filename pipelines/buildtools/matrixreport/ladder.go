package main

import (
	"fmt"
	"io"
	"strings"
)

// ladderInput is what kaniko-least-privilege.yaml gives: the ladder's
// cells, then the cells that each drop one capability of the set that
// built (trim), then the build with every droppable one dropped (verify).
type ladderInput struct {
	Context    string    `json:"context"`
	Dockerfile string    `json:"dockerfile"`
	Reference  []rawCell `json:"reference"`
	Ladder     []rawCell `json:"ladder"`
	Trim       []rawCell `json:"trim"`
	Verify     []rawCell `json:"verify"`
}

// verdict is the answer: the least set that built (nil: none did).
type verdict struct {
	Needs     *set    `json:"needs"`
	Level     string  `json:"level,omitempty"`
	Verdict   string  `json:"verdict"`
	Paste     string  `json:"paste,omitempty"`
	Reference []probe `json:"reference"`
	Ladder    []probe `json:"ladder"`
	Trim      []probe `json:"trim,omitempty"`
	Verify    []probe `json:"verify,omitempty"`
}

func ladder(w io.Writer, in ladderInput) verdict {
	v := verdict{Reference: probes(in.Reference), Ladder: probes(in.Ladder), Trim: probes(in.Trim), Verify: probes(in.Verify)}
	fmt.Fprintf(w, "The least privilege for %s (context %s):\n\n", in.Dockerfile, in.Context)
	// The reference cells are a matrix over the build (a, b), not over
	// sets: their set is the ladder's last rung.
	if n := len(v.Ladder); n > 0 {
		for i := range v.Reference {
			if v.Reference[i].Set.Name == "" {
				v.Reference[i].Set = v.Ladder[n-1].Set
			}
		}
	}
	var ref *probe
	for i := range v.Reference {
		if v.Reference[i].Result == "ok" {
			ref = &v.Reference[i]
			break
		}
	}
	if ref == nil {
		// Without the reference's image no set's image can be judged.
		v.Verdict = "no verdict: the most privileged set did not build it, so there is no reference image to judge the others by"
		fmt.Fprintf(w, "verdict: %s\n\nthe reference builds:\n", v.Verdict)
		for _, r := range v.Reference {
			fmt.Fprintf(w, "  %-12s %s  %s\n", r.Set.Name, setText(r.Set), resultText(r))
		}
		return v
	}
	var win *probe
	for i := range v.Ladder {
		if v.Ladder[i].Result == "ok" {
			win = &v.Ladder[i]
			break
		}
	}
	if win == nil {
		v.Verdict = "nothing up to the last set tried builds it (Kaniko is never tried privileged here)"
		fmt.Fprintf(w, "verdict: %s\n", v.Verdict)
		printTried(w, v.Ladder)
		return v
	}
	needs := win.Set
	level := win.Level
	// Drop what the trim showed unneeded, when the verify build (or the
	// single trim) confirmed it.
	var droppable []string
	for _, t := range v.Trim {
		if t.Result == "ok" {
			droppable = append(droppable, dropped(win.Set, t.Set))
		}
	}
	switch {
	case len(droppable) == 1:
		for _, t := range v.Trim {
			if t.Result == "ok" {
				needs, level = t.Set, t.Level
			}
		}
	case len(droppable) > 1 && len(v.Verify) == 1 && v.Verify[0].Result == "ok":
		needs, level = v.Verify[0].Set, v.Verify[0].Level
	}
	v.Needs, v.Level = &needs, level
	switch needs.Builder {
	case "nopriv":
		v.Verdict = fmt.Sprintf("needs no privilege — %s level: the no-privilege builder (imagetool build: non-root, no capability) builds it", level)
	case "buildkit":
		// Not a set for kaniko-rootless.yaml's builder: nothing to paste.
		v.Verdict = fmt.Sprintf("needs: %s — %s level", setText(needs), level)
	default:
		caps := "no capability"
		if len(needs.Add) > 0 {
			caps = strings.Join(needs.Add, ", ")
		}
		v.Verdict = fmt.Sprintf("needs: %s — %s level (Kaniko as root%s)", caps, level, usernsText(needs))
		v.Paste = fmt.Sprintf("capabilities: [%s]", strings.Join(needs.Add, ", "))
	}
	fmt.Fprintf(w, "verdict: %s\n", v.Verdict)
	fmt.Fprintf(w, "(each image compared with the reference, the context built by %s: file tree and config; image differs = files lost or changed)\n", ref.Set.Name)
	printTried(w, v.Ladder)
	if len(v.Trim) > 0 {
		fmt.Fprintf(w, "\n%s built it; each of its capabilities dropped in turn:\n", win.Set.Name)
		for _, t := range v.Trim {
			fmt.Fprintf(w, "  without %-16s %s\n", dropped(win.Set, t.Set), resultText(t))
		}
		for _, t := range v.Verify {
			fmt.Fprintf(w, "  with only %-14s %s\n", strings.Join(t.Set.Add, ","), resultText(t))
		}
	}
	if v.Paste != "" {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Paste into pipelines/kaniko-rootless.yaml (vars.capabilities.default) or a values file:")
		fmt.Fprintf(w, "  %s\n", v.Paste)
		fmt.Fprintln(w, "or run it with:")
		fmt.Fprintf(w, "  kbrun run pipelines/kaniko-rootless.yaml --set capabilities=[%s]%s\n", strings.Join(needs.Add, ","), map[bool]string{true: " --set userNamespace=true", false: ""}[ownUserNamespace(needs)])
	}
	return v
}
