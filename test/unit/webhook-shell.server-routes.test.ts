/**
 * The HTTPS server's one path to the admission handler: every POST /mutate, whether it has
 * a declared length, is chunked or is compressed, reaches the handler with the same body and
 * gets the handler's answer; a body over the limit (declared, sent or inflated) gets 413 and
 * an unknown content encoding 415, without calling the handler.
 */
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { connect } from 'node:tls';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../runtime/logger.ts';
import { createWebhookMetrics } from '../../webhook/metrics.ts';
import { createWebhookServer, type HttpAnswer, type WebhookServer } from '../../webhook/server.ts';
import { createTestCa, issueServingCertificate } from '../support/tls.ts';

const LIMIT = 1024;
const REVIEW = '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1"}}';

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
}

interface World {
  server: WebhookServer;
  port: number;
  ca: string;
  work: string;
  /** Bodies the admission handler received, as text. */
  bodies: string[];
  /** What the handler answers next; it waits for `gate` first when set. */
  answer: HttpAnswer;
  gate: Promise<void> | undefined;
  logs: string;
  metrics: ReturnType<typeof createWebhookMetrics>;
}

const world = {} as World;

function send(options: RequestOptions & { readonly chunks?: readonly (string | Buffer)[] }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port: world.port, ca: world.ca, method: 'POST', path: '/mutate', agent: false, ...options }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    const chunks = options.chunks ?? [];
    chunks.slice(0, -1).forEach((chunk) => req.write(chunk));
    req.end(chunks.at(-1));
  });
}

beforeAll(async () => {
  world.work = await mkdtemp(join(tmpdir(), 'anthropic-wif-server-routes-'));
  const ca = await createTestCa(join(world.work, 'ca'));
  const serving = await issueServingCertificate(ca, { serial: 0x51n });
  world.ca = ca.certPem;
  world.metrics = createWebhookMetrics({ processMetrics: false });
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      world.logs += chunk.toString();
      callback();
    },
  });
  world.server = createWebhookServer({
    listen: { host: '127.0.0.1', port: 0 },
    minVersion: 'TLSv1.2',
    maxBodyBytes: LIMIT,
    handleAdmission: async (body) => {
      world.bodies.push(Buffer.from(body ?? new Uint8Array()).toString('utf8'));
      await world.gate;
      return world.answer;
    },
    readiness: () => ({ ready: true, reasons: [] }),
    metrics: world.metrics,
    logger: createLogger({ name: 'test', destination }),
  });
  world.server.setCertificate({ options: { cert: serving.certPem, key: serving.keyPem }, serialNumber: serving.serialNumber, subject: 'CN=localhost', validTo: '', fingerprint256: '' });
  world.port = (await world.server.listen()).port;
});

beforeEach(() => {
  world.bodies = [];
  world.answer = { status: 200, body: '{"answer":1}' };
  world.gate = undefined;
  world.logs = '';
});

afterAll(async () => {
  await world.server.close(1000);
  await rm(world.work, { recursive: true, force: true });
});

