package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeExecutor is a stand-in for /kaniko/executor: it records its arguments
// and either writes a digest or fails like Kaniko does.
const fakeExecutor = `#!/bin/sh
echo "$@" > "$(dirname "$0")/args"
for a in "$@"; do
  case "$a" in --digest-file=*) df="${a#--digest-file=}";; esac
done
if [ -n "$FAIL" ]; then
  echo 'INFO[0000] Resolved base name scratch to stage'
  echo 'error building image: could not save file: copying file: stat /kaniko/0/out: permission denied' >&2
  exit 1
fi
echo 'INFO[0001] Pushed registry:5000/demo@sha256:abc'
printf 'sha256:%s' 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef > "$df"
`

func setup(t *testing.T) (config, string) {
	t.Helper()
	dir := t.TempDir()
	ws := filepath.Join(dir, "workspace")
	if err := os.MkdirAll(filepath.Join(ws, "server"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ws, "server", "main"), []byte("binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "executor")
	if err := os.WriteFile(exe, []byte(fakeExecutor), 0o755); err != nil {
		t.Fatal(err)
	}
	bb := filepath.Join(dir, "busybox")
	if err := os.WriteFile(bb, []byte("busybox binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	return config{destination: "registry:5000/demo:t1", variant: "copy", workspace: ws, server: "server/main", executor: exe, busybox: bb, insecure: true, verbosity: "info"}, dir
}

func TestBuildPrintsDigest(t *testing.T) {
	for _, variant := range []string{"copy", "multistage"} {
		c, dir := setup(t)
		c.variant = variant
		c.extraArgs = "--cache=false  --label=a=b"
		d, err := build(c)
		if err != nil {
			t.Fatal(err)
		}
		if d != "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" {
			t.Errorf("digest %q", d)
		}
		args, _ := os.ReadFile(filepath.Join(dir, "args"))
		for _, want := range []string{"--context=dir://" + c.workspace, "--destination=registry:5000/demo:t1", "--insecure", "--skip-tls-verify", "--cache=false --label=a=b"} {
			if !strings.Contains(string(args), want) {
				t.Errorf("executor args %q lack %q", args, want)
			}
		}
		df, _ := os.ReadFile(filepath.Join(c.workspace, "Dockerfile"))
		if !strings.Contains(string(df), "COPY server/main") && !strings.Contains(string(df), "--from=stage") {
			t.Errorf("Dockerfile:\n%s", df)
		}
		if variant == "multistage" && !strings.Contains(string(df), "FROM scratch AS stage") {
			t.Errorf("multistage Dockerfile:\n%s", df)
		}
	}
}

// The RUN variants get the builder's busybox into the context; the others
// leave the context alone.
func TestBuildRunVariantsShipBusybox(t *testing.T) {
	for variant, wantRun := range map[string]string{
		"run":        `RUN ["/bin/busybox", "sh", "-c", "/bin/busybox mkdir -p /data && /bin/busybox chown 65532:65532 /data"]`,
		"userrun":    "USER 65532:65532\nRUN [",
		"copy":       "",
		"multistage": "",
	} {
		c, _ := setup(t)
		c.variant = variant
		if _, err := build(c); err != nil {
			t.Fatalf("%s: %v", variant, err)
		}
		df, _ := os.ReadFile(filepath.Join(c.workspace, "Dockerfile"))
		got, err := os.ReadFile(filepath.Join(c.workspace, "busybox"))
		if wantRun == "" {
			if err == nil || strings.Contains(string(df), "RUN") {
				t.Errorf("%s: busybox copied (%v) or RUN in the Dockerfile:\n%s", variant, err, df)
			}
			continue
		}
		if string(got) != "busybox binary" {
			t.Errorf("%s: context busybox = %q, %v", variant, got, err)
		}
		if !strings.Contains(string(df), wantRun) || !strings.Contains(string(df), "COPY busybox /bin/busybox") {
			t.Errorf("%s Dockerfile lacks %q:\n%s", variant, wantRun, df)
		}
	}
	c, _ := setup(t)
	c.variant, c.busybox = "run", filepath.Join(t.TempDir(), "none")
	if _, err := build(c); err == nil || !strings.Contains(err.Error(), "the run Dockerfile needs a shell") {
		t.Errorf("missing busybox: %v", err)
	}
}

func TestBuildQuotesKanikoError(t *testing.T) {
	c, _ := setup(t)
	t.Setenv("FAIL", "1")
	_, err := build(c)
	if err == nil || !strings.Contains(err.Error(), "Kaniko failed (exit status 1): error building image: could not save file: copying file: stat /kaniko/0/out: permission denied") {
		t.Fatalf("error = %v", err)
	}
}

func TestBuildChecks(t *testing.T) {
	c, _ := setup(t)
	c.variant = "nope"
	if _, err := build(c); err == nil || !strings.Contains(err.Error(), "is neither a built-in Dockerfile") {
		t.Errorf("unknown variant: %v", err)
	}
	c, _ = setup(t)
	c.server = "missing"
	if _, err := build(c); err == nil || !strings.Contains(err.Error(), "server binary") {
		t.Errorf("missing server: %v", err)
	}
	c, _ = setup(t)
	c.destination = ""
	if _, err := build(c); err == nil {
		t.Errorf("no destination accepted")
	}
}

func TestRepository(t *testing.T) {
	for in, want := range map[string]string{
		"localhost:5000/a/b:tag": "localhost:5000/a/b",
		"localhost:5000/a/b":     "localhost:5000/a/b",
		"reg/x:1":                "reg/x",
	} {
		if got := repository(in); got != want {
			t.Errorf("repository(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestBuildOwnContext: -dockerfile names the team's own Dockerfile in the
// workspace; its folder is the context, the build args reach Kaniko, and
// no server binary is needed.
func TestBuildOwnContext(t *testing.T) {
	c, dir := setup(t)
	if err := os.MkdirAll(filepath.Join(c.workspace, "context"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.workspace, "context", "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.variant, c.server, c.buildArgs = "context/Dockerfile", "missing", []string{"BASE=r:5000/b@sha256:1"}
	if _, err := build(c); err != nil {
		t.Fatal(err)
	}
	args, _ := os.ReadFile(filepath.Join(dir, "args"))
	for _, want := range []string{"--context=dir://" + filepath.Join(c.workspace, "context") + " ", "--dockerfile=" + filepath.Join(c.workspace, "context", "Dockerfile"), "--build-arg=BASE=r:5000/b@sha256:1"} {
		if !strings.Contains(string(args), want) {
			t.Errorf("executor args lack %q: %s", want, args)
		}
	}
}

// TestHint: Kaniko's errors name the capability the builder lacks, once,
// with the exact --set line; none when the builder has it.
func TestHint(t *testing.T) {
	seed := []string{"CHOWN", "SETUID", "SETGID", "FOWNER"}
	for _, c := range []struct {
		err  string
		have []string
		want string
	}{
		{"error building image: could not save file: copying file: mkdir /kaniko/0/out: permission denied", seed,
			"lacks DAC_OVERRIDE (a multi-stage build saves files under /kaniko/<stage>/): run with --set capabilities=[CHOWN,SETUID,SETGID,FOWNER,DAC_OVERRIDE] (values file: capabilities: [CHOWN, SETUID, SETGID, FOWNER, DAC_OVERRIDE])"},
		{"error building image: error building stage: failed to get filesystem from image: chown /bin: operation not permitted", nil, "lacks CHOWN"},
		{"failed to get filesystem from image: error setting xattr \"security.capability\" on /bin/ping: operation not permitted", seed, "lacks SETFCAP"},
		{"error building image: error building stage: failed to execute command: fork/exec /bin/sh: operation not permitted", nil, "lacks SETUID, SETGID"},
		{"error building image: error building stage: failed to execute command: operation not permitted", seed, "lacks KILL"},
		{"error building image: error building stage: failed to take snapshot: open /home/app/.profile: permission denied", seed, "lacks DAC_OVERRIDE (root reads"},
		{"mkdir /kaniko/0/out: permission denied", append(seed, "DAC_OVERRIDE"), ""},
		{"dial tcp: connection refused", seed, ""},
	} {
		got := hint(c.err, c.have)
		if c.want == "" && got != "" || !strings.Contains(got, c.want) {
			t.Errorf("hint(%q, %v) = %q, want %q", c.err, c.have, got, c.want)
		}
	}
}

func TestParseCapEff(t *testing.T) {
	// 0xcb: CHOWN DAC_OVERRIDE FOWNER SETGID SETUID (the seed's four + DAC_OVERRIDE).
	got := parseCapEff("Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t00000000000000cb\n")
	if strings.Join(got, ",") != "CHOWN,SETUID,SETGID,FOWNER,DAC_OVERRIDE" {
		t.Errorf("parseCapEff = %v", got)
	}
}

// A registry CA is given to Kaniko for the destination's host; a missing
// one fails before Kaniko runs.
func TestBuildRegistryCA(t *testing.T) {
	c, dir := setup(t)
	c.destination = "registry-tls.ns.svc:5443/demo:t1"
	c.insecure = false
	c.registryCA = filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(c.registryCA, []byte("PEM"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := build(c); err != nil {
		t.Fatal(err)
	}
	args, _ := os.ReadFile(filepath.Join(dir, "args"))
	if want := "--registry-certificate=registry-tls.ns.svc:5443=" + c.registryCA; !strings.Contains(string(args), want) {
		t.Errorf("executor args %q lack %q", args, want)
	}
	if strings.Contains(string(args), "--insecure") || strings.Contains(string(args), "--skip-tls-verify") {
		t.Errorf("executor args %q skip TLS checks with insecure=false", args)
	}
	c.registryCA = filepath.Join(dir, "none.crt")
	if _, err := build(c); err == nil || !strings.Contains(err.Error(), "registry CA:") {
		t.Errorf("missing CA: %v", err)
	}
}

func TestRegistryHost(t *testing.T) {
	for in, want := range map[string]string{
		"registry-tls.ns.svc:5443/a/b:t": "registry-tls.ns.svc:5443",
		"localhost/x":                    "localhost",
		"ghcr.io/team/app":               "ghcr.io",
		"team/app:1":                     "index.docker.io",
		"app":                            "index.docker.io",
	} {
		if got := registryHost(in); got != want {
			t.Errorf("registryHost(%q) = %q, want %q", in, got, want)
		}
	}
}

// accounts names the registries of the docker config, never the accounts.
func TestAccounts(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.json")
	if got := accounts(cfg, "reg:5443"); !strings.Contains(got, "does not exist): pushing to reg:5443 anonymously") {
		t.Errorf("no config: %q", got)
	}
	const secret = "s3cret-token"
	if err := os.WriteFile(cfg, []byte(`{"auths":{"reg:5443":{"username":"ci","password":"`+secret+`","auth":"Y2k6czNjcmV0LXRva2Vu"},"10.0.0.1:5443":{"auth":"Y2k6czNjcmV0LXRva2Vu"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for reg, want := range map[string]string{
		"reg:5443":   "registry accounts from " + cfg + " (for 10.0.0.1:5443, reg:5443)",
		"other:5000": "has accounts for 10.0.0.1:5443, reg:5443, none for other:5000: pushing to it anonymously",
	} {
		got := accounts(cfg, reg)
		if !strings.Contains(got, want) {
			t.Errorf("accounts(%s) = %q, want %q", reg, got, want)
		}
		if strings.Contains(got, secret) || strings.Contains(got, "Y2k6") || strings.Contains(got, `"ci"`) {
			t.Errorf("accounts(%s) shows the account: %q", reg, got)
		}
	}
}

// Kaniko's registry errors get a hint naming the var to change.
func TestRegistryHint(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfg, []byte(`{}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c := config{destination: "reg:5443/app:t", dockerConfig: cfg}
	for msg, want := range map[string]string{
		`error checking push permissions -- make sure you entered the correct tag name, and that you are authenticated correctly, and try again: checking push permission for "reg:5443/app:t": POST https://reg:5443/v2/app/blobs/uploads/: UNAUTHORIZED: authentication required`: "the registry refused the account: check registryUser and registryPassword",
		`Get "https://reg:5443/v2/": tls: failed to verify certificate: x509: certificate signed by unknown authority`:                                                                                                                                                              "give that CA's certificate as registryCA (--set-file registryCA=ca.crt)",
		`Get "https://reg:5443/v2/": http: server gave HTTP response to HTTPS client`:                                                                                                                                                                                               "set registryInsecure=true",
		`x509: certificate is valid for registry-tls, not reg`:                                                                                                                                                                                                                      "pushRegistry is not a name in the registry's certificate",
		`DENIED: requested access to the resource is denied`:                                                                                                                                                                                                                        "the account may not push to reg:5443/app",
		`error building image: could not save file`:                                                                                                                                                                                                                                 "",
	} {
		if got := registryHint(msg, c); !strings.Contains(got, want) || (want == "" && got != "") {
			t.Errorf("registryHint(%q) = %q, want %q", msg, got, want)
		}
	}
	c.dockerConfig = filepath.Join(dir, "none.json")
	if got := registryHint("UNAUTHORIZED: authentication required", c); !strings.Contains(got, "the registry asks for an account: give registryUser and registryPassword, or registryAuthSecret") {
		t.Errorf("401 without an account: %q", got)
	}
	c.registryCA = "/kaniko/registry-ca/ca.crt"
	if got := registryHint("x509: certificate signed by unknown authority", c); !strings.Contains(got, "not signed by the CA in registryCA") {
		t.Errorf("unknown authority with a CA: %q", got)
	}
}
