/**
 * The real `anthropic-wif webhook` over TLS: admission answers, malformed bodies, certificate
 * rotation with a kubelet-style `..data` swap under load, startup without a certificate,
 * SIGTERM with a request in flight, and the usage errors. No cluster
 * (`--service-account-lookup=false`), 127.0.0.1 and ephemeral ports only.
 */
import { request as httpsRequest, Agent, type RequestOptions } from 'node:https';
import { connect } from 'node:tls';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fastJsonPatch from 'fast-json-patch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli, stopAllClis, type CliProcess } from '../support/cli.ts';
import { createSecretVolume, createTestCa, issueServingCertificate, type SecretVolume, type TestCa } from '../support/tls.ts';

const ORG = '6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b';
const RULE = 'fdrl_integration_test';
const P = 'anthropic.workload.identity/';

interface HttpReply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  json(): Record<string, unknown>;
}

function send(port: number, ca: string, options: RequestOptions & { readonly body?: Buffer | string }): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, ca, method: 'GET', ...options }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown> });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

function admissionReview(request: Record<string, unknown>): string {
  return JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request });
}

function podCreate(uid: string, pod: Record<string, unknown>): string {
  return admissionReview({
    uid,
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    requestKind: { group: '', version: 'v1', kind: 'Pod' },
    operation: 'CREATE',
    namespace: 'team-a',
    userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
    object: pod,
    dryRun: false,
  });
}

function pod(annotations: Record<string, string>, labels: Record<string, string> = {}): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: 'web-5d4f8-', namespace: 'team-a', labels: { app: 'web', ...labels }, annotations, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d4f8', uid: 'rs-uid', controller: true }] },
    spec: { serviceAccountName: 'web', securityContext: { runAsUser: 1000 }, containers: [{ name: 'app', image: 'registry.test/app:1' }] },
  };
}

const OPTED_IN = pod({ [`${P}federation-rule-id`]: RULE }, { [`${P}inject`]: 'true' });

async function peerSerial(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.end();
      resolve(serial);
    });
    socket.on('error', reject);
  });
}

interface Pki {
  readonly ca: TestCa;
  readonly volume: SecretVolume;
  readonly work: string;
}

async function createPki(serial: bigint): Promise<Pki> {
  const work = await mkdtemp(join(tmpdir(), 'anthropic-wif-webhook-'));
  const ca = await createTestCa(join(work, 'ca'));
  const certificate = await issueServingCertificate(ca, { serial });
  const volume = await createSecretVolume(join(work, 'certs'), { 'tls.crt': certificate.certPem, 'tls.key': certificate.keyPem });
  return { ca, volume, work };
}

function startWebhook(volume: SecretVolume, extra: readonly string[] = []): CliProcess {
  return startCli([
    'webhook',
    '--listen', '127.0.0.1:0',
    '--service-account-lookup=false',
    '--tls-cert-file', volume.path('tls.crt'),
    '--tls-key-file', volume.path('tls.key'),
    ...extra,
  ], { env: { ANTHROPIC_WIF_ORGANIZATION_ID: ORG } });
}

