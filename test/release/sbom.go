package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// SBOMFile is the CycloneDX SBOM cyclonedx-gomod writes from the module graph.
const SBOMFile = "kbrun.cdx.json"

// stampSBOM sets the SBOM's main component version to the binaries' one:
// cyclonedx-gomod takes it from git, which it cannot read in a worktree nor
// in a tarball of the sources. A missing SBOM is an error: make release
// writes it first.
func stampSBOM(dist, version string) error {
	path := filepath.Join(dist, SBOMFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var bom map[string]any
	if err := json.Unmarshal(data, &bom); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	meta, _ := bom["metadata"].(map[string]any)
	component, _ := meta["component"].(map[string]any)
	if component == nil {
		return fmt.Errorf("%s: no metadata.component (not cyclonedx-gomod's output?)", path)
	}
	component["version"] = version
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(bom); err != nil {
		return err
	}
	return os.WriteFile(path, out.Bytes(), 0o644)
}
