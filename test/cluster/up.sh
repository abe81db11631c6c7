#!/usr/bin/env bash
# Brings up kbrun's single-node test cluster (see README.md). Idempotent: when the
# cluster is up and healthy it says so and exits 0; otherwise it first cleans the
# leftovers of a crashed run (down.sh), then builds what is missing (build.sh) and
# starts containerd, etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kubelet, kube-proxy and CoreDNS as host processes, and the registry as a pod.
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
need_root
T0=$SECONDS
NODES=1
case "${1:-}" in
  --nodes) NODES="${2:-}"; [ "$NODES" = 1 ] || [ "$NODES" = 2 ] || die "--nodes takes 1 or 2" ;;
  "") ;;
  *) die "usage: $0 [--nodes 1|2]" ;;
esac
cluster_lock
with_nodes() { # the second node, when asked for, on a healthy cluster
  [ "$NODES" = 2 ] || return 0
  "$CLUSTER_SRC/node2.sh" up
}

if [ -s "$KUBECONFIG_PATH" ] && "$CLUSTER_SRC/status.sh" >/dev/null 2>&1; then
  log "cluster already up and healthy"
  with_nodes
  echo "kubeconfig: $KUBECONFIG_PATH"
  echo "export KBRUN_TEST_KUBECONFIG=$KUBECONFIG_PATH"
  exit 0
fi

log "cleaning leftovers of any previous run"
"$CLUSTER_SRC/down.sh" --quiet || die "cleanup of leftovers failed; see above"

