// Command matrixreport turns the probes of kaniko-capabilities.yaml and
// kaniko-least-privilege.yaml (lib/probe-build.yaml cells, as kbrun's
// .tasks.NAME.cells, JSON on stdin) into what a person reads:
//
//	matrixreport table  [-out FILE] [-html FILE]
//	                                  the capability matrix: a text table, a
//	                                  Markdown table, every failing cell with
//	                                  its quoted error; JSON to -out, a
//	                                  self-contained page to -html
//	                                  (stdin: {"reference": cells, "cells": cells})
//	matrixreport ladder [-out FILE] [-html FILE]
//	                                  the least privilege a Dockerfile needs:
//	                                  the verdict, what each set below it
//	                                  said, and the value to paste
//	matrixreport key -context DIR -dockerfile F [INPUT...]
//	                                  the digest a verdict is remembered by
//	                                  (the context's files and the inputs)
//
// It runs where kbrun runs (a run task); standard library only.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: matrixreport table|ladder [-out FILE] [-html FILE] < cells.json, or matrixreport key -context DIR [-dockerfile F] [INPUT...]")
		os.Exit(2)
	}
	fl := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	out := fl.String("out", "", "write the result as JSON to this file")
	html := fl.String("html", "", "write the result as a self-contained HTML page to this file")
	dir := fl.String("context", "", "key: the build context folder")
	dockerfile := fl.String("dockerfile", "Dockerfile", "key: the Dockerfile's path in the context")
	_ = fl.Parse(os.Args[2:])
	if os.Args[1] == "key" {
		k, err := contextKey(*dir, *dockerfile, fl.Args())
		if err != nil {
			fail(err)
		}
		fmt.Printf("key: %s\n", k)
		return
	}
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(err)
	}
	var res any
	var pg page
	switch os.Args[1] {
	case "table":
		var t tableInput
		if err := json.Unmarshal(in, &t); err != nil {
			fail(fmt.Errorf("reading the cells: %w", err))
		}
		m := table(os.Stdout, t)
		res, pg = m, matrixPage(m)
	case "ladder":
		var l ladderInput
		if err := json.Unmarshal(in, &l); err != nil {
			fail(fmt.Errorf("reading the ladder: %w", err))
		}
		v := ladder(os.Stdout, l)
		res, pg = v, ladderPage(v, l.Dockerfile, l.Context)
		defer func() {
			if v.Needs == nil {
				os.Exit(1)
			}
		}()
	default:
		fail(fmt.Errorf("unknown command %q (table or ladder)", os.Args[1]))
	}
	if *out != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
			fail(err)
		}
		fmt.Printf("\nJSON: %s\n", *out)
	}
	if *html != "" {
		if err := writePage(*html, pg); err != nil {
			fail(err)
		}
		fmt.Printf("\nHTML: %s\n", *html)
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "matrixreport: %v\n", err)
	os.Exit(1)
}

// set is a privilege set of a probe.
type set struct {
	Name      string   `json:"name"`
	Builder   string   `json:"builder,omitempty"`
	Add       []string `json:"add"`
	HostUsers any      `json:"hostUsers,omitempty"` // false (or "false"): a user namespace of its own
}

// rawCell is one cell of a probe matrix as kbrun gives it.
type rawCell struct {
	Name   string `json:"name"`
	Matrix struct {
		Set  set    `json:"set"`
		Kind string `json:"kind"`
	} `json:"matrix"`
	Status        string `json:"status"`
	Error         string `json:"error"`
	Result        string `json:"result"`
	Why           string `json:"why"`
	Level         string `json:"level"`
	Digest        string `json:"digest"`
	UserNamespace string `json:"userNamespace"`
}

// probe is one measured cell, as reported.
type probe struct {
	Cell          string `json:"cell"`
	Set           set    `json:"set"`
	Kind          string `json:"kind,omitempty"`
	Result        string `json:"result"`
	Level         string `json:"level"`
	Error         string `json:"error,omitempty"`
	Short         string `json:"short,omitempty"`
	LikelyMissing string `json:"likelyMissing,omitempty"`
	Digest        string `json:"digest,omitempty"`
	UserNamespace string `json:"userNamespace,omitempty"`
}

func probes(cells []rawCell) []probe {
	var out []probe
	for _, c := range cells {
		p := probe{Cell: c.Name, Set: c.Matrix.Set, Kind: c.Matrix.Kind, Result: c.Result, Level: c.Level, Digest: c.Digest, UserNamespace: c.UserNamespace}
		switch {
		case c.Status == "skipped":
			p.Result, p.Error = "not tried", c.Error
		case c.Result == "":
			p.Result, p.Error = "not run", c.Error // the probe itself failed
		default:
			p.Error = c.Why
		}
		p.Short, p.LikelyMissing = explain(p.Result, p.Error)
		out = append(out, p)
	}
	return out
}

