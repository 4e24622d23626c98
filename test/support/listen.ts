/**
 * Where a stand-in listens: by default plain http on an ephemeral loopback port; the cluster
 * suite puts the stand-ins on the pod bridge's host address with https and a test CA, as the
 * real endpoints answer only over https.
 */
import { createServer as createHttpServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

export interface ListenOptions {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0 (any free port). */
  readonly port?: number;
  /** PEM serving certificate and key: https instead of http. */
  readonly tls?: { readonly cert: string; readonly key: string };
  /** Drops every connection from another source address (e.g. only what a forward proxy relays). */
  readonly acceptOnlyFrom?: string;
}

/** Creates and starts the server; resolves with it and its base URL (`http(s)://host:port`). */
export async function listenStandIn(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  options: ListenOptions = {},
): Promise<{ server: Server; url: string }> {
  const listener: RequestListener = handler;
  const server: Server = options.tls === undefined ? createHttpServer(listener) : createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, listener);
  const only = options.acceptOnlyFrom;
  if (only !== undefined) {
    server.on('connection', (socket) => {
      if (socket.remoteAddress !== only) socket.destroy();
    });
  }
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return { server, url: `${options.tls === undefined ? 'http' : 'https'}://${shownHost}:${port}` };
}
