#!/usr/bin/env bash
# Tears kbrun's test cluster down completely and idempotently (fine when nothing
# runs): stops every component by the PID in its pidfile, in reverse start order,
# removes all pod sandboxes through the CRI first (CNI DEL), kills what is left in
# the pods' cgroups, unmounts everything under the state dir and the fixed host
# paths, deletes the CNI bridge and the node interface kbrun0, removes the iptables
# rules and chains kubelet, kube-proxy and the CNI plugins added, restores the
# sysctls saved by up.sh and removes the state dir (logs kept in $CACHE/logs/last-cluster).
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
need_root
QUIET=0; [ "${1:-}" = --quiet ] && QUIET=1
trap '' PIPE HUP   # a closed output pipe must never stop a teardown half-way
T0=$SECONDS
cluster_lock
say() { [ $QUIET = 1 ] || log "$@" || true; }
failures=0
warn() { log "WARNING: $*" || true; failures=$((failures + 1)); }

# harness_pids: PIDs of harness processes, recognised by what only they run:
# a binary from our cache dir, or a containerd/shim using our config/socket.
harness_pids() {
  local p cl argv0
  for p in /proc/[0-9]*; do
    cl=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
    argv0=${cl%% *}
    case "$argv0" in "$K8S_DIR"/* | "$COREDNS_BIN") echo "${p#/proc/}"; continue ;; esac
    case "$cl" in *"--config $CTRD_DIR/config.toml"* | *"--config $STATE/node2/containerd/config.toml"*) echo "${p#/proc/}" ;; esac
  done
}

# running PID: alive and not a zombie (an unreaped zombie has no command line and
# would look like "not ours"/"never exits").
running() { local st; st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [ -n "$st" ] && [ "$st" != Z ]; }

# stop NAME...: SIGTERM each named component (pidfile PID), wait for all of them,
# SIGKILL whatever still runs after 10 s.
stop() {
  local name pid pids=() end
  for name in "$@"; do
    pid=$(pid_of "$name")
    [ -n "$pid" ] || continue
    if ! running "$pid"; then rm -f "$PIDS/$name.pid"; continue; fi
    # make sure the PID is still ours (not reused): its command line names our binary
    if ! tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qE "$CACHE|containerd --config $CTRD_DIR"; then
      warn "pid $pid of $name is not a harness process any more; not touching it"
      rm -f "$PIDS/$name.pid"
      continue
    fi
    say "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    pids+=("$pid")
  done
  end=$((SECONDS + 10))
  for pid in "${pids[@]}"; do
    while running "$pid" && [ $SECONDS -lt $end ]; do sleep 0.1; done
    if running "$pid"; then
      say "pid $pid ignored SIGTERM for 10 s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      while running "$pid"; do sleep 0.1; done
    fi
  done
  for name in "$@"; do rm -f "$PIDS/$name.pid"; done   # only once they are gone
}

# The second node first (node2.sh), when one was started: it is idempotent.
if [ -d "$STATE/node2" ] || [ -e /run/netns/kbrun-node2 ]; then
  say "stopping the second node"
  "$CLUSTER_SRC/node2.sh" down || warn "node2.sh down reported errors"
fi

if [ -d "$PIDS" ]; then
  # Reverse start order, one tier at a time: node agents and DNS (kubelet must not
  # restart pods meanwhile), then the controllers, the apiserver, etcd.
  stop coredns kube-proxy kubelet
  stop kube-scheduler kube-controller-manager
  stop kube-apiserver
  stop etcd
  # all pods through the CRI: runs CNI DEL, unmounts netns, removes containers
  if alive containerd && [ -x "$KCLUSTER" ]; then
    say "removing pod sandboxes through the CRI"
    timeout 120 "$KCLUSTER" cri-reset "unix://$CTRD_SOCK" >/dev/null || warn "cri-reset reported errors"
  fi
  stop containerd
fi

# Harness processes whose pidfile was lost (a teardown or bring-up killed half-way):
# found by their unique command lines (binary in our cache, our containerd config), stopped by PID.
left=$(harness_pids)
if [ -n "$left" ]; then
  say "stopping harness processes without pidfile: $(echo $left)"
  # shellcheck disable=SC2086
  kill -TERM $left 2>/dev/null || true
  end=$((SECONDS + 10))
  for pid in $left; do
    while running "$pid" && [ $SECONDS -lt $end ]; do sleep 0.1; done
    if running "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
fi

# Shims whose containerd is gone: they carry our state dir in their command line.
for p in /proc/[0-9]*; do
  pid=${p#/proc/}
  if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "-address $CTRD_SOCK"; then
    say "killing leftover shim pid $pid"; kill -KILL "$pid" 2>/dev/null || true
  fi
done

# Whatever still runs in the pods' cgroups (created by our kubelet) is ours.
for ctrl in /sys/fs/cgroup/*/; do
  [ -d "$ctrl/kubepods" ] || continue
  for _ in 1 2 3 4 5; do
    procs=$(find "$ctrl/kubepods" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u | tr '\n' ' ')
    [ -n "${procs// /}" ] || break
    say "killing leftover pod processes: $procs"
    # shellcheck disable=SC2086
    kill -KILL $procs 2>/dev/null || true
    sleep 0.3
  done
done

# Mounts: deepest first, under the state dir and the fixed host paths.
unmount_all() {
  local prefixes=("$STATE/" /run/containerd/ /var/lib/kubelet/ /run/netns/cni- /var/run/netns/cni-)
  local mp n=0
  while read -r mp; do
    umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || warn "cannot unmount $mp"
    n=$((n + 1))
  done < <(awk '{print $5}' /proc/self/mountinfo | sed 's/\\040/ /g' | while read -r m; do
      for p in "${prefixes[@]}"; do case "$m" in "$p"*) echo "$m";; esac; done
    done | awk '{print length($0) " " $0}' | sort -rn | cut -d' ' -f2- | uniq)
  [ $n = 0 ] || say "unmounted $n mounts"
}
unmount_all
unmount_all   # stacked mounts show up again after the first pass

