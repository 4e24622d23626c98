/**
 * The proxy over real sockets: an upstream stand-in on 127.0.0.1 records what it receives,
 * clients are the official SDK (in a child process with a clean environment) and raw
 * node:http requests.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { Registry } from 'prom-client';
import { PROXY_PLACEHOLDER_AUTH_TOKEN, SdkEnv } from '../../contract/index.ts';
import type { StoredToken } from '../../agent/refresh/files.ts';
import { metricSample } from '../../agent/metrics.ts';
import { startProxy, type ProxyTimeouts, type RunningProxy } from '../../agent/proxy/proxy.ts';
import { systemClock, type Clock } from '../../runtime/clock.ts';
import { createLogger } from '../../runtime/logger.ts';
import { startMessagesEndpoint } from '../support/messages-endpoint.ts';

const execFileAsync = promisify(execFile);
const REAL_TOKEN = 'sk-ant-oat01-real-token-for-proxy-tests';
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

// ---------------------------------------------------------------------------------------
// An upstream stand-in for the Messages API.

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly remotePort: number;
}

interface Upstream {
  readonly url: string;
  readonly seen: Seen[];
  /** Resolves when a response is closed before it finished (the proxy let go of it). */
  readonly abandoned: Promise<void>;
  close(): Promise<void>;
}

type Route = (req: IncomingMessage, res: ServerResponse, body: string) => void;

const MESSAGE = {
  id: 'msg_01',
  type: 'message',
  role: 'assistant',
  model: 'claude-test',
  content: [{ type: 'text', text: 'Hello through the proxy' }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: { input_tokens: 3, output_tokens: 5 },
};

function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

const STREAM_EVENTS = [
  sse('message_start', { type: 'message_start', message: { ...MESSAGE, content: [], stop_reason: null, usage: { input_tokens: 3, output_tokens: 0 } } }),
  sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
  sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello ' } }),
  sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'streamed' } }),
  sse('content_block_stop', { type: 'content_block_stop', index: 0 }),
  sse('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 2 } }),
  sse('message_stop', { type: 'message_stop' }),
];

const messagesRoute: Route = (_req, res, body) => {
  const parsed = JSON.parse(body) as { stream?: boolean };
  if (parsed.stream === true) {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'request-id': 'req_stream' });
    for (const event of STREAM_EVENTS) res.write(event);
    res.end();
    return;
  }
  const json = JSON.stringify(MESSAGE);
  res.writeHead(200, { 'content-type': 'application/json', 'request-id': 'req_plain', 'content-length': Buffer.byteLength(json) });
  res.end(json);
};

async function startUpstream(route: Route = messagesRoute): Promise<Upstream> {
  const seen: Seen[] = [];
  let markAbandoned: () => void = () => undefined;
  const abandoned = new Promise<void>((resolve) => {
    markAbandoned = resolve;
  });
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, remotePort: req.socket.remotePort ?? 0 });
      res.on('close', () => {
        if (!res.writableFinished) markAbandoned();
      });
      route(req, res, body);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    abandoned,
    close: () => closeServer(server),
  };
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => { resolve(); }));
}

// ---------------------------------------------------------------------------------------
// Proxy under test

interface Harness {
  readonly proxy: RunningProxy;
  readonly registry: Registry;
  readonly logs: string[];
  readonly clock: Clock & { set(ms: number): void };
  token: StoredToken | undefined;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startHarness(upstreamUrl: string, timeouts: Partial<ProxyTimeouts> = {}): Promise<Harness> {
  let now = T0;
  const clock = {
    now: () => now,
    sleep: (ms: number, signal?: AbortSignal) => systemClock.sleep(ms, signal),
    set: (ms: number) => {
      now = ms;
    },
  };
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logs.push(chunk.toString('utf8'));
      callback();
    },
  });
  const registry = new Registry();
  const harness: Partial<Harness> & { token: StoredToken | undefined } = { token: { accessToken: REAL_TOKEN, expiresAtMs: T0 + 3_600_000 } };
  const proxy = await startProxy({
    listen: { host: '127.0.0.1', port: 0 },
    upstreamUrl,
    currentToken: () => harness.token,
    clock,
    logger: createLogger({ name: 'proxy-test', level: 'debug', destination }),
    registry,
    timeouts,
  });
  cleanups.push(() => proxy.close());
  return Object.assign(harness, { proxy, registry, logs, clock });
}

