/**
 * Client authentication (`--client-ca-file`): POST /mutate answers only a client whose
 * certificate the client CA signed (and, with `--client-allowed-names`, one that names an
 * allowed name); every other client gets a JSON 403 without the handler being called. The
 * probes and /metrics stay open: the kubelet and Prometheus present no client certificate.
 */
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpPath } from '../../contract/index.ts';
import { createLogger } from '../../runtime/logger.ts';
import { createWebhookMetrics } from '../../webhook/metrics.ts';
import { CLIENT_REFUSED_MESSAGE, createWebhookServer, type ClientAuth, type WebhookServer } from '../../webhook/server.ts';
import { loadCertificate } from '../../webhook/tls.ts';
import { createTestCa, issueServingCertificate, type ServingCertificate, type TestCa } from '../support/tls.ts';

const REVIEW = '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1"}}';

interface Reply {
  readonly status: number;
  readonly text: string;
}

interface Server {
  readonly server: WebhookServer;
  readonly port: number;
  readonly bodies: string[];
  readonly logs: string[];
}

interface World {
  work: string;
  servingCa: TestCa;
  clientCa: TestCa;
  otherCa: TestCa;
  apiServer: ServingCertificate;
  otherClient: ServingCertificate;
  untrusted: ServingCertificate;
  anyName: Server;
}

const world = {} as World;

async function startServer(clientAuth: ClientAuth): Promise<Server> {
  const bodies: string[] = [];
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logs.push(chunk.toString());
      callback();
    },
  });
  const server = createWebhookServer({
    listen: { host: '127.0.0.1', port: 0 },
    minVersion: 'TLSv1.2',
    maxBodyBytes: 1024,
    clientAuth,
    handleAdmission: (body) => {
      bodies.push(Buffer.from(body ?? new Uint8Array()).toString('utf8'));
      return Promise.resolve({ status: 200, body: '{"answer":1}' });
    },
    readiness: () => ({ ready: true, reasons: [] }),
    metrics: createWebhookMetrics({ processMetrics: false }),
    logger: createLogger({ name: 'test', destination }),
  });
  const serving = await issueServingCertificate(world.servingCa, { serial: 0x61n });
  const files = { certFile: join(world.work, 'tls.crt'), keyFile: join(world.work, 'tls.key'), clientCaFile: world.clientCa.certFile };
  await writeFile(files.certFile, serving.certPem);
  await writeFile(files.keyFile, serving.keyPem);
  server.setCertificate(await loadCertificate(files, 'TLSv1.2'));
  return { server, port: (await server.listen()).port, bodies, logs };
}

function send(target: Server, options: RequestOptions & { readonly client?: ServingCertificate }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const client = options.client === undefined ? {} : { cert: options.client.certPem, key: options.client.keyPem };
    const req = httpsRequest({ host: '127.0.0.1', port: target.port, ca: world.servingCa.certPem, agent: false, method: 'POST', path: HttpPath.mutate, ...client, ...options }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.method === 'GET' ? undefined : REVIEW);
  });
}

beforeAll(async () => {
  world.work = await mkdtemp(join(tmpdir(), 'anthropic-wif-client-auth-'));
  world.servingCa = await createTestCa(join(world.work, 'serving-ca'));
  world.clientCa = await createTestCa(join(world.work, 'client-ca'));
  world.otherCa = await createTestCa(join(world.work, 'other-ca'));
  world.apiServer = await issueServingCertificate(world.clientCa, { serial: 0x71n, commonName: 'kube-apiserver-webhook-client', dnsNames: ['webhook-client.kube-system'], ipAddresses: [], usage: 'clientAuth' });
  world.otherClient = await issueServingCertificate(world.clientCa, { serial: 0x72n, commonName: 'someone-else', dnsNames: ['someone-else.example'], ipAddresses: [], usage: 'clientAuth' });
  world.untrusted = await issueServingCertificate(world.otherCa, { serial: 0x73n, commonName: 'kube-apiserver-webhook-client', dnsNames: ['webhook-client.kube-system'], ipAddresses: [], usage: 'clientAuth' });
  world.anyName = await startServer({ allowedNames: [] });
});

