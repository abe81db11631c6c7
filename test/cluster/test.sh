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
export KUBECACHEDIR="${KUBECACHEDIR:-$(mktemp -d /tmp/kbrun-kubecache.XXXXXX)}"
exec go test -count=1 -v -timeout 20m "$@" .
