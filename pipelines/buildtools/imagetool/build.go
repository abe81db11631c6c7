package main

import (
	"errors"
	"fmt"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// buildConfig is what the no-privilege builder builds: a Dockerfile
// without RUN over a context folder, pushed to destination.
type buildConfig struct {
	context, dockerfile, destination string
	buildArgs                        map[string]string
	// setcaps gives files of the appended layers file capabilities
	// (path in the image -> capability set), as setcap would.
	setcaps map[string]uint64
	reg     registryOptions
}

// refusal is a Dockerfile feature the no-privilege builder cannot do.
type refusal struct{ msg string }

func (r refusal) Error() string { return r.msg }

// plan checks a whole Dockerfile before anything is pulled: one stage, no
// RUN, only instructions that edit files or the config.
func plan(ins []instruction) error {
	froms := 0
	for _, in := range ins {
		switch in.cmd {
		case "FROM":
			if froms++; froms > 1 {
				return refusal{fmt.Sprintf("line %d: a second FROM (a multi-stage build): the no-privilege builder builds one stage; build it with Kaniko", in.line)}
			}
		case "RUN":
			return refusal{fmt.Sprintf("line %d: RUN: the no-privilege builder runs no commands, it only adds files to a base image; a Dockerfile with RUN needs Kaniko (root with capabilities)", in.line)}
		case "COPY", "ADD":
			for f := range in.flags {
				if f != "chown" && f != "chmod" && f != "link" {
					return refusal{fmt.Sprintf("line %d: %s --%s is not supported by the no-privilege builder", in.line, in.cmd, f)}
				}
			}
			if in.cmd == "ADD" {
				for _, a := range in.args[:len(in.args)-1] {
					if strings.Contains(a, "://") || isArchive(a) {
						return refusal{fmt.Sprintf("line %d: ADD %s: the no-privilege builder adds local files as they are (no URLs, no archives to unpack); use COPY", in.line, a)}
					}
				}
			}
		case "ARG", "ENV", "WORKDIR", "USER", "ENTRYPOINT", "CMD", "EXPOSE", "LABEL", "STOPSIGNAL", "VOLUME", "SHELL", "MAINTAINER":
		default:
			return refusal{fmt.Sprintf("line %d: %s is not supported by the no-privilege builder", in.line, in.cmd)}
		}
	}
	if froms == 0 {
		return refusal{"no FROM"}
	}
	return nil
}

func isArchive(p string) bool {
	for _, s := range []string{".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar.zst"} {
		if strings.HasSuffix(p, s) {
			return true
		}
	}
	return false
}

// stage is the image being built.
type stage struct {
	c       buildConfig
	vars    map[string]string // ARG and ENV values in scope
	cfg     v1.Config
	adds    []mutate.Addendum
	base    *baseFS // the base's files (headers), read on first need
	baseImg v1.Image
	made    map[string]bool // paths the new layers hold
	capsSet map[string]bool
}

// buildImage builds the image of a Dockerfile without RUN.
func buildImage(c buildConfig) (v1.Image, error) {
	text, err := os.ReadFile(c.dockerfile)
	if err != nil {
		return nil, err
	}
	ins, err := parseDockerfile(string(text))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.dockerfile, err)
	}
	if err := plan(ins); err != nil {
		return nil, err
	}
	s := &stage{c: c, vars: map[string]string{}, made: map[string]bool{}, capsSet: map[string]bool{}}
	global := map[string]string{} // ARGs before FROM
	i := 0
	for ; ins[i].cmd == "ARG"; i++ {
		k, v := argValue(ins[i], c.buildArgs, global)
		global[k] = v
	}
	from := ins[i]
	ref := expand(from.args[0], global)
	if len(from.args) > 1 && !strings.EqualFold(from.args[1], "AS") {
		return nil, fmt.Errorf("line %d: FROM %s: unexpected %q", from.line, ref, from.args[1])
	}
	if ref == "scratch" {
		s.baseImg = empty.Image
	} else {
		img, err := c.reg.image(ref)
		if err != nil {
			return nil, fmt.Errorf("line %d: FROM %s: %w", from.line, ref, err)
		}
		s.baseImg = img
	}
	cf, err := s.baseImg.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("FROM %s: config: %w", ref, err)
	}
	s.cfg = *cf.Config.DeepCopy()
	if s.cfg.Env == nil {
		// A base without environment (scratch) gets the default PATH, as
		// Docker and Kaniko give it: the same Dockerfile makes the same
		// config whichever builds it (the reference comparison).
		s.cfg.Env = []string{defaultPath}
	}
	for _, e := range s.cfg.Env {
		if k, v, ok := strings.Cut(e, "="); ok {
			s.vars[k] = v
		}
	}
	for _, in := range ins[i+1:] {
		if err := s.apply(in, global); err != nil {
			return nil, fmt.Errorf("line %d: %s: %w", in.line, in.cmd, err)
		}
	}
	for p := range c.setcaps {
		if !s.capsSet[p] {
			return nil, fmt.Errorf("-setcap %s: no COPY or ADD puts a file there", p)
		}
	}
	img, err := mutate.Append(s.baseImg, s.adds...)
	if err != nil {
		return nil, err
	}
	out, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	out = out.DeepCopy()
	out.Config = s.cfg
	out.Created = v1.Time{Time: time.Now().UTC().Truncate(time.Second)}
	if out.OS == "" {
		out.OS, out.Architecture = runtime.GOOS, runtime.GOARCH
	}
	return mutate.ConfigFile(img, out)
}

