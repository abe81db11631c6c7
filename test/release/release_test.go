package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeDist writes two platforms' binaries (the same bytes as kbrun and
// kubectl-kbrun, as make release does) with the given modification time.
func fakeDist(t *testing.T, mtime time.Time) string {
	t.Helper()
	dist := t.TempDir()
	for _, osArch := range []string{"linux-amd64", "darwin-arm64"} {
		for _, name := range []string{"kbrun-" + osArch, PluginBinary + "-" + osArch} {
			path := filepath.Join(dist, name)
			if err := os.WriteFile(path, []byte("binary for "+osArch), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(path, mtime, mtime); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dist
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPackIsReproducible: the same binaries give the same SHA256SUMS, byte
// for byte, whatever the files' times and the folder.
func TestPackIsReproducible(t *testing.T) {
	a := fakeDist(t, time.Unix(1_700_000_000, 0))
	b := fakeDist(t, time.Now())
	for _, dist := range []string{a, b} {
		if err := pack(dist, "v1.2.3", "https://example.org/r/v1.2.3/"); err != nil {
			t.Fatal(err)
		}
	}
	sa, sb := readFile(t, filepath.Join(a, SumsFile)), readFile(t, filepath.Join(b, SumsFile))
	if sa != sb {
		t.Fatalf("two packs of the same binaries differ:\n%s\n%s", sa, sb)
	}
	for _, want := range []string{"  kubectl-kbrun_linux_amd64.tar.gz\n", "  kubectl-kbrun_darwin_arm64.tar.gz\n", "  kbrun-linux-amd64\n", "  " + ManifestFile + "\n"} {
		if !strings.Contains(sa, want) {
			t.Errorf("SHA256SUMS has no line ending %q:\n%s", want, sa)
		}
	}
}

// TestArchiveHoldsThePluginBinary: each archive holds the platform's binary
// as kubectl-kbrun, executable, and the manifest names the archive by the
// checksum SHA256SUMS gives it.
func TestArchiveHoldsThePluginBinary(t *testing.T) {
	dist := fakeDist(t, time.Now())
	if err := pack(dist, "v1.2.3", "https://example.org/r"); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dist, "kubectl-kbrun_linux_amd64.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	h, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(tr)
	if h.Name != PluginBinary || h.Mode != 0o755 || string(body) != "binary for linux-amd64" {
		t.Errorf("archive entry %q mode %o holds %q; want kubectl-kbrun 755 with the linux-amd64 binary", h.Name, h.Mode, body)
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Errorf("archive has more than the binary (%v)", err)
	}
	sums, manifest := readFile(t, filepath.Join(dist, SumsFile)), readFile(t, filepath.Join(dist, ManifestFile))
	for _, line := range strings.Split(strings.TrimSpace(sums), "\n") {
		sum, name, _ := strings.Cut(line, "  ")
		if strings.HasSuffix(name, ".tar.gz") && !strings.Contains(manifest, "uri: https://example.org/r/"+name+"\n    sha256: "+sum+"\n") {
			t.Errorf("the manifest does not give %s with the sum %s:\n%s", name, sum, manifest)
		}
	}
}

func TestPackWithoutBinariesFails(t *testing.T) {
	err := pack(t.TempDir(), "v1.2.3", "https://example.org/r")
	if err == nil || !strings.Contains(err.Error(), "no kubectl-kbrun-OS-ARCH binary") {
		t.Fatalf("pack of an empty folder: %v", err)
	}
}

func TestManifestVersion(t *testing.T) {
	for in, want := range map[string]string{
		"v0.3.0":            "v0.3.0",
		"v1.2.3-rc.1":       "v1.2.3-rc.1",
		"56d2223":           "v0.0.0-dev-56d2223",
		"v0.3.0-4-g56d2223": "v0.3.0-4-g56d2223",
		"56d2223-dirty":     "v0.0.0-dev-56d2223-dirty",
		"0.3.0":             "v0.0.0-dev-0-3-0",
		"dev":               "v0.0.0-dev-dev",
		"feature/x_y":       "v0.0.0-dev-feature-x-y",
	} {
		if got := manifestVersion(in); got != want || !semver.MatchString(got) {
			t.Errorf("manifestVersion(%q) = %q; want %q (a semver)", in, got, want)
		}
	}
}

// render packs a fake dist and returns its manifest's text.
func render(t *testing.T, version string) []byte {
	t.Helper()
	dist := fakeDist(t, time.Now())
	if err := pack(dist, version, "https://example.org/r/"+version); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone([]byte(readFile(t, filepath.Join(dist, ManifestFile))))
}

func TestPackStampsTheSBOM(t *testing.T) {
	dist := fakeDist(t, time.Now())
	sbom := `{"bomFormat":"CycloneDX","metadata":{"component":{"name":"github.com/kbrun/kbrun","type":"application"}},"components":[]}`
	if err := os.WriteFile(filepath.Join(dist, SBOMFile), []byte(sbom), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := pack(dist, "v1.2.3", "https://example.org/r"); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dist, SBOMFile)); !strings.Contains(got, `"version": "v1.2.3"`) {
		t.Errorf("the SBOM's component has no version v1.2.3:\n%s", got)
	}
}
