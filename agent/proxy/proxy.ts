/**
 * The credential-isolating proxy (proxy mode). App containers talk plain HTTP to loopback
 * with a placeholder token; the proxy drops whatever credential the client sent, adds the
 * real Bearer token and the OAuth beta, and streams both bodies without buffering them.
 * The real token never enters the app containers.
 *
 * Kept light on purpose (the agent imports it): node:http, undici and prom-client only.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Pool, buildConnector, type Dispatcher } from 'undici';
import { Counter, Histogram, Registry } from 'prom-client';
import type { Clock } from '../../runtime/clock.ts';
import { ConfigError } from '../../runtime/errors.ts';
import type { Logger } from '../../runtime/logger.ts';
import { AgentEnv, Default, Metric } from '../../contract/index.ts';
import { listenOn, type HostListenAddress } from '../../runtime/listen-address.ts';
import { DIRECT_EGRESS, undiciConnectOption, type EgressSettings } from '../egress.ts';
import type { StoredToken } from '../refresh/files.ts';
import {
  BAD_TARGET_ANSWER,
  NO_TOKEN_ANSWER,
  assertLoopbackListenHost,
  buildClientResponseHeaders,
  buildUpstreamHeaders,
  classifyUpstreamError,
  errorBody,
  requestHasBody,
  usableToken,
  type ProxyErrorAnswer,
} from './forwarding.ts';

export interface ProxyTimeouts {
  /** Connecting to the upstream. */
  readonly connectMs: number;
  /** Waiting for the upstream's response headers; a non-streaming Messages call may take minutes. */
  readonly headersMs: number;
  /** Longest silence between two body chunks (a stream sends pings well within it). */
  readonly bodyIdleMs: number;
  /** On close, how long in-flight requests may finish before their connections are cut. */
  readonly shutdownGraceMs: number;
}

export const DEFAULT_PROXY_TIMEOUTS: ProxyTimeouts = {
  connectMs: 10_000,
  headersMs: 600_000,
  bodyIdleMs: 600_000,
  shutdownGraceMs: 2_000,
};

export interface ProxyOptions {
  readonly listen: HostListenAddress;
  /** API base URL the proxy forwards to (path and query of each request are appended). */
  readonly upstreamUrl: string;
  /** Extra trust (and proxy) for upstream connections; direct with the system roots when omitted. */
  readonly egress?: EgressSettings | undefined;
  /** The token to send now, or undefined when none has been minted yet. Called per request. */
  readonly currentToken: () => StoredToken | undefined;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Where the proxy's metrics are registered; a private registry when omitted. */
  readonly registry?: Registry | undefined;
  readonly timeouts?: Partial<ProxyTimeouts> | undefined;
  /** Monotonic milliseconds for latency measurements; performance.now by default. */
  readonly monotonicNowMs?: (() => number) | undefined;
}

export interface RunningProxy {
  /** The bound address (the real port when 0 was asked for). */
  readonly address: HostListenAddress;
  /** True while the listener accepts connections (feeds /readyz). */
  readonly listening: boolean;
  /** Stops accepting, lets in-flight requests finish within the grace period, then cuts them. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------
// Metrics

interface ProxyMetrics {
  readonly requests: Counter<'status'>;
  readonly upstreamSeconds: Histogram;
  readonly requestBytes: { inc(value: number): void };
  readonly responseBytes: { inc(value: number): void };
}

function createProxyMetrics(registry: Registry): ProxyMetrics {
  const registers = [registry];
  const requests = new Counter({
    name: Metric.proxyRequestsTotal,
    help: 'Requests answered by the proxy, by HTTP status sent to the client (499: the client went away first).',
    labelNames: ['status'] as const,
    registers,
  });
  const upstreamSeconds = new Histogram({
    name: Metric.proxyUpstreamDurationSeconds,
    help: 'Time from forwarding a request to receiving the upstream response headers.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
    registers,
  });
  const bytes = new Counter({
    name: Metric.proxyBytesTotal,
    help: 'Body bytes streamed through the proxy (request: client to upstream; response: upstream to client).',
    labelNames: ['direction'] as const,
    registers,
  });
  return { requests, upstreamSeconds, requestBytes: bytes.labels('request'), responseBytes: bytes.labels('response') };
}

// ---------------------------------------------------------------------------------------
// The server

interface ProxyRuntime {
  readonly pool: Pool;
  readonly basePath: string;
  readonly options: ProxyOptions;
  readonly metrics: ProxyMetrics;
  readonly monotonicNowMs: () => number;
}

function sendAnswer(res: ServerResponse, answer: ProxyErrorAnswer, metrics: ProxyMetrics): void {
  const body = errorBody(answer);
  metrics.requests.inc({ status: String(answer.status) });
  res.writeHead(answer.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...(answer.status === 503 ? { 'retry-after': '1' } : {}),
  });
  res.end(body);
}

/** Thrown into the upstream request when the client goes away, so undici frees it at once. */
class ClientGoneError extends Error {
  constructor() {
    super('the client closed the connection');
    this.name = 'ClientGoneError';
  }
}

/** One forwarded request: relays undici's callbacks to the client response with backpressure. */
class ForwardedRequest implements Dispatcher.DispatchHandler {
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #runtime: ProxyRuntime;
  readonly #startedMs: number;
  #controller: Dispatcher.DispatchController | undefined;
  #clientGone = false;
  /** writeHead was called: from then on an error can only cut the connection. */
  #responseStarted = false;
  #waitingForDrain = false;
  /** Body chunks received in this tick, written together when it ends (see onResponseData). */
  #pending: Buffer[] = [];
  #requestBytes = 0;
  #responseBytes = 0;