async function upstreamFor(route?: Route): Promise<Upstream> {
  const upstream = await startUpstream(route);
  cleanups.push(() => upstream.close());
  return upstream;
}

function proxyUrl(harness: Harness): string {
  return `http://127.0.0.1:${harness.proxy.address.port}`;
}

interface RawAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

function send(harness: Harness, options: { method?: string; path?: string; headers?: Record<string, string>; body?: string } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${proxyUrl(harness)}${options.path ?? '/v1/messages'}`,
      { method: options.method ?? 'POST', headers: options.headers ?? { 'content-type': 'application/json' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }); });
      },
    );
    req.on('error', reject);
    req.end(options.body ?? JSON.stringify({ model: 'claude-test', max_tokens: 8, messages: [] }));
  });
}

/** Runs the official SDK in a child process whose environment holds only what proxy mode injects. */
async function runSdk(baseUrl: string): Promise<{ plain: string; streamed: string; events: number }> {
  const script = `
    import Anthropic from '@anthropic-ai/sdk';
    const client = new Anthropic({ maxRetries: 0 });
    const params = { model: 'claude-test', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] };
    const plain = await client.messages.create(params);
    let events = 0;
    const stream = client.messages.stream(params);
    stream.on('streamEvent', () => { events += 1; });
    const streamed = await stream.finalMessage();
    process.stdout.write(JSON.stringify({ plain: plain.content[0].text, streamed: streamed.content[0].text, events }));
  `;
  const env = { PATH: process.env.PATH ?? '', HOME: '/nonexistent', [SdkEnv.baseUrl]: baseUrl, [SdkEnv.authToken]: PROXY_PLACEHOLDER_AUTH_TOKEN };
  const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', script], { env, cwd: process.cwd(), timeout: 15_000 });
  return JSON.parse(stdout) as { plain: string; streamed: string; events: number };
}

/** The value of one sample in the Prometheus text exposition, e.g. `name{status="200"}`. */
async function metricValue(registry: Registry, sample: string): Promise<number | undefined> {
  return metricSample(await registry.metrics(), sample);
}

// ---------------------------------------------------------------------------------------

describe('proxy with the official SDK and the Messages stand-in', () => {
  it('makes a normal and a streamed Messages call; the stand-in sees the real token and the beta, never the placeholder', async () => {
    const endpoint = await startMessagesEndpoint({
      authorize: (credential) => credential.authorization === `Bearer ${REAL_TOKEN}` && credential.apiKey === undefined,
      responseText: 'Hello through the proxy',
      stream: { deltas: 2, deltaText: 'streamed ' },
    });
    cleanups.push(() => endpoint.close());
    const harness = await startHarness(endpoint.url);

    const result = await runSdk(proxyUrl(harness));

    expect(result).toEqual({ plain: 'Hello through the proxy', streamed: 'streamed streamed ', events: 7 });
    expect(endpoint.requests.map((r) => [r.method, r.path, r.status, r.stream])).toEqual([
      ['POST', '/v1/messages', 200, false],
      ['POST', '/v1/messages', 200, true],
    ]);
    for (const request of endpoint.requests) {
      expect(request.authorization).toBe(`Bearer ${REAL_TOKEN}`);
      expect(request.apiKey).toBeUndefined();
      expect(request.anthropicBeta).toBe('oauth-2025-04-20');
      expect(request.anthropicVersion).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      expect(request.userAgent).toMatch(/^Anthropic\/JS /);
      expect(JSON.stringify(request.headers)).not.toContain(PROXY_PLACEHOLDER_AUTH_TOKEN);
    }
  });

  it('frees the upstream request when the client disconnects mid-stream', async () => {
    const endpoint = await startMessagesEndpoint({ stream: { deltas: 10_000, delayMs: 5 } });
    cleanups.push(() => endpoint.close());
    const harness = await startHarness(endpoint.url);
    const disconnected = endpoint.nextDisconnect();

    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(`${proxyUrl(harness)}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code !== 'ECONNRESET') reject(error);
      });
      req.end(JSON.stringify({ model: 'claude-test', max_tokens: 8, stream: true, messages: [] }));
    });

    const record = await disconnected;
    expect(record).toMatchObject({ stream: true, status: 200, completed: false, clientDisconnected: true });
    expect(endpoint.disconnects).toBe(1);
    await expect.poll(() => metricValue(harness.registry, 'anthropic_wif_proxy_requests_total{status="200"}')).toBe(1);
  });
});

