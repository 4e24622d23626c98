/**
 * The agent's one HTTP listener for the kubelet and Prometheus: `/healthz`, `/readyz`,
 * `/metrics`. Plain node:http, so the sidecar stays small and starts fast.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { HttpPath } from '../contract/index.ts';
import { listenOn, type ListenAddress } from '../runtime/listen-address.ts';

// Not `import { createServer } from 'node:http'`: building that ES module namespace runs
// node:http's lazy getters (WebSocket, CloseEvent, MessageEvent), which load Node's bundled
// undici with http2, zlib and worker_threads: about 12 MB of RSS the sidecar never uses.
const { createServer } = process.getBuiltinModule('node:http');

const CONNECTIONS_CHECK_MS = 60_000;

export interface HealthChecks {
  /** The process and its refresh loop are alive. */
  alive(): boolean;
  /** Every reason the agent is not ready yet (none: ready). */
  notReadyReasons(): readonly string[];
  /** The Prometheus exposition text for `/metrics`. */
  metrics(): string | Promise<string>;
  readonly metricsContentType: string;
}

export interface HealthServer {
  /** The bound address (the real port when 0 was asked for). */
  readonly address: { readonly host: string; readonly port: number };
  close(): Promise<void>;
}

function answer(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function route(req: IncomingMessage, res: ServerResponse, checks: HealthChecks): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    answer(res, 405, 'method not allowed\n');
    return;
  }
  const path = (req.url ?? '/').split('?')[0];
  switch (path) {
    case HttpPath.healthz:
      if (checks.alive()) answer(res, 200, 'ok\n');
      else answer(res, 503, 'refresh loop stalled\n');
      return;
    case HttpPath.readyz: {
      const reasons = checks.notReadyReasons();
      if (reasons.length === 0) answer(res, 200, 'ok\n');
      else answer(res, 503, `${reasons.join('\n')}\n`);
      return;
    }
    case HttpPath.metrics:
      answer(res, 200, await checks.metrics(), checks.metricsContentType);
      return;
    default:
      answer(res, 404, 'not found\n');
  }
}

export async function startHealthServer(listen: ListenAddress, checks: HealthChecks): Promise<HealthServer> {
  // The two timeouts below are enforced by a timer that runs whether or not a client is
  // connected (30 s by default); once a minute bounds a stuck client as well and wakes an
  // idle sidecar half as often.
  const server: Server = createServer({ connectionsCheckingInterval: CONNECTIONS_CHECK_MS }, (req, res) => {
    route(req, res, checks).catch(() => {
      if (!res.headersSent) answer(res, 500, 'internal error\n');
      else res.destroy();
    });
  });
  // Probes and scrapes are tiny; a stuck client must not hold a socket for long.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 5_000;
  const bound = await listenOn(server, listen, 'the health server');
  let closing: Promise<void> | undefined;
  return {
    address: { host: bound.address, port: bound.port },
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      })),
  };
}
