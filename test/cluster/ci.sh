#!/usr/bin/env bash
# CI entry point for the harness (as root, from a fresh clone, cold or warm machine):
# builds/caches everything, brings the cluster up, runs the harness's integration
# tests, tears the cluster down, then runs the teardown test (which brings it up
# once more with a pod, tears down and checks nothing remains).
# Extra commands to run against the cluster can be given as arguments; they run
# with KBRUN_TEST_KUBECONFIG set, after the harness tests, e.g.
#   test/cluster/ci.sh sh -c 'cd /path/to/kbrun && go test -tags integration ./...'
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
t0=$SECONDS
rc=0
"$HERE/build.sh" || exit 1
echo "ci.sh: build/cache check done in $((SECONDS - t0)) s" >&2
if [ $# -gt 0 ]; then
  "$HERE/with-cluster.sh" sh -c '"$0/test.sh" && "$@"' "$HERE" "$@" || rc=1
else
  "$HERE/with-cluster.sh" "$HERE/test.sh" || rc=1
fi
"$HERE/test-teardown.sh" || rc=1
echo "ci.sh: done in $((SECONDS - t0)) s, rc=$rc" >&2
exit $rc