var (
	kanikoRE  = regexp.MustCompile(`Kaniko failed \(exit status \d+\): (.*)`)
	differsRE = regexp.MustCompile(`image differs from the reference in (\d+) places \(of \d+ paths[^)]*\): (.*)`)
	lacksRE   = regexp.MustCompile(`likely lacks ([A-Z_, ]+) \(`)
	runErrRE  = regexp.MustCompile(`(?im)^\s*((?:\S+: )?\S+: .*(?:operation not permitted|permission denied|invalid argument).*)$`)
	toolRE    = regexp.MustCompile(`imagetool (?:build|check|compare): (.*)`)
	sandboxRE = regexp.MustCompile(`stuck in (\w+: .*)`)
	naRE      = regexp.MustCompile(`line (\d+): (RUN|a second FROM)`)
)

// explain finds the line that says why a probe did not pass, and the
// capability the build program names as likely missing.
func explain(result, err string) (short, missing string) {
	if m := lacksRE.FindStringSubmatch(err); m != nil {
		missing = m[1]
	}
	switch {
	case result == "ok" || err == "":
		return "", missing
	case differsRE.MatchString(err):
		// The first difference, without the reference's whole entry.
		m := differsRE.FindStringSubmatch(err)
		first := strings.SplitN(m[2], " | ", 2)[0]
		if i := strings.Index(first, " ("); i > 0 {
			first = first[:i]
		}
		if n, _ := strconv.Atoi(m[1]); n > 1 {
			first += fmt.Sprintf(" (and %d more)", n-1)
		}
		return first, missing
	case kanikoRE.MatchString(err):
		line := kanikoRE.FindStringSubmatch(err)[1]
		// A failed RUN: its command's own error says why.
		if strings.Contains(line, "failed to execute command: waiting for process") {
			for _, l := range runErrRE.FindAllStringSubmatch(err, -1) {
				if !strings.Contains(l[1], "error building image") && !strings.Contains(l[1], "Kaniko failed") && !strings.HasPrefix(strings.TrimSpace(l[1]), "build:") {
					return "RUN: " + strings.TrimSpace(l[1]), missing
				}
			}
		}
		return innermost(line), missing
	case result == "n/a" && naRE.MatchString(err):
		m := naRE.FindStringSubmatch(err)
		what := "RUN"
		if m[2] != "RUN" {
			what = "multi-stage"
		}
		return fmt.Sprintf("%s (line %s)", what, m[1]), missing
	case toolRE.MatchString(err):
		return strings.TrimSpace(lastMatch(toolRE, err)), missing
	case sandboxRE.MatchString(err):
		return sandboxRE.FindStringSubmatch(err)[1], missing
	}
	return firstLine(err), missing
}

func lastMatch(re *regexp.Regexp, s string) string {
	all := re.FindAllStringSubmatch(s, -1)
	return all[len(all)-1][1]
}

// innermost keeps the end of an error chain: "error building image: could
// not save file: copying file: mkdir /kaniko/0/out: permission denied" ->
// "mkdir /kaniko/0/out: permission denied".
func innermost(chain string) string {
	parts := strings.Split(strings.TrimSpace(chain), ": ")
	if len(parts) > 2 {
		parts = parts[len(parts)-2:]
	}
	return strings.Join(parts, ": ")
}

func firstLine(s string) string {
	return strings.TrimSpace(strings.SplitN(s, "\n", 2)[0])
}

// setText names a set with what it adds.
func setText(s set) string {
	switch {
	case s.Builder == "nopriv":
		return "no-privilege builder (non-root, no capability)"
	case s.Builder == "buildkit":
		return "rootless BuildKit (uid 1000, seccomp and AppArmor Unconfined, + " + strings.Join(s.Add, " ") + ")" + usernsText(s)
	case len(s.Add) == 0:
		return "Kaniko, no capability" + usernsText(s)
	}
	return "Kaniko + " + strings.Join(s.Add, " ") + usernsText(s)
}

func usernsText(s set) string {
	if ownUserNamespace(s) {
		return ", own user namespace"
	}
	return ""
}

func ownUserNamespace(s set) bool {
	return s.HostUsers == false || s.HostUsers == "false"
}

func printTried(w io.Writer, ps []probe) {
	fmt.Fprintln(w, "\ntried, least privilege first:")
	width := 0
	for _, p := range ps {
		width = max(width, len(setText(p.Set)))
	}
	for _, p := range ps {
		fmt.Fprintf(w, "  %-12s %-*s  %s\n", p.Set.Name, width, setText(p.Set), resultText(p))
	}
}

func resultText(p probe) string {
	s := p.Result
	if p.Level != "" && p.Result != "not tried" {
		s += " (" + p.Level + ")"
	}
	if p.Short != "" {
		s += ": " + p.Short
	}
	return s
}

// dropped is the capability in a but not in b.
func dropped(a, b set) string {
	have := map[string]bool{}
	for _, c := range b.Add {
		have[c] = true
	}
	var out []string
	for _, c := range a.Add {
		if !have[c] {
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}
