// Command imagetool runs in pods of the kaniko-capabilities and
// kaniko-least-privilege pipelines, as a non-root user with no capability:
//
//	imagetool build -context DIR -dockerfile FILE -destination REF [-build-arg K=V]... [-setcap PATH=CAPS]... [-insecure | -ca FILE]
//	imagetool check -image REF [-expect FILE] [-insecure | -ca FILE]
//	imagetool compare -image REF -reference REF [-insecure | -ca FILE]
//
// build is the no-privilege builder: it reads a Dockerfile without RUN
// (FROM, COPY, ADD of local files, ENV, ARG, WORKDIR, USER, ENTRYPOINT,
// CMD, EXPOSE, LABEL, ...), appends the context's files to the base image
// as layers (tar headers give owners: --chown, else 0:0) and pushes the
// image through the registry API. It refuses RUN, a second FROM and what it
// cannot do, saying so. Output as the Kaniko build program's: stdout's last
// lines are "image: REPO@DIGEST" and "digest: sha256:..."; errors go to
// stderr, the last line starting with "imagetool build:".
//
// check reads an image from the registry and checks its flattened file
// system and config against an expectations file (see expectation); it
// prints one line per expectation and fails when one does not hold, so
// that a build that exited 0 but made the wrong image is caught.
//
// compare reads an image and a reference image (the same Dockerfile built
// with the most privilege) and compares them file tree against file tree
// (path, type, mode, owner, size, content digest, symlink target, xattrs
// such as security.capability) and config (user, env, entrypoint, cmd,
// workdir, ports, labels, ...), ignoring what differs by nature (times,
// history). It prints the first differing paths and fails when one
// differs: a build that silently left files out is caught without anyone
// writing expectations.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: imagetool build|check|compare [flags] (-h for the flags)")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "build":
		err = runBuild(os.Args[2:], os.Stdout, os.Stderr)
	case "check":
		err = runCheck(os.Args[2:], os.Stdout)
	case "compare":
		err = runCompare(os.Args[2:], os.Stdout)
	default:
		err = fmt.Errorf("unknown command %q (build, check or compare)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "imagetool %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// multi is a repeatable flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func runBuild(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("build", flag.ContinueOnError)
	var c buildConfig
	var buildArgs, setcaps multi
	fl.StringVar(&c.context, "context", ".", "build context folder")
	fl.StringVar(&c.dockerfile, "dockerfile", "", "Dockerfile (default: Dockerfile in the context)")
	fl.StringVar(&c.destination, "destination", "", "image to push, e.g. registry:5000/app:tag")
	fl.BoolVar(&c.reg.insecure, "insecure", false, "registries over plain HTTP or with an untrusted certificate")
	fl.Func("ca", "PEM file of a CA to trust besides the system's, for a registry with a private CA", c.reg.trust)
	fl.Var(&buildArgs, "build-arg", "ARG value, NAME=VALUE (repeatable)")
	fl.Var(&setcaps, "setcap", "give a copied file capabilities, PATH=CAP[,CAP...] (as setcap CAPS=ep; repeatable)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if c.destination == "" {
		return fmt.Errorf("-destination is required")
	}
	if c.dockerfile == "" {
		c.dockerfile = path.Join(c.context, "Dockerfile")
	}
	c.buildArgs = map[string]string{}
	for _, a := range buildArgs {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return fmt.Errorf("-build-arg %q: want NAME=VALUE", a)
		}
		c.buildArgs[k] = v
	}
	c.setcaps = map[string]uint64{}
	for _, s := range setcaps {
		p, caps, ok := strings.Cut(s, "=")
		if !ok || !path.IsAbs(p) {
			return fmt.Errorf("-setcap %q: want /PATH=CAP[,CAP...]", s)
		}
		set, err := parseCaps(caps)
		if err != nil {
			return fmt.Errorf("-setcap %q: %w", s, err)
		}
		c.setcaps[path.Clean(p)] = set
	}
	text, _ := os.ReadFile(c.dockerfile)
	fmt.Fprintf(stderr, "imagetool build: Dockerfile %s:\n%s", c.dockerfile, text)
	img, err := buildImage(c)
	if err != nil {
		return err
	}
	digest, err := c.reg.push(c.destination, img)
	if err != nil {
		return fmt.Errorf("push %s: %w", c.destination, err)
	}
	fmt.Fprintf(stderr, "imagetool build: pushed %s\n", c.destination)
	fmt.Fprintf(stdout, "image: %s@%s\n", repository(c.destination), digest)
	fmt.Fprintf(stdout, "digest: %s\n", digest)
	return nil
}

