# Shared settings of the local cluster (sourced by up.sh and down.sh). Every address here
# exists only on this machine: the pod bridge and its subnet are created by up.sh.
export PATH=/usr/local/go/bin:/usr/local/sbin:/usr/sbin:/sbin:$PATH
KUBE_VERSION="${KUBE_VERSION:-1.37.2}"
CONTAINERD_VERSION="${CONTAINERD_VERSION:-2.4.2}"
CACHE_DIR="${ANTHROPIC_WIF_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/anthropic-workload-identity}"
K8S_BIN="$CACHE_DIR/k8s/v$KUBE_VERSION/bin"
CONTAINERD_BIN="$CACHE_DIR/containerd/v$CONTAINERD_VERSION/bin"
# Everything of one running cluster; removed by cluster:down.
CLUSTER_DIR="${ANTHROPIC_WIF_CLUSTER_DIR:-/var/lib/anthropic-wif-cluster}"
RUN_DIR="/run/anthropic-wif-cluster"
PID_DIR="$RUN_DIR/pids"
LOG_DIR="$CLUSTER_DIR/logs"
PKI="$CLUSTER_DIR/pki"
CONTAINERD_SOCK="$RUN_DIR/containerd.sock"
BRIDGE=awi0
BRIDGE_IP=10.244.0.1
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/24
KUBERNETES_SERVICE_IP=10.96.0.1
API_PORT=6443
ETCD_CLIENT=127.0.0.1:23790
ETCD_PEER=127.0.0.1:23800
NODE_NAME=awi-node
NFT_TABLE=anthropic_wif_cluster
KUBECONFIG_ADMIN="$CLUSTER_DIR/admin.kubeconfig"