describe('anthropic-wif webhook over TLS', () => {
  let pki: Pki;
  let cli: CliProcess;
  let port: number;

  beforeAll(async () => {
    pki = await createPki(0x1001n);
    cli = startWebhook(pki.volume);
    port = (await cli.waitForListening()).port;
  });

  afterAll(async () => {
    await stopAllClis();
    await rm(pki.work, { recursive: true, force: true });
  });

  it('logs the bound address and serves health and readiness', async () => {
    expect(cli.jsonLines().find((l) => l.msg === 'listening')).toMatchObject({ address: '127.0.0.1', port });
    const ready = await send(port, pki.ca.certPem, { path: '/readyz' });
    expect([ready.status, ready.json()]).toEqual([200, { status: 'ready' }]);
    const healthy = await send(port, pki.ca.certPem, { path: '/healthz' });
    expect([healthy.status, healthy.json()]).toEqual([200, { status: 'ok' }]);
  });

  it('injects an opted-in pod with a patch that applies cleanly', async () => {
    const reply = await send(port, pki.ca.certPem, { method: 'POST', path: '/mutate', headers: { 'content-type': 'application/json' }, body: podCreate('uid-opted-in', OPTED_IN) });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/json; charset=utf-8');
    const review = reply.json() as { apiVersion: string; kind: string; response: { uid: string; allowed: boolean; patchType: string; patch: string } };
    expect([review.apiVersion, review.kind, review.response.uid, review.response.allowed, review.response.patchType]).toEqual(['admission.k8s.io/v1', 'AdmissionReview', 'uid-opted-in', true, 'JSONPatch']);
    const operations = JSON.parse(Buffer.from(review.response.patch, 'base64').toString('utf8')) as fastJsonPatch.Operation[];
    const patched = fastJsonPatch.applyPatch(structuredClone(OPTED_IN), operations, true, false).newDocument as { spec: { initContainers?: { name: string; env?: { name: string; value?: string }[] }[] } };
    const agent = patched.spec.initContainers?.find((c) => c.name === 'anthropic-wif-agent');
    expect(agent?.env?.find((e) => e.name === 'ANTHROPIC_ORGANIZATION_ID')?.value).toBe(ORG);
    expect(agent?.env?.find((e) => e.name === 'ANTHROPIC_FEDERATION_RULE_ID')?.value).toBe(RULE);
  });

  it('allows a pod that did not opt in, with no patch', async () => {
    const reply = await send(port, pki.ca.certPem, { method: 'POST', path: '/mutate', body: podCreate('uid-plain', pod({})) });
    expect([reply.status, reply.json()]).toEqual([200, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'uid-plain', allowed: true } }]);
  });

  it('denies an invalid annotation with a message naming it', async () => {
    const reply = await send(port, pki.ca.certPem, { method: 'POST', path: '/mutate', body: podCreate('uid-bad', pod({ [`${P}inject`]: 'true', [`${P}federation-rule-id`]: RULE, [`${P}mode`]: 'env' })) });
    const review = reply.json() as { response: { uid: string; allowed: boolean; patch?: string; status: { code: number; message: string } } };
    expect([reply.status, review.response.uid, review.response.allowed, review.response.patch, review.response.status.code]).toEqual([200, 'uid-bad', false, undefined, 403]);
    expect(review.response.status.message).toContain(`${P}mode`);
    expect(review.response.status.message).toContain('"env"');
  });

  it('logs one JSON line per admission, without pod env values', async () => {
    const secret = 'sk-ant-api03-integration-secret';
    const withKey = pod({ [`${P}inject`]: 'true', [`${P}federation-rule-id`]: RULE });
    (withKey.spec as { containers: Record<string, unknown>[] }).containers[0] = { name: 'app', image: 'app', env: [{ name: 'ANTHROPIC_API_KEY', value: secret }] };
    await send(port, pki.ca.certPem, { method: 'POST', path: '/mutate', body: podCreate('uid-logged', withKey) });
    const line = await cli.waitForJson((l) => l.msg === 'admission' && l.uid === 'uid-logged');
    expect(line).toMatchObject({ namespace: 'team-a', pod: 'web-5d4f8-', operation: 'CREATE', result: 'injected', mode: 'file' });
    expect(line.warnings).toBeGreaterThanOrEqual(1);
    expect(cli.stdout()).not.toContain(secret);
  });

  it.each([
    { name: 'not JSON', body: '{"apiVersion": admission', status: 400, message: 'request body is not JSON; expected an AdmissionReview' },
    { name: 'empty', body: '', status: 400, message: 'request body is empty; expected an AdmissionReview' },
    {
      name: 'wrong apiVersion',
      body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: { uid: 'u' } }),
      status: 400,
      message: 'expected apiVersion "admission.k8s.io/v1" and kind "AdmissionReview", got apiVersion "admission.k8s.io/v1beta1" and kind "AdmissionReview"',
    },
    { name: 'no uid', body: admissionReview({ kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', object: {} }), status: 400, message: 'AdmissionReview request has no uid' },
    {
      name: 'a non-Pod',
      body: admissionReview({ uid: 'u', kind: { group: '', version: 'v1', kind: 'Secret' }, resource: { group: '', version: 'v1', resource: 'secrets' }, operation: 'CREATE', object: { kind: 'Secret' } }),
      status: 400,
      message: 'AdmissionReview request is for kind "Secret" and resource "secrets"; this webhook reviews only v1 Pods',
    },
    { name: 'over the 4 MiB limit', body: `{"pad":"${'x'.repeat(4 * 1024 * 1024)}"}`, status: 413, message: 'request body is larger than the limit of 4194304 bytes' },
  ])('answers a body that is $name with $status and a JSON error', async ({ body, status, message }) => {
    const reply = await send(port, pki.ca.certPem, { method: 'POST', path: '/mutate', headers: { 'content-type': 'application/json' }, body });
    expect([reply.status, reply.headers['content-type'], reply.json()]).toEqual([status, 'application/json; charset=utf-8', { error: { code: status, message } }]);
  });

  it('answers unknown routes with a JSON 404', async () => {
    const reply = await send(port, pki.ca.certPem, { path: '/mutate' });
    expect([reply.status, reply.json()]).toEqual([404, { error: { code: 404, message: 'no route for GET /mutate' } }]);
  });

  it('counts admissions in /metrics', async () => {
    const reply = await send(port, pki.ca.certPem, { path: '/metrics' });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toContain('text/plain');
    expect(reply.text).toMatch(/^anthropic_wif_admission_requests_total\{result="injected",mode="file"\} [1-9]\d*$/m);
    expect(reply.text).toMatch(/^anthropic_wif_admission_requests_total\{result="skipped",mode="none"\} [1-9]\d*$/m);
    expect(reply.text).toMatch(/^anthropic_wif_admission_requests_total\{result="error",mode="none"\} [1-9]\d*$/m);
    expect(reply.text).toMatch(/^anthropic_wif_admission_duration_seconds_count [1-9]\d*$/m);
    expect(reply.text).toMatch(/^anthropic_wif_process_cpu_user_seconds_total /m);
  });

  it('swaps in a rotated certificate under load with no failed request, and keeps it over a broken pair', async () => {
    const keepAlive = new Agent({ keepAlive: true, ca: pki.ca.certPem, maxSockets: 4 });
    const outcomes = { ok: 0, failed: [] as string[] };
    let running = true;
    const loop = async (fresh: boolean): Promise<void> => {
      for (let i = 0; running; i++) {
        try {
          const reply = await send(port, pki.ca.certPem, { method: 'POST', path: '/mutate', agent: fresh ? false : keepAlive, body: podCreate(`rotation-${String(fresh)}-${i}`, OPTED_IN) });
          if (reply.status === 200 && (reply.json().response as { allowed?: boolean }).allowed === true) outcomes.ok += 1;
          else outcomes.failed.push(`HTTP ${reply.status}`);
        } catch (error) {
          outcomes.failed.push(String(error));
        }
      }
    };
    const loops = [loop(false), loop(false), loop(true), loop(true)];
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await peerSerial(port, pki.ca.certPem)).toBe('1001');
      const next = await issueServingCertificate(pki.ca, { serial: 0x2002n });
      await pki.volume.update({ 'tls.crt': next.certPem, 'tls.key': next.keyPem });
      await cli.waitForJson((l) => l.msg === 'serving certificate reloaded' && l.serialNumber === '2002', 15_000);
      expect(await peerSerial(port, pki.ca.certPem)).toBe('2002');

      // A certificate with someone else's key: logged, and the server keeps serving 2002.
      const other = await issueServingCertificate(pki.ca, { serial: 0x3003n });
      await pki.volume.update({ 'tls.crt': other.certPem, 'tls.key': next.keyPem });
      const rejected = await cli.waitForJson((l) => l.msg === 'serving certificate could not be loaded', 15_000);
      expect(rejected).toMatchObject({ level: 'error', keptPrevious: true });
      expect(JSON.stringify(rejected)).not.toContain('PRIVATE KEY');
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await peerSerial(port, pki.ca.certPem)).toBe('2002');
    } finally {
      running = false;
      await Promise.all(loops);
      keepAlive.destroy();
    }
    expect(outcomes.failed).toEqual([]);
    expect(outcomes.ok).toBeGreaterThan(20);
  });
});

