// Command build runs inside the Kaniko builder pod (step 4 of the seed
// procedure). It writes a Dockerfile around the server binary that was copied
// to the workspace, runs /kaniko/executor with the workspace as the build
// context, pushes the image, and prints the pushed image's digest.
//
// Output contract (the pipeline parses it):
//   - Kaniko's own output, and this program's progress, go to stderr
//     (Kaniko writes to a log in the workspace, which this program
//     follows: see kaniko.go);
//   - stdout carries only the result, the digest on the LAST line:
//     image: <destination>@sha256:<hex>
//     digest: sha256:<hex>
//   - when Kaniko fails, the exit code is non-zero and the last stderr line
//     quotes Kaniko's error: "build: Kaniko failed (exit status 1): error
//     building image: ..."; when the error is one a missing capability
//     causes, that line says which and how to give it, once; when it is a
//     known registry problem (plain HTTP, an unknown CA, a refused account),
//     it ends with a hint.
//
// -dockerfile names one of the Dockerfiles below (built around the server
// binary), or a Dockerfile of the team's own build context (a path in the
// workspace, e.g. context/Dockerfile; -context is then its folder).
//
// Standard library only: the program is cross-compiled by kbrun's compile
// task and copied into a pod that has no Go toolchain.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
)

// Dockerfiles the program can write, selected with -dockerfile.
var dockerfiles = map[string]string{
	// copy: the seed's build. FROM scratch and one COPY: needs no
	// capability beyond the seed's four (measured: none at all).
	"copy": `# Written by the kaniko-rootless build program (variant: copy).
FROM scratch
COPY {{SERVER}} /server
USER 65532:65532
EXPOSE 8081
ENTRYPOINT ["/server"]
`,
	// multistage: the same image through a build stage. Kaniko saves the
	// files a later stage copies under /kaniko/<stage>/, a folder it creates
	// with mode 0644 (no search bit), which root can only enter with
	// DAC_OVERRIDE (measured: "mkdir /kaniko/0/out: permission denied" with
	// the seed's four capabilities).
	"multistage": `# Written by the kaniko-rootless build program (variant: multistage).
FROM scratch AS stage
COPY {{SERVER}} /out/server
FROM scratch
COPY --from=stage /out/server /server
USER 65532:65532
EXPOSE 8081
ENTRYPOINT ["/server"]
`,
	// run: a RUN step that creates a folder and hands it to the server's
	// user; needs CHOWN. The shell is the builder's own static busybox
	// (copied into the context), so no base image is pulled.
	"run": `# Written by the kaniko-rootless build program (variant: run).
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox mkdir -p /data && /bin/busybox chown 65532:65532 /data"]
COPY {{SERVER}} /server
USER 65532:65532
EXPOSE 8081
ENTRYPOINT ["/server"]
`,
	// userrun: a RUN as another user (needs SETUID and SETGID) that leaves
	// a 0700 folder of that user, then a RUN as root that works inside it,
	// which root can only enter with DAC_OVERRIDE (or DAC_READ_SEARCH).
	// (Kaniko reads /etc/group to switch users: the first RUN writes it.)
	"userrun": `# Written by the kaniko-rootless build program (variant: userrun).
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox mkdir -p /data /etc && echo root:x:0:0:root:/:/bin/sh > /etc/passwd && echo root:x:0: > /etc/group && /bin/busybox chown 65532:65532 /data"]
USER 65532:65532
RUN ["/bin/busybox", "sh", "-c", "echo built > /data/f && /bin/busybox chmod 0700 /data"]
USER 0:0
RUN ["/bin/busybox", "chmod", "0644", "/data/f"]
COPY {{SERVER}} /server
USER 65532:65532
EXPOSE 8081
ENTRYPOINT ["/server"]
`,
}

// busybox is the builder image's static busybox (Kaniko's debug image),
// copied into the build context for the variants that RUN a shell.
const busybox = "/busybox/busybox"

