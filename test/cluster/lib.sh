# shellcheck shell=bash
# Common settings and helpers of kbrun's single-node test cluster harness.
# Sourced by build.sh, up.sh, down.sh, status.sh and the test scripts.

set -euo pipefail

CLUSTER_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# ---- versions (the cache folders are keyed by them) -------------------------
K8S_VERSION=v1.37.2
ETCD_VERSION=v3.7.0           # embedded in kcluster, the version k8s v1.37.2 pins
COREDNS_VERSION=v1.15.0
REGISTRY_VERSION=v3.1.2       # github.com/distribution/distribution/v3
KANIKO_VERSION=v1.24.0        # github.com/GoogleContainerTools/kaniko (archived)
KANIKO_FORK_VERSION=v1.25.5   # github.com/chainguard-dev/kaniko, the maintained fork
BUILDKIT_VERSION=v0.35.1      # github.com/moby/buildkit (buildkitd, buildctl)
ROOTLESSKIT_VERSION=v2.3.6    # github.com/rootless-containers/rootlesskit/v2
CONTAINERD_VERSION=v2.4.2     # github.com/containerd/containerd/v2 (containerd, ctr, shim)
RUNC_VERSION=v1.5.3           # github.com/opencontainers/runc
RUNC_LEGACY_VERSION=v1.1.15   # runtime handler runc-1-1: too old for user namespaces (tests)
PAUSE_TAG=3.10
BUSYBOX_TAG=1.35              # Debian 12's busybox-static 1.35.0
IMAGES_REV=r2                 # bump when the image recipes below change

# ---- image names (imported into containerd's k8s.io namespace) -------------
PAUSE_IMAGE="registry.k8s.io/pause:${PAUSE_TAG}"
BUSYBOX_IMAGE="kbrun.local/busybox:${BUSYBOX_TAG}"
REGISTRY_IMAGE="kbrun.local/registry:${REGISTRY_VERSION#v}"
KANIKO_IMAGE="gcr.io/kaniko-project/executor:${KANIKO_VERSION}-debug"
KANIKO_FORK_IMAGE="kbrun.local/kaniko-chainguard:${KANIKO_FORK_VERSION}-debug"
BUILDKIT_IMAGE="docker.io/moby/buildkit:${BUILDKIT_VERSION}-rootless"  # built here, under upstream's name like Kaniko's

# ---- locations ---------------------------------------------------------------
CACHE="${KBRUN_CACHE_DIR:-/var/cache/kbrun}"
STATE="${KBRUN_CLUSTER_DIR:-/var/lib/kbrun-cluster}"
K8S_DIR="$CACHE/k8s-${K8S_VERSION}"
KCLUSTER="$K8S_DIR/kcluster"
COREDNS_BIN="$CACHE/coredns-${COREDNS_VERSION}/coredns"
REGISTRY_BIN="$CACHE/registry-${REGISTRY_VERSION}/registry"
KANIKO_DIR="$CACHE/kaniko-${KANIKO_VERSION}"
KANIKO_FORK_DIR="$CACHE/kaniko-chainguard-${KANIKO_FORK_VERSION}"
BUILDKIT_DIR="$CACHE/buildkit-${BUILDKIT_VERSION}"          # buildkitd, buildctl, buildctl-daemonless.sh
ROOTLESSKIT_BIN="$CACHE/rootlesskit-${ROOTLESSKIT_VERSION}/rootlesskit"
RUNC_STATIC_BIN="$CACHE/runc-${RUNC_VERSION}-static/runc"  # buildkit-runc in the BuildKit image
UIDMAP_DIR="$CACHE/uidmap-deb12"                            # Debian 12's uidmap package, extracted
CONTAINERD_DIR="$CACHE/containerd-${CONTAINERD_VERSION}"   # containerd, ctr, containerd-shim-runc-v2
RUNC_BIN="$CACHE/runc-${RUNC_VERSION}/runc"
RUNC_LEGACY_BIN="$CACHE/runc-${RUNC_LEGACY_VERSION}/runc"
TOOLS_DIR="$CACHE/tools"
IMAGES_DIR="$CACHE/images-${IMAGES_REV}"
BUILD_LOGS="$CACHE/logs"
KUBECONFIG_PATH="$STATE/kubeconfig"
PKI="$STATE/pki"
PIDS="$STATE/pids"
LOGS="$STATE/logs"
CTRD_DIR="$STATE/containerd"
CTRD_SOCK="$CTRD_DIR/containerd.sock"
# The TLS registry's CA certificate and accounts, for tests (root only):
# ca.crt, username, password, token-username, token.
REGISTRY_TLS_DIR="$STATE/registry-tls"
HEAVY_LOCK=/tmp/kbrun-heavy-build.lock

