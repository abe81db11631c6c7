#!/usr/bin/env bash
# with-cluster.sh CMD [ARGS...]: runs CMD with KBRUN_TEST_KUBECONFIG set.
# When KBRUN_TEST_KUBECONFIG is already set, CMD just runs against that cluster;
# when the harness cluster is already up, CMD runs against it and it stays up.
# Otherwise the harness cluster is brought up first (up.sh) and torn down after
# (down.sh), whatever CMD's outcome; the exit status is CMD's (or up.sh's/down.sh's
# when those fail). Used by `make test`.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[ $# -gt 0 ] || { echo "usage: with-cluster.sh CMD [ARGS...]" >&2; exit 2; }
if [ -n "${KBRUN_TEST_KUBECONFIG:-}" ]; then
  exec "$@"
fi
if "$HERE/status.sh" >/dev/null 2>&1; then
  # a harness cluster is already up (someone brought it up by hand): use it, leave it up
  export KBRUN_TEST_KUBECONFIG="${KBRUN_CLUSTER_DIR:-/var/lib/kbrun-cluster}/kubeconfig"
  echo "with-cluster.sh: using the test cluster that is already up (not tearing it down after)" >&2
  exec "$@"
fi
if ! "$HERE/up.sh"; then
  echo "FAIL: could not bring the test cluster up (see above); tearing down what started" >&2
  "$HERE/down.sh" || true
  exit 1
fi
export KBRUN_TEST_KUBECONFIG="${KBRUN_CLUSTER_DIR:-/var/lib/kbrun-cluster}/kubeconfig"
"$@"
rc=$?
"$HERE/down.sh" || { echo "FAIL: down.sh did not leave the machine clean" >&2; [ $rc -ne 0 ] || rc=1; }
exit $rc
