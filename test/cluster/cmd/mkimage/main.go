// Command mkimage writes a single-layer OCI image layout tarball from a root file
// system directory, for import with `ctr -n k8s.io images import`. It needs no
// registry and no container engine. Every entry is owned by 0:0 unless -chown says
// otherwise (whoever runs mkimage), mode bits (setuid too) and file capabilities are kept, entries are
// sorted and timestamps fixed, so the same input gives the same image digest.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

var epoch = time.Unix(0, 0).UTC()

func main() {
	var (
		rootfs     = flag.String("rootfs", "", "directory holding the image's file system")
		out        = flag.String("o", "", "output tarball (OCI image layout)")
		name       = flag.String("name", "", "full image reference, e.g. kbrun.local/busybox:1.35")
		entrypoint = flag.String("entrypoint", "", "JSON array")
		cmd        = flag.String("cmd", "", "JSON array")
		workdir    = flag.String("workdir", "", "working directory")
		user       = flag.String("user", "", "user the image runs as, e.g. 1000:1000")
		envs, vols listFlag
		chowns     listFlag
	)
	flag.Var(&envs, "env", "KEY=VALUE (repeatable)")
	flag.Var(&vols, "volume", "volume path (repeatable)")
	flag.Var(&chowns, "chown", "PATH=UID:GID: PATH in the image and everything below it are owned by UID:GID (repeatable; the longest PATH wins)")
	flag.Parse()
	if *rootfs == "" || *out == "" || *name == "" {
		flag.Usage()
		os.Exit(2)
	}
	owners, err := parseOwners(chowns)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkimage: -chown:", err)
		os.Exit(2)
	}
	if err := run(*rootfs, *out, *name, *entrypoint, *cmd, *workdir, *user, envs, vols, owners); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

type blob struct {
	data      []byte
	digest    string
	mediaType string
}

func newBlob(mediaType string, data []byte) blob {
	sum := sha256.Sum256(data)
	return blob{data: data, digest: "sha256:" + hex.EncodeToString(sum[:]), mediaType: mediaType}
}

func (b blob) desc() map[string]any {
	return map[string]any{"mediaType": b.mediaType, "digest": b.digest, "size": len(b.data)}
}

// owner gives the entry path and everything below it (paths relative to the
// image's root, no leading slash) to uid:gid.
type owner struct {
	path     string
	uid, gid int
}

func parseOwners(specs []string) ([]owner, error) {
	var out []owner
	for _, s := range specs {
		p, ids, ok := strings.Cut(s, "=")
		u, g, ok2 := strings.Cut(ids, ":")
		if !ok || !ok2 {
			return nil, fmt.Errorf("%q: want PATH=UID:GID", s)
		}
		uid, err := strconv.Atoi(u)
		if err != nil || uid < 0 {
			return nil, fmt.Errorf("%q: bad uid %q", s, u)
		}
		gid, err := strconv.Atoi(g)
		if err != nil || gid < 0 {
			return nil, fmt.Errorf("%q: bad gid %q", s, g)
		}
		p = strings.Trim(path.Clean("/"+p), "/")
		if p == "" {
			return nil, fmt.Errorf("%q: the root cannot be given away", s)
		}
		out = append(out, owner{path: p, uid: uid, gid: gid})
	}
	return out, nil
}

// ownerOf is the owner of the entry at rel: the rule with the longest
// matching path, or root.
func ownerOf(rel string, owners []owner) (uid, gid int) {
	best := -1
	for _, o := range owners {
		if (rel == o.path || strings.HasPrefix(rel, o.path+"/")) && len(o.path) > best {
			best, uid, gid = len(o.path), o.uid, o.gid
		}
	}
	return uid, gid
}