describe('proxy forwarding', () => {
  it('keeps path, query, body and other headers; merges betas; drops client credentials and hop-by-hop headers', async () => {
    const upstream = await upstreamFor((_req, res) => {
      res.writeHead(201, { 'content-type': 'application/json', 'x-upstream': 'yes', 'keep-alive': 'timeout=5' });
      res.end('{"ok":true}');
    });
    const harness = await startHarness(`${upstream.url}/gateway/`);

    const answer = await send(harness, {
      path: '/v1/messages/count_tokens?beta=true&x=a%20b',
      headers: {
        'content-type': 'application/json',
        authorization: 'Bearer client-secret',
        'x-api-key': 'client-api-key',
        'anthropic-beta': 'files-api-2025-04-14, oauth-2025-04-20,token-counting-2024-11-01',
        'anthropic-version': '2023-06-01',
        connection: 'keep-alive, x-private-hop',
        'x-private-hop': 'drop me',
        'proxy-authorization': 'Basic abc',
        te: 'trailers',
      },
      body: '{"model":"claude-test","messages":[]}',
    });

    expect(answer).toMatchObject({ status: 201, body: '{"ok":true}' });
    expect(answer.headers['x-upstream']).toBe('yes');
    expect(answer.headers['keep-alive']).not.toBe('timeout=5');
    const seen = upstream.seen[0]!;
    expect(seen.url).toBe('/gateway/v1/messages/count_tokens?beta=true&x=a%20b');
    expect(seen.body).toBe('{"model":"claude-test","messages":[]}');
    expect(seen.headers['content-length']).toBe('37');
    expect(seen.headers.authorization).toBe(`Bearer ${REAL_TOKEN}`);
    expect(seen.headers['anthropic-beta']).toBe('files-api-2025-04-14,oauth-2025-04-20,token-counting-2024-11-01');
    expect(seen.headers['anthropic-version']).toBe('2023-06-01');
    for (const dropped of ['x-api-key', 'x-private-hop', 'proxy-authorization', 'te']) expect(seen.headers[dropped]).toBeUndefined();
    expect(JSON.stringify(seen.headers)).not.toContain('client-secret');
  });

  it('forwards a GET without a body and upstream error statuses unchanged', async () => {
    const upstream = await upstreamFor((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"type":"error","error":{"type":"not_found_error","message":"no such model"}}');
    });
    const harness = await startHarness(upstream.url);

    const answer = await send(harness, { method: 'GET', path: '/v1/models/nope', headers: {}, body: '' });

    expect(answer.status).toBe(404);
    expect(answer.body).toBe('{"type":"error","error":{"type":"not_found_error","message":"no such model"}}');
    expect(upstream.seen[0]).toMatchObject({ method: 'GET', url: '/v1/models/nope', body: '' });
    expect(upstream.seen[0]!.headers['content-length']).toBeUndefined();
    expect(upstream.seen[0]!.headers['transfer-encoding']).toBeUndefined();
  });

  it('streams a chunked request body through', async () => {
    const upstream = await upstreamFor((_req, res, body) => {
      res.end(`got ${body.length} bytes`);
    });
    const harness = await startHarness(upstream.url);

    const answer = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(`${proxyUrl(harness)}/v1/files`, { method: 'POST', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => { resolve(text); });
      });
      req.on('error', reject);
      req.write('a'.repeat(70_000));
      req.end('b'.repeat(30_000));
    });

    expect(answer).toBe('got 100000 bytes');
    expect(await metricValue(harness.registry, 'anthropic_wif_proxy_bytes_total{direction="request"}')).toBe(100_000);
  });

  it('counts requests by status, bytes streamed and upstream latency', async () => {
    const upstream = await upstreamFor();
    const harness = await startHarness(upstream.url);

    await send(harness, { body: '{"stream":false}' });
    await send(harness, { body: '{"stream":true}' });
    harness.token = undefined;
    await send(harness);

    const responseBytes = Buffer.byteLength(JSON.stringify(MESSAGE)) + Buffer.byteLength(STREAM_EVENTS.join(''));
    expect(await metricValue(harness.registry, 'anthropic_wif_proxy_requests_total{status="200"}')).toBe(2);
    expect(await metricValue(harness.registry, 'anthropic_wif_proxy_requests_total{status="503"}')).toBe(1);
    expect(await metricValue(harness.registry, 'anthropic_wif_proxy_bytes_total{direction="response"}')).toBe(responseBytes);
    expect(await metricValue(harness.registry, 'anthropic_wif_proxy_bytes_total{direction="request"}')).toBe(31);
    expect(await metricValue(harness.registry, 'anthropic_wif_proxy_upstream_duration_seconds_count')).toBe(2);
  });

  it('never logs the token or the client credentials', async () => {
    const upstream = await upstreamFor();
    const harness = await startHarness(upstream.url);

    await send(harness, { headers: { authorization: `Bearer ${PROXY_PLACEHOLDER_AUTH_TOKEN}`, 'x-api-key': 'client-api-key' }, body: '{}' });
    await upstream.close();
    await send(harness, { body: '{}' });

    const logs = harness.logs.join('');
    expect(logs).toContain('proxy: request done');
    expect(logs).toContain('proxy: upstream request failed');
    for (const secret of [REAL_TOKEN, PROXY_PLACEHOLDER_AUTH_TOKEN, 'client-api-key']) expect(logs).not.toContain(secret);
  });
});

