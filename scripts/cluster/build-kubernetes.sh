#!/usr/bin/env bash
# Builds the Kubernetes node and control-plane binaries of one release from the
# k8s.io/kubernetes Go module, once, into a cache outside the repository keyed by version:
#   <cache>/k8s/v<version>/bin/{kube-apiserver,kube-controller-manager,kube-scheduler,kubelet,kube-proxy}
# k8s.io/kubernetes requires its staging modules (k8s.io/api, k8s.io/client-go, ...) at
# v0.0.0; each gets a `replace` to the matching v0.<minor>.<patch> release. Later runs find
# the binaries and return at once. Needs Go >= the release's go directive (Go 1.26 at /usr/local/go).
set -euo pipefail
export PATH=/usr/local/go/bin:$PATH

VERSION="${KUBE_VERSION:-1.37.2}"
CACHE_DIR="${ANTHROPIC_WIF_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/anthropic-workload-identity}"
BIN_DIR="$CACHE_DIR/k8s/v$VERSION/bin"
SRC_DIR="${KUBE_BUILD_DIR:-$CACHE_DIR/src/k8s-v$VERSION}"
COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)

missing=()
for c in "${COMPONENTS[@]}"; do
  if ! [[ -x "$BIN_DIR/$c" ]] || ! "$BIN_DIR/$c" --version 2>/dev/null | grep -q "v$VERSION"; then missing+=("$c"); fi
done
if ((${#missing[@]} == 0)); then
  echo "kubernetes v$VERSION: cached in $BIN_DIR"
  exit 0
fi

command -v go >/dev/null || { echo "go not found (expected /usr/local/go/bin/go)" >&2; exit 1; }
if ! command -v gcc >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev >/dev/null
fi

mkdir -p "$SRC_DIR" "$BIN_DIR"
cd "$SRC_DIR"
minor_patch="${VERSION#*.}"  # 37.2
if ! grep -q "^require k8s.io/kubernetes v$VERSION" go.mod 2>/dev/null; then
  echo "kubernetes v$VERSION: writing go.mod in $SRC_DIR"
  rm -f go.mod go.sum
  go mod init local/k8sbuild >/dev/null 2>&1
  go mod edit -require="k8s.io/kubernetes@v$VERSION"
  # The staging modules are the `k8s.io/X v0.0.0` requirements of k8s.io/kubernetes's own go.mod.
  upstream_mod="$(GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@v$VERSION" | sed -n 's/^\s*"GoMod": "\(.*\)",$/\1/p')"
  [[ -f "$upstream_mod" ]] || { echo "could not download k8s.io/kubernetes@v$VERSION's go.mod" >&2; exit 1; }
  staging=$(awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" { print $1 }' "$upstream_mod" | sort -u)
  [[ -n "$staging" ]] || { echo "no k8s.io/* v0.0.0 requirements found in $upstream_mod" >&2; exit 1; }
  for m in $staging; do go mod edit -replace="$m=$m@v0.$minor_patch"; done
  echo "kubernetes v$VERSION: $(wc -w <<<"$staging") staging modules replaced at v0.$minor_patch"
fi
{
  printf '//go:build tools\n\npackage tools\n\nimport (\n'
  for c in "${COMPONENTS[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$c"; done
  printf ')\n'
} >tools.go
go mod tidy

ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v$VERSION -X k8s.io/component-base/version.gitMajor=${VERSION%%.*} -X k8s.io/component-base/version.gitMinor=${minor_patch%%.*} -X k8s.io/component-base/version.gitTreeState=clean"
echo "kubernetes v$VERSION: building ${missing[*]} (about 25 minutes on 2 cores for all five; paid once)"
start=$(date +%s)
pkgs=()
for c in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
CGO_ENABLED=1 go build -trimpath -ldflags "$ldflags" -o "$BIN_DIR/" "${pkgs[@]}"
for c in "${missing[@]}"; do "$BIN_DIR/$c" --version; done
echo "kubernetes v$VERSION: built in $(($(date +%s) - start)) s -> $BIN_DIR"
