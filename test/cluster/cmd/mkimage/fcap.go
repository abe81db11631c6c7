package main

import (
	"errors"
	"syscall"
)

const capabilityXattr = "security.capability"

// fileCapability is the file's security.capability xattr, "" when it has none.
func fileCapability(path string) (string, error) {
	buf := make([]byte, 64) // a v3 capability is 24 bytes
	n, err := syscall.Getxattr(path, capabilityXattr, buf)
	if errors.Is(err, syscall.ENODATA) || errors.Is(err, syscall.ENOTSUP) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}