  constructor(req: IncomingMessage, res: ServerResponse, runtime: ProxyRuntime) {
    this.#req = req;
    this.#res = res;
    this.#runtime = runtime;
    this.#startedMs = runtime.monotonicNowMs();
    res.on('close', this.#onClientClose);
  }

  readonly #onClientClose = (): void => {
    if (this.#res.writableFinished) return;
    this.#clientGone = true;
    this.#controller?.abort(new ClientGoneError());
  };

  /** Writes the chunks of this tick as one; pauses the upstream while the client is behind. */
  readonly #flush = (): void => {
    const chunks = this.#pending;
    if (chunks.length === 0 || this.#res.destroyed) return;
    this.#pending = [];
    const written = this.#res.write(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
    if (written || this.#waitingForDrain) return;
    this.#waitingForDrain = true;
    this.#controller?.pause();
    this.#res.once('drain', this.#onDrain);
  };

  readonly #onDrain = (): void => {
    this.#waitingForDrain = false;
    this.#controller?.resume();
  };

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#clientGone) controller.abort(new ClientGoneError());
  }

  onBodySent(chunk: Buffer): void {
    this.#requestBytes += chunk.length;
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    const { metrics } = this.#runtime;
    metrics.upstreamSeconds.observe((this.#runtime.monotonicNowMs() - this.#startedMs) / 1000);
    metrics.requests.inc({ status: String(statusCode) });
    this.#responseStarted = true;
    this.#res.writeHead(statusCode, buildClientResponseHeaders(headers));
    // An event stream's headers go out at once; other bodies share a packet with them.
    if (String(headers['content-type']).startsWith('text/event-stream')) this.#res.flushHeaders();
  }

  /**
   * One upstream read can hold many small chunks (an SSE stream sends each event as its own
   * chunk): they are written to the client as one at the end of the tick, which sends them no
   * later, and costs one chunk frame and one system call instead of one per event.
   */
  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#responseBytes += chunk.length;
    if (this.#pending.length === 0) process.nextTick(this.#flush);
    this.#pending.push(chunk);
  }

  onResponseEnd(): void {
    this.#flush();
    this.#res.end();
    this.#finish(this.#res.statusCode);
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    const { metrics, options } = this.#runtime;
    if (this.#clientGone) {
      if (!this.#responseStarted) metrics.requests.inc({ status: '499' });
      this.#finish(499);
      return;
    }
    options.logger.warn(
      { method: this.#req.method, path: pathOnly(this.#req.url), err: { code: (error as { code?: unknown }).code, message: error.message } },
      'proxy: upstream request failed',
    );
    if (this.#responseStarted) {
      // The status is already committed: cutting the connection is the only way to tell the client.
      this.#res.destroy(error);
      this.#finish(this.#res.statusCode);
      return;
    }
    const answer = classifyUpstreamError(error);
    sendAnswer(this.#res, answer, metrics);
    this.#finish(answer.status);
  }

  #finish(status: number): void {
    const { metrics, options } = this.#runtime;
    metrics.requestBytes.inc(this.#requestBytes);
    metrics.responseBytes.inc(this.#responseBytes);
    this.#res.off('close', this.#onClientClose);
    this.#res.off('drain', this.#onDrain);
    if (options.logger.isLevelEnabled('debug')) {
      options.logger.debug(
        {
          method: this.#req.method,
          path: pathOnly(this.#req.url),
          status,
          durationMs: Math.round(this.#runtime.monotonicNowMs() - this.#startedMs),
          requestBytes: this.#requestBytes,
          responseBytes: this.#responseBytes,
        },
        'proxy: request done',
      );
    }
  }
}

/** The request path without its query string, for logs. */
function pathOnly(url: string | undefined): string {
  const raw = url ?? '';
  const q = raw.indexOf('?');
  return q === -1 ? raw : raw.slice(0, q);
}

function handleRequest(req: IncomingMessage, res: ServerResponse, runtime: ProxyRuntime): void {
  const { options, metrics } = runtime;
  const token = usableToken(options.currentToken(), options.clock.now());
  const target = req.url ?? '';
  if (!target.startsWith('/')) {
    sendAnswer(res, BAD_TARGET_ANSWER, metrics);
    return;
  }
  if (token === undefined) {
    sendAnswer(res, NO_TOKEN_ANSWER, metrics);
    return;
  }
  const handler = new ForwardedRequest(req, res, runtime);
  runtime.pool.dispatch(
    {
      path: runtime.basePath + target,
      method: req.method ?? 'GET',
      headers: buildUpstreamHeaders(req.headers, token.accessToken),
      body: requestHasBody(req.headers) ? req : null,
    },
    handler,
  );
}

function upstreamParts(upstreamUrl: string): { origin: string; basePath: string } {
  let url: URL;
  try {
    url = new URL(upstreamUrl);
  } catch {
    throw new ConfigError(`invalid ${AgentEnv.upstreamUrl} "${upstreamUrl}": expected an http(s) URL such as ${Default.baseUrl}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError(`invalid ${AgentEnv.upstreamUrl} "${upstreamUrl}": expected an http(s) URL such as ${Default.baseUrl}`);
  }
  return { origin: url.origin, basePath: url.pathname.replace(/\/+$/, '') };
}

const CLIENT_KEEP_ALIVE_MS = 60_000;
const UPSTREAM_KEEP_ALIVE_MS = 30_000;

/** Starts the proxy on a loopback address; a non-loopback host is a ConfigError (exit 2). */
export async function startProxy(options: ProxyOptions): Promise<RunningProxy> {
  assertLoopbackListenHost(options.listen.host);
  const timeouts = { ...DEFAULT_PROXY_TIMEOUTS, ...options.timeouts };
  const { origin, basePath } = upstreamParts(options.upstreamUrl);
  const pool = new Pool(origin, {
    connectTimeout: timeouts.connectMs,
    headersTimeout: timeouts.headersMs,
    bodyTimeout: timeouts.bodyIdleMs,
    keepAliveTimeout: UPSTREAM_KEEP_ALIVE_MS,
    connect: undiciConnectOption(options.egress ?? DIRECT_EGRESS, { timeoutMs: timeouts.connectMs, clock: options.clock, build: buildConnector }),
  });
  const runtime: ProxyRuntime = {
    pool,
    basePath,
    options,
    metrics: createProxyMetrics(options.registry ?? new Registry()),
    monotonicNowMs: options.monotonicNowMs ?? (() => performance.now()),
  };
  const server = createServer((req, res) => {
    handleRequest(req, res, runtime);
  });
  // Longer than the SDKs' own idle timeout, so the client, not the proxy, closes an idle socket.
  server.keepAliveTimeout = CLIENT_KEEP_ALIVE_MS;
  let address: HostListenAddress;
  try {
    address = { host: options.listen.host, port: (await listenOn(server, options.listen, 'the proxy')).port };
  } catch (error) {
    await pool.destroy();
    throw error;
  }
  options.logger.info({ listen: `${address.host}:${address.port}`, upstream: origin + basePath }, 'proxy: listening');
  let closing: Promise<void> | undefined;
  return {
    address,
    get listening(): boolean {
      return server.listening;
    },
    close: () => (closing ??= closeProxy(server, pool, { clock: options.clock, graceMs: timeouts.shutdownGraceMs })),
  };
}

async function closeProxy(server: Server, pool: Pool, how: { readonly clock: Clock; readonly graceMs: number }): Promise<void> {
  const closed = new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
  server.closeIdleConnections();
  const grace = new AbortController();
  const finishedInTime = await Promise.race([closed.then(() => true), how.clock.sleep(how.graceMs, grace.signal).then(() => false, () => false)]);
  grace.abort();
  if (!finishedInTime) {
    server.closeAllConnections();
    await closed;
  }
  await pool.destroy();
}
