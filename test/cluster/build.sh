#!/usr/bin/env bash
# Builds and caches every binary and image tarball of the test cluster (with
# --builders also the other builders the capability matrix measures: builders.sh).
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
# build_runc VERSION BINARY [static]: cgo with libseccomp (Debian's
# libseccomp-dev). Not upstream's default `libpathrs` tag: that needs a Rust
# library Debian 12 lacks. static: the Makefile's `static` flags (libseccomp.a),
# for images. -mod=mod: the module zip keeps a stray vendor/modules.txt (runc 1.1).
build_runc() {
  [ -x "$2" ] && return 0
  local d tags="seccomp urfave_cli_no_docs" ldf="-X main.gitCommit=$1-gomod"
  [ "${3:-}" != static ] || { tags+=" netgo osusergo"; ldf+=" -extldflags -static"; }
  d=$(dirname "$2")
  mkdir -p "$d"
  mod_src github.com/opencontainers/runc "$1" "$d/src"
  heavy "runc-$1${3:+-$3}" env -C "$d/src" CGO_ENABLED=1 go build -mod=mod -trimpath -tags "$tags" \
    -ldflags "$ldf" -o "$2.tmp" .
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

# ---- Kaniko executor + warmer from the module source at the pinned version, with
# upstream's ldflags: the archived upstream and the maintained fork.
# build_kaniko MODULE VERSION DIR
build_kaniko() {
  local mod="$1" v="$2" d="$3"
  [ -x "$d/executor" ] && [ -x "$d/warmer" ] && return 0
  mkdir -p "$d"
  mod_src "$mod" "$v" "$d/src"
  heavy "$(basename "$d")" env -C "$d/src" CGO_ENABLED=0 go build \
    -ldflags "-extldflags \"-static\" -X $mod/pkg/version.version=$v -w -s" -o "$d/" ./cmd/executor ./cmd/warmer
  rm -rf "$d/src"
}
build_kaniko github.com/GoogleContainerTools/kaniko "$KANIKO_VERSION" "$KANIKO_DIR"

# ---- the other builders the capability matrix measures (make capabilities-matrix,
# through builders.sh): the maintained Kaniko fork and rootless BuildKit, built
# only with --builders: about 15-25 min more of a cold build on 2 cores, which
# make test's cluster does without.
BUILDERS=false
[ "${1:-}" = --builders ] && BUILDERS=true
if $BUILDERS; then
build_kaniko github.com/chainguard-dev/kaniko "$KANIKO_FORK_VERSION" "$KANIKO_FORK_DIR"

# ---- rootless BuildKit: buildkitd and buildctl with upstream's tags (Dockerfile,
# stages buildkitd and buildctl; static, no cgo), rootlesskit, and Debian 12's
# newuidmap/newgidmap (package uidmap, extracted, not installed).
if [ ! -x "$BUILDKIT_DIR/buildkitd" ] || [ ! -x "$BUILDKIT_DIR/buildctl" ]; then
  mod=github.com/moby/buildkit
  tmp="$BUILDKIT_DIR.tmp"
  rm -rf "$tmp"; mkdir -p "$tmp/bin"
  mod_src "$mod" "$BUILDKIT_VERSION" "$tmp/src"
  ldf="-s -w -X $mod/version.Version=${BUILDKIT_VERSION} -X $mod/version.Revision=gomod -X $mod/version.Package=$mod"
  heavy "buildkit-$BUILDKIT_VERSION" sh -c 'cd "$1/src" && export CGO_ENABLED=0 &&
    go build -trimpath -tags "osusergo netgo static_build seccomp grpcnotrace" -ldflags "$2" -o "$1/bin/buildkitd" ./cmd/buildkitd &&
    go build -trimpath -tags grpcnotrace -ldflags "$2" -o "$1/bin/buildctl" ./cmd/buildctl' sh "$tmp" "$ldf"
  cp "$tmp/src/examples/buildctl-daemonless/buildctl-daemonless.sh" "$tmp/bin/"
  rm -rf "$BUILDKIT_DIR"
  mv "$tmp/bin" "$BUILDKIT_DIR"
  rm -rf "$tmp"
fi
if [ ! -x "$ROOTLESSKIT_BIN" ]; then
  mkdir -p "$(dirname "$ROOTLESSKIT_BIN")"
  heavy "rootlesskit-$ROOTLESSKIT_VERSION" env CGO_ENABLED=0 GOBIN="$(dirname "$ROOTLESSKIT_BIN")" \
    go install -trimpath -ldflags "-s -w" "github.com/rootless-containers/rootlesskit/v2/cmd/rootlesskit@${ROOTLESSKIT_VERSION}"
fi
build_runc "$RUNC_VERSION" "$RUNC_STATIC_BIN" static
if [ ! -x "$UIDMAP_DIR/usr/bin/newuidmap" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && { apt-get download uidmap >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get download uidmap >/dev/null; }; }) ||
    die "apt-get download uidmap failed"
  rm -rf "$UIDMAP_DIR"
  dpkg-deb -x "$tmp"/uidmap_*.deb "$UIDMAP_DIR"
  dpkg-deb -f "$tmp"/uidmap_*.deb Version >"$UIDMAP_DIR/VERSION"
  rm -rf "$tmp"
