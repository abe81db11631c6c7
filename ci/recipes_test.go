package ci

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"
)

// testVersion is the release the fake download site serves.
const testVersion = "v9.9.9"

var (
	buildOnce sync.Once
	siteDir   string
	buildErr  error
)

// releaseSite serves a release of kbrun built from this tree, laid out as
// make release lays dist/ (kbrun-OS-ARCH and SHA256SUMS under VERSION/),
// from 127.0.0.1; it returns the site's URL and its folder.
func releaseSite(t *testing.T) (string, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds kbrun")
	}
	buildOnce.Do(func() {
		siteDir, buildErr = os.MkdirTemp("", "kbrun-ci-site")
		if buildErr != nil {
			return
		}
		name := fmt.Sprintf("kbrun-%s-%s", runtime.GOOS, runtime.GOARCH)
		bin := filepath.Join(siteDir, testVersion, name)
		out, err := exec.Command("go", "build", "-o", bin, "../cmd/kbrun").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		data, err := os.ReadFile(bin)
		if err != nil {
			buildErr = err
			return
		}
		sums := fmt.Sprintf("%x  %s\n", sha256.Sum256(data), name)
		buildErr = os.WriteFile(filepath.Join(siteDir, testVersion, "SHA256SUMS"), []byte(sums), 0o644)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(siteDir)))
	t.Cleanup(srv.Close)
	return srv.URL, siteDir
}

// localPipeline writes a pipeline that needs no cluster into a fresh
// workspace, as a repository checked out by the CI job.
func localPipeline(t *testing.T) string {
	t.Helper()
	ws := t.TempDir()
	p := `apiVersion: kbrun.dev/v1alpha1
kind: Pipeline
metadata:
  name: ci-local
tasks:
  - name: hello
    run:
      command: [echo, hello from the CI recipe]
`
	if err := os.WriteFile(filepath.Join(ws, "pipeline.yaml"), []byte(p), 0o644); err != nil {
		t.Fatal(err)
	}
	return ws
}

// decodeStrict parses a recipe, refusing keys its type does not know.
func decodeStrict(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// baseEnv is the test's environment without what would point kbrun at a
// cluster or change what the recipes do.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !strings.HasPrefix(k, "KBRUN_") && !strings.HasPrefix(k, "GITHUB_") && k != "KUBECONFIG" {
			env = append(env, kv)
		}
	}
	return append(env, "KUBECONFIG=/nonexistent", "CI=true")
}

// tamperSums makes the site's SHA256SUMS disagree with the binary, for the
// tests that a recipe refuses such a download; undone at the test's end.
func tamperSums(t *testing.T, dir string) {
	t.Helper()
	path := filepath.Join(dir, testVersion, "SHA256SUMS")
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(strings.Repeat("0", 64)), good[64:]...)
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.WriteFile(path, good, 0o644) })
}

// TestMain removes the release site releaseSite built.
func TestMain(m *testing.M) {
	code := m.Run()
	if siteDir != "" {
		_ = os.RemoveAll(siteDir)
	}
	os.Exit(code)
}