func layerTar(root string, owners []owner) (raw []byte, err error) {
	var paths []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil {
			return nil, err
		}
		rel, _ := filepath.Rel(root, p)
		link := ""
		if fi.Mode()&os.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return nil, err
			}
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return nil, err
		}
		h.Name = filepath.ToSlash(rel)
		uid, gid := ownerOf(h.Name, owners)
		if fi.IsDir() {
			h.Name += "/"
		}
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "root", "root"
		if uid != 0 || gid != 0 {
			h.Uid, h.Gid, h.Uname, h.Gname = uid, gid, "", ""
		}
		h.ModTime, h.AccessTime, h.ChangeTime = epoch, time.Time{}, time.Time{}
		h.Format = tar.FormatPAX
		if fi.Mode().IsRegular() {
			// File capabilities (setcap's cap_setuid=ep) travel as the xattr
			// container runtimes apply on unpacking.
			if c, err := fileCapability(p); err != nil {
				return nil, err
			} else if c != "" {
				h.PAXRecords = map[string]string{"SCHILY.xattr." + capabilityXattr: c}
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return nil, err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			if err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func jsonArray(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var v []string
	err := json.Unmarshal([]byte(s), &v)
	return v, err
}

func run(root, out, name, entrypoint, cmd, workdir, user string, envs, vols []string, owners []owner) error {
	raw, err := layerTar(root, owners)
	if err != nil {
		return err
	}
	diffSum := sha256.Sum256(raw)
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if _, err := zw.Write(raw); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	layer := newBlob("application/vnd.oci.image.layer.v1.tar+gzip", gz.Bytes())

	ep, err := jsonArray(entrypoint)
	if err != nil {
		return fmt.Errorf("-entrypoint: %w", err)
	}
	cm, err := jsonArray(cmd)
	if err != nil {
		return fmt.Errorf("-cmd: %w", err)
	}
	cfg := map[string]any{}
	if len(envs) > 0 {
		cfg["Env"] = envs
	}
	if ep != nil {
		cfg["Entrypoint"] = ep
	}
	if cm != nil {
		cfg["Cmd"] = cm
	}
	if workdir != "" {
		cfg["WorkingDir"] = workdir
	}
	if user != "" {
		cfg["User"] = user
	}
	if len(vols) > 0 {
		v := map[string]struct{}{}
		for _, p := range vols {
			v[p] = struct{}{}
		}
		cfg["Volumes"] = v
	}
	configJSON, _ := json.Marshal(map[string]any{
		"created":      epoch.Format(time.RFC3339),
		"architecture": "amd64",
		"os":           "linux",
		"config":       cfg,
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(diffSum[:])}},
		"history":      []map[string]any{{"created": epoch.Format(time.RFC3339), "created_by": "kbrun test/cluster mkimage"}},
	})
	config := newBlob("application/vnd.oci.image.config.v1+json", configJSON)
	manifestJSON, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        config.desc(),
		"layers":        []any{layer.desc()},
	})
	manifest := newBlob("application/vnd.oci.image.manifest.v1+json", manifestJSON)
	md := manifest.desc()
	md["platform"] = map[string]string{"architecture": "amd64", "os": "linux"}
	tag := name[strings.LastIndex(name, ":")+1:]
	md["annotations"] = map[string]string{
		"io.containerd.image.name":          name,
		"org.opencontainers.image.ref.name": tag,
	}
	indexJSON, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     []any{md},
	})

	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	add := func(n string, data []byte, mode int64) error {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: mode, Size: int64(len(data)), ModTime: epoch, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: d, Mode: 0o755, ModTime: epoch, Typeflag: tar.TypeDir}); err != nil {
			return err
		}
	}
	for _, b := range []blob{layer, config, manifest} {
		if err := add("blobs/sha256/"+strings.TrimPrefix(b.digest, "sha256:"), b.data, 0o644); err != nil {
			return err
		}
	}
	if err := add("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		return err
	}
	if err := add("index.json", indexJSON, 0o644); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Printf("%s %s (%d bytes compressed layer)\n", name, manifest.digest, len(layer.data))
	return os.Rename(tmp, out)
}
