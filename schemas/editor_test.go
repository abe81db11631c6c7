//go:build editor

// The editor test: what an editor with yaml-language-server (the YAML
// language server VS Code, Neovim and others use) offers in kbrun files
// through their `# yaml-language-server: $schema=...` line. It speaks LSP
// to the real server over stdio; `make test-editor` installs it (npm) and
// runs this with KBRUN_YLS set.
package schemas_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// lsp is a minimal LSP client: requests with ids, answers to the server's
// own requests, notifications collected.
type lsp struct {
	t       *testing.T
	in      io.WriteCloser
	mu      sync.Mutex
	nextID  int
	pending map[int]chan json.RawMessage
	diags   chan diagnostics
}

type diagnostics struct {
	URI         string `json:"uri"`
	Diagnostics []struct {
		Message string `json:"message"`
		Range   struct {
			Start struct{ Line, Character int } `json:"start"`
		} `json:"range"`
	} `json:"diagnostics"`
}

type message struct {
	ID     *json.RawMessage `json:"id,omitempty"`
	Method string           `json:"method,omitempty"`
	Params json.RawMessage  `json:"params,omitempty"`
	Result json.RawMessage  `json:"result,omitempty"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// settings are kbrun's test settings: validation and completion on, and
// no schema store (it would be fetched from the internet).
var settings = map[string]any{"validate": true, "completion": true, "hover": true, "schemaStore": map[string]any{"enable": false}, "format": map[string]any{"enable": false}}

func startServer(t *testing.T) *lsp {
	t.Helper()
	bin := os.Getenv("KBRUN_YLS")
	if bin == "" {
		t.Fatal("KBRUN_YLS is not set: run make test-editor (it installs yaml-language-server with npm and sets it)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--stdio")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	c := &lsp{t: t, in: in, pending: map[int]chan json.RawMessage{}, diags: make(chan diagnostics, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.read(bufio.NewReader(out))
	}()
	t.Cleanup(func() {
		in.Close()
		cancel()
		cmd.Wait()
		<-done
	})
	return c
}

func (c *lsp) send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.in, "Content-Length: %d\r\n\r\n%s", len(b), b)
}

func (c *lsp) read(r *bufio.Reader) {
	for {
		n := 0
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimSpace(line)
			if line == "" {
				break
			}
			if v, ok := strings.CutPrefix(line, "Content-Length: "); ok {
				n, _ = strconv.Atoi(v)
			}
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		var m message
		if json.Unmarshal(body, &m) != nil {
			continue
		}
		switch {
		case m.Method != "" && m.ID != nil:
			c.answer(m)
		case m.Method == "textDocument/publishDiagnostics":
			var d diagnostics
			if json.Unmarshal(m.Params, &d) == nil {
				c.diags <- d
			}
		case m.ID != nil:
			var id int
			json.Unmarshal(*m.ID, &id)
			c.mu.Lock()
			ch := c.pending[id]
			c.mu.Unlock()
			if ch != nil {
				if m.Error != nil {
					b, _ := json.Marshal(map[string]string{"error": m.Error.Message})
					ch <- b
				} else {
					ch <- m.Result
				}
			}
		}
	}
}

// answer replies to the server's requests: its settings, and null to the
// rest (capability registrations and the like).
func (c *lsp) answer(m message) {
	var result any
	if m.Method == "workspace/configuration" {
		var p struct {
			Items []struct {
				Section string `json:"section"`
			} `json:"items"`
		}
		json.Unmarshal(m.Params, &p)
		var out []any
		for _, it := range p.Items {
			if it.Section == "yaml" {
				out = append(out, settings)
			} else {
				out = append(out, nil)
			}
		}
		result = out
	}
	c.send(map[string]any{"jsonrpc": "2.0", "id": m.ID, "result": result})
}

func (c *lsp) request(method string, params any) json.RawMessage {
	c.t.Helper()
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	ch := make(chan json.RawMessage, 1)
	c.pending[id] = ch
	c.mu.Unlock()
	c.send(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	select {
	case r := <-ch:
		return r
	case <-time.After(60 * time.Second):
		c.t.Fatalf("no answer to %s within 60s", method)
		return nil
	}
}

func (c *lsp) notify(method string, params any) {
	c.send(map[string]any{"jsonrpc": "2.0", "method": method, "params": params})
}

// completion asks for completions where the document's "|" is, and
// returns their labels with their documentation.
func (c *lsp) completion(t *testing.T, dir, name, text string) map[string]string {
	t.Helper()
	i := strings.Index(text, "|")
	before := text[:i]
	line := strings.Count(before, "\n")
	col := len(before) - strings.LastIndex(before, "\n") - 1
	text = strings.Replace(text, "|", "", 1)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	uri := "file://" + path
	c.notify("textDocument/didOpen", map[string]any{"textDocument": map[string]any{"uri": uri, "languageId": "yaml", "version": 1, "text": text}})
	raw := c.request("textDocument/completion", map[string]any{"textDocument": map[string]any{"uri": uri}, "position": map[string]any{"line": line, "character": col}})
	var list struct {
		Items []struct {
			Label         string `json:"label"`
			Documentation any    `json:"documentation"`
		} `json:"items"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatalf("completion answer %s: %v", raw, err)
	}
	out := map[string]string{}
	for _, it := range list.Items {
		doc, _ := json.Marshal(it.Documentation)
		out[it.Label] = string(doc)
	}
	return out
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestEditorCompletion: in a pipeline, a task offers uses and with with
// their documentation, and assert its parameters; in a library (kind: Tasks) the top level offers
// params and outputs; a schema error in uses is underlined at its line.
func TestEditorCompletion(t *testing.T) {
	dir := t.TempDir()
	schema, err := os.ReadFile("pipeline.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "kbrun.schema.json"), schema, 0o644)
	c := startServer(t)
	c.request("initialize", map[string]any{"processId": os.Getpid(), "rootUri": "file://" + dir, "capabilities": map[string]any{
		"workspace":    map[string]any{"configuration": true},
		"textDocument": map[string]any{"completion": map[string]any{"completionItem": map[string]any{"documentationFormat": []string{"markdown", "plaintext"}}}},
	}, "initializationOptions": map[string]any{"yaml": settings}})
	c.notify("initialized", map[string]any{})
	c.notify("workspace/didChangeConfiguration", map[string]any{"settings": map[string]any{"yaml": settings}})

	head := "# yaml-language-server: $schema=kbrun.schema.json\napiVersion: kbrun.dev/v1alpha1\n"
	task := c.completion(t, dir, "pipeline.yaml", head+"kind: Pipeline\nmetadata: {name: p}\ntasks:\n  - name: build\n    |\n")
	for _, want := range []string{"uses", "with", "run", "exec", "http", "assert", "parallel", "timeout"} {
		if _, ok := task[want]; !ok {
			t.Errorf("a task does not offer %q; it offers %v", want, keys(task))
		}
	}
	// An assert's parameters, with their documentation.
	assert := c.completion(t, dir, "assert.yaml", head+"kind: Pipeline\nmetadata: {name: p}\ntasks:\n  - name: up\n    assert:\n      |\n")
	for _, want := range []string{"files", "manifest", "match", "absent", "stableFor"} {
		if _, ok := assert[want]; !ok {
			t.Errorf("assert does not offer %q; it offers %v", want, keys(assert))
		}
	}
	if !strings.Contains(assert["match"], "every live object of its kind and labels must match") {
		t.Errorf("assert's match without its documentation: %q", assert["match"])
	}
	if !strings.Contains(task["uses"], "library file (kind: Tasks)") || !strings.Contains(task["with"], "the library's params") {
		t.Errorf("uses/with without their documentation: %q / %q", task["uses"], task["with"])
	}
	kinds := c.completion(t, dir, "kinds.yaml", head+"kind: |\n")
	if _, ok := kinds["Tasks"]; !ok {
		t.Errorf("kind does not offer Tasks; it offers %v", keys(kinds))
	}
	top := c.completion(t, dir, "library.yaml", head+"kind: Tasks\nmetadata: {name: lib}\n|\n")
	for _, want := range []string{"params", "outputs", "tasks"} {
		if _, ok := top[want]; !ok {
			t.Errorf("a library does not offer %q; it offers %v", want, keys(top))
		}
	}

	bad := filepath.Join(dir, "bad.yaml")
	text := head + "kind: Pipeline\nmetadata: {name: p}\ntasks:\n  - name: build\n    uses: 5\n"
	os.WriteFile(bad, []byte(text), 0o644)
	c.notify("textDocument/didOpen", map[string]any{"textDocument": map[string]any{"uri": "file://" + bad, "languageId": "yaml", "version": 1, "text": text}})
	deadline := time.After(60 * time.Second)
	for {
		select {
		case d := <-c.diags:
			if d.URI != "file://"+bad || len(d.Diagnostics) == 0 {
				continue
			}
			for _, x := range d.Diagnostics {
				if x.Range.Start.Line == 6 && strings.Contains(x.Message, "string") {
					return
				}
			}
			t.Logf("diagnostics: %+v", d.Diagnostics)
		case <-deadline:
			t.Fatal("no diagnostic for uses: 5 at line 7 within 60s")
		}
	}
}
