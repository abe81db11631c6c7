#!/usr/bin/env bash
# fault.sh: faults of the control plane and the node, for the e2e fault suite.
#
#   fault.sh restart COMPONENT [--signal TERM|KILL] [--down SECONDS]
#       Stops COMPONENT (containerd, etcd, kube-apiserver, kubelet, ... as named
#       by its pidfile) with the signal (default KILL), waits until it is gone,
#       keeps it down SECONDS (default 3), starts it again with the same command
#       line, and waits until the cluster is healthy (status.sh).
#   fault.sh notready [--for SECONDS]
#       Makes the node NotReady for SECONDS (default 20): freezes kubelet
#       (SIGSTOP) so that it cannot report, sets the node's Ready condition to
#       False, then thaws kubelet (SIGCONT), which reports Ready again.
#
# Runs now: the caller chooses the moment (the e2e suite calls it when the run's
# event stream says a task started). Processes are found by their pidfiles in
# $PIDS and signalled by PID only. The last line is one JSON object with the
# fault's times (Unix milliseconds): sent, gone (the process exited), started,
# healthy.
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
need_root

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
now_ms() { date +%s%3N; }

# relaunch NAME ARGV-FILE: starts the command line saved from /proc (NUL
# separated) as up.sh's start() does: own session, log appended, new pidfile.
relaunch() {
  local name="$1" file="$2" argv=()
  mapfile -d '' argv <"$file"
  echo "--- restarted by fault.sh at $(date -u +%H:%M:%S.%3N)" >>"$LOGS/$name.log"
  setsid "${argv[@]}" >>"$LOGS/$name.log" 2>&1 </dev/null 9>&- &
  echo $! >"$PIDS/$name.pid"
}

# healthy: the cluster as status.sh sees it (every component, node Ready,
# registries answering).
healthy() { "$CLUSTER_SRC/status.sh" >/dev/null 2>&1; }

restart() {
  local name="" sig=KILL down=3
  while [ $# -gt 0 ]; do
    case "$1" in
      --signal) sig="${2#SIG}"; shift 2 ;;
      --down) down="$2"; shift 2 ;;
      -*) usage ;;
      *) name="$1"; shift ;;
    esac
  done
  [ -n "$name" ] || usage
  case "$sig" in TERM|KILL) ;; *) die "--signal: TERM or KILL, not $sig" ;; esac
  alive "$name" || die "$name is not running (no live PID in $PIDS/$name.pid)"
  local pid argv sent gone started ok
  pid=$(pid_of "$name")
  argv="$STATE/fault-$name.argv"
  cp "/proc/$pid/cmdline" "$argv"
  sent=$(now_ms)
  kill -s "$sig" "$pid"
  # SIGTERM: the API server drains its requests first (about 60 s measured).
  wait_for 180 "$name gone" bash -c "! kill -0 $pid 2>/dev/null || [ \"\$(awk '{print \$3}' /proc/$pid/stat 2>/dev/null)\" = Z ]" ||
    die "$name (PID $pid) still runs 180 s after SIG$sig"
  gone=$(now_ms)
  log "$name (PID $pid) gone $(( (gone - sent) )) ms after SIG$sig; down for ${down}s"
  sleep "$down"
  relaunch "$name" "$argv"
  started=$(now_ms)
  wait_for 180 "cluster healthy" healthy || { "$CLUSTER_SRC/status.sh" >&2 || true; die "cluster not healthy 180 s after restarting $name"; }
  ok=$(now_ms)
  rm -f "$argv"
  log "$name restarted (PID $(pid_of "$name")); cluster healthy $(( (ok - started) )) ms after the start"
  printf '{"fault":"restart","component":"%s","signal":"SIG%s","sent":%s,"gone":%s,"started":%s,"healthy":%s}\n' \
    "$name" "$sig" "$sent" "$gone" "$started" "$ok"
}

node_ready_is() { [ "$(kc get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = "$1" ]; }

notready() {
  local for=20
  while [ $# -gt 0 ]; do
    case "$1" in
      --for) for="$2"; shift 2 ;;
      *) usage ;;
    esac
  done
  alive kubelet || die "kubelet is not running"
  local pid sent gone started ok now
  pid=$(pid_of kubelet)
  sent=$(now_ms)
  kill -STOP "$pid"
  # Whatever happens below, kubelet must not stay frozen.
  trap 'kill -CONT '"$pid"' 2>/dev/null || true' EXIT
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  kc patch node "$NODE_NAME" --subresource=status --type=strategic -p \
    "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\",\"reason\":\"KbrunFault\",\"message\":\"fault.sh: kubelet frozen for ${for}s\",\"lastHeartbeatTime\":\"$now\",\"lastTransitionTime\":\"$now\"}]}}" >/dev/null
  wait_for 10 "node NotReady" node_ready_is False || die "node $NODE_NAME did not turn NotReady"
  gone=$(now_ms)
  log "node $NODE_NAME NotReady (kubelet PID $pid frozen) for ${for}s"
  sleep "$for"
  kill -CONT "$pid"
  trap - EXIT
  started=$(now_ms)
  wait_for 120 "node Ready" node_ready_is True || die "node $NODE_NAME not Ready 120 s after kubelet was thawed"
  wait_for 120 "cluster healthy" healthy || { "$CLUSTER_SRC/status.sh" >&2 || true; die "cluster not healthy after the node fault"; }
  ok=$(now_ms)
  log "node $NODE_NAME Ready again $(( (ok - started) )) ms after kubelet was thawed"
  printf '{"fault":"notready","component":"node/%s","signal":"SIGSTOP","sent":%s,"gone":%s,"started":%s,"healthy":%s}\n' \
    "$NODE_NAME" "$sent" "$gone" "$started" "$ok"
}

[ $# -ge 1 ] || usage
# The same lock as up.sh and down.sh: a fault never races a bring-up or teardown.
cluster_lock
cmd="$1"; shift
case "$cmd" in
  restart) restart "$@" ;;
  notready) notready "$@" ;;
  *) usage ;;
esac
