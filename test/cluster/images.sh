# shellcheck shell=bash
# Image recipes of the test cluster: each setup_* function fills a root file
# system folder that make_image turns into an OCI tarball. Sourced by build.sh.

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

# setup_kaniko ROOT: upstream's debug image layout (deploy/Dockerfile, stage
# kaniko-debug) around $KANIKO_BIN_DIR's executor and warmer.
setup_kaniko() {
  local r="$1"
  mkdir -p "$r/kaniko/ssl/certs" "$r/kaniko/.docker" "$r/etc" "$r/workspace" "$r/bin" "$r/root"
  chmod 777 "$r/kaniko"
  cp "$KANIKO_BIN_DIR/executor" "$KANIKO_BIN_DIR/warmer" "$r/kaniko/"
  cp /etc/ssl/certs/ca-certificates.crt "$r/kaniko/ssl/certs/ca-certificates.crt"
  cp "$CLUSTER_SRC/images/kaniko-nsswitch.conf" "$r/etc/nsswitch.conf"
  busybox_applets "$r" busybox
  ln -s /busybox/sh "$r/bin/sh"
}
# make_kaniko_image NAME TAR BIN-DIR: a Kaniko debug image (any fork with
# upstream's layout is a drop-in kanikoImage).
make_kaniko_image() {
  KANIKO_BIN_DIR="$3" make_image "$1" "$2" setup_kaniko \
    -entrypoint '["/kaniko/executor"]' -workdir /workspace -volume /busybox \
    -env HOME=/root -env USER=root -env PATH=/usr/local/bin:/kaniko:/busybox \
    -env SSL_CERT_DIR=/kaniko/ssl/certs -env DOCKER_CONFIG=/kaniko/.docker/ \
    -env DOCKER_CREDENTIAL_GCR_CONFIG=/kaniko/.config/gcloud/docker_credential_gcr_config.json
}

# setup_buildkit ROOT: upstream's moby/buildkit:*-rootless (Dockerfile, stage
# rootless) from the module-built binaries: user 1000 with subordinate ids
# 100000-165535, rootlesskit, buildkitd, buildctl, a static runc as
# buildkit-runc (the OCI worker's first choice), Debian's newuidmap and
# newgidmap (with file capabilities, below) and their shared libraries, busybox at /busybox (kbrun's probe runs
# /busybox/sh) and the CA bundle.
setup_buildkit() {
  local r="$1" b lib
  mkdir -p "$r"/{usr/bin,bin,etc/ssl/certs,root,tmp,proc,sys,dev,run/user/1000}
  mkdir -p "$r/home/user/.local/tmp" "$r/home/user/.local/share/buildkit"
  chmod 1777 "$r/tmp"; chmod 700 "$r/root" "$r/run/user/1000"
  cp "$BUILDKIT_DIR/buildkitd" "$BUILDKIT_DIR/buildctl" "$BUILDKIT_DIR/buildctl-daemonless.sh" "$ROOTLESSKIT_BIN" "$r/usr/bin/"
  chmod 755 "$r/usr/bin/buildctl-daemonless.sh"   # module zips keep no exec bits
  cp "$RUNC_STATIC_BIN" "$r/usr/bin/buildkit-runc"
  for b in newuidmap newgidmap; do
    cp "$UIDMAP_DIR/usr/bin/$b" "$r/usr/bin/$b"; chmod 0755 "$r/usr/bin/$b"
    for lib in $(ldd "$UIDMAP_DIR/usr/bin/$b" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
      mkdir -p "$r$(dirname "$lib")"; cp -L "$lib" "$r$lib"
    done
  done
  # File capabilities, not setuid: Debian 12's newuidmap (shadow 4.13) opens
  # uid_map while still euid 0 when setuid, which needs CAP_SYS_ADMIN on the
  # host (EPERM in any pod); with cap_setuid=ep it runs as the user, like the
  # fscaps builds upstream's Alpine image has.
  setcap cap_setuid=ep "$r/usr/bin/newuidmap"
  setcap cap_setgid=ep "$r/usr/bin/newgidmap"
  busybox_applets "$r" busybox
  ln -s /busybox/sh "$r/bin/sh"
  cp /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/ca-certificates.crt"
  printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n' >"$r/etc/passwd"
  printf 'root:x:0:\nuser:x:1000:\n' >"$r/etc/group"
  echo user:100000:65536 >"$r/etc/subuid"
  echo user:100000:65536 >"$r/etc/subgid"
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$r/etc/nsswitch.conf"
}