type config struct {
	destination  string
	variant      string
	workspace    string
	context      string   // build context, relative to the workspace ("" = the workspace)
	buildArgs    []string // NAME=VALUE, Kaniko's --build-arg
	server       string
	executor     string
	busybox      string
	insecure     bool
	registryCA   string
	dockerConfig string
	extraArgs    string
	verbosity    string
	state        string // the state file recording the build ("" = none; see resume.go)
}

func main() {
	var c config
	flag.StringVar(&c.destination, "destination", os.Getenv("KANIKO_DESTINATION"), "image to push, e.g. registry.example:5000/demo:tag (env KANIKO_DESTINATION)")
	flag.StringVar(&c.variant, "dockerfile", envOr("KANIKO_DOCKERFILE", "copy"), "Dockerfile variant (copy, multistage, run or userrun), or the path of a Dockerfile in the workspace (env KANIKO_DOCKERFILE)")
	flag.StringVar(&c.workspace, "workspace", "/workspace", "work folder (an emptyDir in the builder pod)")
	flag.StringVar(&c.context, "context", "", "build context folder, relative to the workspace (default: the workspace; with a Dockerfile path: its folder)")
	flag.Func("build-args", "ARG values for the Dockerfile, NAME=VALUE,NAME=VALUE (values without commas)", func(v string) error {
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a == "" {
				continue
			}
			if !strings.Contains(a, "=") {
				return fmt.Errorf("want NAME=VALUE, got %q", a)
			}
			c.buildArgs = append(c.buildArgs, a)
		}
		return nil
	})
	flag.Func("build-arg", "ARG value for the Dockerfile, NAME=VALUE (repeatable)", func(v string) error {
		if !strings.Contains(v, "=") {
			return fmt.Errorf("want NAME=VALUE, got %q", v)
		}
		c.buildArgs = append(c.buildArgs, v)
		return nil
	})
	flag.StringVar(&c.server, "server", "server/main", "server binary, relative to the workspace")
	flag.StringVar(&c.executor, "executor", "/kaniko/executor", "Kaniko executor")
	flag.StringVar(&c.busybox, "busybox", busybox, "static busybox copied into the context for the run and userrun variants")
	flag.BoolVar(&c.insecure, "insecure", false, "the registry speaks plain HTTP or has an untrusted certificate (Kaniko's --insecure, --skip-tls-verify and their -pull forms)")
	flag.StringVar(&c.registryCA, "registry-ca", "", "CA certificate(s) of the destination registry, PEM (Kaniko's --registry-certificate for its host)")
	flag.StringVar(&c.dockerConfig, "docker-config", "/kaniko/.docker/config.json", "the registry accounts Kaniko reads (only their registries are shown)")
	flag.StringVar(&c.extraArgs, "kaniko-args", "", "extra Kaniko arguments, separated by spaces")
	flag.StringVar(&c.verbosity, "verbosity", "info", "Kaniko's log level")
	flag.Parse()

	// The exec stream that carries this program's output may break while
	// the build goes on (an API server or kubelet restart): writes to it
	// must then fail quietly, not kill the build with SIGPIPE.
	signal.Ignore(syscall.SIGPIPE)
	digest, err := resumeOrBuild(c)
	if err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("image: %s@%s\n", repository(c.destination), digest)
	fmt.Printf("digest: %s\n", digest)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func build(c config) (string, error) {
	if c.destination == "" {
		return "", errors.New("-destination is required")
	}
	dockerfile, text, err := writeDockerfile(c)
	if err != nil {
		return "", err
	}
	context := c.workspace
	if c.context != "" {
		context = filepath.Join(c.workspace, c.context)
	} else if _, builtIn := dockerfiles[c.variant]; !builtIn {
		context = filepath.Dir(dockerfile)
	}
	digestFile := filepath.Join(c.workspace, digestFileName)
	_ = os.Remove(digestFile)

	args := []string{
		"--context=dir://" + context,
		"--dockerfile=" + dockerfile,
		"--destination=" + c.destination,
		"--digest-file=" + digestFile,
		"--verbosity=" + c.verbosity,
		"--log-format=text", // no colour codes in the pipeline's logs
		"--cleanup",
	}
	if c.insecure {
		args = append(args, "--insecure", "--skip-tls-verify", "--insecure-pull", "--skip-tls-verify-pull")
	}
	for _, a := range c.buildArgs {
		args = append(args, "--build-arg="+a)
	}
	if c.registryCA != "" {
		if _, err := os.Stat(c.registryCA); err != nil {
			return "", fmt.Errorf("registry CA: %w", err)
		}
		args = append(args, "--registry-certificate="+registryHost(c.destination)+"="+c.registryCA)
	}
	args = append(args, strings.Fields(c.extraArgs)...)

	fmt.Fprintf(os.Stderr, "build: %s\n", accounts(c.dockerConfig, registryHost(c.destination)))
	fmt.Fprintf(os.Stderr, "build: Dockerfile %s:\n%s", dockerfile, text)
	fmt.Fprintf(os.Stderr, "build: %s %s\n", c.executor, strings.Join(args, " "))
	runErr, errs, err := runKaniko(c, args, digestFile)
	if err != nil {
		return "", err
	}
	if runErr != nil {
		msg := errs.String()
		if msg == "" {
			msg = "(Kaniko printed no error line; see its output above)"
		}
		if h := registryHint(msg, c); h != "" {
			//lint:ignore ST1005 Kaniko is a name
			return "", fmt.Errorf("Kaniko failed (%v): %s; hint: %s", runErr, msg, h)
		}
		if h := hint(msg, effectiveCaps()); h != "" {
			return "", fmt.Errorf("%s; Kaniko failed (%v): %s", h, runErr, msg)
		}
		//lint:ignore ST1005 Kaniko is a name
		return "", fmt.Errorf("Kaniko failed (%v): %s", runErr, msg)
	}
	raw, err := os.ReadFile(digestFile)
	if err != nil {
		//lint:ignore ST1005 Kaniko is a name
		return "", fmt.Errorf("Kaniko succeeded but wrote no digest: %w", err)
	}
	digest := strings.TrimSpace(string(raw))
	if !digestRE.MatchString(digest) {
		//lint:ignore ST1005 Kaniko is a name
		return "", fmt.Errorf("Kaniko wrote an unexpected digest %q", digest)
	}
	return digest, nil
}

