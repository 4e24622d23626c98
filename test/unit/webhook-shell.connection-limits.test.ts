/**
 * The HTTPS server's connection limits (issue #16), with short limits so each case takes
 * about a second: headers or a body dribbled slower than the limits get a 408 and a closed
 * socket, and connections past `maxConnections` are closed at accept. The defaults and a
 * flood against the real webhook are in test/integration/webhook-connections.test.ts.
 */
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect, type TLSSocket } from 'node:tls';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Default, HttpPath, Limit } from '../../contract/index.ts';
import { createLogger } from '../../runtime/logger.ts';
import { createWebhookMetrics } from '../../webhook/metrics.ts';
import { createWebhookServer, type WebhookConnectionLimits, type WebhookServer } from '../../webhook/server.ts';
import { createTestCa, issueServingCertificate, type ServingCertificate } from '../support/tls.ts';

const SHORT: WebhookConnectionLimits = {
  ...Default.webhookConnectionLimits,
  headersTimeoutMs: 400,
  requestTimeoutMs: 800,
  timeoutCheckIntervalMs: 50,
};
const DRIBBLE_EVERY_MS = 50;
/** Far above every limit here: only a hang would reach it. */
const GENEROUS_MS = 5_000;

interface Running {
  readonly server: WebhookServer;
  readonly port: number;
  /** Bodies that reached the admission handler. */
  readonly admitted: string[];
  logs: string;
}

const world = { work: '', ca: '', serving: undefined as ServingCertificate | undefined, running: [] as Running[] };

beforeAll(async () => {
  world.work = await mkdtemp(join(tmpdir(), 'anthropic-wif-connection-limits-'));
  const ca = await createTestCa(join(world.work, 'ca'));
  world.serving = await issueServingCertificate(ca, { serial: 0x61n });
  world.ca = ca.certPem;
});

afterEach(async () => {
  await Promise.all(world.running.splice(0).map((running) => running.server.close(500)));
});

afterAll(async () => {
  await rm(world.work, { recursive: true, force: true });
});

async function startServer(limits: WebhookConnectionLimits): Promise<Running> {
  const admitted: string[] = [];
  const running: { server?: WebhookServer; port: number; admitted: string[]; logs: string } = { port: 0, admitted, logs: '' };
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      running.logs += chunk.toString();
      callback();
    },
  });
  const server = createWebhookServer({
    listen: { host: '127.0.0.1', port: 0 },
    limits,
    minVersion: 'TLSv1.2',
    maxBodyBytes: 64 * 1024,
    handleAdmission: (body) => {
      admitted.push(Buffer.from(body ?? new Uint8Array()).toString('utf8'));
      return Promise.resolve({ status: 200, body: '{"answer":1}' });
    },
    readiness: () => ({ ready: true, reasons: [] }),
    metrics: createWebhookMetrics({ processMetrics: false }),
    logger: createLogger({ name: 'test', destination }),
  });
  const serving = world.serving!;
  server.setCertificate({ options: { cert: serving.certPem, key: serving.keyPem }, serialNumber: serving.serialNumber, subject: 'CN=localhost', validTo: '', fingerprint256: '' });
  running.server = server;
  running.port = (await server.listen()).port;
  const result = running as Running;
  world.running.push(result);
  return result;
}

/** A TLS connection, once its handshake is done; rejects when the server closes it first. */
function openTls(port: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca: world.ca, servername: 'localhost' });
    socket.once('secureConnect', () => {
      resolve(socket);
    });
    socket.once('error', reject);
    socket.once('close', () => {
      reject(new Error('closed before the TLS handshake finished'));
    });
  });
}

interface Dribbled {
  /** From the handshake's end to the server closing the socket. */
  readonly closedAfterMs: number;
  /** Pieces written before the close. */
  readonly piecesSent: number;
  readonly received: string;
}

/** Writes `head`, then one `piece(n)` every DRIBBLE_EVERY_MS until the server closes the socket. */
async function dribble(port: number, head: string, piece: (n: number) => string): Promise<Dribbled> {
  const socket = await openTls(port);
  const started = performance.now();
  let received = '';
  let sent = 0;
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
  socket.on('error', () => undefined);
  socket.write(head);
  const timer = setInterval(() => {
    if (!socket.writable) return;
    sent += 1;
    socket.write(piece(sent));
  }, DRIBBLE_EVERY_MS);
  const closed = await new Promise<boolean>((resolve) => {
    const hang = setTimeout(() => {
      resolve(false);
    }, GENEROUS_MS);
    socket.once('close', () => {
      clearTimeout(hang);
      resolve(true);
    });
  });
  clearInterval(timer);
  socket.destroy();
  expect(closed, 'the server closed the socket').toBe(true);
  return { closedAfterMs: performance.now() - started, piecesSent: sent, received };
}

