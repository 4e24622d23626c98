#!/usr/bin/env bash
# Interim, for the cluster suite only, until the chart can mount a CA bundle into the sidecar
# (chart value caBundle.configMapName): the product image plus the test CA and
# NODE_EXTRA_CA_CERTS naming it, imported into the cluster's containerd. Prints its reference.
#   sidecar-ca-image.sh <product image ref> <ca.crt>
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=env.sh
source "$HERE/env.sh"
base="$1" ca="$2"
hash="$( (echo "$base"; cat "$ca") | sha256sum | cut -c1-12)"
ref="localhost/awi/anthropic-wif-test-ca:$hash"
ctr() { "$CONTAINERD_BIN/ctr" --address "$CONTAINERD_SOCK" -n k8s.io "$@"; }
if ! ctr images ls -q | grep -qx "$ref"; then
  archive="$CACHE_DIR/images/anthropic-wif-test-ca-$hash.tar"
  if ! [[ -s "$archive" ]]; then
    c="$(buildah from --pull-never "$base")"
    buildah copy --quiet "$c" "$ca" /etc/anthropic-wif-test/ca.crt >/dev/null
    buildah config --env NODE_EXTRA_CA_CERTS=/etc/anthropic-wif-test/ca.crt "$c"
    buildah commit --quiet --rm "$c" "$ref" >/dev/null
    buildah push --quiet "$ref" "docker-archive:$archive.tmp:$ref" && mv "$archive.tmp" "$archive"
  fi
  ctr images import "$archive" >/dev/null
fi
echo "$ref"
