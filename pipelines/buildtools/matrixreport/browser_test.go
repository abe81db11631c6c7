//go:build browser

// The page in a real browser: headless Chromium (Debian's package
// chromium) reads it as the grid it is meant to be and paints its cells in
// their colours. make test-browser runs it, installing Chromium when
// missing.
package main

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chromium runs headless Chromium on file with args; it returns stdout.
func chromium(t *testing.T, file string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed; install it with: make chromium (apt-get install -y chromium)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// --no-sandbox: the sandbox refuses to run as root, as in a container.
	args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--user-data-dir=" + t.TempDir()}, args...)
	cmd := exec.CommandContext(ctx, bin, append(args, "file://"+file)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}

func writeFixturePage(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".html")
	if err := os.WriteFile(path, fixturePage(t, name), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPageInChromium(t *testing.T) {
	page := writeFixturePage(t, "table")
	dom := chromium(t, page, "--dump-dom")
	grid, _, ok := strings.Cut(dom[strings.Index(dom, `id="grid"`)+1:], `id="references"`)
	if !ok {
		t.Fatalf("no grid, then references, in the DOM:\n%s", dom)
	}
	got := map[string]string{}
	for _, m := range cellRE.FindAllStringSubmatch(grid, -1) {
		got[m[3]+","+m[4]] = m[1] + ":" + m[2]
	}
	if len(got) != 20 {
		t.Errorf("the grid has %d cells, want 20 (5 kinds x 4 sets):\n%s", len(got), grid)
	}
	for cell, want := range map[string]string{
		"nopriv,copy":       "ok:ok",
		"none,tolerant":     "differs:image differs",
		"seed,multistage":   "fails:fails",
		"nopriv,run":        "na:n/a",
		"nopriv,multistage": "notrun:not run",
	} {
		if got[cell] != want {
			t.Errorf("cell %s: %q, want %q", cell, got[cell], want)
		}
	}

	shot := filepath.Join(t.TempDir(), "page.png")
	chromium(t, page, "--window-size=1400,1000", "--screenshot="+shot)
	b, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 10_000 {
		t.Errorf("the screenshot is %d bytes: not the page", len(b))
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	// The cells are painted in their result's colour (page.html.tmpl).
	colours := map[string][3]uint32{"ok": {0xc8, 0xe6, 0xc9}, "fails": {0xff, 0xcd, 0xd2}, "differs": {0xff, 0xe0, 0xb2}}
	count := map[string]int{}
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			for name, c := range colours {
				if near(r>>8, c[0]) && near(g>>8, c[1]) && near(b>>8, c[2]) {
					count[name]++
				}
			}
		}
	}
	for name := range colours {
		if count[name] < 2000 {
			t.Errorf("%d pixels of the %s colour in the screenshot, want a cell's worth (counts: %v)", count[name], name, count)
		}
	}
}

func near(a, b uint32) bool { return a+3 >= b && b+3 >= a }

func TestLadderPageInChromium(t *testing.T) {
	dom := chromium(t, writeFixturePage(t, "ladder"), "--dump-dom")
	for _, want := range []string{
		`<p class="verdict" id="verdict">needs: CHOWN, DAC_OVERRIDE — baseline level (Kaniko as root)</p>`,
		`<td class="cell r-ok" data-result="ok" data-set="verify" data-kind="" data-level="baseline">`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the DOM lacks %q:\n%s", want, dom)
		}
	}
	if n := len(cellRE.FindAllString(dom, -1)); n != 9+2 {
		t.Errorf("%d cells, want 11 (9 builds, 2 references)", n)
	}
}
