package ci

import (
	"os/exec"
	"strings"
	"testing"
)

// gitlabJob is the keys of a GitLab CI job the template uses; decodeStrict
// refuses any other.
type gitlabJob struct {
	Variables    map[string]string `yaml:"variables"`
	BeforeScript []string          `yaml:"before_script"`
	Script       []string          `yaml:"script"`
}

// runGitLabJob runs the job's lines as GitLab's runner does with a POSIX
// shell: one script, stopping at the first line that fails, the job's
// variables (overridden by vars) in the environment.
func runGitLabJob(t *testing.T, job gitlabJob, vars map[string]string) (string, error) {
	t.Helper()
	ws := localPipeline(t)
	env := append(baseEnv(), "CI_PROJECT_DIR="+ws)
	for k, v := range job.Variables {
		if o, ok := vars[k]; ok {
			v = o
		}
		env = append(env, k+"="+v)
	}
	script := strings.Join(append(append([]string{}, job.BeforeScript...), job.Script...), "\n")
	cmd := exec.Command("sh", "-e", "-c", script)
	cmd.Dir, cmd.Env = ws, env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestGitLabTemplate: the .kbrun template installs the release, checked
// against SHA256SUMS, and runs the pipeline; a wrong SHA256SUMS or no
// KBRUN_VERSION stops it before kbrun runs.
func TestGitLabTemplate(t *testing.T) {
	var jobs map[string]gitlabJob
	decodeStrict(t, "gitlab/kbrun.gitlab-ci.yml", &jobs)
	job, ok := jobs[".kbrun"]
	if !ok || len(job.Script) == 0 {
		t.Fatalf("kbrun.gitlab-ci.yml: no hidden job .kbrun with a script: %v", jobs)
	}
	url, site := releaseSite(t)
	vars := map[string]string{"KBRUN_VERSION": testVersion, "KBRUN_RELEASE_URL": url, "KBRUN_PIPELINE": "pipeline.yaml"}
	out, err := runGitLabJob(t, job, vars)
	if err != nil || !strings.Contains(out, "hello from the CI recipe") || !strings.Contains(out, "PASSED") {
		t.Fatalf("the job's lines: %v\n%s", err, out)
	}
	out, err = runGitLabJob(t, job, map[string]string{"KBRUN_RELEASE_URL": url})
	if err == nil || !strings.Contains(out, "set KBRUN_VERSION") {
		t.Errorf("without KBRUN_VERSION: %v\n%s", err, out)
	}
	tamperSums(t, site)
	out, err = runGitLabJob(t, job, vars)
	if err == nil || strings.Contains(out, "hello from the CI recipe") {
		t.Fatalf("with a wrong SHA256SUMS the job ran the pipeline (%v):\n%s", err, out)
	}
}
