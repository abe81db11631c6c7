#!/usr/bin/env bash
# Teardown test of kbrun's test cluster harness.
#   test-teardown.sh              brings the cluster up if it is not (so that pods,
#                                 mounts, rules exist), runs down.sh, then checks
#   test-teardown.sh --check-only only checks that nothing of the harness remains
# Checks: no harness process (components, shims, pod processes), no mount under the
# state dir / fixed host paths / CNI netns, no kbrun0 or CNI bridge or veth, no
# KUBE-*/CNI-* iptables chain or rule (IPv4 and IPv6), no kubepods cgroup, no
# leftover fixed host path, state dir gone, sysctls back to their saved values.
# Exit 0 only when everything is clean; the failures are listed.
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
need_root
set +e

saved_sysctls=""
preexisting=""
if [ "${1:-}" != --check-only ]; then
  if ! "$CLUSTER_SRC/status.sh" >/dev/null 2>&1; then
    log "cluster not up: bringing it up so that the teardown has something to tear down"
    "$CLUSTER_SRC/up.sh" >/dev/null || { echo "FAIL: up.sh failed; cannot test the teardown" >&2; exit 1; }
  fi
  # a pod with a service, a volume and a hostPort, so there are mounts, veths and rules
  cat <<EOF | kc apply -f - >/dev/null || { echo "FAIL: cannot create the teardown test pod" >&2; exit 1; }
apiVersion: v1
kind: Namespace
metadata: {name: kbrun-teardown-test}
---
apiVersion: v1
kind: Pod
metadata: {name: bb, namespace: kbrun-teardown-test, labels: {app: bb}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: bb
    image: $BUSYBOX_IMAGE
    imagePullPolicy: IfNotPresent
    command: [sh, -c, "exec httpd -f -p 8080"]
    ports: [{containerPort: 8080, hostPort: 18088}]
    volumeMounts: [{name: scratch, mountPath: /scratch}]
  volumes: [{name: scratch, emptyDir: {medium: Memory}}]
---
apiVersion: v1
kind: Service
metadata: {name: bb, namespace: kbrun-teardown-test}
spec: {selector: {app: bb}, ports: [{port: 80, targetPort: 8080}]}
EOF
  kc -n kbrun-teardown-test wait --for=condition=Ready pod/bb --timeout=60s >/dev/null ||
    { echo "FAIL: teardown test pod did not become Ready" >&2; exit 1; }
  saved_sysctls=$(cat "$STATE/sysctl.saved")
  preexisting=$(cat "$STATE/preexisting")
  nft_before=$(cat "$STATE/nft-tables.before" 2>/dev/null)
  log "cluster up with a pod; running down.sh"
  t0=$SECONDS
  "$CLUSTER_SRC/down.sh" || echo "down.sh exited non-zero" >&2
  log "down.sh took $((SECONDS - t0)) s"
fi

fails=()
fail() { fails+=("$*"); }

# processes: anything whose command line points into the cache, the state dir or our socket
for p in /proc/[0-9]*; do
  cl=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
  argv0=${cl%% *}
  case "$argv0" in "$K8S_DIR"/* | "$COREDNS_BIN") fail "process ${p#/proc/} still runs: $cl"; continue ;; esac
  case "$cl" in
    *"--config $CTRD_DIR"* | *"-address $CTRD_SOCK"*) fail "process ${p#/proc/} still runs: $cl" ;;
  esac
done
for c in "${COMPONENTS[@]}"; do [ ! -e "$PIDS/$c.pid" ] || fail "pidfile $PIDS/$c.pid remains"; done

# mounts
while read -r m; do
  case "$m" in
    "$STATE"/* | /run/containerd/* | /var/lib/kubelet/* | /run/netns/cni-* | /var/run/netns/cni-*) fail "mount remains: $m" ;;
  esac
done < <(awk '{print $5}' /proc/self/mountinfo)

# network interfaces
for l in "$NODE_IFACE" "$CNI_BRIDGE"; do ip link show "$l" >/dev/null 2>&1 && fail "interface $l remains"; done
veths=$(ip -o link show type veth 2>/dev/null | awk -F': ' '{print $2}')
[ -z "$veths" ] || fail "veth interfaces remain: $(echo $veths)"
ip -o addr show | grep -q "$NODE_IP" && fail "address $NODE_IP still assigned"
ip route show | grep -qE "^(10\.244\.|$POD_CIDR)" && fail "route to the pod subnet remains"

# iptables
for cmd in iptables ip6tables; do
  left=$("$cmd-save" 2>/dev/null | grep -E 'KUBE-|CNI-|10\.244\.0\.|10\.96\.' )
  [ -z "$left" ] || fail "$cmd rules/chains remain: $(head -5 <<<"$left" | tr '\n' '|')"
done

if [ -n "${nft_before+x}" ] && command -v nft >/dev/null; then
  while read -r t; do
    [ -n "$t" ] && ! grep -qxF "$t" <<<"$nft_before" && fail "nftables $t remains (did not exist before up.sh)"
  done < <(nft list tables 2>/dev/null)
fi

# cgroups
for ctrl in /sys/fs/cgroup/*/; do [ -d "$ctrl/kubepods" ] && fail "cgroup ${ctrl}kubepods remains"; done

# fixed host paths and state dir
[ ! -e "$STATE" ] || fail "state dir $STATE remains"
for p in "${FIXED_PATHS[@]}"; do
  if [ -e "$p" ] && ! grep -qxF "$p" <<<"$preexisting"; then
    if [ -n "$preexisting" ] || [ "${1:-}" != --check-only ]; then fail "host path $p remains"; else
      log "note: $p exists (cannot tell whether it pre-existed in --check-only mode)"; fi
  fi
done

# sysctls
if [ -n "$saved_sysctls" ]; then
  while IFS='=' read -r k v; do
    now=$(sysctl -n "$k" 2>/dev/null)
    [ "$now" = "$v" ] || fail "sysctl $k is $now, was $v before up.sh"
  done <<<"$saved_sysctls"
fi

if [ ${#fails[@]} -gt 0 ]; then
  echo "FAIL: teardown left ${#fails[@]} things behind:" >&2
  printf '  - %s\n' "${fails[@]}" >&2
  exit 1
fi
echo "PASS: nothing of the test cluster remains (processes, mounts, interfaces, iptables, cgroups, paths, sysctls)"
