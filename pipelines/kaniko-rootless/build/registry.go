package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
)

// repository strips the tag from an image reference (not a port).
func repository(ref string) string {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i]
	}
	return ref
}

// registryHost is the registry part of an image reference (host[:port]),
// the name Kaniko keys --registry-certificate and credentials by.
func registryHost(ref string) string {
	host, _, found := strings.Cut(ref, "/")
	if !found || (!strings.ContainsAny(host, ".:") && host != "localhost") {
		return "index.docker.io" // a Docker Hub reference ("team/app:tag")
	}
	return host
}

// accounts says which registries the docker config has accounts for (never
// the accounts themselves), and whether the destination is one of them.
func accounts(path, registry string) string {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "no registry account (" + path + " does not exist): pushing to " + registry + " anonymously"
	}
	if err != nil {
		return "registry accounts: " + err.Error()
	}
	var cfg struct {
		Auths       map[string]json.RawMessage `json:"auths"`
		CredHelpers map[string]string          `json:"credHelpers"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return fmt.Sprintf("registry accounts: %s is not a docker config: %v", path, err)
	}
	var names []string
	for name := range cfg.Auths {
		names = append(names, name)
	}
	for name := range cfg.CredHelpers {
		names = append(names, name)
	}
	sort.Strings(names)
	_, auth := cfg.Auths[registry]
	_, helper := cfg.CredHelpers[registry]
	if !auth && !helper {
		return fmt.Sprintf("%s has accounts for %s, none for %s: pushing to it anonymously", path, strings.Join(names, ", "), registry)
	}
	return fmt.Sprintf("registry accounts from %s (for %s)", path, strings.Join(names, ", "))
}

// registryHint says what to change for the registry errors Kaniko's words
// identify, in the pipeline's vars.
func registryHint(msg string, c config) string {
	switch {
	case strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		return "the registry speaks plain HTTP: set registryInsecure=true for it (or serve it over TLS)"
	case strings.Contains(msg, "certificate signed by unknown authority"):
		if c.registryCA != "" {
			return "the registry's certificate is not signed by the CA in registryCA"
		}
		return "a CA the builder does not trust signed the registry's certificate: give that CA's certificate as registryCA (--set-file registryCA=ca.crt)"
	case strings.Contains(msg, "x509: certificate is valid for"):
		return "pushRegistry is not a name in the registry's certificate: use one it lists"
	case strings.Contains(msg, "UNAUTHORIZED") || strings.Contains(msg, "401 Unauthorized"):
		if _, err := os.Stat(c.dockerConfig); err != nil {
			return "the registry asks for an account: give registryUser and registryPassword, or registryAuthSecret"
		}
		return "the registry refused the account: check registryUser and registryPassword, or the Secret registryAuthSecret names"
	case strings.Contains(msg, "DENIED") || strings.Contains(msg, "403 Forbidden"):
		return "the account may not push to " + repository(c.destination)
	}
	return ""
}
