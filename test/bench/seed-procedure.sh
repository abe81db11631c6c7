#!/usr/bin/env bash
# The seed procedure (../../../shared/seed/kaniko-rootless-demo.md) as a
# careful engineer scripts it with kubectl: no artificial sleeps, each wait
# done by kubectl itself. Used by the benchmark as kbrun's comparison.
#
#   seed-procedure.sh NAMESPACE RUN_ID     (NAMESPACE must exist)
# Env: KUBECONFIG, PUSH_REGISTRY, PULL_REGISTRY, KUBECTL (default kubectl),
#      STEPS_FILE (each step appends "NAME START_MS END_MS").
set -euo pipefail
NS=$1
RUN=$2
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
APP="$HERE/../../pipelines/kaniko-rootless"
KUBECTL=${KUBECTL:-kubectl}
PUSH_REGISTRY=${PUSH_REGISTRY:-registry.kbrun-registry.svc.cluster.local:5000}
PULL_REGISTRY=${PULL_REGISTRY:-localhost:5000}
STEPS_FILE=${STEPS_FILE:-/dev/null}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
k() { $KUBECTL "$@"; }
now() { date +%s%3N; }
step() { local name=$1; shift; local s; s=$(now); "$@"; echo "$name $s $(now)" >>"$STEPS_FILE"; }

sed "s/__NS__/$NS/" "$HERE/manifests/builder.yaml" >"$WORK/builder.yaml"

apply_builder() { k apply -f "$WORK/builder.yaml" >/dev/null; }
wait_builder() { k -n "$NS" rollout status deployment/kaniko-rootless-demo-deployment --timeout=120s >/dev/null; }
compile() {
  (cd "$APP/build" && CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags '-s -w' -o "$WORK/kaniko-rootless-demo" .)
  (cd "$APP/server" && CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags '-s -w' -o "$WORK/main" .)
}
find_pod() {
  POD=$(k -n "$NS" get pods -l app=kaniko-rootless-demo --field-selector=status.phase=Running -o jsonpath='{.items[0].metadata.name}')
}
copy() {
  k -n "$NS" exec "$POD" -- mkdir -p /workspace/server
  k cp "$WORK/kaniko-rootless-demo" "$NS/$POD:/workspace/kaniko-rootless-demo"
  k cp "$WORK/main" "$NS/$POD:/workspace/server/main"
  k -n "$NS" exec "$POD" -- chmod +x /workspace/kaniko-rootless-demo /workspace/server/main
}
build() {
  k -n "$NS" exec "$POD" -- /workspace/kaniko-rootless-demo \
    "-destination=$PUSH_REGISTRY/new-kaniko-rootless-image:$RUN" -dockerfile=copy -insecure=true >"$WORK/build.log" 2>&1
  DIGEST=$(grep -o 'digest: sha256:[0-9a-f]\{64\}' "$WORK/build.log" | tail -1 | cut -d' ' -f2)
  [ -n "$DIGEST" ] || { cat "$WORK/build.log" >&2; echo "no digest" >&2; exit 1; }
}
deploy_test() {
  sed -e "s/__NS__/$NS/" -e "s|__IMAGE__|$PULL_REGISTRY/new-kaniko-rootless-image@$DIGEST|" \
    "$HERE/manifests/test-deployment.yaml" >"$WORK/test-deployment.yaml"
  k apply -f "$WORK/test-deployment.yaml" >/dev/null
  k -n "$NS" rollout status deployment/test-kaniko-rootless-deployment --timeout=120s >/dev/null
}
logs() {
  local tpod out
  tpod=$(k -n "$NS" get pods -l app=test-kaniko-rootless --field-selector=status.phase=Running -o jsonpath='{.items[0].metadata.name}')
  for _ in $(seq 1 600); do
    out=$(k -n "$NS" logs "$tpod" 2>/dev/null || true)
    if grep -q 'Hello World' <<<"$out" && grep -q 'Server started on port 8081' <<<"$out"; then
      return 0
    fi
  done
  echo "log lines never appeared" >&2
  return 1
}
# Delete what the procedure applied and wait until it is gone (kubectl
# delete waits by default). The namespace is the team's (the seed's "ones"
# exists before and after): it is not the procedure's to create or delete.
cleanup() { k delete -f "$WORK/builder.yaml" -f "$WORK/test-deployment.yaml" --wait=true >/dev/null; }

step apply apply_builder
step builder wait_builder
step compile compile
step findPod find_pod
step copy copy
step build build
step test deploy_test
step logs logs
step cleanup cleanup
