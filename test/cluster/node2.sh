#!/usr/bin/env bash
# node2.sh up|down|status: a second node for kbrun's test cluster (issue 32's
# two-node suite), joined to the running cluster's API server.
#
# The node is its own network namespace (kbrun-node2, address 10.250.250.2,
# reached from the host through a veth pair) with its own containerd, kubelet
# and kube-proxy, started from the same cached binaries as the first node. They
# enter only the network namespace (nsenter --net): the mounts containerd and
# kubelet make must be seen by both, as on a real node. Its pods get
# 10.244.1.0/24 on a bridge inside the namespace; the host routes that subnet
# to it, and pod-to-pod traffic between the nodes is not masqueraded (a flat
# pod network, as a CNI such as flannel's host-gw gives). Its kubelet keeps
# what a second kubelet on one machine would share apart: cgroups under
# /kbrun-node2, pod logs under the node's own folder (a kubelet's log garbage
# collection removes the log folders of pods it does not run).
#
# The first node's registry answers on its localhost:5000 only: a pod on this
# node whose image is localhost:5000/... cannot be pulled, which is the trap
# of real multi-node clusters that the suite shows.
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
need_root

N2_NAME=kbrun-node2
N2_IP=10.250.250.2
N2_NETNS=kbrun-node2
N2_HOST_VETH=kbrun-n2h
N2_NS_VETH=kbrun-n2n
N2_POD_CIDR=10.244.1.0/24
N2_POD_GW=10.244.1.1
N2_BRIDGE=kbrun-cni1
N2_CGROUP=kbrun-node2
PODS_CIDR=10.244.0.0/16   # both nodes' pods
N2="$STATE/node2"
N2_CTRD="$N2/containerd"
N2_SOCK="$N2_CTRD/containerd.sock"
N2_COMPONENTS=(node2-containerd node2-kubelet node2-kube-proxy)
in_ns() { nsenter --net="/run/netns/$N2_NETNS" "$@"; }
ctr2() { "$CONTAINERD_DIR/ctr" --address "$N2_SOCK" "$@"; }
# The rule that keeps pod-to-pod traffic between the nodes unmasqueraded.
NOMASQ=(-s "$PODS_CIDR" -d "$PODS_CIDR" -m comment --comment kbrun-node2 -j RETURN)

start() { # NAME CMD...: as up.sh's start(), inside the node's network namespace
  local name="$1"; shift
  setsid nsenter --net="/run/netns/$N2_NETNS" "$@" >"$LOGS/$name.log" 2>&1 </dev/null 9>&- &
  echo $! >"$PIDS/$name.pid"
}
waitc() { # SECONDS COMPONENT DESCRIPTION CMD...
  local t="$1" c="$2" what="$3"; shift 3
  local end=$((SECONDS + t))
  until "$@"; do
    alive "$c" || { tail -n 30 "$LOGS/$c.log" >&2; die "$c exited (log: $LOGS/$c.log)"; }
    [ $SECONDS -lt $end ] || { tail -n 30 "$LOGS/$c.log" >&2; die "timed out after ${t}s waiting for $what"; }
    sleep 0.2
  done
  log "$what"
}