describe('POST /mutate', () => {
  it.each([
    { name: 'with a declared length', options: { headers: { 'content-length': String(REVIEW.length) } }, chunks: [REVIEW], received: REVIEW },
    { name: 'with the query the API server adds', options: { path: '/mutate?timeout=10s', headers: { 'content-length': String(REVIEW.length) } }, chunks: [REVIEW], received: REVIEW },
    { name: 'chunked', options: {}, chunks: [REVIEW.slice(0, 20), REVIEW.slice(20)], received: REVIEW },
    { name: 'gzip-encoded (inflated)', options: { headers: { 'content-encoding': 'gzip' } }, chunks: [gzipSync(REVIEW)], received: REVIEW },
    { name: 'deflate-encoded (inflated)', options: { headers: { 'content-encoding': 'deflate' } }, chunks: [deflateSync(REVIEW)], received: REVIEW },
    { name: 'br-encoded (inflated)', options: { headers: { 'content-encoding': 'br' } }, chunks: [brotliCompressSync(REVIEW)], received: REVIEW },
    { name: 'with content-encoding identity', options: { headers: { 'content-encoding': 'Identity' } }, chunks: [REVIEW], received: REVIEW },
    { name: 'with an empty body', options: { headers: { 'content-length': '0' } }, chunks: [''], received: '' },
  ])('$name: the handler gets the body and its answer goes back as JSON', async ({ options, chunks, received }) => {
    world.answer = { status: 400, body: '{"error":{"code":400,"message":"m"}}' };
    const reply = await send({ ...options, chunks });
    expect([reply.status, reply.headers['content-type'], reply.headers['content-length'], reply.text, world.bodies]).toEqual([
      400,
      'application/json; charset=utf-8',
      String(world.answer.body.length),
      world.answer.body,
      [received],
    ]);
  });

  it('answers a declared length over the limit with 413 without calling the handler, and counts it', async () => {
    const body = 'x'.repeat(LIMIT + 1);
    const reply = await send({ headers: { 'content-length': String(body.length) }, chunks: [body] });
    expect([reply.status, reply.headers['content-type'], JSON.parse(reply.text), world.bodies]).toEqual([
      413,
      'application/json; charset=utf-8',
      { error: { code: 413, message: `request body is larger than the limit of ${LIMIT} bytes` } },
      [],
    ]);
    expect(await world.metrics.registry.getSingleMetricAsString('anthropic_wif_admission_requests_total')).toContain('anthropic_wif_admission_requests_total{result="error",mode="none"} 1');
  });

  it.each([
    { name: 'a chunked body over the limit', headers: {}, chunks: ['x'.repeat(LIMIT), 'x'], status: 413, message: `request body is larger than the limit of ${LIMIT} bytes` },
    { name: 'a gzip body that inflates past the limit', headers: { 'content-encoding': 'gzip' }, chunks: [gzipSync(Buffer.alloc(10 * 1024 * 1024))], status: 413, message: `request body is larger than the limit of ${LIMIT} bytes` },
    { name: 'a body that is not the gzip it says', headers: { 'content-encoding': 'gzip' }, chunks: [REVIEW], status: 400, message: 'request body is not valid gzip data' },
    { name: 'an unknown content encoding', headers: { 'content-encoding': 'zstd' }, chunks: [REVIEW], status: 415, message: 'unsupported content encoding "zstd"' },
  ])('answers $name with $status without calling the handler', async ({ headers, chunks, status, message }) => {
    const reply = await send({ headers, chunks });
    expect([reply.status, reply.headers['content-type'], JSON.parse(reply.text), world.bodies]).toEqual([status, 'application/json; charset=utf-8', { error: { code: status, message } }, []]);
  });

  it.each([
    { method: 'GET', path: '/mutate', message: 'no route for GET /mutate' },
    { method: 'POST', path: '/healthz?x=1', message: 'no route for POST /healthz' },
    { method: 'GET', path: '/nowhere', message: 'no route for GET /nowhere' },
  ])('answers $method $path with a JSON 404', async ({ method, path, message }) => {
    const reply = await send({ method, path, chunks: [] });
    expect([reply.status, JSON.parse(reply.text), world.bodies]).toEqual([404, { error: { code: 404, message } }, []]);
  });

  it('drops a body cut short without calling the handler, and logs a bad request', async () => {
    const socket = connect({ host: '127.0.0.1', port: world.port, ca: world.ca, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    socket.write('POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{"apiVersion"');
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.destroy();
    for (let i = 0; i < 50 && !world.logs.includes('bad request'); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    const line = JSON.parse(world.logs.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
    expect([line.msg, line.level, line.status, line.err, world.bodies]).toEqual(['bad request', 'warn', 400, 'request aborted', []]);
  });

  it('closes the connection of an answer sent after shutdown began', async () => {
    let release = (): void => undefined;
    world.gate = new Promise((resolve) => (release = resolve));
    const reply = send({ headers: { 'content-length': String(REVIEW.length), connection: 'keep-alive' }, chunks: [REVIEW] });
    for (let i = 0; i < 50 && world.bodies.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    const closed = world.server.close(5000);
    release();
    const answer = await reply;
    await closed;
    expect([answer.status, answer.headers.connection, world.server.isClosing()]).toEqual([200, 'close', true]);
  });
});
