package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// instruction is one Dockerfile instruction: its keyword (upper case), its
// --flags, its arguments, and the line it starts on.
type instruction struct {
	cmd   string
	flags map[string]string
	args  []string
	// json is true when the arguments were a JSON array (exec form).
	json bool
	// raw is the text after the keyword (flags included), for shell forms.
	raw  string
	line int
}

// parseDockerfile splits a Dockerfile into instructions: comments and
// blank lines dropped, lines ending in a backslash joined. Parser
// directives (# syntax=...) are comments here.
func parseDockerfile(text string) ([]instruction, error) {
	var out []instruction
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		start := i + 1
		line := strings.TrimSpace(lines[i])
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for strings.HasSuffix(line, `\`) && i+1 < len(lines) {
			line = strings.TrimSuffix(line, `\`)
			// Comment lines inside a continued instruction are dropped.
			for i++; i+1 < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i]), "#"); i++ {
			}
			line = strings.TrimSpace(line + " " + strings.TrimSpace(lines[i]))
		}
		line = strings.TrimSuffix(line, `\`)
		kw, rest, _ := strings.Cut(line, " ")
		in := instruction{cmd: strings.ToUpper(kw), flags: map[string]string{}, line: start}
		rest = strings.TrimSpace(rest)
		// --flags come first (COPY --chown=..., FROM --platform=...).
		for strings.HasPrefix(rest, "--") {
			f, r, _ := strings.Cut(rest, " ")
			name, val, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
			in.flags[name] = val
			rest = strings.TrimSpace(r)
		}
		in.raw = rest
		if strings.HasPrefix(rest, "[") {
			var arr []string
			if err := json.Unmarshal([]byte(rest), &arr); err == nil {
				in.args, in.json = arr, true
			}
		}
		if !in.json {
			in.args = strings.Fields(rest)
		}
		if len(in.args) == 0 && in.cmd != "CMD" && in.cmd != "ENTRYPOINT" {
			return nil, fmt.Errorf("line %d: %s needs arguments", start, in.cmd)
		}
		out = append(out, in)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no instructions")
	}
	return out, nil
}

// expand replaces $VAR and ${VAR} (also ${VAR:-default} and ${VAR:+alt})
// from vars, as Docker does for ARG and ENV values; \$ stays a dollar.
func expand(s string, vars map[string]string) string {
	const esc = "\x00dollar\x00"
	s = strings.ReplaceAll(s, `\$`, esc)
	s = os.Expand(s, func(name string) string {
		if k, def, ok := strings.Cut(name, ":-"); ok {
			if v := vars[k]; v != "" {
				return v
			}
			return def
		}
		if k, alt, ok := strings.Cut(name, ":+"); ok {
			if vars[k] != "" {
				return alt
			}
			return ""
		}
		return vars[name]
	})
	return strings.ReplaceAll(s, esc, "$")
}

// keyValues reads ENV and LABEL arguments: KEY=VALUE pairs (values may be
// double-quoted), or the old single-pair form "KEY VALUE".
func keyValues(in instruction) ([][2]string, error) {
	raw := in.raw
	if !strings.Contains(strings.SplitN(raw, " ", 2)[0], "=") {
		k, v, ok := strings.Cut(raw, " ")
		if !ok {
			return nil, fmt.Errorf("line %d: %s %s needs a value", in.line, in.cmd, raw)
		}
		return [][2]string{{k, strings.TrimSpace(v)}}, nil
	}
	var out [][2]string
	for _, word := range splitQuoted(raw) {
		k, v, ok := strings.Cut(word, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: %s: %q is not KEY=VALUE", in.line, in.cmd, word)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// splitQuoted splits on spaces outside double quotes and removes the quotes.
func splitQuoted(s string) []string {
	var out []string
	var cur strings.Builder
	inQuote, has := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && inQuote:
			i++
			cur.WriteByte(s[i])
		case c == '"':
			inQuote, has = !inQuote, true
		case c == ' ' && !inQuote:
			if has || cur.Len() > 0 {
				out = append(out, cur.String())
			}
			cur.Reset()
			has = false
		default:
			cur.WriteByte(c)
		}
	}
	if has || cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}
