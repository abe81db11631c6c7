#!/usr/bin/env bash
# Builds and caches every binary and image tarball of the test cluster.
# Heavy Go builds run under `flock /tmp/kbrun-heavy-build.lock` so that no two
# cold Kubernetes-sized builds run at once on the 2-core machine.
# Outputs: $KBRUN_CACHE_DIR (default /var/cache/kbrun), keyed by version.
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
need_root
start=$SECONDS
mkdir -p "$CACHE" "$BUILD_LOGS" "$TOOLS_DIR" "$IMAGES_DIR"
ensure_packages

# heavy LOGNAME CMD...: run a heavy build under the shared lock, log to a file.
heavy() {
  local name="$1"; shift
  local lf="$BUILD_LOGS/$name.log"
  log "building $name (log: $lf)"
  local t0 got; t0=$(date +%s)
  # The log's first line says when the lock was had: build time without the wait.
  if ! flock "$HEAVY_LOCK" sh -c 'echo "$(date +%s) lock acquired"; exec "$@"' sh "$@" >"$lf" 2>&1; then
    tail -n 30 "$lf" >&2
    die "build of $name failed (see $lf)"
  fi
  got=$(sed -n '1s/ lock acquired$//p' "$lf")
  log "built $name in $(($(date +%s) - got)) s (after $((got - t0)) s waiting for $HEAVY_LOCK)"
}

