#!/usr/bin/env bash
# `npm run cluster:down`: stops what cluster:up started (by the pids it recorded, and the
# container shims by the pids containerd recorded), unmounts what they mounted under the
# cluster's directories, removes the bridge and the nftables tables, and deletes the cluster's
# state. Idempotent: with nothing running it does nothing. The build and image caches stay.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=env.sh
source "$HERE/env.sh"
[[ $(id -u) -eq 0 ]] || { echo "cluster:down needs root" >&2; exit 1; }
log() { echo "cluster: $*" >&2; }

stop() { # name [grace seconds]
  local f="$PID_DIR/$1.pid" pid
  [[ -f "$f" ]] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < ${2:-10} * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    log "stopped $1 (pid $pid)"
  fi
  rm -f "$f"
}
# The kubelet first, so it does not restart what goes away next.
for c in kubelet kube-proxy kube-scheduler kube-controller-manager; do stop "$c" 5; done
# Container shims (and with them the containers) of this containerd only: their pid files.
if [[ -d "$RUN_DIR/containerd" ]]; then
  while IFS= read -r f; do
    pid="$(cat "$f" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -KILL "$pid" 2>/dev/null || true
  done < <(find "$RUN_DIR/containerd" -name init.pid -o -name shim.pid 2>/dev/null)
fi
for c in containerd kube-apiserver etcd; do stop "$c" 10; done
if [[ -d "$RUN_DIR/containerd" ]]; then
  while IFS= read -r f; do
    pid="$(cat "$f" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -KILL "$pid" 2>/dev/null || true
  done < <(find "$RUN_DIR/containerd" -name shim.pid 2>/dev/null)
fi

# Mounts under the cluster's directories, deepest first (volumes, rootfs, shm, netns).
for root in "$CLUSTER_DIR" "$RUN_DIR"; do
  for _ in 1 2 3; do
    mapfile -t mounts < <(awk -v r="$root/" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
    ((${#mounts[@]} == 0)) && break
    for m in "${mounts[@]}"; do umount -l "$m" 2>/dev/null || true; done
  done
done

ip link show "$BRIDGE" >/dev/null 2>&1 && ip link delete "$BRIDGE" && log "removed bridge $BRIDGE"
nft list table inet "$NFT_TABLE" >/dev/null 2>&1 && nft delete table inet "$NFT_TABLE"
# kube-proxy's own tables (nftables mode).
for family in ip ip6; do nft list table "$family" kube-proxy >/dev/null 2>&1 && nft delete table "$family" kube-proxy; done
rm -rf "$RUN_DIR" "$CLUSTER_DIR"
log "down"
