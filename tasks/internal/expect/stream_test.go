package expect

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
)

// line is the generated output's line: 63 bytes and a newline, so that the
// line of an offset is offset/64+1.
const line = "lorem ipsum dolor sit amet, consectetur adipiscing elit 0123456\n"

// generate writes total bytes of lines to w in writes of size bytes, with
// marks (offset -> text) written over them. It allocates nothing per
// write, so that what the judge allocates can be measured.
func generate(w io.Writer, total int64, size int, marks map[int64]string) {
	tmpl := bytes.Repeat([]byte(line), size/len(line)+2)
	buf := make([]byte, size)
	for off := int64(0); off < total; off += int64(size) {
		n := int(min(int64(size), total-off))
		start := int(off % int64(len(line)))
		copy(buf[:n], tmpl[start:start+n])
		for at, text := range marks {
			if at < off+int64(n) && at+int64(len(text)) > off {
				from := max(at, off)
				copy(buf[from-off:n], text[from-at:])
			}
		}
		_, _ = w.Write(buf[:n])
	}
}

// boundary returns an offset from which text, written at it, spans the
// end of write k or a later one (size bytes each) and stays inside one
// line.
func boundary(k, size int, text string) int64 {
	for ; ; k++ {
		at := int64(k*size - len(text)/2)
		if col := at % int64(len(line)); col+int64(len(text)) < int64(len(line)) {
			return at
		}
	}
}

