#!/usr/bin/env bash
# Runs the harness's integration tests (cluster_test.go) against the cluster named
# by KBRUN_TEST_KUBECONFIG. Fails, with the reason, when that is unset or the
# cluster is unreachable. Extra arguments go to `go test` (e.g. -run TestNodeReady).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
if [ -z "${KBRUN_TEST_KUBECONFIG:-}" ]; then
  echo "FAIL: KBRUN_TEST_KUBECONFIG is not set; bring a cluster up (test/cluster/up.sh) and export it, or use test/cluster/with-cluster.sh test/cluster/test.sh" >&2
  exit 1
fi
if [ -z "${KUBECACHEDIR:-}" ]; then
  KUBECACHEDIR=$(mktemp -d /tmp/kbrun-kubecache.XXXXXX)
  trap 'rm -rf "$KUBECACHEDIR"' EXIT
fi
export KUBECACHEDIR
log="${KBRUN_TEST_LOG:-/tmp/kbrun-cluster-test.log}"
set +e
go test -count=1 -v -timeout 20m "$@" . 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
[ "$rc" = 0 ] || echo "test/cluster tests FAILED (rc=$rc); full output: $log; component logs: ${KBRUN_CLUSTER_DIR:-/var/lib/kbrun-cluster}/logs (after down.sh: ${KBRUN_CACHE_DIR:-/var/cache/kbrun}/logs/last-cluster)" >&2
exit "$rc"
