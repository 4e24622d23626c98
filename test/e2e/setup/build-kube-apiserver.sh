#!/usr/bin/env bash
# Builds kube-apiserver v1.20.2 from Debian's `kubernetes` source package, once, into a
# cache outside the repository. Later runs find the cached binary and return at once.
# Needs root (apt) the first time only.
set -euo pipefail

CACHE_DIR="${ANTHROPIC_WIF_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/anthropic-workload-identity}"
BIN="$CACHE_DIR/bin/kube-apiserver"
# Bump when the build changes, so a cached binary from an older recipe is rebuilt.
RECIPE="v1.20.2+reflect2-1.0.2"
RECIPE_FILE="$BIN.recipe"

cached() { [[ -x "$BIN" && "$(cat "$RECIPE_FILE" 2>/dev/null)" == "$RECIPE" ]] && "$BIN" --version >/dev/null 2>&1; }

need_pkgs=()
command -v etcd >/dev/null 2>&1 || need_pkgs+=(etcd-server)
command -v openssl >/dev/null 2>&1 || need_pkgs+=(openssl)

if cached && ((${#need_pkgs[@]} == 0)); then
  echo "kube-apiserver: cached at $BIN ($("$BIN" --version))"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi

if ! cached; then
  [[ -d /usr/share/gocode/src/github.com/modern-go/reflect2 ]] || need_pkgs+=(golang-github-modern-go-reflect2-dev)
  command -v go >/dev/null 2>&1 || need_pkgs+=(golang-go)
  command -v rsync >/dev/null 2>&1 || need_pkgs+=(rsync)
  command -v jq >/dev/null 2>&1 || need_pkgs+=(jq)
  command -v dpkg-source >/dev/null 2>&1 || need_pkgs+=(dpkg-dev)
fi

if ! grep -rqs '^deb-src .*bookworm' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo 'deb-src http://deb.debian.org/debian bookworm main' | $SUDO tee /etc/apt/sources.list.d/anthropic-wif-bookworm-src.list >/dev/null
  $SUDO apt-get update -qq
fi
if ((${#need_pkgs[@]} > 0)); then
  echo "installing: ${need_pkgs[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

if cached; then
  echo "kube-apiserver: cached at $BIN"
  exit 0
fi

SRC_ROOT="$CACHE_DIR/src"
mkdir -p "$SRC_ROOT" "$CACHE_DIR/bin"
cd "$SRC_ROOT"
if ! compgen -G "kubernetes-*/Makefile" >/dev/null; then
  echo "fetching Debian's kubernetes source package"
  apt-get source -qq kubernetes >/dev/null
fi
SRC_DIR="$(dirname "$(compgen -G "kubernetes-*/Makefile" | head -1)")"
cd "$SRC_DIR"

# Kubernetes 1.20 vendors modern-go/reflect2 v1.0.1, whose map iteration crashes the API
# server (SIGSEGV in mapiterinit) when built with Go >= 1.18, as Debian 12's Go 1.19 is: it
# dies on the first mutating-webhook patch. v1.0.2 (Debian's golang-github-modern-go-reflect2-dev)
# fixes it with the same API, so swap its sources into vendor/.
REFLECT2=vendor/github.com/modern-go/reflect2
if [[ ! -f "$REFLECT2/go_above_118.go" ]]; then
  echo "patching $REFLECT2 to v1.0.2 (Go 1.18+ fix)"
  find "$REFLECT2" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) -delete
  cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.go /usr/share/gocode/src/github.com/modern-go/reflect2/*.s "$REFLECT2/"
fi

VERSION_FILE="$SRC_ROOT/kube-version.env"
cat >"$VERSION_FILE" <<VERSION
KUBE_GIT_COMMIT=faecb196815e248d3ecfb03c680a4507229c2a56
KUBE_GIT_TREE_STATE=clean
KUBE_GIT_VERSION=v1.20.2
KUBE_GIT_MAJOR=1
KUBE_GIT_MINOR=20
VERSION

echo "building kube-apiserver (about 8 minutes on 2 cores; paid once)"
start=$(date +%s)
KUBE_GIT_VERSION_FILE="$VERSION_FILE" CGO_ENABLED=0 make WHAT=cmd/kube-apiserver >"$SRC_ROOT/build.log" 2>&1 || {
  echo "build failed; last lines of $SRC_ROOT/build.log:" >&2
  tail -40 "$SRC_ROOT/build.log" >&2
  exit 1
}
built="$(find _output -type f -name kube-apiserver -perm -u+x | head -1)"
install -m 0755 "$built" "$BIN.tmp"
mv "$BIN.tmp" "$BIN"
echo "$RECIPE" >"$RECIPE_FILE"
echo "kube-apiserver: built in $(($(date +%s) - start)) s -> $BIN ($("$BIN" --version))"