// TestJudge100MiB: every expectation sees all of 100 MiB of output, with
// its strings at the start, across write boundaries and at the end, in
// memory that does not grow with the output: what the judge allocates
// while reading it is a small fraction of it, and its buffers stay at
// their fixed sizes.
func TestJudge100MiB(t *testing.T) {
	const total = 100 << 20
	const size = 64<<10 + 7 // writes end anywhere in a line
	split := boundary(3, size, "SPLIT-MARKER-42")
	fatal := boundary(800, size, "FATAL ERROR")
	marks := map[int64]string{
		0:                              "BEGIN-7 ",
		split:                          "SPLIT-MARKER-42",
		fatal:                          "FATAL ERROR",
		total - int64(len("END-99\n")): "END-99\n",
	}
	c, err := Compile(&Expect{Stdout: &Text{
		Contains: Strings{"BEGIN-7", "SPLIT-MARKER-42", "END-99"},
		Absent:   Strings{"FATAL ERROR", "NEVER PRINTED"},
		Matches:  Strings{`^BEGIN-(?P<first>[0-9]+)`, `SPLIT-MARKER-(?P<split>[0-9]+)`, `END-(?P<last>[0-9]+)$`},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	j := c.Start()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	generate(j.Stdout(), total, size, marks)
	_, _ = j.Stdout().Write([]byte("\n\n")) // the output's last newlines are not part of it
	runtime.ReadMemStats(&after)
	captures, unmet := j.Finish()

	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("judging %d MiB allocated %d bytes", total>>20, grew)
	}
	s := j.streams[0]
	if cap(s.lits.carry) != len("SPLIT-MARKER-42")-1 || cap(s.lits.join) != 2*(len("SPLIT-MARKER-42")-1) {
		t.Errorf("literal buffers: carry %d, join %d", cap(s.lits.carry), cap(s.lits.join))
	}
	want := map[string]any{"first": "7", "split": "42", "last": "99"}
	if fmt.Sprint(captures) != fmt.Sprint(want) {
		t.Errorf("captures %v, want %v", captures, want)
	}
	// The excerpt quotes the line around the string as far as the bytes
	// kept across the write boundary hold it.
	wantUnmet := fmt.Sprintf(`stdout contains "FATAL ERROR", which must be absent (line %d, byte %d: "`, fatal/64+1, fatal)
	if len(unmet) != 1 || !strings.HasPrefix(unmet[0], wantUnmet) || !strings.Contains(unmet[0][len(wantUnmet):], "FATAL ERROR") {
		t.Errorf("unmet:\n%s\nwant one starting %s", strings.Join(unmet, "\n"), wantUnmet)
	}
	if fatal/size == (fatal+11)/size || split/size == (split+15)/size {
		t.Fatalf("the marks do not span write boundaries: %d, %d", fatal, split)
	}
}

// judge writes each of writes to a stream with the expectation t and
// returns the verdict.
func judge(t *testing.T, e Text, writes ...string) (map[string]any, []string) {
	t.Helper()
	c, err := Compile(&Expect{Stdout: &e}, nil)
	if err != nil {
		t.Fatal(err)
	}
	j := c.Start()
	for _, w := range writes {
		_, _ = j.Stdout().Write([]byte(w))
	}
	return j.Finish()
}

func bytewise(s string) []string { return strings.Split(s, "") }

func ptr(s string) *string { return &s }

func TestJudgeSmall(t *testing.T) {
	big := strings.Repeat("x", 3<<20)
	for _, tc := range []struct {
		name   string
		e      Text
		writes []string
		unmet  string
		groups string
	}{
		{"absent split in 1-byte writes", Text{Absent: Strings{"FATAL"}}, bytewise("ok\nabcFATALdef\n"), `stdout contains "FATAL", which must be absent (line 2, byte 6: "FATAL")`, "map[]"},
		{"contains split in 1-byte writes", Text{Contains: Strings{"FATAL", "nope"}}, bytewise("abcFATALdef"), `stdout does not contain "nope" (11 bytes read)`, "map[]"},
		{"empty strings are in every output", Text{Contains: Strings{""}, Absent: Strings{""}}, nil, `stdout contains "", which must be absent (line 1, byte 0: "")`, "map[]"},
		{"equals without the last newlines", Text{Equals: ptr("a\n\nb")}, []string{"a\n", "\n", "b\n", "\n"}, "", "map[]"},
		{"equals short", Text{Equals: ptr("bye")}, []string{"hello\n"}, `stdout is "hello", expected exactly "bye"`, "map[]"},
		{"equals long and equal", Text{Equals: &big}, []string{big[:1<<20], big[1<<20:]}, "", "map[]"},
		{"equals long, differing", Text{Equals: &big}, []string{big[:2<<20], "y", big[(2<<20)+1:]}, `stdout (3145728 bytes) is not exactly the expected text (3145728 bytes): from byte 2097152 it reads "y"`, "map[]"},
		{"equals long, shorter", Text{Equals: &big}, []string{big[:2<<20]}, "stdout is not exactly the expected text: it ends after 2097152 bytes, of the 3145728 expected", "map[]"},
		{"equals long, longer", Text{Equals: &big}, []string{big, "tail"}, `stdout (3145732 bytes) is not exactly the expected text (3145728 bytes): from byte 3145728 it reads "tail"`, "map[]"},
		{"$ is the end without the last newlines", Text{Matches: Strings{`(?P<v>v[0-9]+)$`}}, []string{"v1\nv2\n\n"}, "", "map[v:v2]"},
		{"^ is the start", Text{Matches: Strings{`^v`}}, []string{"av"}, "stdout does not match /^v/", "map[]"},
		{"(?s) across lines and writes", Text{Matches: Strings{`(?s)a\nb(?P<c>.)`}}, bytewise("xa\nbc"), "", "map[c:c]"},
		{"a group that took no part", Text{Matches: Strings{`a(?P<b>b)?`}}, []string{"a"}, "", "map[b:]"},
		{"a group too long to keep", Text{Matches: Strings{`(?s)A(?P<g>.*)Z`}}, []string{"A", strings.Repeat("-", 100<<10), "Z"},
			"stdout matches /(?s)A(?P<g>.*)Z/ (bytes 0 to 102402), but its group g starts more than 64 KiB before where the match was decided, and only that much is kept: make the group shorter", "map[]"},
		{"not UTF-8", Text{Matches: Strings{`\x{fffd}(?P<n>[0-9])`}}, []string{"\xff1"}, "", "map[n:1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			groups, unmet := judge(t, tc.e, tc.writes...)
			if strings.Join(unmet, "\n") != tc.unmet || fmt.Sprint(groups) != tc.groups {
				t.Errorf("unmet %q groups %v\nwant %q %s", unmet, groups, tc.unmet, tc.groups)
			}
		})
	}
}

// Output written after Finish is not judged, and Finish answers the same.
func TestJudgeFinishTwice(t *testing.T) {
	c, _ := Compile(&Expect{Stderr: &Text{Absent: Strings{"x"}, Matches: Strings{"y"}}}, nil)
	j := c.Start()
	_, _ = j.Stderr().Write([]byte("y"))
	_, first := j.Finish()
	_, _ = j.Stderr().Write([]byte("x"))
	_, second := j.Finish()
	if len(first) != 0 || len(second) != 0 {
		t.Fatalf("%v %v", first, second)
	}
}

// BenchmarkJudge: how fast each kind of expectation reads output (MB/s),
// over 16 MiB of log lines in 32 KiB writes, the string or pattern on the
// last line so that all of it is read.
func BenchmarkJudge(b *testing.B) {
	const total = 16 << 20
	end := map[int64]string{total - 64: "digest: sha256:" + strings.Repeat("0", 48) + "\n"}
	for _, bc := range []struct {
		name string
		e    Text
	}{
		{"contains+absent", Text{Contains: Strings{"digest: sha256:"}, Absent: Strings{"FATAL ERROR", "panic:"}}},
		{"matches-line", Text{Matches: Strings{`(?m)^digest: (?P<d>sha256:[0-9a-f]*)$`}}},
		{"matches-literal", Text{Matches: Strings{`digest: sha256`}}},
		{"matches-multiline", Text{Matches: Strings{`(?s)0123456\ndigest: (?P<d>sha256:)`}}},
	} {
		c, err := Compile(&Expect{Stdout: &bc.e}, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(total)
			for b.Loop() {
				j := c.Start()
				generate(j.Stdout(), total, 32<<10, end)
				if _, unmet := j.Finish(); len(unmet) > 0 {
					b.Fatal(unmet)
				}
			}
		})
	}
}