// argValue is an ARG's value: the build argument, else its default.
func argValue(in instruction, buildArgs, vars map[string]string) (string, string) {
	k, def, _ := strings.Cut(in.args[0], "=")
	if v, ok := buildArgs[k]; ok {
		return k, v
	}
	return k, expand(strings.Trim(def, `"`), vars)
}

func (s *stage) apply(in instruction, global map[string]string) error {
	x := func(v string) string { return expand(v, s.vars) }
	switch in.cmd {
	case "ARG":
		k, v := argValue(in, s.c.buildArgs, s.vars)
		if _, isGlobal := global[k]; isGlobal && !strings.Contains(in.args[0], "=") {
			if _, given := s.c.buildArgs[k]; !given {
				v = global[k]
			}
		}
		if _, isEnv := s.envIndex(k); !isEnv {
			s.vars[k] = v
		}
	case "ENV":
		kvs, err := keyValues(in)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			k, v := kv[0], x(kv[1])
			s.vars[k] = v
			if i, ok := s.envIndex(k); ok {
				s.cfg.Env[i] = k + "=" + v
			} else {
				s.cfg.Env = append(s.cfg.Env, k+"="+v)
			}
		}
	case "LABEL", "MAINTAINER":
		kvs := [][2]string{{"maintainer", in.raw}}
		if in.cmd == "LABEL" {
			var err error
			if kvs, err = keyValues(in); err != nil {
				return err
			}
		}
		if s.cfg.Labels == nil {
			s.cfg.Labels = map[string]string{}
		}
		for _, kv := range kvs {
			s.cfg.Labels[x(kv[0])] = x(kv[1])
		}
	case "USER":
		s.cfg.User = x(in.args[0])
	case "WORKDIR":
		dir := x(in.raw)
		if !path.IsAbs(dir) {
			dir = path.Join(s.workdir(), dir)
		}
		s.cfg.WorkingDir = path.Clean(dir)
		return s.ensureDir(in, s.cfg.WorkingDir)
	case "ENTRYPOINT":
		s.cfg.Entrypoint = s.command(in)
		s.cfg.Cmd = nil // Docker: a new ENTRYPOINT drops the base's CMD
	case "CMD":
		s.cfg.Cmd = s.command(in)
	case "SHELL":
		if !in.json {
			return errors.New("SHELL needs the JSON form, e.g. [\"/bin/sh\", \"-c\"]")
		}
		s.cfg.Shell = in.args
	case "EXPOSE":
		if s.cfg.ExposedPorts == nil {
			s.cfg.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range in.args {
			p = x(p)
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			s.cfg.ExposedPorts[p] = struct{}{}
		}
	case "STOPSIGNAL":
		s.cfg.StopSignal = x(in.args[0])
	case "VOLUME":
		if s.cfg.Volumes == nil {
			s.cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range in.args {
			s.cfg.Volumes[x(v)] = struct{}{}
		}
	case "COPY", "ADD":
		return s.copy(in)
	}
	return nil
}

func (s *stage) envIndex(k string) (int, bool) {
	for i, e := range s.cfg.Env {
		if strings.HasPrefix(e, k+"=") {
			return i, true
		}
	}
	return 0, false
}

func (s *stage) workdir() string {
	if s.cfg.WorkingDir == "" {
		return "/"
	}
	return s.cfg.WorkingDir
}

// command is the exec form as given, the shell form under the shell.
func (s *stage) command(in instruction) []string {
	if in.json {
		return in.args
	}
	if in.raw == "" {
		return nil
	}
	sh := s.cfg.Shell
	if len(sh) == 0 {
		sh = []string{"/bin/sh", "-c"}
	}
	return append(append([]string(nil), sh...), in.raw)
}

// parents adds the folders above p that neither the base nor the layers
// have, owned by uid:gid (Docker makes them with mode 0755).
// defaultPath is the environment Docker and Kaniko give an image whose
// base has none.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// sortedKeys lists a set's keys in order, for messages.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
