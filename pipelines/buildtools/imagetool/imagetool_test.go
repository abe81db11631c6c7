package main

import (
	"bytes"
	"encoding/pem"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
)

// testRegistry is an in-memory registry over plain HTTP, like the project
// cluster's.
func testRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// writeTree makes files under dir: path -> content ("/" suffix: a folder).
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, p)
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// build runs "imagetool build" and returns its stdout or error.
func build(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := runBuild(append(args, "-insecure"), &out, &errOut)
	return out.String(), errOut.String(), err
}

// check runs "imagetool check" with the expectations text.
func check(t *testing.T, image, expect string) (string, error) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "expect")
	if err := os.WriteFile(f, []byte(expect), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := runCheck([]string{"-image", image, "-expect", f, "-insecure"}, &out)
	return out.String(), err
}

func digestOf(t *testing.T, stdout string) string {
	t.Helper()
	for _, l := range strings.Split(stdout, "\n") {
		if d, ok := strings.CutPrefix(l, "digest: "); ok {
			return d
		}
	}
	t.Fatalf("no digest line in %q", stdout)
	return ""
}

// TestBuildFromBase: a base made from a root file system folder, then a
// Dockerfile over it with COPY --chown by name, --chmod, a folder, WORKDIR,
// ENV, USER and ENTRYPOINT, and a file capability; the checker reads the
// pushed image back and every expectation holds.
func TestBuildFromBase(t *testing.T) {
	reg := testRegistry(t)
	baseCtx := t.TempDir()
	writeTree(t, baseCtx, map[string]string{
		"rootfs/etc/passwd": "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
		"rootfs/etc/group":  "root:x:0:\napp:x:1000:\n",
		"rootfs/bin/sh":     "#!fake shell\n",
		"rootfs/tmp/":       "",
		"Dockerfile":        "FROM scratch\nCOPY rootfs/ /\n",
	})
	if err := os.Chmod(filepath.Join(baseCtx, "rootfs/tmp"), os.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	out, _, err := build(t, "-context", baseCtx, "-destination", reg+"/bases/busybox:1")
	if err != nil {
		t.Fatal(err)
	}
	base := reg + "/bases/busybox@" + digestOf(t, out)
	if _, err := check(t, base, "/tmp type=dir mode=1777 owner=0:0\n/etc/passwd type=file owner=0:0 contains=app:x:1000\n"); err != nil {
		t.Fatal(err)
	}

	ctx := t.TempDir()
	writeTree(t, ctx, map[string]string{
		"Dockerfile": `# syntax=docker/dockerfile:1
ARG BASE
FROM ${BASE}
ARG GREETING=hello
ENV APP_HOME=/srv/app \
    MODE="two words"
COPY --chown=app:app hello.txt $APP_HOME/
COPY --chmod=0755 tool /usr/local/bin/tool
COPY conf/ /etc/app/
WORKDIR /work
USER app
LABEL greeting=${GREETING}
EXPOSE 8081
ENTRYPOINT ["/usr/local/bin/tool"]
`,
		"hello.txt":  "hello\n",
		"tool":       "#!/bin/sh\n",
		"conf/a.ini": "a=1\n",
	})
	out, stderr, err := build(t, "-context", ctx, "-destination", reg+"/app:1", "-build-arg", "BASE="+base,
		"-setcap", "/usr/local/bin/tool=CAP_NET_RAW")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	img := reg + "/app@" + digestOf(t, out)
	got, err := check(t, img, `
/srv/app/hello.txt type=file mode=0644 owner=1000:1000 content=hello
/srv/app           type=dir owner=0:0
/usr/local/bin/tool type=file mode=0755 owner=0:0 cap=cap_net_raw=ep
/etc/app/a.ini     type=file owner=0:0 content="a=1"
/work              type=dir mode=0755
/tmp               type=dir mode=1777
/bin/sh            type=file cap=none
/nothing           type=absent
config user=app workdir=/work entrypoint=["/usr/local/bin/tool"] env="MODE=two words"
`)
	if err != nil {
		t.Fatalf("%v\n%s", err, got)
	}
	if !strings.Contains(got, "image ok: 9 expectations hold") {
		t.Errorf("check output:\n%s", got)
	}
}

// TestCheckCatchesWrongImage: an image that lacks what the Dockerfile should
// have made fails the check, naming each difference.
func TestCheckCatchesWrongImage(t *testing.T) {
	reg := testRegistry(t)
	ctx := t.TempDir()
	writeTree(t, ctx, map[string]string{"Dockerfile": "FROM scratch\nCOPY f /f\n", "f": "one\n"})
	out, _, err := build(t, "-context", ctx, "-destination", reg+"/x:1")
	if err != nil {
		t.Fatal(err)
	}
	img := reg + "/x@" + digestOf(t, out)
	got, err := check(t, img, "/f owner=1000:1000 content=two cap=cap_setuid=ep\n/g type=file\n/f mode=0644\n")
	if err == nil {
		t.Fatalf("wrong image passed:\n%s", got)
	}
	for _, want := range []string{`owner 0:0, want 1000:1000`, `content "one", want "two"`, `cap none, want cap_setuid=ep`, `WRONG /g: missing`, `ok    /f: mode 0644`} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if !strings.Contains(err.Error(), "the image is wrong (2 of 3 expectations)") {
		t.Errorf("err = %v", err)
	}
}

// TestBuildRefuses: what needs a builder that runs commands is refused at
// once, before any image is pulled, naming the line.
func TestBuildRefuses(t *testing.T) {
	for _, c := range []struct{ dockerfile, want string }{
		{"FROM registry.invalid/base\nRUN echo hi\n", "line 2: RUN: the no-privilege builder runs no commands"},
		{"FROM scratch AS a\nCOPY f /f\nFROM scratch\nCOPY --from=a /f /f\n", "line 3: a second FROM (a multi-stage build)"},
		{"FROM scratch\nADD https://example.invalid/x /x\n", "line 2: ADD https://example.invalid/x: the no-privilege builder adds local files as they are"},
		{"FROM scratch\nHEALTHCHECK CMD true\n", "line 2: HEALTHCHECK is not supported"},
		{"FROM scratch\nCOPY ../f /f\n", "../f is outside the build context"},
		{"FROM scratch\nCOPY missing /m\n", "missing: no such file in the build context"},
	} {
		ctx := t.TempDir()
		writeTree(t, ctx, map[string]string{"Dockerfile": c.dockerfile, "f": "x"})
		_, _, err := build(t, "-context", ctx, "-destination", "127.0.0.1:1/never:1")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.dockerfile, err, c.want)
		}
	}
}