# ---- container runtime: runc and containerd from their Go modules ------------------
# mod_src MODULE VERSION DEST: a writable copy of the module's source (the
# module cache is read-only, and builds need neither network nor VCS).
mod_src() {
  local dir
  dir=$(go mod download -json "$1@$2" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$dir" ] || die "go mod download of $1@$2 failed"
  rm -rf "$3"; cp -r "$dir" "$3"; chmod -R u+w "$3"
}
# build_runc VERSION BINARY: cgo with libseccomp (Debian's libseccomp-dev). Not
# upstream's default `libpathrs` tag: that needs a Rust library Debian 12 lacks.
# -mod=mod: the module zip keeps a stray vendor/modules.txt (runc 1.1).
build_runc() {
  [ -x "$2" ] && return 0
  local d; d=$(dirname "$2")
  mkdir -p "$d"
  mod_src github.com/opencontainers/runc "$1" "$d/src"
  heavy "runc-$1" env -C "$d/src" CGO_ENABLED=1 go build -mod=mod -trimpath -tags "seccomp urfave_cli_no_docs" \
    -ldflags "-X main.gitCommit=$1-gomod" -o "$2.tmp" .
  mv "$2.tmp" "$2"
  rm -rf "$d/src"
}
build_runc "$RUNC_VERSION" "$RUNC_BIN"
build_runc "$RUNC_LEGACY_VERSION" "$RUNC_LEGACY_BIN"
# containerd, ctr and the runc shim, built into a temporary folder that replaces
# the cached one only when all three built. no_btrfs: the btrfs snapshotter needs
# cgo and btrfs headers (it is disabled in the config anyway). The shim is static.
if [ ! -x "$CONTAINERD_DIR/containerd" ] || [ ! -x "$CONTAINERD_DIR/ctr" ] || [ ! -x "$CONTAINERD_DIR/containerd-shim-runc-v2" ]; then
  mod=github.com/containerd/containerd/v2
  tmp="$CONTAINERD_DIR.tmp"
  rm -rf "$tmp"; mkdir -p "$tmp/bin"
  mod_src "$mod" "$CONTAINERD_VERSION" "$tmp/src"
  ldf="-X $mod/version.Version=${CONTAINERD_VERSION} -X $mod/version.Revision=gomod -X $mod/version.Package=$mod"
  heavy containerd sh -c 'cd "$1/src" && go build -trimpath -tags "urfave_cli_no_docs no_btrfs" -ldflags "$2" -o "$1/bin/" ./cmd/containerd ./cmd/ctr &&
    CGO_ENABLED=0 go build -trimpath -tags "urfave_cli_no_docs no_btrfs no_grpc" -ldflags "$2" -o "$1/bin/containerd-shim-runc-v2" ./cmd/containerd-shim-runc-v2' \
    sh "$tmp" "$ldf"
  rm -rf "$CONTAINERD_DIR"
  mv "$tmp/bin" "$CONTAINERD_DIR"
  rm -rf "$tmp"
fi

# ---- kcluster: apiserver, controller-manager, scheduler, kubelet, kube-proxy, etcd
src_hash=$(cd "$CLUSTER_SRC" && cat go.mod go.sum cmd/kcluster/*.go | sha256sum | cut -c1-16)
if [ ! -x "$KCLUSTER" ] || [ "$(cat "$K8S_DIR/kcluster.srchash" 2>/dev/null)" != "$src_hash" ]; then
  mkdir -p "$K8S_DIR"
  minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  ldf="-s -w"
  ldf+=" -X k8s.io/component-base/version.gitVersion=${K8S_VERSION}"
  ldf+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor}"
  ldf+=" -X k8s.io/component-base/version.gitTreeState=clean"
  ldf+=" -X k8s.io/component-base/version.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  heavy kcluster env -C "$CLUSTER_SRC" CGO_ENABLED=0 go build -ldflags "$ldf" -o "$KCLUSTER.tmp" ./cmd/kcluster
  mv "$KCLUSTER.tmp" "$KCLUSTER"
  echo "$src_hash" >"$K8S_DIR/kcluster.srchash"
fi
for c in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
  ln -sf kcluster "$K8S_DIR/$c"
done

# ---- CoreDNS
if [ ! -x "$COREDNS_BIN" ]; then
  mkdir -p "$(dirname "$COREDNS_BIN")"
  heavy coredns env CGO_ENABLED=0 GOBIN="$(dirname "$COREDNS_BIN")" \
    go install -ldflags "-s -w" "github.com/coredns/coredns@${COREDNS_VERSION}"
fi

# ---- registry (distribution v3), static so it runs from a scratch image
if [ ! -x "$REGISTRY_BIN" ]; then
  mkdir -p "$(dirname "$REGISTRY_BIN")"
  heavy registry env CGO_ENABLED=0 GOBIN="$(dirname "$REGISTRY_BIN")" \
    go install -ldflags "-s -w -X github.com/distribution/distribution/v3/version.version=${REGISTRY_VERSION}" \
    "github.com/distribution/distribution/v3/cmd/registry@${REGISTRY_VERSION}"
fi

# ---- Kaniko executor + warmer from the module source at the pinned version
if [ ! -x "$KANIKO_DIR/executor" ] || [ ! -x "$KANIKO_DIR/warmer" ]; then
  mkdir -p "$KANIKO_DIR"
  mod=github.com/GoogleContainerTools/kaniko
  dir=$(go mod download -json "$mod@${KANIKO_VERSION}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$dir" ] || die "go mod download of $mod@$KANIKO_VERSION failed"
  rm -rf "$KANIKO_DIR/src"
  cp -r "$dir" "$KANIKO_DIR/src"
  chmod -R u+w "$KANIKO_DIR/src"
  ldf="-extldflags \"-static\" -X $mod/pkg/version.version=${KANIKO_VERSION} -w -s"
  heavy kaniko env -C "$KANIKO_DIR/src" CGO_ENABLED=0 go build -ldflags "$ldf" -o "$KANIKO_DIR/" ./cmd/executor ./cmd/warmer
  rm -rf "$KANIKO_DIR/src"
fi

# ---- small harness tools (warm rebuilds take about a second)
(cd "$CLUSTER_SRC" && CGO_ENABLED=0 go build -o "$TOOLS_DIR/mkimage" ./cmd/mkimage &&
  CGO_ENABLED=0 go build -ldflags "-s -w" -o "$TOOLS_DIR/pause" ./cmd/pause &&
  CGO_ENABLED=0 go build -o "$TOOLS_DIR/htpasswd" ./cmd/htpasswd) || die "building harness tools failed"

# ---- images
# make_image NAME TAR ROOTFS-SETUP-FUNCTION MKIMAGE-ARGS...
make_image() {
  local name="$1" tar="$2" setup="$3"; shift 3
  [ -s "$tar" ] && return 0
  local root
  root=$(mktemp -d "$IMAGES_DIR/rootfs.XXXXXX")
  "$setup" "$root"
  "$TOOLS_DIR/mkimage" -rootfs "$root" -o "$tar" -name "$name" "$@" >&2
  rm -rf "$root"
}

busybox_applets() { # ROOT DIR-IN-ROOT: busybox at DIR/busybox with applet symlinks
  local root="$1" d="$2" a
  mkdir -p "$root/$d"
  cp /bin/busybox "$root/$d/busybox"
  for a in $(/bin/busybox --list); do
    [ "$a" = busybox ] || ln -sf busybox "$root/$d/$a"
  done
}

setup_pause() { mkdir -p "$1"; cp "$TOOLS_DIR/pause" "$1/pause"; }

setup_busybox() {
  local r="$1" p a
  mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,root,home,var,tmp,proc,sys,dev}
  chmod 1777 "$r/tmp"; chmod 700 "$r/root"
  cp /bin/busybox "$r/bin/busybox"
  for p in $(/bin/busybox --list-full); do
    a=$(basename "$p")
    [ "$a" = busybox ] && continue
    [ -e "$r/$p" ] || ln -s /bin/busybox "$r/$p"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$r/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' >"$r/etc/group"
  printf 'hosts: files dns\n' >"$r/etc/nsswitch.conf"
}

setup_registry() {
  local r="$1"
  mkdir -p "$r/bin" "$r/etc/distribution" "$r/var/lib/registry" "$r/tmp"
  chmod 1777 "$r/tmp"
  cp "$REGISTRY_BIN" "$r/bin/registry"
  cat >"$r/etc/distribution/config.yml" <<'EOF'
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
EOF
}

setup_kaniko() {
  local r="$1"
  mkdir -p "$r/kaniko/ssl/certs" "$r/kaniko/.docker" "$r/etc" "$r/workspace" "$r/bin" "$r/root"
  chmod 777 "$r/kaniko"
  cp "$KANIKO_DIR/executor" "$KANIKO_DIR/warmer" "$r/kaniko/"
  cp /etc/ssl/certs/ca-certificates.crt "$r/kaniko/ssl/certs/ca-certificates.crt"
  cp "$CLUSTER_SRC/images/kaniko-nsswitch.conf" "$r/etc/nsswitch.conf"
  busybox_applets "$r" busybox
  ln -s /busybox/sh "$r/bin/sh"
}

make_image "$PAUSE_IMAGE" "$IMAGES_DIR/pause-${PAUSE_TAG}.tar" setup_pause \
  -entrypoint '["/pause"]'
make_image "$BUSYBOX_IMAGE" "$IMAGES_DIR/busybox-${BUSYBOX_TAG}.tar" setup_busybox \
  -cmd '["sh"]' -env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
make_image "$REGISTRY_IMAGE" "$IMAGES_DIR/registry-${REGISTRY_VERSION}.tar" setup_registry \
  -entrypoint '["/bin/registry"]' -cmd '["serve","/etc/distribution/config.yml"]' \
  -volume /var/lib/registry -env PATH=/bin
make_image "$KANIKO_IMAGE" "$IMAGES_DIR/kaniko-${KANIKO_VERSION}-debug.tar" setup_kaniko \
  -entrypoint '["/kaniko/executor"]' -workdir /workspace -volume /busybox \
  -env HOME=/root -env USER=root -env PATH=/usr/local/bin:/kaniko:/busybox \
  -env SSL_CERT_DIR=/kaniko/ssl/certs -env DOCKER_CONFIG=/kaniko/.docker/ \
  -env DOCKER_CREDENTIAL_GCR_CONFIG=/kaniko/.config/gcloud/docker_credential_gcr_config.json

log "build.sh done in $((SECONDS - start)) s; cache: $CACHE"
