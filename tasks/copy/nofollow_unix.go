//go:build unix

package copy

import "syscall"

const noFollow = syscall.O_NOFOLLOW