fi
fi

# ---- small harness tools (warm rebuilds take about a second)
(cd "$CLUSTER_SRC" && CGO_ENABLED=0 go build -o "$TOOLS_DIR/mkimage" ./cmd/mkimage &&
  CGO_ENABLED=0 go build -ldflags "-s -w" -o "$TOOLS_DIR/pause" ./cmd/pause &&
  CGO_ENABLED=0 go build -o "$TOOLS_DIR/htpasswd" ./cmd/htpasswd) || die "building harness tools failed"

# ---- images (recipes in images.sh)
source "$CLUSTER_SRC/images.sh"
make_image "$PAUSE_IMAGE" "$IMAGES_DIR/pause-${PAUSE_TAG}.tar" setup_pause \
  -entrypoint '["/pause"]'
make_image "$BUSYBOX_IMAGE" "$IMAGES_DIR/busybox-${BUSYBOX_TAG}.tar" setup_busybox \
  -cmd '["sh"]' -env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
make_image "$REGISTRY_IMAGE" "$IMAGES_DIR/registry-${REGISTRY_VERSION}.tar" setup_registry \
  -entrypoint '["/bin/registry"]' -cmd '["serve","/etc/distribution/config.yml"]' \
  -volume /var/lib/registry -env PATH=/bin
make_kaniko_image "$KANIKO_IMAGE" "$IMAGES_DIR/kaniko-${KANIKO_VERSION}-debug.tar" "$KANIKO_DIR"
if $BUILDERS; then
make_kaniko_image "$KANIKO_FORK_IMAGE" "$IMAGES_DIR/kaniko-chainguard-${KANIKO_FORK_VERSION}-debug.tar" "$KANIKO_FORK_DIR"
# USER numeric: Kubernetes' runAsNonRoot needs it. The chown: user 1000 owns
# its home and runtime folder, as upstream's `chown -R user`.
make_image "$BUILDKIT_IMAGE" "$IMAGES_DIR/buildkit-${BUILDKIT_VERSION}-rootless.tar" setup_buildkit \
  -entrypoint '["rootlesskit","buildkitd"]' -user 1000:1000 -volume /home/user/.local/share/buildkit \
  -chown /home/user=1000:1000 -chown /run/user/1000=1000:1000 \
  -env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/busybox \
  -env HOME=/home/user -env USER=user -env XDG_RUNTIME_DIR=/run/user/1000 -env TMPDIR=/home/user/.local/tmp \
  -env BUILDKIT_HOST=unix:///run/user/1000/buildkit/buildkitd.sock
fi
log "build.sh done in $((SECONDS - start)) s; cache: $CACHE"
