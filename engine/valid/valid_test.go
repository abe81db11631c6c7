package valid_test

import (
	"bytes"
	"flag"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	psapi "k8s.io/pod-security-admission/api"

	"github.com/kbrun/kbrun/engine/valid"
)

var update = flag.Bool("update", false, "rewrite platforms.json and capabilities.txt")

// check runs f on every good value (no error) and every bad one (an
// error that contains the wanted text).
func check(t *testing.T, name string, f func(string) error, good []string, bad map[string]string) {
	t.Helper()
	for _, v := range good {
		if err := f(v); err != nil {
			t.Errorf("%s(%q): %v", name, v, err)
		}
	}
	for v, want := range bad {
		err := f(v)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s(%q) = %v, want an error with %q", name, v, err, want)
		}
	}
}

func TestKubernetesNames(t *testing.T) {
	check(t, "Namespace", valid.Namespace, []string{"team-a", "a", strings.Repeat("a", 63)}, map[string]string{
		"Team_A":                "lowercase RFC 1123 label",
		"team.a":                "must not contain dots",
		strings.Repeat("a", 64): "no more than 63 characters",
		"":                      "lowercase RFC 1123 label",
		"-a":                    "lowercase RFC 1123 label",
	})
	pod := func(s string) error { return valid.Name("pod", s) }
	check(t, "Name(pod)", pod, []string{"web-7d9f", "a.b", strings.Repeat("a", 253)}, map[string]string{
		"Web":                    "lowercase RFC 1123 subdomain",
		strings.Repeat("a", 254): "no more than 253 characters",
	})
	svc := func(s string) error { return valid.Name("services", s) }
	check(t, "Name(services)", svc, []string{"web"}, map[string]string{"1web": "DNS-1035 label", "a.b": "DNS-1035 label"})
	role := func(s string) error { return valid.Name("ClusterRole", s) }
	check(t, "Name(ClusterRole)", role, []string{"system:reader"}, map[string]string{"a/b": "may not contain '/'"})
	custom := func(s string) error { return valid.Name("Widget", s) }
	check(t, "Name(Widget)", custom, []string{"Any_Name"}, map[string]string{"..": "may not be '..'"})
	deploy := func(s string) error { return valid.Name("deployments.apps", s) }
	check(t, "Name(deployments.apps)", deploy, nil, map[string]string{"A": `"A" is not a valid Deployment name`})
	check(t, "ContainerName", valid.ContainerName, []string{"app"}, map[string]string{"App": "RFC 1123 label", "a.b": "dots"})
	check(t, "LabelKey", valid.LabelKey, []string{"app", "app.kubernetes.io/name"}, map[string]string{"a b": "name part must consist", "-a": "name part", "A_/b": "prefix part"})
	check(t, "LabelValue", valid.LabelValue, []string{"", "v1.2_3"}, map[string]string{"a b": "or consist of alphanumeric", strings.Repeat("a", 64): "63"})
	check(t, "AnnotationKey", valid.AnnotationKey, []string{"kbrun.dev/run"}, map[string]string{"a:b": "name part"})
	check(t, "Selector", valid.Selector, []string{"app=web,tier!=db", "app in (a,b)", "!x"}, map[string]string{"app=we b": "not a label selector", "a b=c": "not a label selector"})
	check(t, "Port", valid.Port, []string{"80", "1234", "65535", "http", "metrics-9"}, map[string]string{
		"0":                 "is not a port number",
		"65536":             "is not a port number",
		"80:81":             "neither a port number nor a port name",
		"HTTP":              "neither a port number nor a port name",
		"a--b":              "consecutive hyphens",
		"verylongportname1": "no more than 15 characters",
	})
}

func TestPlatform(t *testing.T) {
	pair := func(s string) error {
		goos, goarch, _ := strings.Cut(s, " ")
		return valid.Platform(goos, goarch)
	}
	check(t, "Platform", pair, []string{"linux amd64", "linux arm", "windows arm64", "darwin arm64", " ", "js wasm"}, map[string]string{
		"linuxx amd64": `GOOS "linuxx" is not an operating system Go supports (did you mean "linux"?)`,
		"Linux amd64":  `names are lower case: "linux"`,
		"linux AMD64":  `names are lower case: "amd64"`,
		"linux amd65":  `did you mean "amd64"?`,
		"windows mips": "windows/mips is not a GOOS/GOARCH pair Go supports: windows supports 386, amd64, arm64",
		"js amd64":     "js/amd64 is not a GOOS/GOARCH pair",
		"linux/arm ":   "give the operating system alone",
		"plan10 amd64": `did you mean "plan9"?`,
		"zzzzzz amd64": "it is one of aix, android",
	})
}

