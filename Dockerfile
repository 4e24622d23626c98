# syntax=docker/dockerfile:1
#
# The one image of anthropic-workload-identity: the webhook (`anthropic-wif webhook`) and the
# injected sidecar (`anthropic-wif agent`) run it with different arguments.
#
#   docker build \
#     --build-arg VERSION="$(node -p 'require("./package.json").version')" \
#     --build-arg REVISION="$(git rev-parse HEAD)" \
#     -t ghcr.io/anthropic-workload-identity/anthropic-wif:0.1.0 .
#
# Multi-arch: `docker buildx build --platform linux/amd64,linux/arm64 …`; the build stages
# run on the build machine's platform (the output is plain JavaScript).
#
# Base images are pinned to an exact Node.js release and Debian suite, the same Node.js the
# tests run on (package-lock.json's `node` package; test/unit/dockerfile.test.ts checks
# it). To pin by content as well, append the digest that `docker buildx imagetools inspect
# node:<tag>` prints, e.g. `FROM node:24.21.0-trixie-slim@sha256:<digest>`; the tag stays
# for readers, and a bot such as Renovate or Dependabot can keep both current.
#
# Why node:*-slim and not distroless: distroless Node images are published only under
# moving tags (`nodejs24-debian12:nonroot`), so they cannot be pinned to a Node.js release
# without a digest. Nothing at run time uses a shell: the entrypoint is exec-form, and
# every probe is an HTTP probe.

ARG NODE_IMAGE=node:24.21.0-trixie-slim

# ---------------------------------------------------------------------------------------
# Compile TypeScript with the dev dependencies.
FROM --platform=$BUILDPLATFORM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json .npmrc ./
# --ignore-scripts: tsc needs no install script, and none runs with registry credentials.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY contract ./contract
COPY agent ./agent
COPY doctor ./doctor
COPY issuer ./issuer
COPY cli ./cli
COPY runtime ./runtime
COPY webhook ./webhook
COPY audit ./audit
RUN npm run build \
 && chmod 0755 dist/cli/anthropic-wif.js

# ---------------------------------------------------------------------------------------
# Production dependencies only (all plain JavaScript, so built on the build platform too).
FROM --platform=$BUILDPLATFORM ${NODE_IMAGE} AS production-dependencies
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# ---------------------------------------------------------------------------------------
# Runtime: Node.js, production dependencies and compiled JavaScript; no compiler, no tests.
FROM ${NODE_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="anthropic-wif" \
      org.opencontainers.image.description="Anthropic Workload Identity Federation for Kubernetes: the admission webhook and the token-refresh sidecar." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/anthropic-workload-identity/anthropic-workload-identity" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="anthropic-workload-identity" \
      org.opencontainers.image.base.name="docker.io/library/node:24.21.0-trixie-slim"
ENV NODE_ENV=production
WORKDIR /app
# npm, npx, corepack and yarn are not needed to run the CLI; removing them shrinks the
# image and what a scanner reports. The CLI is put on PATH as `anthropic-wif` (the bin name
# in package.json) by a symlink: its `#!/usr/bin/env node` line finds /usr/local/bin/node,
# so ENTRYPOINT ["anthropic-wif"] runs with no shell.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
      /opt/yarn-* /usr/local/bin/yarn /usr/local/bin/yarnpkg \
 && ln -s /app/dist/cli/anthropic-wif.js /usr/local/bin/anthropic-wif
COPY --from=production-dependencies /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# "type": "module" in package.json makes Node load dist/**/*.js as ES modules.
COPY package.json ./
# The same non-root uid the webhook gives the sidecar when an app declares none.
USER 65532:65532
ENTRYPOINT ["anthropic-wif"]
CMD ["--help"]