# ---- network: every address below belongs to the harness --------------------
NODE_NAME=kbrun-node
NODE_IFACE=kbrun0             # port-less bridge created by up.sh (no dummy driver here)
NODE_IP=10.250.250.1          # apiserver, kubelet, CoreDNS, hostNetwork pods
API_PORT=6443
API_URL="https://${NODE_IP}:${API_PORT}"
POD_CIDR=10.244.0.0/24
POD_GW=10.244.0.1
CNI_BRIDGE=kbrun-cni0
SERVICE_CIDR=10.96.0.0/16
API_SERVICE_IP=10.96.0.1
DNS_SERVICE_IP=10.96.0.10
CLUSTER_DOMAIN=cluster.local
ETCD_CLIENT_PORT=12379        # on 127.0.0.1, away from a default etcd's 2379
ETCD_PEER_PORT=12380
COREDNS_HEALTH=127.0.0.1:18080
COREDNS_READY=127.0.0.1:18181
REGISTRY_NS=kbrun-registry
REGISTRY_DNS="registry.${REGISTRY_NS}.svc.${CLUSTER_DOMAIN}:5000"
# The second registry: TLS with the harness's own CA and htpasswd accounts,
# listening on the node address only. Pods push through its Service, the node
# pulls NODE_IP:5443 (containerd trusts the CA through certs.d, and has no
# credentials: pulls authenticate with the pod's imagePullSecret).
REGISTRY_TLS_PORT=5443
REGISTRY_TLS_DNS="registry-tls.${REGISTRY_NS}.svc.${CLUSTER_DOMAIN}:${REGISTRY_TLS_PORT}"
REGISTRY_TLS_NODE="${NODE_IP}:${REGISTRY_TLS_PORT}"

# Start order; down.sh stops in reverse.
COMPONENTS=(containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy coredns)

# Paths that kubelet/containerd/CNI use whatever their configuration says.
FIXED_PATHS=(/var/lib/kubelet /var/log/containers /var/log/pods /run/containerd /var/run/netns /run/netns /var/lib/cni /etc/cni /opt/containerd)

# Sysctls kubelet, kube-proxy or the bridge plugin may change; saved by up.sh,
# restored by down.sh.
SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward
  net.ipv4.conf.all.forwarding net.ipv4.conf.default.forwarding
  net.ipv4.conf.all.route_localnet net.bridge.bridge-nf-call-iptables
  net.bridge.bridge-nf-call-ip6tables net.ipv6.conf.all.forwarding
  net.netfilter.nf_conntrack_max)

export GOFLAGS="${GOFLAGS:+$GOFLAGS }-buildvcs=false"   # no VCS stamping (works in any clone)
export KUBECACHEDIR="$STATE/kube-cache"   # keep kubectl's discovery cache out of ~/.kube
# containerd's own directory first: containerd finds its shim on PATH, and the
# scripts' ctr must match the daemon.
export PATH="$CONTAINERD_DIR:/usr/local/go/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; exit 1; }

need_root() { [ "$(id -u)" = 0 ] || die "must run as root"; }