afterAll(async () => {
  await world.anyName.server.close(1000);
  await rm(world.work, { recursive: true, force: true });
});

const REFUSED = JSON.stringify({ error: { code: 403, message: CLIENT_REFUSED_MESSAGE } });

describe('POST /mutate with --client-ca-file', () => {
  const ANY: readonly string[] = [];
  const NAMED = ['webhook-client.kube-system'];
  it.each([
    { name: 'no client certificate', allowedNames: ANY, client: undefined, reason: 'no client certificate' },
    { name: 'a certificate from another CA', allowedNames: ANY, client: 'untrusted', reason: 'client certificate not trusted (UNABLE_TO_VERIFY_LEAF_SIGNATURE)' },
    { name: 'a certificate the client CA signed', allowedNames: ANY, client: 'apiServer', reason: undefined },
    { name: "the CA's other certificate, any name allowed", allowedNames: ANY, client: 'otherClient', reason: undefined },
    { name: 'an allowed DNS SAN', allowedNames: NAMED, client: 'apiServer', reason: undefined },
    { name: 'an allowed CN', allowedNames: ['someone-else'], client: 'otherClient', reason: undefined },
    { name: "the CA's certificate naming no allowed name", allowedNames: NAMED, client: 'otherClient', reason: 'client certificate names none of --client-allowed-names (it names someone-else, someone-else.example)' },
  ] as const)('$name: refused because $reason', async ({ allowedNames, client, reason }) => {
    const target = await startServer({ allowedNames });
    try {
      const reply = await send(target, { client: client === undefined ? undefined : world[client] });
      const refusals = target.logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === 'admission request refused: the client is not the API server');
      if (reason === undefined) expect([reply.status, reply.text, target.bodies, refusals]).toEqual([200, '{"answer":1}', [REVIEW], []]);
      else expect([reply.status, reply.text, target.bodies, refusals.map((line) => line.reason)]).toEqual([403, REFUSED, [], [reason]]);
    } finally {
      await target.server.close(1000);
    }
  });

  it('logs the 1st, 10th and 100th refusal only', async () => {
    const fresh = await startServer({ allowedNames: [] });
    try {
      for (let i = 0; i < 100; i++) expect((await send(fresh, {})).status).toBe(403);
      const refused = fresh.logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === 'admission request refused: the client is not the API server');
      expect(refused.map((line) => [line.refused, line.reason, line.level])).toEqual([
        [1, 'no client certificate', 'warn'],
        [10, 'no client certificate', 'warn'],
        [100, 'no client certificate', 'warn'],
      ]);
    } finally {
      await fresh.server.close(1000);
    }
  });

  it.each([HttpPath.healthz, HttpPath.readyz, HttpPath.metrics])('%s stays open to a client without a certificate', async (path) => {
    const reply = await send(world.anyName, { method: 'GET', path });
    expect(reply.status).toBe(200);
  });
});

describe('loadCertificate with a client CA file', () => {
  it('names the client CA subjects', async () => {
    const loaded = await loadCertificate({ certFile: join(world.work, 'tls.crt'), keyFile: join(world.work, 'tls.key'), clientCaFile: world.clientCa.certFile }, 'TLSv1.2');
    expect(loaded.clientCaSubjects).toEqual(['CN=anthropic-wif test CA']);
  });

  it.each([
    { name: 'no PEM certificate', content: 'not a certificate\n', message: 'holds no PEM certificate' },
    { name: 'a leaf certificate', content: 'leaf', message: 'holds a certificate that is not a CA (CN=kube-apiserver-webhook-client)' },
  ])('refuses a bundle with $name', async ({ content, message }) => {
    const file = join(world.work, `bad-ca-${content.length}.crt`);
    await writeFile(file, content === 'leaf' ? world.apiServer.certPem : content);
    await expect(loadCertificate({ certFile: join(world.work, 'tls.crt'), keyFile: join(world.work, 'tls.key'), clientCaFile: file }, 'TLSv1.2')).rejects.toThrow(`the client CA file ${file} ${message}`);
  });
});