# Preflight: ports the harness listens on must be free (the registry needs the
# node's :5000 on every address, since the node pulls localhost:5000/...).
busy=""
for port in 5000 "$REGISTRY_TLS_PORT" "$ETCD_CLIENT_PORT" "$ETCD_PEER_PORT" 10248 10249 10256 10257 10259 "${COREDNS_HEALTH##*:}" "${COREDNS_READY##*:}"; do
  if ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
    busy+=" $port($(ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'users:(("[^"]*",pid=[0-9]*' | head -1 | sed 's/users:(("//; s/",/ /'))"
  fi
done
[ -z "$busy" ] || die "TCP ports needed by the test cluster are in use by other processes:$busy"

"$CLUSTER_SRC/build.sh"
T_BUILD=$SECONDS

# If anything fails from here on, say where the logs are; leave the pieces for
# inspection (down.sh removes them).
trap 'rc=$?; [ $rc -eq 0 ] || log "up.sh failed (rc=$rc); logs in $LOGS; run down.sh to clean up"' EXIT

mkdir -p "$STATE" "$PKI" "$PIDS" "$LOGS" "$CTRD_DIR" "$STATE/cni/net.d" "$STATE/cni/ipam" "$STATE/kubelet" "$KUBECACHEDIR"
# 711, not 700: a pod with its own user namespace (hostUsers: false) runs as a
# high unprivileged host UID, and runc, already in that namespace, must reach the
# container's rootfs below $CTRD_DIR/state (containerd's own dirs there are 711).
# With 700 every such sandbox fails with "remount-propagation ... permission
# denied". Others may traverse but not list it; what holds secrets stays 700.
chmod 711 "$STATE"
chmod 700 "$PKI" "$PIDS" "$LOGS" "$KUBECACHEDIR"

# ---- remember what we may change, so down.sh can restore it -------------------
: >"$STATE/sysctl.saved"
for s in "${SYSCTLS[@]}"; do
  v=$(sysctl -n "$s" 2>/dev/null) && printf '%s=%s\n' "$s" "$v" >>"$STATE/sysctl.saved"
done
nft list tables >"$STATE/nft-tables.before" 2>/dev/null || true
: >"$STATE/preexisting"
for p in "${FIXED_PATHS[@]}"; do
  [ -e "$p" ] && echo "$p" >>"$STATE/preexisting"
done

# ---- network ---------------------------------------------------------------------
# Pod-to-Service traffic that is bridged back to a pod must pass iptables, and pods
# need forwarding (both saved above and restored by down.sh).
sysctl -q -w net.bridge.bridge-nf-call-iptables=1 >/dev/null 2>&1 || true
sysctl -q -w net.ipv4.ip_forward=1 >/dev/null 2>&1 || true
# The node address lives on an interface the harness owns. The kernel has no dummy
# driver (and cannot load modules), so the interface is a bridge with no ports: its
# address is local to the host and reachable from pods through the CNI bridge's
# gateway, and nothing can leave through it.
ip link add "$NODE_IFACE" type bridge
sysctl -q -w "net.ipv6.conf.$NODE_IFACE.disable_ipv6=1" >/dev/null 2>&1 || true
ip addr add "$NODE_IP/32" dev "$NODE_IFACE"
ip link set "$NODE_IFACE" up

# ---- PKI (EC P-256; regenerated on every bring-up) ---------------------------
ossl() { openssl "$@" 2>>"$LOGS/openssl.log" >/dev/null; }
new_ca() { # NAME CN
  ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/$1.key"
  ossl req -x509 -new -key "$PKI/$1.key" -subj "/CN=$2" -days 3650 -out "$PKI/$1.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"
}
new_cert() { # NAME SUBJECT EKU SANS CA
  local n="$1" subj="$2" eku="$3" sans="$4" ca="$5"
  ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/$n.key"
  ossl req -new -key "$PKI/$n.key" -subj "$subj" -out "$PKI/$n.csr"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature"
    echo "extendedKeyUsage=$eku"
    [ -z "$sans" ] || echo "subjectAltName=$sans"
  } >"$PKI/$n.ext"
  ossl x509 -req -in "$PKI/$n.csr" -CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" -CAcreateserial \
    -days 365 -extfile "$PKI/$n.ext" -out "$PKI/$n.crt"
  rm -f "$PKI/$n.csr" "$PKI/$n.ext"
}
new_ca ca kbrun-test-cluster-ca
new_ca front-proxy-ca kbrun-test-cluster-front-proxy-ca
new_cert apiserver "/CN=kube-apiserver" serverAuth \
  "IP:$NODE_IP,IP:$API_SERVICE_IP,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$CLUSTER_DOMAIN,DNS:localhost" ca
new_cert apiserver-kubelet-client "/CN=kube-apiserver-kubelet-client" clientAuth "" ca
new_cert admin "/O=system:masters/CN=kubernetes-admin" clientAuth "" ca
new_cert controller-manager "/CN=system:kube-controller-manager" clientAuth "" ca
new_cert scheduler "/CN=system:kube-scheduler" clientAuth "" ca
new_cert kube-proxy "/CN=system:kube-proxy" clientAuth "" ca
new_cert kubelet-client "/O=system:nodes/CN=system:node:$NODE_NAME" clientAuth "" ca
new_cert kubelet-server "/CN=$NODE_NAME" serverAuth "IP:$NODE_IP,DNS:$NODE_NAME" ca
new_cert front-proxy-client "/CN=front-proxy-client" clientAuth "" front-proxy-ca
# The TLS registry's own CA (nothing else trusts it: containerd through
# certs.d, Kaniko when a run gives it the CA) and its serving certificate, for
# the name pods push to and the address the node pulls from.
new_ca registry-ca kbrun-test-registry-ca
new_cert registry-tls "/CN=registry-tls.$REGISTRY_NS.svc.$CLUSTER_DOMAIN" serverAuth \
  "DNS:registry-tls.$REGISTRY_NS.svc.$CLUSTER_DOMAIN,DNS:registry-tls.$REGISTRY_NS.svc,DNS:registry-tls.$REGISTRY_NS,IP:$NODE_IP" registry-ca
ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/sa.key"
ossl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub"
chmod 600 "$PKI"/*.key
# Its accounts: a user with a password, and a CI account with a token (as a
# Harbor robot account or a GitLab deploy token is used), random every
# bring-up; tests read them from $REGISTRY_TLS_DIR.
mkdir -p "$REGISTRY_TLS_DIR"; chmod 700 "$REGISTRY_TLS_DIR"
cp "$PKI/registry-ca.crt" "$REGISTRY_TLS_DIR/ca.crt"
( umask 077
  echo kbrun >"$REGISTRY_TLS_DIR/username"; openssl rand -hex 16 >"$REGISTRY_TLS_DIR/password"
  echo kbrun-ci >"$REGISTRY_TLS_DIR/token-username"; openssl rand -hex 20 | sed 's/^/kbt_/' >"$REGISTRY_TLS_DIR/token"
  { echo "kbrun:$(cat "$REGISTRY_TLS_DIR/password")"; echo "kbrun-ci:$(cat "$REGISTRY_TLS_DIR/token")"; } |
    "$TOOLS_DIR/htpasswd" >"$REGISTRY_TLS_DIR/htpasswd" ) || die "making the TLS registry's accounts failed"

kubeconfig() { # FILE CERTNAME USER
  local ca crt key
  ca=$(base64 -w0 <"$PKI/ca.crt"); crt=$(base64 -w0 <"$PKI/$2.crt"); key=$(base64 -w0 <"$PKI/$2.key")
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kbrun-test
  cluster:
    server: $API_URL
    certificate-authority-data: $ca
users:
- name: $3
  user:
    client-certificate-data: $crt
    client-key-data: $key
contexts:
- name: kbrun-test
  context: {cluster: kbrun-test, user: $3}
current-context: kbrun-test
EOF
  chmod 600 "$1"
}
kubeconfig "$STATE/admin.kubeconfig.tmp" admin kubernetes-admin
kubeconfig "$STATE/controller-manager.kubeconfig" controller-manager system:kube-controller-manager
kubeconfig "$STATE/scheduler.kubeconfig" scheduler system:kube-scheduler
kubeconfig "$STATE/kube-proxy.kubeconfig" kube-proxy system:kube-proxy
kubeconfig "$STATE/kubelet.kubeconfig" kubelet-client "system:node:$NODE_NAME"

# ---- process starter ---------------------------------------------------------
start() { # NAME CMD...: start in its own session, pidfile + log in the state dir
  local name="$1"; shift
  setsid "$@" >"$LOGS/$name.log" 2>&1 </dev/null 9>&- &
  echo $! >"$PIDS/$name.pid"
}
check_alive() { alive "$1" || { tail -n 40 "$LOGS/$1.log" >&2; die "$1 exited (log: $LOGS/$1.log)"; }; }
waitc() { # SECONDS COMPONENT DESCRIPTION CMD...
  local t="$1" c="$2" what="$3"; shift 3
  local t0=$SECONDS end=$((SECONDS + t))
  until "$@"; do
    check_alive "$c"
    [ $SECONDS -lt $end ] || { tail -n 40 "$LOGS/$c.log" >&2; die "timed out after ${t}s waiting for $what"; }
    sleep 0.2
  done
  log "$what ($((SECONDS - t0)) s)"
}

# ---- containerd + runc (built from their Go modules), CNI bridge --------------------------------
mkdir -p "$CTRD_DIR/certs.d/localhost:5000" "$CTRD_DIR/certs.d/$NODE_IP:5000"
for h in "localhost:5000" "$NODE_IP:5000"; do
  printf 'server = "http://%s"\n\n[host."http://%s"]\n  capabilities = ["pull", "resolve", "push"]\n  skip_verify = true\n' "$h" "$h" \
    >"$CTRD_DIR/certs.d/$h/hosts.toml"
done
# The TLS registry: HTTPS, its CA trusted, and no credentials (kubelet passes
# the pod's imagePullSecret with each pull).
mkdir -p "$CTRD_DIR/certs.d/$REGISTRY_TLS_NODE"
printf 'server = "https://%s"\n\n[host."https://%s"]\n  capabilities = ["pull", "resolve"]\n  ca = "%s"\n' \
  "$REGISTRY_TLS_NODE" "$REGISTRY_TLS_NODE" "$PKI/registry-ca.crt" >"$CTRD_DIR/certs.d/$REGISTRY_TLS_NODE/hosts.toml"
# containerd 2.4's own config layout, version 4 (what `containerd config
# migrate` writes; version 3 is still read but migrated at every start).
# imports = []: containerd reads drop-ins only from the imports a config file
# names (its built-in default names /etc/containerd/conf.d/*.toml); never the host's.
# NRI is disabled: the harness uses no NRI plugin, and it would otherwise serve
# a socket in /var/run/nri, outside the paths the harness owns.
cat >"$CTRD_DIR/config.toml" <<EOF
version = 4
imports = []
root = "$CTRD_DIR/root"
state = "$CTRD_DIR/state"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing", "io.containerd.nri.v1.nri"]

[plugins.'io.containerd.server.v1.grpc']
  address = "$CTRD_SOCK"

[plugins.'io.containerd.server.v1.ttrpc']
  address = "$CTRD_SOCK.ttrpc"

[plugins.'io.containerd.server.v1.metrics']
  address = ""

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "$PAUSE_IMAGE"
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = "$CTRD_DIR/certs.d"

[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "$RUNC_BIN"
        SystemdCgroup = false
    # A second handler with runc 1.1, which cannot do user namespaces (no
    # idmap mounts): the node reports it so, and kubelet refuses hostUsers:
    # false pods of RuntimeClasses using it (the e2e tests' node without support).
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.'runc-1-1']
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.'runc-1-1'.options]
        BinaryName = "$RUNC_LEGACY_BIN"
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$STATE/cni/net.d"

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
EOF
cat >"$STATE/cni/net.d/10-kbrun.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "kbrun",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$CNI_BRIDGE",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$STATE/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$POD_GW"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
start containerd "$CONTAINERD_DIR/containerd" --config "$CTRD_DIR/config.toml"
ctrd_ok() { ctr_ version >/dev/null 2>&1; }
waitc 20 containerd "containerd ready" ctrd_ok

import_images() {
  local f
  for f in "$IMAGES_DIR"/*.tar; do
    ctr_ -n k8s.io images import "$f" || return 1
  done
}
import_images >"$LOGS/image-import.log" 2>&1 &
IMPORT_PID=$!

# ---- etcd (embedded in kcluster) ------------------------------------------------
start etcd "$K8S_DIR/etcd" --name kbrun --data-dir "$STATE/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "kbrun=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls "" \
  --unsafe-no-fsync --log-level warn
waitc 30 etcd "etcd healthy" http_ok "http://127.0.0.1:$ETCD_CLIENT_PORT/health"

# ---- kube-apiserver ------------------------------------------------------------------
start kube-apiserver "$K8S_DIR/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --bind-address "$NODE_IP" --advertise-address "$NODE_IP" --secure-port "$API_PORT" \
  --service-cluster-ip-range "$SERVICE_CIDR" \
  --client-ca-file "$PKI/ca.crt" --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
  --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
  --kubelet-certificate-authority "$PKI/ca.crt" --kubelet-preferred-address-types InternalIP \
  --service-account-issuer "https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
  --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
  --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction --allow-privileged=true \
  --requestheader-client-ca-file "$PKI/front-proxy-ca.crt" --requestheader-allowed-names front-proxy-client \
  --requestheader-extra-headers-prefix X-Remote-Extra- --requestheader-group-headers X-Remote-Group \
  --requestheader-username-headers X-Remote-User \
  --proxy-client-cert-file "$PKI/front-proxy-client.crt" --proxy-client-key-file "$PKI/front-proxy-client.key" \
  --profiling=false --v=1
waitc 60 kube-apiserver "kube-apiserver ready" api_ok
mv "$STATE/admin.kubeconfig.tmp" "$KUBECONFIG_PATH.tmp"   # published at the very end
KUBECONFIG_PATH="$KUBECONFIG_PATH.tmp"

sed -e "s/__DNS_SERVICE_IP__/$DNS_SERVICE_IP/" -e "s/__NODE_IP__/$NODE_IP/" -e "s/__NODE_NAME__/$NODE_NAME/" \
  "$CLUSTER_SRC/manifests/bootstrap.yaml" | kc apply -f - >"$LOGS/bootstrap.log" 2>&1 ||
  { cat "$LOGS/bootstrap.log" >&2; die "applying manifests/bootstrap.yaml failed"; }

# ---- controller-manager, scheduler ---------------------------------------------------
start kube-controller-manager "$K8S_DIR/kube-controller-manager" \
  --kubeconfig "$STATE/controller-manager.kubeconfig" \
  --authentication-kubeconfig "$STATE/controller-manager.kubeconfig" \
  --authorization-kubeconfig "$STATE/controller-manager.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port 10257 --leader-elect=false \
  --client-ca-file "$PKI/ca.crt" --requestheader-client-ca-file "$PKI/front-proxy-ca.crt" \
  --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
  --root-ca-file "$PKI/ca.crt" --service-account-private-key-file "$PKI/sa.key" \
  --use-service-account-credentials=true --service-cluster-ip-range "$SERVICE_CIDR" \
  --allocate-node-cidrs=false --profiling=false --v=1
start kube-scheduler "$K8S_DIR/kube-scheduler" \
  --kubeconfig "$STATE/scheduler.kubeconfig" \
  --authentication-kubeconfig "$STATE/scheduler.kubeconfig" \
  --authorization-kubeconfig "$STATE/scheduler.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port 10259 --leader-elect=false --profiling=false --v=1

# ---- kubelet ------------------------------------------------------------------------------
wait "$IMPORT_PID" || { cat "$LOGS/image-import.log" >&2; die "image import failed"; }
log "images imported: $(ctr_ -n k8s.io images ls -q | grep -v '^sha256:' | tr '\n' ' ')"
cat >"$STATE/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
containerRuntimeEndpoint: unix://$CTRD_SOCK
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
clusterDomain: $CLUSTER_DOMAIN
clusterDNS: [$DNS_SERVICE_IP]
resolvConf: ""
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $PKI/kubelet-server.crt
tlsPrivateKeyFile: $PKI/kubelet-server.key
rotateCertificates: false
serverTLSBootstrap: false
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", nodefs.inodesFree: "1%", imagefs.available: "1%"}
shutdownGracePeriod: 0s
protectKernelDefaults: false
EOF
start kubelet "$K8S_DIR/kubelet" --config "$STATE/kubelet/config.yaml" \
  --kubeconfig "$STATE/kubelet.kubeconfig" --root-dir "$STATE/kubelet" --cert-dir "$STATE/kubelet/pki" \
  --node-ip "$NODE_IP" --hostname-override "$NODE_NAME" --v=1

# ---- kube-proxy: iptables mode, flags chosen so it changes no sysctl ------------------------
start kube-proxy "$K8S_DIR/kube-proxy" --kubeconfig "$STATE/kube-proxy.kubeconfig" \
  --proxy-mode iptables --cluster-cidr "$POD_CIDR" --hostname-override "$NODE_NAME" \
  --conntrack-max-per-core=0 --conntrack-tcp-timeout-established=0 --conntrack-tcp-timeout-close-wait=0 \
  --iptables-localhost-nodeports=false --nodeport-addresses "$NODE_IP/32" \
  --healthz-bind-address 127.0.0.1:10256 --metrics-bind-address 127.0.0.1:10249 --v=1

# ---- CoreDNS: host process on the node address, no forwarding beyond the cluster ----------
cp "$KUBECONFIG_PATH" "$STATE/coredns.kubeconfig"
cat >"$STATE/Corefile" <<EOF
.:53 {
    bind $NODE_IP
    errors
    health $COREDNS_HEALTH {
        lameduck 2s
    }
    ready $COREDNS_READY
    kubernetes $CLUSTER_DOMAIN in-addr.arpa ip6.arpa {
        kubeconfig $STATE/coredns.kubeconfig kbrun-test
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    cache 30
    loadbalance
}
EOF
start coredns "$COREDNS_BIN" -conf "$STATE/Corefile"

# ---- registry pod + Service -------------------------------------------------------------------
sed -e "s/__NODE_NAME__/$NODE_NAME/" "$CLUSTER_SRC/manifests/registry.yaml" | kc apply -f - >>"$LOGS/bootstrap.log" 2>&1 ||
  { cat "$LOGS/bootstrap.log" >&2; die "applying manifests/registry.yaml failed"; }
kc -n "$REGISTRY_NS" create secret generic registry-tls --from-file=tls.crt="$PKI/registry-tls.crt" \
  --from-file=tls.key="$PKI/registry-tls.key" --from-file=htpasswd="$REGISTRY_TLS_DIR/htpasswd" >>"$LOGS/bootstrap.log" 2>&1 &&
  sed -e "s/__NODE_IP__/$NODE_IP/" -e "s/__NODE_NAME__/$NODE_NAME/" "$CLUSTER_SRC/manifests/registry-tls.yaml" | kc apply -f - >>"$LOGS/bootstrap.log" 2>&1 ||
  { cat "$LOGS/bootstrap.log" >&2; die "applying manifests/registry-tls.yaml failed"; }

node_ready() { [ "$(kc get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; }
waitc 90 kubelet "node $NODE_NAME Ready" node_ready
waitc 60 coredns "CoreDNS ready" http_ok "http://$COREDNS_READY/ready"
default_sa() { kc -n default get serviceaccount default -o name >/dev/null 2>&1; }
waitc 60 kube-controller-manager "default ServiceAccount exists" default_sa
registry_ok() { http_ok "http://localhost:5000/v2/"; }
waitc 120 kubelet "registry answers on localhost:5000" registry_ok
waitc 60 kubelet "TLS registry answers on $REGISTRY_TLS_NODE" registry_tls_ok
for c in "${COMPONENTS[@]}"; do check_alive "$c"; done

mv "$KUBECONFIG_PATH" "$STATE/kubeconfig"
KUBECONFIG_PATH="$STATE/kubeconfig"
REG_IP=$(kc -n "$REGISTRY_NS" get svc registry -o 'jsonpath={.spec.clusterIP}')
trap - EXIT
with_nodes
cat <<EOF

kbrun test cluster is up (Kubernetes $K8S_VERSION, node $NODE_NAME at $NODE_IP) in $((SECONDS - T0)) s (build/cache check $((T_BUILD - T0)) s).
kubeconfig: $KUBECONFIG_PATH
  registry push (from pods): $REGISTRY_DNS  (ClusterIP $REG_IP:5000, plain HTTP: kaniko --insecure --skip-tls-verify)
  registry pull (node):      localhost:5000/<repo>
  TLS registry push (pods):  $REGISTRY_TLS_DNS  (CA $REGISTRY_TLS_DIR/ca.crt, htpasswd accounts in $REGISTRY_TLS_DIR)
  TLS registry pull (node):  $REGISTRY_TLS_NODE/<repo>  (with the pod's imagePullSecret)
  cluster DNS:               $DNS_SERVICE_IP (kube-system/kube-dns, domain $CLUSTER_DOMAIN)
  images: $PAUSE_IMAGE $BUSYBOX_IMAGE $REGISTRY_IMAGE $KANIKO_IMAGE $KANIKO_FORK_IMAGE $BUILDKIT_IMAGE
export KBRUN_TEST_KUBECONFIG=$KUBECONFIG_PATH
EOF
