package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
)

// ManifestFile is the krew plugin manifest; krew names the plugin after the
// file.
const ManifestFile = "kbrun.yaml"

var manifest = template.Must(template.New(ManifestFile).Parse(`apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: kbrun
spec:
  version: {{ .Version }}
  homepage: https://github.com/kbrun/kbrun
  shortDescription: Run declarative YAML pipelines against the cluster
  description: |
    kbrun runs the ordered tasks of a pipeline file against a Kubernetes
    cluster: apply manifests, compile programs, copy files into pods, exec in
    pods, deploy and wait for rollouts, assert on pod logs.
    As a plugin it is the same binary: kubectl kbrun run pipeline.yaml.
  platforms:
{{- range .Platforms }}
  - selector:
      matchLabels:
        os: {{ .OS }}
        arch: {{ .Arch }}
    uri: {{ $.URL }}/{{ .Archive }}
    sha256: {{ .ArchiveSHA256 }}
    bin: kubectl-kbrun
{{- end }}
`))

// semver is what krew accepts as spec.version.
var semver = regexp.MustCompile(`^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

// manifestVersion is the version as krew requires it (vMAJOR.MINOR.PATCH):
// a tag such as v0.3.0 as it is; an untagged build (git describe gives a
// commit, maybe -dirty) as the pre-release v0.0.0-dev-COMMIT, which sorts
// before every tagged release.
func manifestVersion(version string) string {
	if semver.MatchString(version) {
		return version
	}
	clean := regexp.MustCompile(`[^0-9A-Za-z-]+`).ReplaceAllString(version, "-")
	return "v0.0.0-dev-" + strings.Trim(clean, "-")
}

func writeManifest(dist, version, url string, platforms []Platform) error {
	path := filepath.Join(dist, ManifestFile)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = manifest.Execute(f, struct {
		Version, URL string
		Platforms    []Platform
	}{manifestVersion(version), strings.TrimRight(url, "/"), platforms})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