describe('proxy without a valid token', () => {
  const NO_TOKEN_BODY = {
    type: 'error',
    error: {
      type: 'api_error',
      message:
        'anthropic-wif proxy: no valid access token (none minted yet, or the last one expired and no new one could be minted); see the anthropic-wif-agent container logs',
    },
  };

  it('answers 503 with a JSON error when no token was minted yet', async () => {
    const upstream = await upstreamFor();
    const harness = await startHarness(upstream.url);
    harness.token = undefined;

    const answer = await send(harness);

    expect(answer.status).toBe(503);
    expect(answer.headers['content-type']).toBe('application/json');
    expect(answer.headers['retry-after']).toBe('1');
    expect(JSON.parse(answer.body)).toEqual(NO_TOKEN_BODY);
    expect(upstream.seen).toHaveLength(0);
  });

  it('answers 503 from the moment the token expires (injected clock)', async () => {
    const upstream = await upstreamFor();
    const harness = await startHarness(upstream.url);
    harness.token = { accessToken: REAL_TOKEN, expiresAtMs: T0 + 60_000 };

    harness.clock.set(T0 + 59_999);
    const before = await send(harness);
    harness.clock.set(T0 + 60_000);
    const after = await send(harness);

    expect(before.status).toBe(200);
    expect(after.status).toBe(503);
    expect(JSON.parse(after.body)).toEqual(NO_TOKEN_BODY);
    expect(upstream.seen).toHaveLength(1);
  });
});