up() {
  # The first node's cluster (status.sh also judges this node, once started).
  [ -s "$KUBECONFIG_PATH" ] && api_ok && alive kubelet && alive containerd || die "the cluster is not up: start it with test/cluster/up.sh first"
  if [ -e "/run/netns/$N2_NETNS" ] && status >/dev/null 2>&1; then log "node $N2_NAME already up"; return 0; fi
  down_node
  mkdir -p "$N2_CTRD" "$N2/cni/net.d" "$N2/cni/ipam" "$N2/kubelet" "$N2/pod-logs"

  # ---- network ----
  # ip netns makes /run/netns a mount point when it is not one: undone by down.
  mountpoint -q /run/netns || touch "$N2/made-netns-mount"
  ip netns add "$N2_NETNS"
  ip link add "$N2_HOST_VETH" type veth peer name "$N2_NS_VETH" netns "$N2_NETNS"
  ip link set "$N2_HOST_VETH" up
  ip route add "$N2_IP/32" dev "$N2_HOST_VETH"
  ip route add "$N2_POD_CIDR" via "$N2_IP" dev "$N2_HOST_VETH"
  in_ns ip link set lo up
  in_ns ip addr add "$N2_IP/32" dev "$N2_NS_VETH"
  in_ns ip link set "$N2_NS_VETH" up
  in_ns ip route add "$NODE_IP/32" dev "$N2_NS_VETH"
  in_ns ip route add default via "$NODE_IP" dev "$N2_NS_VETH"
  in_ns sysctl -q -w net.ipv4.ip_forward=1
  in_ns sysctl -q -w net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
  iptables -t nat -I POSTROUTING 1 "${NOMASQ[@]}"
  in_ns iptables -t nat -I POSTROUTING 1 "${NOMASQ[@]}"

  # ---- PKI: the node's kubelet identity, signed by the cluster CA ----
  ossl() { openssl "$@" 2>>"$LOGS/openssl.log" >/dev/null; }
  cert() { # NAME SUBJECT EKU SANS
    ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/$1.key"
    ossl req -new -key "$PKI/$1.key" -subj "$2" -out "$PKI/$1.csr"
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\n%s' "$3" "${4:+subjectAltName=$4}" >"$PKI/$1.ext"
    ossl x509 -req -in "$PKI/$1.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 365 -extfile "$PKI/$1.ext" -out "$PKI/$1.crt"
    rm -f "$PKI/$1.csr" "$PKI/$1.ext"; chmod 600 "$PKI/$1.key"
  }
  cert node2-kubelet-client "/O=system:nodes/CN=system:node:$N2_NAME" clientAuth ""
  cert node2-kubelet-server "/CN=$N2_NAME" serverAuth "IP:$N2_IP,DNS:$N2_NAME"
  local ca crt key
  ca=$(base64 -w0 <"$PKI/ca.crt"); crt=$(base64 -w0 <"$PKI/node2-kubelet-client.crt"); key=$(base64 -w0 <"$PKI/node2-kubelet-client.key")
  cat >"$N2/kubelet.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: kbrun-test, cluster: {server: "$API_URL", certificate-authority-data: $ca}}]
users: [{name: node2, user: {client-certificate-data: $crt, client-key-data: $key}}]
contexts: [{name: kbrun-test, context: {cluster: kbrun-test, user: node2}}]
current-context: kbrun-test
EOF
  chmod 600 "$N2/kubelet.kubeconfig"

  # ---- containerd: the first node's configuration, its own dirs, socket, CNI ----
  mkdir -p "$N2_CTRD/certs.d"
  cp -r "$CTRD_DIR/certs.d/$REGISTRY_TLS_NODE" "$N2_CTRD/certs.d/"
  sed -e "s|$CTRD_DIR|$N2_CTRD|g" -e "s|$STATE/cni/net.d|$N2/cni/net.d|" "$CTRD_DIR/config.toml" >"$N2_CTRD/config.toml"
  # runc keeps its state apart from the first node's (same container IDs never
  # meet, but a runtime's cleanup walks its whole root).
  sed -i "s|BinaryName = \"$RUNC_BIN\"|BinaryName = \"$RUNC_BIN\"\n        Root = \"$N2_CTRD/runc\"|" "$N2_CTRD/config.toml"
  sed -e "s|$CNI_BRIDGE|$N2_BRIDGE|" -e "s|$STATE/cni/ipam|$N2/cni/ipam|" -e "s|$POD_CIDR|$N2_POD_CIDR|" -e "s|\"$POD_GW\"|\"$N2_POD_GW\"|" \
    "$STATE/cni/net.d/10-kbrun.conflist" >"$N2/cni/net.d/10-kbrun.conflist"
  start node2-containerd "$CONTAINERD_DIR/containerd" --config "$N2_CTRD/config.toml"
  ctrd2_ok() { ctr2 version >/dev/null 2>&1; }
  waitc 20 node2-containerd "node2: containerd ready" ctrd2_ok
  local f
  for f in "$IMAGES_DIR"/*.tar; do ctr2 -n k8s.io images import "$f" >>"$LOGS/node2-image-import.log" 2>&1 || die "node2: importing $f failed"; done
  log "node2: images imported"

  # ---- kubelet: its cgroup root must exist in every hierarchy (cgroup v1;
  # a new cpuset starts empty and takes its parent's CPUs and memory nodes).
  local ctrl
  for ctrl in /sys/fs/cgroup/*/; do
    [ -e "${ctrl}cgroup.procs" ] || continue
    mkdir -p "$ctrl$N2_CGROUP"
    if [ -e "${ctrl}cpuset.cpus" ]; then
      cat "${ctrl}cpuset.cpus" >"$ctrl$N2_CGROUP/cpuset.cpus"
      cat "${ctrl}cpuset.mems" >"$ctrl$N2_CGROUP/cpuset.mems"
    fi
  done
  sed -e "s|^address: .*|address: $N2_IP|" -e "s|unix://$CTRD_SOCK|unix://$N2_SOCK|" \
    -e "s|$PKI/kubelet-server|$PKI/node2-kubelet-server|g" "$STATE/kubelet/config.yaml" >"$N2/kubelet/config.yaml"
  printf 'cgroupRoot: /%s\npodLogsDir: %s\n' "$N2_CGROUP" "$N2/pod-logs" >>"$N2/kubelet/config.yaml"
  start node2-kubelet "$K8S_DIR/kubelet" --config "$N2/kubelet/config.yaml" \
    --kubeconfig "$N2/kubelet.kubeconfig" --root-dir "$N2/kubelet" --cert-dir "$N2/kubelet/pki" \
    --node-ip "$N2_IP" --hostname-override "$N2_NAME" --v=1

  # ---- kube-proxy ----
  start node2-kube-proxy "$K8S_DIR/kube-proxy" --kubeconfig "$STATE/kube-proxy.kubeconfig" \
    --proxy-mode iptables --cluster-cidr "$PODS_CIDR" --hostname-override "$N2_NAME" \
    --conntrack-max-per-core=0 --conntrack-tcp-timeout-established=0 --conntrack-tcp-timeout-close-wait=0 \
    --iptables-localhost-nodeports=false --nodeport-addresses "$N2_IP/32" \
    --healthz-bind-address 127.0.0.1:10256 --metrics-bind-address 127.0.0.1:10249 --v=1

  node_ready() { [ "$(kc get node "$N2_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; }
  waitc 90 node2-kubelet "node $N2_NAME Ready" node_ready
  proxy2_ok() { in_ns curl -fsS -o /dev/null --max-time 2 http://127.0.0.1:10256/healthz 2>/dev/null; }
  waitc 30 node2-kube-proxy "node2: kube-proxy healthy" proxy2_ok
  echo "node $N2_NAME is up at $N2_IP (pods $N2_POD_CIDR)"
}

# down_node: stops the node's processes by PID, removes its pods through its
# CRI, its cgroups, mounts, network namespace, routes and rules, and the Node
# object. Fine when nothing of it runs.
down_node() {
  local name pid
  for name in node2-kube-proxy node2-kubelet; do
    pid=$(pid_of "$name"); [ -n "$pid" ] && alive "$name" && kill -TERM "$pid" 2>/dev/null
  done
  for name in node2-kube-proxy node2-kubelet; do
    pid=$(pid_of "$name"); [ -n "$pid" ] || continue
    wait_for 10 "$name to stop" bash -c "! kill -0 $pid 2>/dev/null" || kill -KILL "$pid" 2>/dev/null || true
    rm -f "$PIDS/$name.pid"
  done
  if alive node2-containerd && [ -x "$KCLUSTER" ]; then
    timeout 120 nsenter --net="/run/netns/$N2_NETNS" "$KCLUSTER" cri-reset "unix://$N2_SOCK" >/dev/null || log "WARNING: node2: cri-reset reported errors"
  fi
  pid=$(pid_of node2-containerd)
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    wait_for 10 "node2 containerd to stop" bash -c "! kill -0 $pid 2>/dev/null" || kill -KILL "$pid" 2>/dev/null || true
    rm -f "$PIDS/node2-containerd.pid"
  fi
  local p
  for p in /proc/[0-9]*; do # shims of the node's containerd
    tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "-address $N2_SOCK" && kill -KILL "${p#/proc/}" 2>/dev/null || true
  done
  local ctrl
  for ctrl in /sys/fs/cgroup/*/; do
    [ -d "$ctrl$N2_CGROUP" ] || continue
    for _ in 1 2 3 4 5; do
      p=$(find "$ctrl$N2_CGROUP" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u | tr '\n' ' ')
      [ -n "${p// /}" ] || break
      # shellcheck disable=SC2086
      kill -KILL $p 2>/dev/null || true
      sleep 0.3
    done
    find "$ctrl$N2_CGROUP" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  local mp
  while read -r mp; do umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true; done < <(
    awk '{print $5}' /proc/self/mountinfo | grep "^$N2/" | awk '{print length($0) " " $0}' | sort -rn | cut -d' ' -f2-)
  while iptables -t nat -C POSTROUTING "${NOMASQ[@]}" 2>/dev/null; do iptables -t nat -D POSTROUTING "${NOMASQ[@]}"; done
  ip link del "$N2_HOST_VETH" 2>/dev/null || true   # its peer, and the routes through it, go with it
  [ ! -e "/run/netns/$N2_NETNS" ] || ip netns del "$N2_NETNS"
  if [ -e "$N2/made-netns-mount" ] && mountpoint -q /run/netns && [ -z "$(ls -A /run/netns)" ]; then
    umount /run/netns || log "WARNING: node2: cannot unmount /run/netns"
  fi
  if [ -s "$KUBECONFIG_PATH" ] && kc get node "$N2_NAME" >/dev/null 2>&1; then
    kc delete node "$N2_NAME" --wait=false >/dev/null 2>&1 || true
  fi
  if awk '{print $5}' /proc/self/mountinfo | grep -q "^$N2/"; then
    log "WARNING: node2: mounts remain under $N2"; return 1
  fi
  rm -rf "$N2"
  rm -f "$PKI"/node2-kubelet-* 2>/dev/null || true
}

status() {
  local bad=0 name
  for name in "${N2_COMPONENTS[@]}"; do
    if alive "$name"; then printf '%-24s %-8s %s\n' "$name" "$(pid_of "$name")" running; else printf '%-24s %-8s %s\n' "$name" - "NOT RUNNING"; bad=1; fi
  done
  local ready
  ready=$(kc get node "$N2_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)
  printf '%-24s %-8s %s\n' "node/$N2_NAME" - "${ready:-absent}"
  [ "$ready" = True ] || bad=1
  return $bad
}

case "${1:-}" in
  up) cluster_lock; up ;;
  down) cluster_lock; down_node && log "node $N2_NAME down" ;;
  status) status ;;
  *) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2; echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