function post(port: number, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, ca: world.ca, method: 'POST', path: HttpPath.mutate, agent: false, headers: { 'content-length': String(body.length) } }, (res) => {
      res.resume();
      res.on('end', () => {
        resolve(res.statusCode ?? 0);
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('slow clients', () => {
  it('closes a connection whose headers are dribbled (slowloris) at headersTimeout, answering 408', async () => {
    const running = await startServer(SHORT);
    const result = await dribble(running.port, `POST ${HttpPath.mutate} HTTP/1.1\r\nHost: localhost\r\n`, (n) => `X-Dribble-${String(n)}: y\r\n`);
    console.log(`slowloris: closed ${result.closedAfterMs.toFixed(0)} ms after the handshake (headersTimeout ${String(SHORT.headersTimeoutMs)} ms, checked every ${String(SHORT.timeoutCheckIntervalMs)} ms), after ${String(result.piecesSent)} header lines`);
    expect(result.received).toMatch(/^HTTP\/1\.1 408 /);
    expect(result.piecesSent).toBeGreaterThan(1);
    expect(result.closedAfterMs).toBeGreaterThanOrEqual(SHORT.headersTimeoutMs - DRIBBLE_EVERY_MS);
    expect(result.closedAfterMs).toBeLessThan(GENEROUS_MS);
    expect(running.admitted).toEqual([]);
  });

  it('closes a connection whose body is dribbled at requestTimeout, answering 408, without calling the handler', async () => {
    const running = await startServer(SHORT);
    const head = `POST ${HttpPath.mutate} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n`;
    const result = await dribble(running.port, head, () => '          ');
    console.log(`slow body: closed ${result.closedAfterMs.toFixed(0)} ms after the handshake (requestTimeout ${String(SHORT.requestTimeoutMs)} ms), after ${String(result.piecesSent * 10)} of 4000 bytes`);
    expect(result.received).toMatch(/^HTTP\/1\.1 408 /);
    expect(result.closedAfterMs).toBeGreaterThanOrEqual(SHORT.requestTimeoutMs - DRIBBLE_EVERY_MS);
    expect(result.closedAfterMs).toBeLessThan(GENEROUS_MS);
    expect(running.admitted).toEqual([]);
  });

  it('still answers a client that sends its request promptly on the same server', async () => {
    const running = await startServer(SHORT);
    expect(await post(running.port, '{}')).toBe(200);
    expect(running.admitted).toEqual(['{}']);
  });
});

describe('maxConnections', () => {
  const LIMITED: WebhookConnectionLimits = { ...Default.webhookConnectionLimits, maxConnections: 4 };

  it('closes connections past the maximum at accept, warns once, and serves again once one is released', async () => {
    const running = await startServer(LIMITED);
    const held = await Promise.all(Array.from({ length: LIMITED.maxConnections }, () => openTls(running.port)));
    await expect(openTls(running.port)).rejects.toThrow();
    await expect(openTls(running.port)).rejects.toThrow();
    const warnings = running.logs.split('\n').filter((line) => line.includes('maximum number of connections'));
    expect(warnings).toHaveLength(1);
    expect(JSON.parse(warnings[0]!)).toMatchObject({ level: 'warn', dropped: 1, maxConnections: LIMITED.maxConnections });
    held.pop()!.destroy();
    const deadline = performance.now() + GENEROUS_MS;
    let status = 0;
    while (status !== 200 && performance.now() < deadline) status = await post(running.port, '{}').catch(() => 0);
    expect(status).toBe(200);
    held.forEach((socket) => socket.destroy());
  });
});

describe('the default limits', () => {
  const limits = Default.webhookConnectionLimits;
  const seconds = (ms: number): string => `${String(ms / 1000)} s`;

  it('fit the API server: a request arrives within its 10 s admission timeout, and it closes idle connections first', () => {
    // Node refuses a headers timeout longer than the request timeout.
    expect(limits.headersTimeoutMs).toBeLessThanOrEqual(limits.requestTimeoutMs);
    expect(limits.requestTimeoutMs).toBeLessThanOrEqual(10_000);
    // The API server's HTTP client drops idle connections after 90 s.
    expect(limits.keepAliveTimeoutMs).toBeGreaterThan(90_000);
    expect(limits.timeoutCheckIntervalMs).toBeLessThan(limits.headersTimeoutMs);
  });

  it('are the ones the README states', () => {
    expect(seconds(limits.timeoutCheckIntervalMs)).toBe('1 s');
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const rows = [
      `| Open connections | ${String(limits.maxConnections)}, TLS handshakes included |`,
      `| TLS handshake | ${seconds(limits.handshakeTimeoutMs)} |`,
      `| Request line and headers | ${seconds(limits.headersTimeoutMs)}, checked every second |`,
      `| Whole request, body included | ${seconds(limits.requestTimeoutMs)} |`,
      `| Idle keep-alive connection | ${seconds(limits.keepAliveTimeoutMs)} `,
      `| Nesting of objects and arrays in the body | ${String(Limit.admissionJsonMaxDepth)} levels `,
    ];
    expect(rows.filter((row) => !readme.includes(row))).toEqual([]);
  });
});
