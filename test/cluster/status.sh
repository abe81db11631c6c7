#!/usr/bin/env bash
# Prints each component of kbrun's test cluster with its PID and health.
# Exit status 0 only when every component is running and healthy.
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
need_root
bad=0
row() { printf '%-24s %-8s %s\n' "$1" "$2" "$3"; }
check() { # NAME HEALTH-DESCRIPTION CMD...
  local name="$1" what="$2"; shift 2
  local pid; pid=$(pid_of "$name")
  if ! alive "$name"; then row "$name" "${pid:--}" "NOT RUNNING"; bad=1; return; fi
  if "$@" >/dev/null 2>&1; then row "$name" "$pid" "ok ($what)"; else row "$name" "$pid" "UNHEALTHY ($what)"; bad=1; fi
}
tls=(-k --cert "$PKI/admin.crt" --key "$PKI/admin.key")
row COMPONENT PID HEALTH
check containerd "ctr version" ctr_ version
check etcd "/health" http_ok "http://127.0.0.1:$ETCD_CLIENT_PORT/health"
check kube-apiserver "/readyz" api_ok
check kube-controller-manager "/healthz" http_ok https://127.0.0.1:10257/healthz "${tls[@]}"
check kube-scheduler "/healthz" http_ok https://127.0.0.1:10259/healthz "${tls[@]}"
check kubelet "/healthz" http_ok http://127.0.0.1:10248/healthz
check kube-proxy "/healthz" http_ok http://127.0.0.1:10256/healthz
check coredns "/ready" http_ok "http://$COREDNS_READY/ready"
if [ $bad = 0 ]; then
  ready=$(kc get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)
  [ "$ready" = True ] && row "node/$NODE_NAME" - "Ready" || { row "node/$NODE_NAME" - "NOT READY"; bad=1; }
  if http_ok http://localhost:5000/v2/; then row "registry" - "ok (localhost:5000/v2/)"; else row registry - "NOT ANSWERING on localhost:5000"; bad=1; fi
  if registry_tls_ok; then row "registry-tls" - "ok (https://$REGISTRY_TLS_NODE/v2/: 401 anonymous, 200 with an account)"; else row registry-tls - "NOT ANSWERING as expected on https://$REGISTRY_TLS_NODE/v2/"; bad=1; fi
fi
# The second node, when one was started (node2.sh).
if [ -d "$STATE/node2" ]; then
  "$CLUSTER_SRC/node2.sh" status || bad=1
fi
if [ $bad = 0 ]; then
  echo "healthy; kubeconfig: $KUBECONFIG_PATH"
else
  echo "cluster is down or unhealthy (state: $STATE)"
fi
exit $bad
