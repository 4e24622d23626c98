#!/usr/bin/env bash
# Builds containerd (and its runc shim and ctr) of one release from the
# github.com/containerd/containerd/v2 Go module, once, into a cache keyed by version:
#   <cache>/containerd/v<version>/bin/{containerd,containerd-shim-runc-v2,ctr}
# Kubernetes >= 1.36 needs containerd 2; Debian 12 has 1.6. runc comes from Debian.
set -euo pipefail
export PATH=/usr/local/go/bin:$PATH

VERSION="${CONTAINERD_VERSION:-2.4.2}"
CACHE_DIR="${ANTHROPIC_WIF_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/anthropic-workload-identity}"
BIN_DIR="$CACHE_DIR/containerd/v$VERSION/bin"
PKG=github.com/containerd/containerd/v2

if [[ -x "$BIN_DIR/containerd" && -x "$BIN_DIR/containerd-shim-runc-v2" && -x "$BIN_DIR/ctr" ]] &&
  "$BIN_DIR/containerd" --version 2>/dev/null | grep -q "v$VERSION"; then
  echo "containerd v$VERSION: cached in $BIN_DIR"
  exit 0
fi
if ! command -v gcc >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev >/dev/null
fi

src="$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "$PKG@v$VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')"
[[ -d "$src" ]] || { echo "could not download $PKG@v$VERSION" >&2; exit 1; }
mkdir -p "$BIN_DIR"
cd "$src"
echo "containerd v$VERSION: building from $src"
start=$(date +%s)
version_ldflags="-X $PKG/version.Version=v$VERSION -X $PKG/version.Package=$PKG -s -w"
# The same tags as the release Makefile; no_btrfs: no btrfs headers needed (overlayfs is used).
CGO_ENABLED=1 go build -mod=readonly -trimpath -tags "urfave_cli_no_docs no_btrfs" -ldflags "$version_ldflags" \
  -o "$BIN_DIR/" ./cmd/containerd ./cmd/ctr
CGO_ENABLED=0 go build -mod=readonly -trimpath -tags "urfave_cli_no_docs no_btrfs no_grpc" -ldflags "$version_ldflags" \
  -o "$BIN_DIR/" ./cmd/containerd-shim-runc-v2
"$BIN_DIR/containerd" --version
echo "containerd v$VERSION: built in $(($(date +%s) - start)) s -> $BIN_DIR"