// writeDockerfile writes a built-in variant's Dockerfile into the
// workspace (with the files it copies), or reads the team's own; it returns
// the Dockerfile's path and text.
func writeDockerfile(c config) (string, string, error) {
	tmpl, ok := dockerfiles[c.variant]
	if !ok {
		path := filepath.Join(c.workspace, c.variant)
		text, err := os.ReadFile(path)
		if err != nil {
			return "", "", fmt.Errorf("-dockerfile %q is neither a built-in Dockerfile (copy, multistage, run, userrun) nor a file in the workspace: %w", c.variant, err)
		}
		return path, string(text), nil
	}
	server := filepath.Join(c.workspace, c.server)
	st, err := os.Stat(server)
	if err != nil {
		return "", "", fmt.Errorf("server binary: %w", err)
	}
	if st.Size() == 0 || st.IsDir() {
		return "", "", fmt.Errorf("server binary %s is empty or not a file", server)
	}
	if strings.Contains(tmpl, "COPY busybox ") {
		if err := copyFile(c.busybox, filepath.Join(c.workspace, "busybox"), 0o755); err != nil {
			return "", "", fmt.Errorf("the %s Dockerfile needs a shell: %w", c.variant, err)
		}
	}
	dockerfile := filepath.Join(c.workspace, "Dockerfile")
	text := strings.ReplaceAll(tmpl, "{{SERVER}}", filepath.ToSlash(c.server))
	return dockerfile, text, os.WriteFile(dockerfile, []byte(text), 0o644)
}

func copyFile(from, to string, mode os.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
