#!/usr/bin/env bash
# `npm run test:cluster`: cluster:up, the scenarios (vitest.cluster.config.ts), cluster:down.
# ANTHROPIC_WIF_CLUSTER_KEEP=1 leaves the cluster running afterwards.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
cd "$HERE/../.."
# npm scripts run with node_modules/.bin first on PATH (Node 24); so does this when run directly.
export PATH="$PWD/node_modules/.bin:$PATH"
t0=$(date +%s)
bash "$HERE/up.sh"
status=0
node_modules/.bin/vitest run --config vitest.cluster.config.ts "$@" || status=$?
if [[ "${ANTHROPIC_WIF_CLUSTER_KEEP:-0}" != 1 ]]; then bash "$HERE/down.sh"; fi
echo "test:cluster: $(($(date +%s) - t0)) s in all, vitest status $status" >&2
exit "$status"
