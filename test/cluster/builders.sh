#!/usr/bin/env bash
# The other builders the capability matrix measures (the maintained Kaniko fork,
# rootless BuildKit) for a running cluster: builds and caches their images
# (build.sh --builders) and imports them into the cluster's containerd, then
# checks each builds and pushes an image there (builders_test.go).
# Used by make capabilities-matrix; later up.sh runs import them with the rest.
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
need_root
"$CLUSTER_SRC/build.sh" --builders
for f in "$IMAGES_DIR/kaniko-chainguard-${KANIKO_FORK_VERSION}-debug.tar" "$IMAGES_DIR/buildkit-${BUILDKIT_VERSION}-rootless.tar"; do
  ctr_ -n k8s.io images import "$f" >/dev/null 2>&1 || die "importing $f into the cluster's containerd failed (is the cluster up? test/cluster/up.sh)"
done
log "images imported: $KANIKO_FORK_IMAGE $BUILDKIT_IMAGE"
export KBRUN_TEST_KUBECONFIG="${KBRUN_TEST_KUBECONFIG:-$KUBECONFIG_PATH}"
cd "$CLUSTER_SRC" && go test -count=1 -tags builders -timeout 10m -run 'TestKanikoForkPushPull|TestBuildKitRootlessPushPull' -v .