func runCheck(args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("check", flag.ContinueOnError)
	var image, expect string
	var reg registryOptions
	fl.StringVar(&image, "image", "", "image to check, by digest or tag")
	fl.StringVar(&expect, "expect", "", "expectations file (default: none, the config and every layer are only read back)")
	fl.BoolVar(&reg.insecure, "insecure", false, "registries over plain HTTP or with an untrusted certificate")
	fl.Func("ca", "PEM file of a CA to trust besides the system's, for a registry with a private CA", reg.trust)
	if err := fl.Parse(args); err != nil {
		return err
	}
	if image == "" {
		return fmt.Errorf("-image is required")
	}
	var exps []expectation
	if expect != "" {
		text, err := os.ReadFile(expect)
		if err != nil {
			return err
		}
		if exps, err = parseExpectations(string(text)); err != nil {
			return fmt.Errorf("%s: %w", expect, err)
		}
	}
	img, err := reg.image(image)
	if err != nil {
		return err
	}
	lines, bad, err := checkImage(img, exps)
	if err != nil {
		return err
	}
	if expect == "" {
		layers, _ := img.Layers()
		fmt.Fprintf(stdout, "image ok: its config and %d layers read back (no expectations given)\n", len(layers))
		return nil
	}
	var wrong []string
	for _, l := range lines {
		fmt.Fprintln(stdout, l)
		if strings.HasPrefix(l, "WRONG ") {
			wrong = append(wrong, strings.TrimPrefix(l, "WRONG "))
		}
	}
	if bad > 0 {
		return fmt.Errorf("the image is wrong (%d of %d expectations): %s", bad, len(exps), strings.Join(wrong, " | "))
	}
	fmt.Fprintf(stdout, "image ok: %d expectations hold\n", len(exps))
	return nil
}

// shownDifferences is how many differences compare prints (and the error
// names fewer): the first ones say what went wrong, all of them would
// drown it.
const shownDifferences = 20

func runCompare(args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("compare", flag.ContinueOnError)
	var image string
	var references multi
	var reg registryOptions
	fl.StringVar(&image, "image", "", "image to compare, by digest or tag")
	fl.Var(&references, "reference", "the reference image: the same Dockerfile built with the most privilege; repeated: more builds of it, whose differences among themselves are left out (they differ by nature)")
	fl.BoolVar(&reg.insecure, "insecure", false, "registries over plain HTTP or with an untrusted certificate")
	fl.Func("ca", "PEM file of a CA to trust besides the system's, for a registry with a private CA", reg.trust)
	if err := fl.Parse(args); err != nil {
		return err
	}
	if image == "" || len(references) == 0 {
		return fmt.Errorf("-image and -reference are required")
	}
	img, err := reg.image(image)
	if err != nil {
		return err
	}
	var refs []v1.Image
	for _, r := range references {
		ref, err := reg.image(r)
		if err != nil {
			return fmt.Errorf("the reference: %w", err)
		}
		refs = append(refs, ref)
	}
	c, err := compareImages(img, refs...)
	if err != nil {
		return err
	}
	left := ""
	if c.unstable > 0 {
		left = fmt.Sprintf("; %d left out: they differ between the reference's own builds", c.unstable)
	}
	if len(c.diffs) == 0 {
		fmt.Fprintf(stdout, "image same as the reference: config and %d paths agree (type, mode, owner, size, content, link, xattrs)%s\n", c.paths, left)
		return nil
	}
	var first []string
	for i, d := range c.diffs {
		if i == shownDifferences {
			fmt.Fprintf(stdout, "... and %d more\n", len(c.diffs)-i)
			break
		}
		fmt.Fprintf(stdout, "DIFFERS %s\n", d)
		if i < 3 {
			first = append(first, d.String())
		}
	}
	return fmt.Errorf("image differs from the reference in %d places (of %d paths and the config%s): %s", len(c.diffs), c.paths, left, strings.Join(first, " | "))
}

// repository strips the tag (not a port) from an image reference.
func repository(ref string) string {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i]
	}
	return ref
}
