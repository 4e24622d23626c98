#!/usr/bin/env bash
# `npm run cluster:up`: a real single-node Kubernetes cluster on this machine, no Docker.
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and kube-proxy
# (nftables) of one release, containerd 2 + runc, CNI bridge on a subnet that exists only
# here. Idempotent: a healthy running cluster is left alone. Prints the admin kubeconfig path
# on its last line. Needs root.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=env.sh
source "$HERE/env.sh"
REPO="$(cd "$HERE/../.." && pwd)"
[[ $(id -u) -eq 0 ]] || { echo "cluster:up needs root (containerd, kubelet, network namespaces)" >&2; exit 1; }
log() { echo "cluster: $*" >&2; }
t0=$(date +%s)

# ---- packages and builds (each cached) -----------------------------------------------------
pkgs=()
for p in curl:curl runc:runc etcd:etcd-server nft:nftables conntrack:conntrack openssl:openssl buildah:buildah mmdebstrap:mmdebstrap ip:iproute2 unzip:unzip; do
  command -v "${p%%:*}" >/dev/null || pkgs+=("${p#*:}")
done
[[ -x /usr/lib/cni/bridge ]] || pkgs+=(containernetworking-plugins)
if ((${#pkgs[@]} > 0)); then
  log "apt-get install ${pkgs[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi
# The image build waits mostly on the network and disk (mmdebstrap, npm ci in buildah), the Go
# builds on the CPU: run it beside them. Its output is read when all are done.
images_out="$(mktemp)"
bash "$HERE/build-images.sh" >"$images_out" &
images_pid=$!
bash "$HERE/build-kubernetes.sh" >&2
bash "$HERE/build-containerd.sh" >&2
if ! wait "$images_pid"; then rm -f "$images_out"; log "the image build failed (its messages are above)"; exit 1; fi
images_env="$(cat "$images_out")"
rm -f "$images_out"
eval "$images_env"

mkdir -p "$CLUSTER_DIR" "$PID_DIR" "$LOG_DIR" "$PKI"

running() { [[ -f "$PID_DIR/$1.pid" ]] && kill -0 "$(cat "$PID_DIR/$1.pid")" 2>/dev/null; }
# Starts a daemon in its own session, detached from this script; its pid goes to pids/<name>.pid.
start() {
  local name="$1"; shift
  if running "$name"; then return 0; fi
  setsid "$@" >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$PID_DIR/$name.pid"
  log "started $name (pid $!)"
}
wait_for() {
  local what="$1" tries="$2"; shift 2
  for ((i = 0; i < tries; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  log "$what did not come up; last log lines:"
  tail -30 "$LOG_DIR/$what.log" >&2 || true
  exit 1
}

# ---- PKI (kept while the cluster exists) -----------------------------------------------------
if [[ ! -f "$PKI/done" ]]; then
  log "generating PKI"
  (
    cd "$PKI"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 -subj /CN=anthropic-wif-cluster-ca 2>/dev/null
    cat >ext.cnf <<CNF
[server]
subjectAltName=IP:$BRIDGE_IP,IP:$KUBERNETES_SERVICE_IP,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:$NODE_NAME
extendedKeyUsage=serverAuth
keyUsage=digitalSignature,keyEncipherment
[client]
extendedKeyUsage=clientAuth
keyUsage=digitalSignature,keyEncipherment
CNF
    issue() { # name subject extension
      openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 30 -extfile ext.cnf -extensions "$3" 2>/dev/null
    }
    issue apiserver /CN=kube-apiserver server
    issue kubelet-serving "/CN=$NODE_NAME" server
    issue admin /CN=cluster-admin/O=system:masters client
    issue apiserver-kubelet-client /CN=kube-apiserver-kubelet-client/O=system:masters client
    issue controller-manager /CN=system:kube-controller-manager client
    issue scheduler /CN=system:kube-scheduler client
    issue kubelet "/CN=system:node:$NODE_NAME/O=system:nodes" client
    issue kube-proxy /CN=system:kube-proxy client
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    touch done
  )
fi
# The API server's client certificate for admission webhooks, from a CA of its own: the chart's
# webhook.clientAuth trusts only this CA (README, "Who may call the webhook").
if [[ ! -f "$PKI/webhook-client.crt" ]]; then
  (
    cd "$PKI"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout webhook-client-ca.key -out webhook-client-ca.crt -days 30 -subj /CN=anthropic-wif-webhook-client-ca 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout webhook-client.key -out webhook-client.csr -subj /CN=kube-apiserver-webhook-client 2>/dev/null
    openssl x509 -req -in webhook-client.csr -CA webhook-client-ca.crt -CAkey webhook-client-ca.key -CAcreateserial -out webhook-client.crt -days 30 -extfile ext.cnf -extensions client 2>/dev/null
  )
fi
# `*`: the API server presents this certificate to every webhook it calls.
cat >"$CLUSTER_DIR/webhook-client.kubeconfig" <<KC
apiVersion: v1
kind: Config
users:
- name: "*"
  user:
    client-certificate: $PKI/webhook-client.crt
    client-key: $PKI/webhook-client.key
KC
cat >"$CLUSTER_DIR/admission.yaml" <<YAML
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: MutatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: $CLUSTER_DIR/webhook-client.kubeconfig
YAML
kubeconfig() { # file user-cert-name
  cat >"$1" <<KC
apiVersion: v1
kind: Config
clusters:
- name: anthropic-wif
  cluster:
    server: https://$BRIDGE_IP:$API_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: $2
  user:
    client-certificate: $PKI/$2.crt
    client-key: $PKI/$2.key
contexts:
- name: anthropic-wif
  context: {cluster: anthropic-wif, user: $2}
current-context: anthropic-wif
KC
}
for u in admin controller-manager scheduler kubelet kube-proxy; do kubeconfig "$CLUSTER_DIR/$u.kubeconfig" "$u"; done

# ---- network: the pod bridge, and no way out ---------------------------------------------------
if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
  ip link add "$BRIDGE" type bridge
fi
ip addr show dev "$BRIDGE" | grep -q "inet $BRIDGE_IP/" || ip addr add "$BRIDGE_IP/24" dev "$BRIDGE"
ip link set "$BRIDGE" up
# Pods get no default route (see the CNI config); this table drops anything a pod would still
# send through the host to another interface, and anything that arrives for the pod subnet
# from outside.
nft -f - <<NFT
table inet $NFT_TABLE
delete table inet $NFT_TABLE
table inet $NFT_TABLE {
  chain forward {
    type filter hook forward priority -10; policy accept;
    iifname "$BRIDGE" oifname != "$BRIDGE" drop
    oifname "$BRIDGE" iifname != "$BRIDGE" drop
  }
}
NFT
mkdir -p "$CLUSTER_DIR/cni/net.d" "$CLUSTER_DIR/cni/ipam"
cat >"$CLUSTER_DIR/cni/net.d/10-awi.conflist" <<CNI
{
  "cniVersion": "1.0.0",
  "name": "awi",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$CLUSTER_DIR/cni/ipam",
        "ranges": [[{ "subnet": "$POD_CIDR", "gateway": "$BRIDGE_IP" }]],
        "routes": [{ "dst": "$SERVICE_CIDR" }]
      }
    }
  ]
}
CNI
# No DNS server: pods resolve nothing (stand-ins are reached by IP); loopback refuses at once.
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$CLUSTER_DIR/resolv.conf"

# ---- containerd ----------------------------------------------------------------------------------
cat >"$CLUSTER_DIR/containerd.toml" <<TOML
version = 3
root = "$CLUSTER_DIR/containerd"
state = "$RUN_DIR/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[debug]
  address = "$CONTAINERD_SOCK.debug"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "$IMAGE_PAUSE"
[plugins.'io.containerd.cri.v1.runtime']
  netns_mounts_under_state_dir = true
  # This machine withholds CAP_SYS_RESOURCE even from root: no process may lower its OOM score
  # (the sandbox asks for -998), so scores are clamped at this process's own.
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "$(command -v runc)"
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$CLUSTER_DIR/cni/net.d"
    max_conf_num = 1
TOML
start containerd env PATH="$CONTAINERD_BIN:$PATH" "$CONTAINERD_BIN/containerd" --config "$CLUSTER_DIR/containerd.toml"
wait_for containerd 120 "$CONTAINERD_BIN/ctr" --address "$CONTAINERD_SOCK" version
ctr() { "$CONTAINERD_BIN/ctr" --address "$CONTAINERD_SOCK" -n k8s.io "$@"; }
for ref_archive in "$IMAGE_PAUSE=$IMAGE_PAUSE_ARCHIVE" "$IMAGE_WIF=$IMAGE_WIF_ARCHIVE" "$IMAGE_APP=$IMAGE_APP_ARCHIVE" "$IMAGE_NODE_BASE=$IMAGE_NODE_BASE_ARCHIVE"; do
  ref="${ref_archive%%=*}"
  if ! ctr images ls -q | grep -qx "$ref"; then
    log "importing $ref"
    ctr images import --no-unpack=false --snapshotter overlayfs "${ref_archive#*=}" >/dev/null
  fi
done

# ---- etcd, control plane --------------------------------------------------------------------------
start etcd etcd --name "$NODE_NAME" --data-dir "$CLUSTER_DIR/etcd" \
  --listen-client-urls "http://$ETCD_CLIENT" --advertise-client-urls "http://$ETCD_CLIENT" \
  --listen-peer-urls "http://$ETCD_PEER" --initial-advertise-peer-urls "http://$ETCD_PEER" \
  --initial-cluster "$NODE_NAME=http://$ETCD_PEER" --unsafe-no-fsync
wait_for etcd 60 curl -fsS "http://$ETCD_CLIENT/health"

start kube-apiserver "$K8S_BIN/kube-apiserver" \
  --etcd-servers "http://$ETCD_CLIENT" \
  --bind-address "$BRIDGE_IP" --advertise-address "$BRIDGE_IP" --secure-port "$API_PORT" \
  --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
  --client-ca-file "$PKI/ca.crt" \
  --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
  --service-account-issuer "https://$BRIDGE_IP:$API_PORT" \
  --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
  --service-cluster-ip-range "$SERVICE_CIDR" \
  --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
  --admission-control-config-file "$CLUSTER_DIR/admission.yaml" \
  --enable-aggregator-routing=true --allow-privileged=true \
  --kubelet-preferred-address-types InternalIP \
  --endpoint-reconciler-type lease
kubectl() { "$(bash "$HERE/tools.sh" kubectl)" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }
KUBECTL="$(bash "$HERE/tools.sh" kubectl)"
wait_for kube-apiserver 240 "$KUBECTL" --kubeconfig "$KUBECONFIG_ADMIN" get --raw /readyz

start kube-controller-manager "$K8S_BIN/kube-controller-manager" \
  --kubeconfig "$CLUSTER_DIR/controller-manager.kubeconfig" \
  --authentication-kubeconfig "$CLUSTER_DIR/controller-manager.kubeconfig" \
  --authorization-kubeconfig "$CLUSTER_DIR/controller-manager.kubeconfig" \
  --bind-address 127.0.0.1 --leader-elect=false \
  --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
  --use-service-account-credentials=true --allocate-node-cidrs=false \
  --service-cluster-ip-range "$SERVICE_CIDR" \
  --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key"
start kube-scheduler "$K8S_BIN/kube-scheduler" \
  --kubeconfig "$CLUSTER_DIR/scheduler.kubeconfig" \
  --authentication-kubeconfig "$CLUSTER_DIR/scheduler.kubeconfig" \
  --authorization-kubeconfig "$CLUSTER_DIR/scheduler.kubeconfig" \
  --bind-address 127.0.0.1 --leader-elect=false

# ---- kubelet, kube-proxy ----------------------------------------------------------------------------
cat >"$CLUSTER_DIR/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $BRIDGE_IP
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
resolvConf: $CLUSTER_DIR/resolv.conf
clusterDomain: cluster.local
registerNode: true
serializeImagePulls: false
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
syncFrequency: 10s
fileCheckFrequency: 10s
# No CAP_SYS_RESOURCE here (see containerd.toml): keep the kubelet's own OOM score.
oomScoreAdj: 0
YAML
start kubelet "$K8S_BIN/kubelet" --config "$CLUSTER_DIR/kubelet.yaml" --kubeconfig "$CLUSTER_DIR/kubelet.kubeconfig" \
  --root-dir "$CLUSTER_DIR/kubelet" --hostname-override "$NODE_NAME" --node-ip "$BRIDGE_IP" --v 1
cat >"$CLUSTER_DIR/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
clientConnection: {kubeconfig: $CLUSTER_DIR/kube-proxy.kubeconfig}
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_CIDR
bindAddress: $BRIDGE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["$BRIDGE_IP/32"]
conntrack: {maxPerCore: 0}
oomScoreAdj: 0
YAML
start kube-proxy "$K8S_BIN/kube-proxy" --config "$CLUSTER_DIR/kube-proxy.yaml"

wait_for kubelet 240 bash -c "'$KUBECTL' --kubeconfig '$KUBECONFIG_ADMIN' get node '$NODE_NAME' -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
# The token endpoint stand-in verifies service-account JWTs by OIDC discovery, unauthenticated
# as the real one would; the default service account needs no token Secret.
kubectl apply -f - >/dev/null <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: anthropic-wif-public-oidc-discovery}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:service-account-issuer-discovery}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: system:unauthenticated}
YAML
wait_for kube-controller-manager 120 bash -c "'$KUBECTL' --kubeconfig '$KUBECONFIG_ADMIN' -n default get serviceaccount default"
{
  echo "KUBECONFIG=$KUBECONFIG_ADMIN"
  echo "API_SERVER=https://$BRIDGE_IP:$API_PORT"
  echo "CLUSTER_CA=$PKI/ca.crt"
  echo "WEBHOOK_CLIENT_CA=$PKI/webhook-client-ca.crt"
  echo "WEBHOOK_CLIENT_CERT=$PKI/webhook-client.crt"
  echo "WEBHOOK_CLIENT_KEY=$PKI/webhook-client.key"
  echo "ADMIN_CERT=$PKI/admin.crt"
  echo "ADMIN_KEY=$PKI/admin.key"
  echo "HOST_IP=$BRIDGE_IP"
  echo "KUBE_VERSION=$KUBE_VERSION"
  echo "$images_env"
} >"$CLUSTER_DIR/cluster.env"
log "ready in $(($(date +%s) - t0)) s (Kubernetes v$KUBE_VERSION, containerd v$CONTAINERD_VERSION); facts in $CLUSTER_DIR/cluster.env"
echo "$KUBECONFIG_ADMIN"
