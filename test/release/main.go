// Command release packs what make release built in a dist folder: one
// kubectl-kbrun archive per platform (what krew installs), the krew plugin
// manifest over those archives, the version in the SBOM, and SHA256SUMS over
// every file. Each output
// is a function of its inputs only (no time, owner or order from the
// machine), so that two builds of one commit give the same checksums
// (test/release/reproducible.sh).
//
//	go run ./test/release -dist dist -version v0.3.0 -url https://example.org/releases/v0.3.0
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	dist := flag.String("dist", "dist", "folder holding kubectl-kbrun-OS-ARCH binaries; the outputs go there too")
	version := flag.String("version", "", "the version stamped into the binaries")
	url := flag.String("url", "", "where the archives are downloaded from (the manifest's uri is URL/ARCHIVE)")
	flag.Parse()
	if *version == "" || *url == "" {
		fmt.Fprintln(os.Stderr, "release: -version and -url are required")
		os.Exit(2)
	}
	if err := pack(*dist, *version, *url); err != nil {
		fmt.Fprintf(os.Stderr, "release: %v\n", err)
		os.Exit(1)
	}
}

// pack writes the archives, the krew manifest (ManifestFile) and
// SHA256SUMS into dist, and stamps the SBOM there when there is one.
func pack(dist, version, url string) error {
	if _, err := os.Stat(filepath.Join(dist, SBOMFile)); err == nil {
		if err := stampSBOM(dist, version); err != nil {
			return err
		}
	}
	platforms, err := findPlatforms(dist)
	if err != nil {
		return err
	}
	for i, p := range platforms {
		sum, err := writeArchive(dist, p)
		if err != nil {
			return err
		}
		platforms[i].ArchiveSHA256 = sum
	}
	if err := writeManifest(dist, version, url, platforms); err != nil {
		return err
	}
	return writeSums(dist)
}
