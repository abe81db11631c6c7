package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// contextKey is the digest a verdict about a build is remembered by: every
// file of the context (path, mode, content, symlink target; times left
// out, a checkout does not keep them), the Dockerfile's path in it, and
// what else the verdict depends on (build arguments, the Kaniko image, the
// ladder tried), so that a changed input is measured again.
func contextKey(dir, dockerfile string, extra []string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "dockerfile %q\n", dockerfile)
	for _, e := range extra {
		fmt.Fprintf(h, "extra %q\n", e)
	}
	// WalkDir visits in lexical order: the same tree gives the same key.
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%q %v", filepath.ToSlash(rel), info.Mode())
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, " -> %q", target)
		case info.Mode().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, " %d ", info.Size())
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
		}
		fmt.Fprintln(h)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("reading the context: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
