package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// validator builds krew's own manifest validator (the command krew-index's
// CI runs on every plugin) from the tools module test/tools/release.
func validator(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds sigs.k8s.io/krew's validate-krew-manifest")
	}
	bin := filepath.Join(t.TempDir(), "validate-krew-manifest")
	cmd := exec.Command("go", "build", "-C", "../tools/release", "-o", bin, "sigs.k8s.io/krew/cmd/validate-krew-manifest")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd, err, out)
	}
	return bin
}

// validate runs krew's validation on the manifest text, written as
// kbrun.yaml (krew takes the plugin's name from the file's); -skip-install
// because installing downloads the archives from their release URL.
func validate(t *testing.T, bin string, manifest []byte) (string, error) {
	path := filepath.Join(t.TempDir(), ManifestFile)
	if err := os.WriteFile(path, manifest, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-manifest", path, "-skip-install").CombinedOutput()
	return string(out), err
}

// TestManifestPassesKrewValidation: the generated manifest passes
// sigs.k8s.io/krew's validation, for a tagged and an untagged version; a
// manifest with a broken checksum or version does not (the check bites).
func TestManifestPassesKrewValidation(t *testing.T) {
	bin := validator(t)
	for _, version := range []string{"v0.3.0", "56d2223-dirty"} {
		if out, err := validate(t, bin, render(t, version)); err != nil {
			t.Errorf("version %s: krew's validation fails: %v\n%s", version, err, out)
		}
	}
	good := string(render(t, "v0.3.0"))
	for name, bad := range map[string]string{
		"short checksum": regexp.MustCompile(`sha256: [0-9a-f]+`).ReplaceAllString(good, "sha256: abc"),
		"not semver":     strings.Replace(good, "version: v0.3.0", "version: 0.3", 1),
		"no bin":         strings.ReplaceAll(good, "bin: kubectl-kbrun", ""),
	} {
		if out, err := validate(t, bin, []byte(bad)); err == nil {
			t.Errorf("%s: krew's validation passes:\n%s\n%s", name, bad, out)
		}
	}
}
