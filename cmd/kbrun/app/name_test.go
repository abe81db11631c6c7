package app_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kbrun/kbrun/cmd/kbrun/app"
)

func kbrunAs(arg0 string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = app.MainAs(arg0, args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestPluginName: run as kubectl-kbrun, the help, the examples and usage
// errors say "kubectl kbrun", as the user typed it; run as kbrun, they do
// not mention kubectl.
func TestPluginName(t *testing.T) {
	for _, tc := range []struct {
		arg0, name string
	}{
		{"/usr/local/bin/kubectl-kbrun", "kubectl kbrun"},
		{"kubectl-kbrun.exe", "kubectl kbrun"},
		{"/usr/local/bin/kbrun", "kbrun"},
		{"kubectl-kbrun-linux-amd64", "kbrun"}, // a release file not yet installed under its name
	} {
		_, help, _ := kbrunAs(tc.arg0, "--help")
		_, runHelp, _ := kbrunAs(tc.arg0, "run", "--help")
		code, _, errOut := kbrunAs(tc.arg0, "rnu")
		for _, want := range []string{
			help + "\x00  " + tc.name + " [command]\n",
			help + "\x00Use \"" + tc.name + " [command] --help\"",
			runHelp + "\x00  " + tc.name + " run PATH... [flags]\n",
			runHelp + "\x00  " + tc.name + " run pipelines/kaniko-rootless.yaml\n",
			errOut + "\x00unknown command \"rnu\" for \"" + tc.name + "\"",
			errOut + "\x00Run '" + tc.name + " --help' for usage.",
		} {
			text, sub, _ := strings.Cut(want, "\x00")
			if !strings.Contains(text, sub) {
				t.Errorf("as %s: no %q in:\n%s", tc.arg0, sub, text)
			}
		}
		if code != 2 {
			t.Errorf("as %s: an unknown command exits %d, want 2", tc.arg0, code)
		}
		if tc.name == "kbrun" && strings.Contains(help+runHelp+errOut, "kubectl kbrun") {
			t.Errorf("as %s: the text says kubectl kbrun", tc.arg0)
		}
	}
}

// TestKubectlRunsThePlugin: kubectl finds kubectl-kbrun on PATH and the
// plugin names itself "kubectl kbrun" (this test binary is the plugin, as
// in TestMain).
func TestKubectlRunsThePlugin(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("no kubectl on PATH")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(self, filepath.Join(dir, app.PluginBinary)); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(kubectl, "kbrun", "validate", "--help")
	cmd.Env = append(os.Environ(), "KBRUN_TEST_AS_MAIN=1", "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "\n  kubectl kbrun validate PATH... [flags]\n") {
		t.Fatalf("kubectl kbrun validate --help: %v, want its usage with kubectl kbrun:\n%s", err, out)
	}
}