# cluster_lock: serialise up.sh/down.sh runs (nested calls inherit the lock).
# Processes started by up.sh must not inherit fd 9, or they would hold the lock.
CLUSTER_LOCK=/tmp/kbrun-cluster.lock
cluster_lock() {
  [ -z "${KBRUN_CLUSTER_LOCK_HELD:-}" ] || return 0
  if lock_held_by_ancestor; then export KBRUN_CLUSTER_LOCK_HELD=1; return 0; fi
  exec 9>"$CLUSTER_LOCK"
  if ! flock -n 9; then
    log "another up.sh/down.sh is running; waiting for it (up to 15 min)"
    flock -w 900 9 || die "timed out waiting for $CLUSTER_LOCK"
  fi
  export KBRUN_CLUSTER_LOCK_HELD=1
}

# lock_held_by_ancestor: the cluster lock is held by an ancestor of this
# process, as in `flock /tmp/kbrun-cluster.lock test/cluster/up.sh` (the way
# RULES.md has everyone run it). Locking it again through a new descriptor
# would wait for ourselves, and the inherited descriptor keeps it held.
lock_held_by_ancestor() {
  local ino holders p
  ino=$(stat -c %i "$CLUSTER_LOCK" 2>/dev/null) || return 1
  # /proc/locks: "N: FLOCK ADVISORY WRITE <pid> <maj>:<min>:<inode> ..." ("->" marks waiters)
  holders=$(awk -v ino="$ino" '$2 == "FLOCK" { n = split($6, a, ":"); if (a[n] == ino) print $5 }' /proc/locks)
  [ -n "$holders" ] || return 1
  p=$$
  while [ -n "$p" ] && [ "$p" -gt 1 ]; do
    grep -qx "$p" <<<"$holders" && return 0
    p=$(ps -o ppid= -p "$p" | tr -d ' ')
  done
  return 1
}

kc() { kubectl --kubeconfig "$KUBECONFIG_PATH" "$@"; }
ctr_() { "$CONTAINERD_DIR/ctr" --address "$CTRD_SOCK" "$@"; }

# ensure_packages installs the Debian packages the harness needs, running
# apt-get update only when an install is needed.
ensure_packages() {
  # gcc, libc6-dev, libseccomp-dev, pkg-config: runc is built with cgo and seccomp.
  # libcap2-bin: setcap gives the BuildKit image's newuidmap/newgidmap their capability.
  local pkgs=(gcc libc6-dev libseccomp-dev pkg-config libcap2-bin containernetworking-plugins busybox-static iptables ca-certificates iproute2 openssl curl conntrack nftables)
  local missing=() p
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
    apt-get update -qq >/dev/null 2>&1
    apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
  }
}

pid_of() { local f="$PIDS/$1.pid"; [ -s "$f" ] && cat "$f" || true; }
# alive NAME: the component's pidfile names a running, non-zombie process
alive() {
  local p st; p=$(pid_of "$1")
  [ -n "$p" ] && st=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) && [ -n "$st" ] && [ "$st" != Z ]
}

# http_ok URL [curl args...]: true when URL answers 2xx within 2 seconds.
http_ok() { local u="$1"; shift; curl -fsS -o /dev/null --max-time 2 "$@" "$u" 2>/dev/null; }
# registry_tls_ok: the TLS registry answers 401 without credentials and 200 with
# them, over TLS checked against its CA.
registry_tls_ok() {
  local u="https://$REGISTRY_TLS_NODE/v2/" code
  code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$REGISTRY_TLS_DIR/ca.crt" "$u" 2>/dev/null) && [ "$code" = 401 ] &&
    http_ok "$u" --cacert "$REGISTRY_TLS_DIR/ca.crt" -K - <<<"user = \"$(cat "$REGISTRY_TLS_DIR/username"):$(cat "$REGISTRY_TLS_DIR/password")\""
}
api_ok() { http_ok "$API_URL/readyz" --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key"; }

# wait_for SECONDS DESCRIPTION COMMAND...: poll every 0.2 s.
wait_for() {
  local t="$1" what="$2"; shift 2
  local end=$((SECONDS + t))
  until "$@"; do
    [ $SECONDS -lt $end ] || return 1
    sleep 0.2
  done
}