// TestPlatformsAreCurrent: platforms.json is what this Go toolchain says
// it supports.
func TestPlatformsAreCurrent(t *testing.T) {
	out, err := exec.Command("go", "tool", "dist", "list", "-json").Output()
	if err != nil {
		t.Fatalf("go tool dist list -json: %v", err)
	}
	if *update {
		if err := os.WriteFile("platforms.json", out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile("platforms.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, out) {
		t.Fatal("platforms.json differs from `go tool dist list -json`: go test ./engine/valid -run TestPlatformsAreCurrent -update")
	}
}

func TestCapabilities(t *testing.T) {
	check(t, "Capability", valid.Capability, []string{"CHOWN", "NET_BIND_SERVICE", "CHECKPOINT_RESTORE", "ALL"}, map[string]string{
		"CAP_CHOWN":  `without the CAP_ prefix: give "CHOWN"`,
		"cap_chown":  `without the CAP_ prefix: give "CHOWN"`,
		"chown":      `upper case: give "CHOWN"`,
		"NET_ADMINN": `"NET_ADMINN" is not a Linux capability (did you mean "NET_ADMIN"?)`,
		"":           "is not a Linux capability",
	})
}

// headerCapabilities reads the capabilities the kernel's UAPI header
// defines, as capabilities.txt lists them.
func headerCapabilities(t *testing.T) string {
	data, err := os.ReadFile("/usr/include/linux/capability.h")
	if err != nil {
		t.Fatalf("the kernel headers (linux-libc-dev) are needed to check capabilities.txt: %v", err)
	}
	var b strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "#define" && strings.HasPrefix(f[1], "CAP_") {
			if _, err := strconv.Atoi(f[2]); err == nil && strings.Trim(f[1][4:], "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == "" {
				b.WriteString(f[1][4:] + " " + f[2] + "\n")
			}
		}
	}
	return b.String()
}

// TestCapabilitiesAreCurrent: capabilities.txt is the kernel header's
// list, and the running kernel has no capability beyond it.
func TestCapabilitiesAreCurrent(t *testing.T) {
	want := headerCapabilities(t)
	if *update {
		if err := os.WriteFile("capabilities.txt", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile("capabilities.txt")
	if err != nil {
		t.Fatal(err)
	}
	if string(have) != want {
		t.Fatalf("capabilities.txt differs from /usr/include/linux/capability.h: go test ./engine/valid -run TestCapabilitiesAreCurrent -update\n%s", want)
	}
	lines := strings.Split(strings.TrimSpace(string(have)), "\n")
	_, last, _ := strings.Cut(lines[len(lines)-1], " ")
	kernel, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(kernel)) != last {
		t.Errorf("the running kernel's last capability is %s, capabilities.txt's %s", strings.TrimSpace(string(kernel)), last)
	}
}

func TestEnvName(t *testing.T) {
	check(t, "EnvName", valid.EnvName, []string{"PATH", "_x", "GO111MODULE"}, map[string]string{
		"":    "cannot be empty",
		"A=B": `contains "="`,
		"1A":  "POSIX name",
		"A-B": "POSIX name",
		"A B": "POSIX name",
		"Ä":   "POSIX name",
	})
}

func TestHTTP(t *testing.T) {
	check(t, "Method", valid.Method, []string{"GET", "HEAD", "PATCH"}, map[string]string{"get": `case-sensitive: give "GET"`, "FETCH": "not an HTTP method", "": "not an HTTP method"})
	check(t, "HeaderName", valid.HeaderName, []string{"X-Api-Token", "x_y"}, map[string]string{"X Api": "not a valid HTTP header name", "X:": "not a valid", "": "not a valid", "X\r\nY": "not a valid"})
	check(t, "HeaderValue", valid.HeaderValue, []string{"", "a b", "tab\there"}, map[string]string{"a\r\nX-Evil: 1": "control character", "a\n": "control character", "a\x00": "control character"})
	check(t, "Path", valid.Path, []string{"/", "/healthz?full=1", "/a%20b", "/api/items?limit=1&x=%2F"}, map[string]string{
		"/a\r\nHost: x": `holds '\r'`,
		"/a\nb":         `holds '\n'`,
		"/a b":          `holds ' '`,
		"healthz":       "a path starts with /",
		"/%zz":          "not a valid request path",
	})
}

func TestNumbers(t *testing.T) {
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if valid.Finite(f) == nil {
			t.Errorf("Finite(%v) = nil", f)
		}
	}
	if err := valid.Finite(1.5); err != nil {
		t.Error(err)
	}
	dur := func(s string) error { _, err := valid.Duration(s); return err }
	check(t, "Duration", dur, []string{"0s", "90s", " 5m ", "1h30m"}, map[string]string{"-5s": "is negative", "5": "not a duration", "often": "not a duration", "9999999h": "not a duration"})
	if err := valid.Backoff(time.Second, 15*time.Second, 1000, 0.2); err != nil {
		t.Errorf("capped backoff: %v", err)
	}
	if err := valid.Backoff(2562000*time.Hour, 0, 3, 0.2); err == nil || !strings.Contains(err.Error(), "beyond the longest duration") {
		t.Errorf("huge backoff: %v", err)
	}
	if err := valid.Backoff(time.Second, 0, 80, 0); err == nil {
		t.Error("a backoff doubled 78 times fits a duration")
	}
	if err := valid.AtMost("stableFor", 5*time.Minute, 5*time.Minute); err == nil || !strings.Contains(err.Error(), "not shorter than the task's timeout 5m0s") {
		t.Errorf("AtMost: %v", err)
	}
	if err := valid.AtMost("stableFor", time.Minute, 5*time.Minute); err != nil {
		t.Error(err)
	}
}

func TestBool(t *testing.T) {
	for s, want := range map[string]bool{"true": true, " false\n": false} {
		if got, err := valid.Bool(s); err != nil || got != want {
			t.Errorf("Bool(%q) = %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"False", "TRUE", "off", "no", "0", "1", "", "<no value>", "yes"} {
		if _, err := valid.Bool(s); err == nil || !strings.Contains(err.Error(), "must render true or false") {
			t.Errorf("Bool(%q): %v", s, err)
		}
	}
}

// TestCapabilityLevels: the level each capability needs, as the PodSecurity
// admission decides it, is the one the Pod Security Standards document:
// restricted adds only NET_BIND_SERVICE, baseline the runtime defaults.
func TestCapabilityLevels(t *testing.T) {
	baseline := []string{"CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "MKNOD", "AUDIT_WRITE", "SETFCAP"}
	if got := valid.LevelCapabilities(psapi.LevelBaseline); !slices.Equal(got, baseline) {
		t.Errorf("baseline allows %v, want %v", got, baseline)
	}
	if got := valid.LevelCapabilities(psapi.LevelRestricted); !slices.Equal(got, []string{"NET_BIND_SERVICE"}) {
		t.Errorf("restricted allows %v, want [NET_BIND_SERVICE]", got)
	}
	for name, want := range map[string]psapi.Level{"NET_BIND_SERVICE": psapi.LevelRestricted, "CHOWN": psapi.LevelBaseline, "SYS_ADMIN": psapi.LevelPrivileged, "NET_RAW": psapi.LevelPrivileged, "ALL": psapi.LevelPrivileged} {
		if got := valid.CapabilityLevel(name); got != want {
			t.Errorf("%s needs %s, want %s", name, got, want)
		}
	}
	if err := valid.CapabilityAbove("SYS_ADMIN", psapi.LevelBaseline); err == nil || !strings.Contains(err.Error(), "needs Pod Security level privileged, above baseline") {
		t.Errorf("SYS_ADMIN under baseline: %v", err)
	}
	if err := valid.CapabilityAbove("CHOWN", psapi.LevelBaseline); err != nil {
		t.Errorf("CHOWN under baseline: %v", err)
	}
}