# cgroups kubelet created (kubepods/ hierarchy in every controller), leaves first.
for ctrl in /sys/fs/cgroup/*/; do
  [ -d "$ctrl/kubepods" ] || continue
  find "$ctrl/kubepods" -depth -type d -exec rmdir {} + 2>/dev/null || true
  [ ! -d "$ctrl/kubepods" ] || warn "cannot remove cgroup $ctrl/kubepods"
done

# Network interfaces: the CNI bridge (pod veths vanish with their netns) and kbrun0.
for l in "$CNI_BRIDGE" "$NODE_IFACE"; do
  if ip link show "$l" >/dev/null 2>&1; then say "deleting interface $l"; ip link del "$l" || warn "cannot delete $l"; fi
done
# iptables: drop every KUBE-*/CNI-* chain and every rule that jumps to one, table by table.
clean_iptables() { # iptables|ip6tables
  local cmd="$1" t dump out
  for t in filter nat mangle raw; do
    dump=$("$cmd-save" -t "$t" 2>/dev/null) || continue
    grep -qE '(KUBE-|CNI-)' <<<"$dump" || continue
    out=$(awk '
      /^:(KUBE-|CNI-)/ {next}
      /^-A (KUBE-|CNI-)/ {next}
      /-j (KUBE-|CNI-)/ || /-g (KUBE-|CNI-)/ {next}
      {print}' <<<"$dump")
    say "removing KUBE-/CNI- rules from $cmd $t"
    "$cmd-restore" <<<"$out" || warn "$cmd-restore of table $t failed"
  done
}
clean_iptables iptables
clean_iptables ip6tables
# CNI bridge masquerade rules for the pod subnet that jump straight to MASQUERADE
while iptables -t nat -S POSTROUTING 2>/dev/null | grep -q -- "-s $POD_CIDR"; do
  rule=$(iptables -t nat -S POSTROUTING | grep -- "-s $POD_CIDR" | head -1 | sed 's/^-A /-D /')
  eval "iptables -t nat $rule" || break
done
# Empty nftables tables that iptables-nft created and that did not exist before.
if command -v nft >/dev/null && [ -f "$STATE/nft-tables.before" ]; then
  while read -r _ fam name; do
    grep -qxF "table $fam $name" "$STATE/nft-tables.before" && continue
    body=$(nft list table "$fam" "$name" 2>/dev/null) || continue
    # only built-in/empty chains with policy accept: nothing else in it
    if ! grep -vqE '^[[:space:]]*(table .*\{|chain .*\{|type .* policy accept;|\}|)$' <<<"$body"; then
      say "deleting empty nftables table $fam $name"
      nft delete table "$fam" "$name" || warn "cannot delete nftables table $fam $name"
    fi
  done < <(nft list tables 2>/dev/null)
fi
# Connection tracking entries of the harness's addresses and loopback ports.
for a in "$POD_CIDR" "$SERVICE_CIDR" "$NODE_IP"; do
  conntrack -D -s "$a" >/dev/null 2>&1 || true
  conntrack -D -d "$a" >/dev/null 2>&1 || true
done
for port in "$ETCD_CLIENT_PORT" "$ETCD_PEER_PORT" 5000 10248 10249 10256 10257 10259 "${COREDNS_HEALTH##*:}" "${COREDNS_READY##*:}"; do
  conntrack -D -p tcp -d 127.0.0.1 --dport "$port" >/dev/null 2>&1 || true
done

# Sysctls back to what they were before up.sh.
if [ -s "$STATE/sysctl.saved" ]; then
  while IFS='=' read -r k v; do
    [ "$(sysctl -n "$k" 2>/dev/null)" = "$v" ] && continue
    say "restoring sysctl $k=$v"
    sysctl -q -w "$k=$v" >/dev/null || warn "cannot restore sysctl $k"
  done <"$STATE/sysctl.saved"
fi

# Fixed host paths that did not exist before up.sh.
if [ -d "$STATE" ]; then
  for p in "${FIXED_PATHS[@]}"; do
    [ -e "$p" ] || continue
    grep -qxF "$p" "$STATE/preexisting" 2>/dev/null && continue
    if [ -f "$STATE/preexisting" ]; then
      # ip netns (node2.sh) leaves /run/netns a mount point of itself.
      ! mountpoint -q "$p" || umount "$p" || umount -l "$p" || warn "cannot unmount $p"
      say "removing $p"; rm -rf "$p" || warn "cannot remove $p"
    fi
  done
fi

# State dir: keep the last run's logs for diagnosis in the cache dir.
if [ -d "$STATE" ]; then
  if [ -d "$LOGS" ]; then
    rm -rf "$BUILD_LOGS/last-cluster"; mkdir -p "$BUILD_LOGS"
    cp -r "$LOGS" "$BUILD_LOGS/last-cluster" 2>/dev/null || true
  fi
  if awk '{print $5}' /proc/self/mountinfo | grep -q "^$STATE/"; then
    warn "mounts remain under $STATE; not removing it"
  else
    rm -rf "$STATE"
  fi
fi

if [ $failures -gt 0 ]; then
  log "down.sh finished with $failures warnings in $((SECONDS - T0)) s"
  exit 1
fi
say "cluster down; machine clean ($((SECONDS - T0)) s)"
