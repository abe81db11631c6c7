package main

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// PluginBinary is the name kubectl looks for on PATH for `kubectl kbrun`.
const PluginBinary = "kubectl-kbrun"

// Platform is one OS and architecture of the release.
type Platform struct {
	OS, Arch      string
	ArchiveSHA256 string
}

// Archive is the name of the platform's archive.
func (p Platform) Archive() string {
	return fmt.Sprintf("%s_%s_%s.tar.gz", PluginBinary, p.OS, p.Arch)
}

func (p Platform) binary() string { return PluginBinary + "-" + p.OS + "-" + p.Arch }

// findPlatforms lists the platforms of the kubectl-kbrun-OS-ARCH binaries in
// dist, sorted.
func findPlatforms(dist string) ([]Platform, error) {
	matches, err := filepath.Glob(filepath.Join(dist, PluginBinary+"-*-*"))
	if err != nil {
		return nil, err
	}
	var ps []Platform
	for _, m := range matches {
		osArch := strings.TrimPrefix(filepath.Base(m), PluginBinary+"-")
		goos, arch, ok := strings.Cut(osArch, "-")
		if !ok || strings.Contains(arch, "-") || strings.Contains(arch, ".") {
			continue // an archive or another file, not a binary
		}
		ps = append(ps, Platform{OS: goos, Arch: arch})
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("%s: no %s-OS-ARCH binary (make release builds them)", dist, PluginBinary)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].binary() < ps[j].binary() })
	return ps, nil
}

// writeArchive writes p's archive, holding the binary as kubectl-kbrun with
// a fixed time, owner and mode, gzip without name or time; it returns the
// archive's SHA-256.
func writeArchive(dist string, p Platform) (string, error) {
	bin, err := os.Open(filepath.Join(dist, p.binary()))
	if err != nil {
		return "", err
	}
	defer bin.Close()
	info, err := bin.Stat()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dist, p.Archive())
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	zw := gzip.NewWriter(io.MultiWriter(f, h))
	tw := tar.NewWriter(zw)
	err = tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg, Name: PluginBinary, Mode: 0o755, Size: info.Size(),
		ModTime: time.Unix(0, 0), Format: tar.FormatUSTAR,
	})
	if err == nil {
		_, err = io.Copy(tw, bin)
	}
	for _, c := range []io.Closer{tw, zw, f} {
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