func TestParseDockerfile(t *testing.T) {
	ins, err := parseDockerfile("# c\nFROM a AS b\nRUN one \\\n  # inside\n  two\nCMD [\"x\", \"y\"]\nENTRYPOINT\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 4 || ins[1].cmd != "RUN" || strings.Join(strings.Fields(ins[1].raw), " ") != "one two" || ins[1].line != 3 || !ins[2].json || ins[2].args[1] != "y" {
		t.Errorf("parsed %+v", ins)
	}
	vars := map[string]string{"A": "1", "E": ""}
	if got := expand(`$A-${A}-${E:-d}-${A:+alt}-\$A`, vars); got != "1-1-d-alt-$A" {
		t.Errorf("expand = %q", got)
	}
}

func TestCaps(t *testing.T) {
	set, err := parseCaps("CAP_NET_RAW,setuid")
	if err != nil {
		t.Fatal(err)
	}
	got, err := capText(encodeCaps(set))
	if err != nil || got != "cap_net_raw,cap_setuid=ep" {
		t.Errorf("capText = %q, %v", got, err)
	}
	if _, err := parseCaps("CAP_NOPE"); err == nil {
		t.Error("unknown capability accepted")
	}
	// A namespaced (v3) value, as a user namespace's root writes it.
	v3 := append(encodeCaps(1<<13), 0, 0, 1, 0)
	v3[3] = 3
	if got, _ := capText(v3); got != "cap_net_raw=ep" {
		t.Errorf("v3: %q", got)
	}
}

// TestCheckWithPrivateCA: a registry whose certificate a CA of its own
// signed is refused as unknown, and read with -ca naming that CA.
func TestCheckWithPrivateCA(t *testing.T) {
	srv := httptest.NewTLSServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	reg := strings.TrimPrefix(srv.URL, "https://")
	ca := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := t.TempDir()
	writeTree(t, ctx, map[string]string{"Dockerfile": "FROM scratch\nCOPY f /f\n", "f": "one\n"})
	var out, errOut bytes.Buffer
	if err := runBuild([]string{"-context", ctx, "-destination", reg + "/x:1", "-ca", ca}, &out, &errOut); err != nil {
		t.Fatalf("build with -ca: %v\n%s", err, errOut.String())
	}
	img := reg + "/x@" + digestOf(t, out.String())
	var got bytes.Buffer
	if err := runCheck([]string{"-image", img}, &got); err == nil || !strings.Contains(err.Error(), "x509: certificate signed by unknown authority") {
		t.Errorf("check without -ca: %v, want the unknown authority", err)
	}
	if err := runCheck([]string{"-image", img, "-ca="}, &got); err == nil {
		t.Errorf("check with an empty -ca passed; want the unknown authority")
	}
	if err := runCheck([]string{"-image", img, "-ca", ca}, &got); err != nil {
		t.Errorf("check with -ca: %v", err)
	}
	if err := runCheck([]string{"-image", img, "-ca", filepath.Join(ctx, "f")}, &got); err == nil || !strings.Contains(err.Error(), "holds no PEM certificate") {
		t.Errorf("-ca of a file without a certificate: %v", err)
	}
}

// TestScratchDefaultPath: FROM scratch gets the default PATH, as Docker and
// Kaniko give it, so that the no-privilege builder's image equals Kaniko's
// reference build of the same Dockerfile.
func TestScratchDefaultPath(t *testing.T) {
	reg := testRegistry(t)
	ctx := t.TempDir()
	writeTree(t, ctx, map[string]string{"Dockerfile": "FROM scratch\nCOPY f /f\n", "f": "one\n"})
	out, _, err := build(t, "-context", ctx, "-destination", reg+"/x:1")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := check(t, reg+"/x@"+digestOf(t, out), `config env="`+defaultPath+`"`+"\n"); err != nil {
		t.Errorf("%v\n%s", err, got)
	}
}
