package main

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
)

// xattrCaps is the PAX record that carries a file's capabilities in an
// image layer (the security.capability extended attribute, as package
// installs leave on ping, newuidmap and the like).
const xattrCaps = "SCHILY.xattr.security.capability"

// capNames are Linux's capability numbers (linux/capability.h).
var capNames = []string{
	"chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
	"setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw",
	"ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
	"sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod",
	"lease", "audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog",
	"wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
}

const (
	vfsCapRevisionMask = 0xFF000000
	vfsCapRevision1    = 0x01000000
	vfsCapRevision2    = 0x02000000
	vfsCapRevision3    = 0x03000000
	vfsCapEffective    = 0x000001
)

// parseCaps reads a capability list such as "CAP_NET_RAW,setuid" into a
// bit set.
func parseCaps(s string) (uint64, error) {
	var set uint64
	for _, c := range strings.Split(s, ",") {
		c = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(c)), "cap_")
		i := indexOf(capNames, c)
		if i < 0 {
			return 0, fmt.Errorf("unknown capability %q", c)
		}
		set |= 1 << uint(i)
	}
	return set, nil
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// encodeCaps is the security.capability value (VFS_CAP_REVISION_2) giving
// a file the permitted and effective capabilities in set, as setcap
// CAPS=ep does.
func encodeCaps(set uint64) []byte {
	b := make([]byte, 20)
	binary.LittleEndian.PutUint32(b[0:], vfsCapRevision2|vfsCapEffective)
	binary.LittleEndian.PutUint32(b[4:], uint32(set))      // permitted, low
	binary.LittleEndian.PutUint32(b[12:], uint32(set>>32)) // permitted, high
	return b
}

// capText shows a security.capability value as getcap does, e.g.
// "cap_net_raw=ep".
func capText(v []byte) (string, error) {
	if len(v) < 4 {
		return "", fmt.Errorf("security.capability of %d bytes", len(v))
	}
	magic := binary.LittleEndian.Uint32(v)
	words := 2
	switch magic & vfsCapRevisionMask {
	case vfsCapRevision1:
		words = 1
	case vfsCapRevision2, vfsCapRevision3:
	default:
		return "", fmt.Errorf("security.capability revision %#x", magic&vfsCapRevisionMask)
	}
	if len(v) < 4+8*words {
		return "", fmt.Errorf("security.capability of %d bytes", len(v))
	}
	var perm, inh uint64
	for i := 0; i < words; i++ {
		perm |= uint64(binary.LittleEndian.Uint32(v[4+8*i:])) << (32 * i)
		inh |= uint64(binary.LittleEndian.Uint32(v[8+8*i:])) << (32 * i)
	}
	var names []string
	for i, n := range capNames {
		if (perm|inh)&(1<<uint(i)) != 0 {
			names = append(names, "cap_"+n)
		}
	}
	sort.Strings(names)
	flags := "="
	if magic&vfsCapEffective != 0 {
		flags += "e"
	}
	if inh != 0 {
		flags += "i"
	}
	if perm != 0 {
		flags += "p"
	}
	return strings.Join(names, ",") + flags, nil
}
