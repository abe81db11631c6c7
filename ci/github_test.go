package ci

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// action is GitHub's metadata of a composite action (action.yml), the keys
// kbrun's uses; decodeStrict refuses any other.
type action struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Inputs      map[string]struct {
		Description string  `yaml:"description"`
		Required    bool    `yaml:"required"`
		Default     *string `yaml:"default"`
	} `yaml:"inputs"`
	Runs struct {
		Using string `yaml:"using"`
		Steps []struct {
			Name  string            `yaml:"name"`
			Shell string            `yaml:"shell"`
			Env   map[string]string `yaml:"env"`
			Run   string            `yaml:"run"`
		} `yaml:"steps"`
	} `yaml:"runs"`
}

var inputRef = regexp.MustCompile(`\$\{\{\s*inputs\.([A-Za-z0-9_-]+)\s*\}\}`)

func loadAction(t *testing.T) action {
	t.Helper()
	var a action
	decodeStrict(t, "github/action.yml", &a)
	// What GitHub requires of a composite action's metadata.
	if a.Name == "" || a.Description == "" || a.Runs.Using != "composite" || len(a.Runs.Steps) == 0 {
		t.Fatalf("action.yml: name, description, runs.using: composite and runs.steps are required: %+v", a)
	}
	for name, in := range a.Inputs {
		if in.Description == "" || (!in.Required && in.Default == nil) {
			t.Errorf("action.yml: input %s needs a description, and a default unless required", name)
		}
	}
	for i, s := range a.Runs.Steps {
		if s.Run == "" || s.Shell == "" {
			t.Errorf("action.yml: runs.steps[%d] (%s): a composite step's run needs a shell", i, s.Name)
		}
		for k, v := range s.Env {
			for _, m := range inputRef.FindAllStringSubmatch(v, -1) {
				if _, ok := a.Inputs[m[1]]; !ok {
					t.Errorf("action.yml: runs.steps[%d].env.%s: no input %q", i, k, m[1])
				}
			}
		}
		if inputRef.MatchString(s.Run) {
			t.Errorf("action.yml: runs.steps[%d] (%s): inputs go through env, not into the script (injection)", i, s.Name)
		}
	}
	return a
}

// runAction runs the action's steps as the runner does: each with bash -e
// -o pipefail, its env with the inputs put in, PATH grown by what the
// steps append to $GITHUB_PATH. It returns the output and the first error.
func runAction(t *testing.T, a action, with map[string]string) (string, error) {
	t.Helper()
	ws, runnerTemp := localPipeline(t), t.TempDir()
	githubPath := filepath.Join(runnerTemp, "github_path")
	if err := os.WriteFile(githubPath, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, s := range a.Runs.Steps {
		env := append(baseEnv(), "RUNNER_TEMP="+runnerTemp, "GITHUB_PATH="+githubPath, "GITHUB_WORKSPACE="+ws)
		for k, v := range s.Env {
			env = append(env, k+"="+inputRef.ReplaceAllStringFunc(v, func(ref string) string {
				name := inputRef.FindStringSubmatch(ref)[1]
				if v, ok := with[name]; ok {
					return v
				}
				if d := a.Inputs[name].Default; d != nil {
					return *d
				}
				return ""
			}))
		}
		added, err := os.ReadFile(githubPath)
		if err != nil {
			t.Fatal(err)
		}
		path := strings.Join(append(strings.Fields(string(added)), os.Getenv("PATH")), string(os.PathListSeparator))
		cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", s.Run)
		cmd.Dir, cmd.Env = ws, append(env, "PATH="+path)
		b, err := cmd.CombinedOutput()
		out.Write(b)
		if err != nil {
			return out.String(), err
		}
	}
	return out.String(), nil
}

// TestGitHubAction: the action installs the release from its download site,
// checked against SHA256SUMS, and runs the pipeline; with a SHA256SUMS that
// does not match, it stops before running anything.
func TestGitHubAction(t *testing.T) {
	a := loadAction(t)
	url, site := releaseSite(t)
	with := map[string]string{"version": testVersion, "pipeline": "pipeline.yaml", "release-url": url, "args": "--timeout 1m"}
	out, err := runAction(t, a, with)
	if err != nil || !strings.Contains(out, "hello from the CI recipe") || !strings.Contains(out, "PASSED") {
		t.Fatalf("the action's steps: %v\n%s", err, out)
	}
	tamperSums(t, site)
	out, err = runAction(t, a, with)
	if err == nil || strings.Contains(out, "hello from the CI recipe") {
		t.Fatalf("with a wrong SHA256SUMS the action ran the pipeline (%v):\n%s", err, out)
	}
}
