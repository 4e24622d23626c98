/**
 * TLS: only forward-secret suites on TLS 1.2 (ECDHE), TLS 1.3 kept (issue #16: Node's
 * defaults accepted static-RSA suites such as AES128-SHA). An RSA certificate, because the
 * static-RSA suites need one: with the ECDSA test certificate they could not be tried at all.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { connect, type SecureVersion } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../runtime/logger.ts';
import { createWebhookMetrics } from '../../webhook/metrics.ts';
import { createWebhookServer, type WebhookServer } from '../../webhook/server.ts';

const world = { work: '', cert: '', port: 0, server: undefined as WebhookServer | undefined };

beforeAll(async () => {
  world.work = await mkdtemp(join(tmpdir(), 'anthropic-wif-tls-suites-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'tls.key', '-out', 'tls.crt', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { cwd: world.work, stdio: 'ignore' });
  world.cert = await readFile(join(world.work, 'tls.crt'), 'utf8');
  const key = await readFile(join(world.work, 'tls.key'), 'utf8');
  world.server = createWebhookServer({
    listen: { host: '127.0.0.1', port: 0 },
    minVersion: 'TLSv1.2',
    maxBodyBytes: 1024,
    handleAdmission: () => Promise.resolve({ status: 200, body: '{}' }),
    readiness: () => ({ ready: true, reasons: [] }),
    metrics: createWebhookMetrics({ processMetrics: false }),
    logger: createLogger({ name: 'test', destination: new Writable({ write: (_c, _e, done) => { done(); } }) }),
  });
  // Options as a caller might pass them, without suites: the server adds its own.
  world.server.setCertificate({ options: { cert: world.cert, key }, serialNumber: '', subject: 'CN=localhost', validTo: '', fingerprint256: '' });
  world.port = (await world.server.listen()).port;
});

afterAll(async () => {
  await world.server?.close(1000);
  await rm(world.work, { recursive: true, force: true });
});

/** The negotiated protocol and suite, or the handshake's error code. */
function handshake(options: { readonly maxVersion: SecureVersion; readonly ciphers?: string }): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: world.port, ca: world.cert, servername: 'localhost', minVersion: 'TLSv1.2', ...options });
    socket.once('secureConnect', () => {
      const cipher = socket.getCipher();
      resolve(`${socket.getProtocol() ?? ''} ${cipher.standardName}`);
      socket.destroy();
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      resolve(`refused: ${error.code ?? error.message}`);
    });
  });
}

describe('TLS suites of the webhook', () => {
  it('TLS 1.3 is negotiated by a default client', async () => {
    expect(await handshake({ maxVersion: 'TLSv1.3' })).toMatch(/^TLSv1\.3 TLS_(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256)$/);
  });

  it('a TLS 1.2 client gets ECDHE with an AEAD cipher', async () => {
    expect(await handshake({ maxVersion: 'TLSv1.2' })).toMatch(/^TLSv1\.2 TLS_ECDHE_RSA_WITH_(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256)$/);
  });

  it.each(['AES128-SHA', 'AES256-GCM-SHA384', 'AES128-SHA256', 'DHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-SHA'])('a TLS 1.2 client offering only %s is refused', async (suite) => {
    expect(await handshake({ maxVersion: 'TLSv1.2', ciphers: suite })).toMatch(/^refused: /);
  });
});