describe('anthropic-wif webhook lifecycle', () => {
  let pki: Pki;

  beforeAll(async () => {
    pki = await createPki(0x4004n);
  });

  afterAll(async () => {
    await stopAllClis();
    await rm(pki.work, { recursive: true, force: true });
  });

  it('waits for a certificate that appears after start, then serves', async () => {
    const certs = join(pki.work, 'late-certs');
    await mkdir(certs);
    const cli = startCli(['webhook', '--listen', '127.0.0.1:0', '--service-account-lookup=false', '--tls-cert-file', join(certs, 'tls.crt'), '--tls-key-file', join(certs, 'tls.key')]);
    const { port } = await cli.waitForListening();
    expect(await cli.waitForJson((l) => l.msg === 'serving certificate could not be loaded')).toMatchObject({ level: 'error', keptPrevious: false });
    await expect(peerSerial(port, pki.ca.certPem)).rejects.toThrow();
    const certificate = await issueServingCertificate(pki.ca, { serial: 0x5005n });
    await createSecretVolume(certs, { 'tls.crt': certificate.certPem, 'tls.key': certificate.keyPem });
    await cli.waitForJson((l) => l.msg === 'serving certificate loaded' && l.serialNumber === '5005');
    const ready = await send(port, pki.ca.certPem, { path: '/readyz' });
    expect([ready.status, ready.json()]).toEqual([200, { status: 'ready' }]);
    expect(await cli.stop()).toEqual({ code: 0, signal: null });
  });

  it('on SIGTERM finishes the request in flight and exits 0 within 10 s', async () => {
    const cli = startWebhook(pki.volume);
    const { port } = await cli.waitForListening();
    const body = Buffer.from(podCreate('uid-in-flight', OPTED_IN));
    const half = Math.floor(body.length / 2);
    const inFlight = new Promise<HttpReply>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port, ca: pki.ca.certPem, method: 'POST', path: '/mutate', headers: { 'content-length': String(body.length) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown> });
        });
      });
      req.on('error', reject);
      req.write(body.subarray(0, half), () => {
        void (async () => {
          await new Promise((r) => setTimeout(r, 200));
          const signalledAt = Date.now();
          cli.signal('SIGTERM');
          await cli.waitForJson((l) => typeof l.msg === 'string' && l.msg.startsWith('shutting down'));
          req.end(body.subarray(half));
          const exit = await cli.exited;
          expect(Date.now() - signalledAt).toBeLessThan(10_000);
          expect(exit).toEqual({ code: 0, signal: null });
        })().catch(reject);
      });
    });
    const reply = await inFlight;
    expect(reply.status).toBe(200);
    expect(reply.headers.connection).toBe('close');
    expect((reply.json().response as { uid: string; allowed: boolean }).uid).toBe('uid-in-flight');
    expect(await cli.exited).toEqual({ code: 0, signal: null });
    expect(cli.jsonLines().at(-1)).toMatchObject({ msg: 'stopped' });
  });

  it('refuses TLS 1.2 clients with --tls-min-version 1.3', async () => {
    const cli = startWebhook(pki.volume, ['--tls-min-version', '1.3']);
    const { port } = await cli.waitForListening();
    const handshake = (maxVersion: 'TLSv1.2' | 'TLSv1.3'): Promise<string | null> =>
      new Promise((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port, ca: pki.ca.certPem, servername: 'localhost', maxVersion }, () => {
          const protocol = socket.getProtocol();
          socket.end();
          resolve(protocol);
        });
        socket.on('error', reject);
      });
    await expect(handshake('TLSv1.3')).resolves.toBe('TLSv1.3');
    await expect(handshake('TLSv1.2')).rejects.toThrow(/protocol version|handshake failure/);
    expect(await cli.stop()).toEqual({ code: 0, signal: null });
  });

  it.each([
    { args: ['--nope'], line: 'anthropic-wif webhook: unknown flag --nope (see anthropic-wif webhook --help)' },
    { args: ['--tls-cert-file', '/c', '--tls-key-file', '/k', '--mode', 'env'], line: 'anthropic-wif webhook: invalid --mode "env": expected one of file, proxy, sdk' },
    { args: ['--tls-key-file', '/k'], line: 'anthropic-wif webhook: flag --tls-cert-file is required (or set ANTHROPIC_WIF_TLS_CERT_FILE)' },
  ])('exits 2 with one line for $args', async ({ args, line }) => {
    const result = await runCli(['webhook', ...args]);
    expect([result.code, result.stderr, result.stdout]).toEqual([2, `${line}\n`, '']);
  });

  it('exits 2 naming the variable for a bad environment value', async () => {
    const result = await runCli(['webhook', '--tls-cert-file', '/c', '--tls-key-file', '/k'], { env: { ANTHROPIC_WIF_TOKEN_EXPIRATION: '30' } });
    expect([result.code, result.stderr]).toEqual([2, 'anthropic-wif webhook: invalid ANTHROPIC_WIF_TOKEN_EXPIRATION "30": expected an integer from 600 to 86400\n']);
  });

  it('prints help and exits 0', async () => {
    const result = await runCli(['webhook', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout.startsWith('Usage: anthropic-wif webhook [flags]\n')).toBe(true);
    expect(result.stdout).toContain('--tls-cert-file <path>');
    expect(result.stderr).toBe('');
  });

  it('exits 1 with one line when the port is taken', async () => {
    const first = startWebhook(pki.volume);
    const { port } = await first.waitForListening();
    const second = await runCli(['webhook', '--listen', `127.0.0.1:${port}`, '--service-account-lookup=false', '--tls-cert-file', pki.volume.path('tls.crt'), '--tls-key-file', pki.volume.path('tls.key')]);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`^anthropic-wif webhook: cannot listen on 127\\.0\\.0\\.1:${port}: listen EADDRINUSE[^\\n]*\\n$`));
    expect(await first.stop()).toEqual({ code: 0, signal: null });
  });
});