describe('proxy upstream failures', () => {
  it('answers 502 with a JSON error when the upstream refuses connections', async () => {
    const upstream = await startUpstream();
    const deadUrl = upstream.url;
    await upstream.close();
    const harness = await startHarness(deadUrl);

    const answer = await send(harness);

    expect(answer.status).toBe(502);
    expect(JSON.parse(answer.body)).toEqual({
      type: 'error',
      error: { type: 'api_error', message: 'anthropic-wif proxy: could not reach the upstream API (ECONNREFUSED)' },
    });
    expect(await metricValue(harness.registry, 'anthropic_wif_proxy_requests_total{status="502"}')).toBe(1);
  });

  it('answers 504 with a JSON error when the upstream does not answer in time', async () => {
    const upstream = await upstreamFor(() => {
      // never answers
    });
    const harness = await startHarness(upstream.url, { headersMs: 300 });

    const answer = await send(harness);

    expect(answer.status).toBe(504);
    expect(JSON.parse(answer.body)).toEqual({
      type: 'error',
      error: { type: 'timeout_error', message: 'anthropic-wif proxy: the upstream API did not answer in time (UND_ERR_HEADERS_TIMEOUT)' },
    });
    await upstream.abandoned;
  });

  it('counts 499 and lets go of the upstream when the client leaves before the upstream answered', async () => {
    const upstream = await upstreamFor(() => {
      // holds its headers back
    });
    const harness = await startHarness(upstream.url);

    const req = httpRequest(`${proxyUrl(harness)}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' } });
    req.on('error', () => undefined);
    req.end(JSON.stringify({ model: 'claude-test', max_tokens: 8, messages: [] }));
    await expect.poll(() => upstream.seen.length).toBe(1);
    req.destroy();

    await upstream.abandoned;
    await expect.poll(() => metricValue(harness.registry, 'anthropic_wif_proxy_requests_total{status="499"}')).toBe(1);
    expect(await metricValue(harness.registry, 'anthropic_wif_proxy_requests_total{status="200"}')).toBeUndefined();
  });

  it('answers 400 to an absolute-form request target (not a forward proxy) without calling the upstream', async () => {
    const upstream = await upstreamFor();
    const harness = await startHarness(upstream.url);

    const answer = await new Promise<RawAnswer>((resolve, reject) => {
      const socket = connect(harness.proxy.address.port, '127.0.0.1', () => {
        socket.end('GET http://example.com/v1/models HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n');
      });
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('error', reject);
      socket.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const [head = '', body = ''] = text.split('\r\n\r\n');
        resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]), headers: {}, body });
      });
    });

    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toEqual({
      type: 'error',
      error: { type: 'invalid_request_error', message: 'anthropic-wif proxy: expected an origin-form request target such as /v1/messages (this is not a forward proxy)' },
    });
    expect(upstream.seen).toEqual([]);
  });

  it('cuts the client connection when the upstream dies after its headers, before any body', async () => {
    const upstream = await upstreamFor((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.flushHeaders();
      setTimeout(() => res.socket?.destroy(), 50);
    });
    const harness = await startHarness(upstream.url);

    const outcome = await new Promise<string>((resolve) => {
      const req = httpRequest(`${proxyUrl(harness)}/v1/messages`, { method: 'POST' }, (res) => {
        res.on('data', () => undefined);
        res.on('end', () => {
          resolve(`ended with ${res.statusCode ?? 0}`);
        });
        res.on('error', (error: NodeJS.ErrnoException) => {
          resolve(`error ${error.code ?? error.message}`);
        });
      });
      req.on('error', (error: NodeJS.ErrnoException) => {
        resolve(`request error ${error.code ?? error.message}`);
      });
      req.end('{}');
    });

    expect(outcome).toBe('request error ECONNRESET');
    expect(await metricValue(harness.registry, 'anthropic_wif_proxy_requests_total{status="200"}')).toBe(1);
    expect(await metricValue(harness.registry, 'anthropic_wif_proxy_requests_total{status="502"}')).toBeUndefined();
  });

  it('cuts the client connection when the upstream fails mid-stream', async () => {
    const upstream = await upstreamFor((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(STREAM_EVENTS[0]);
      setTimeout(() => res.socket?.destroy(), 50);
    });
    const harness = await startHarness(upstream.url);

    const outcome = await new Promise<string>((resolve) => {
      const req = httpRequest(`${proxyUrl(harness)}/v1/messages`, { method: 'POST' }, (res) => {
        res.on('data', () => undefined);
        res.on('end', () => { resolve('ended cleanly'); });
        res.on('error', (error: NodeJS.ErrnoException) => { resolve(`error ${error.code ?? error.message}`); });
      });
      req.on('error', (error: NodeJS.ErrnoException) => { resolve(`request error ${error.code ?? error.message}`); });
      req.end('{"stream":true}');
    });

    expect(outcome).toBe('error ECONNRESET');
  });
});

describe('proxy shutdown', () => {
  it('close() ends in-flight streams after the grace period', async () => {
    const upstream = await upstreamFor((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(STREAM_EVENTS[0]);
    });
    const harness = await startHarness(upstream.url, { shutdownGraceMs: 100 });
    const clientDone = new Promise<void>((resolve) => {
      const req = httpRequest(`${proxyUrl(harness)}/v1/messages`, { method: 'POST' }, (res) => {
        res.on('data', () => undefined);
        res.on('close', () => { resolve(); });
      });
      req.on('error', () => { resolve(); });
      req.end('{"stream":true}');
    });
    await expect.poll(() => upstream.seen.length).toBe(1);

    await harness.proxy.close();

    await clientDone;
    await upstream.abandoned;
    expect(harness.proxy.listening).toBe(false);
  });
});
