/**
 * The webhook's cluster side against a stand-in API server (plain HTTP on 127.0.0.1):
 * the real client library's informer fed through the slimming watch, live reads on a cache
 * miss with their time limit, `/version` for the sidecar layout, and the real CLI opting a
 * pod in through its ServiceAccount on a v1.20 "cluster" (legacy layout).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request as httpsRequest } from 'node:https';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fastJsonPatch from 'fast-json-patch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../runtime/clock.ts';
import { silentLogger } from '../../runtime/logger.ts';
import { metricSample } from '../../agent/metrics.ts';
import { readKubernetesVersion } from '../../webhook/cluster-version.ts';
import { createInformer, createKubernetesApi, loadKubeConfig } from '../../webhook/kubernetes.ts';
import type { ServiceAccountLookup } from '../../webhook/types.ts';
import type { ServiceAccountCacheResult } from '../../webhook/metrics.ts';
import {
  listServiceAccounts,
  readServiceAccount,
  SERVICE_ACCOUNTS_PATH,
  slimServiceAccount,
  startServiceAccountSource,
  type ServiceAccountSource,
} from '../../webhook/service-accounts.ts';
import { startCli, stopAllClis } from '../support/cli.ts';
import { createSecretVolume, createTestCa, issueServingCertificate } from '../support/tls.ts';

const P = 'anthropic.workload.identity/';
const TOKEN = 'fake-apiserver-bearer-token';

function serviceAccount(namespace: string, name: string, resourceVersion: string, annotations: Record<string, string>): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { namespace, name, resourceVersion, uid: `${name}-uid`, annotations, managedFields: [{ manager: 'kubectl', operation: 'Apply' }] }, secrets: [{ name: `${name}-token-abcde` }] };
}

/** Just enough of an API server: /version, list + watch of ServiceAccounts, GET of one. */
class FakeApiServer {
  readonly server: Server;
  readonly requests: { path: string; authorization: string | undefined }[] = [];
  readonly watches: ServerResponse[] = [];
  readonly objects = new Map<string, Record<string, unknown>>();

  readonly version: Record<string, string>;

  constructor(version: Record<string, string>) {
    this.version = version;
    this.server = createServer((req, res) => {
      this.handle(req, res);
    });
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    for (const watch of this.watches) watch.destroy();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  /** Sends one watch event to every open watch. */
  push(type: 'ADDED' | 'MODIFIED' | 'DELETED', object: Record<string, unknown>): void {
    for (const watch of this.watches) watch.write(`${JSON.stringify({ type, object })}\n`);
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push({ path: `${url.pathname}${url.search}`, authorization: req.headers.authorization });
    if (url.pathname === '/version') {
      this.json(res, 200, this.version);
    } else if (url.pathname === '/api/v1/serviceaccounts' && url.searchParams.get('watch') === 'true') {
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      res.flushHeaders();
      this.watches.push(res);
    } else if (url.pathname === '/api/v1/serviceaccounts') {
      this.json(res, 200, { kind: 'ServiceAccountList', apiVersion: 'v1', metadata: { resourceVersion: '100' }, items: [...this.objects.values()] });
    } else {
      this.getOne(url.pathname, res);
    }
  }

  /** `slow` never answers; `late` objects are visible only here. */
  private getOne(path: string, res: ServerResponse): void {
    const one = /^\/api\/v1\/namespaces\/([^/]+)\/serviceaccounts\/([^/]+)$/.exec(path);
    if (one?.[2] === 'slow') return;
    const key = `${one?.[1] ?? ''}/${one?.[2] ?? ''}`;
    const object = this.objects.get(key) ?? this.late.get(key);
    if (object !== undefined) this.json(res, 200, object);
    else this.json(res, 404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 });
  }

  /** Objects only a live GET can see (created "after" the list, not yet watched). */
  readonly late = new Map<string, Record<string, unknown>>();
}

async function writeKubeconfig(dir: string, server: string): Promise<string> {
  const path = join(dir, 'kubeconfig');
  await writeFile(
    path,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: fake',
      `  cluster: {server: "${server}", insecure-skip-tls-verify: true}`,
      'users:',
      '- name: tester',
      `  user: {token: "${TOKEN}"}`,
      'contexts:',
      '- name: fake',
      '  context: {cluster: fake, user: tester}',
      'current-context: fake',
      '',
    ].join('\n'),
  );
  return path;
}

async function eventually(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('ServiceAccount cache against a stand-in API server', () => {
  let api: FakeApiServer;
  let work: string;
  let source: ServiceAccountSource;
  const recorded: ServiceAccountCacheResult[] = [];

  beforeAll(async () => {
    api = new FakeApiServer({ major: '1', minor: '20', gitVersion: 'v1.20.2' });
    api.objects.set('team-a/web', serviceAccount('team-a', 'web', '90', { [`${P}inject`]: 'true', [`${P}mode`]: 'proxy', 'kubectl.kubernetes.io/last-applied-configuration': '{"huge":"json"}' }));
    api.late.set('team-a/late', serviceAccount('team-a', 'late', '120', { [`${P}workspace-id`]: 'default', 'other.io/x': 'y' }));
    await api.start();
    work = await mkdtemp(join(tmpdir(), 'anthropic-wif-kube-'));
    const kubeConfig = loadKubeConfig(await writeKubeconfig(work, api.url));
    const kube = createKubernetesApi(kubeConfig);
    source = startServiceAccountSource({
      createInformer: (list) => createInformer(kubeConfig, { path: SERVICE_ACCOUNTS_PATH, slim: slimServiceAccount, list }),
      list: (signal) => listServiceAccounts(kube, signal),
      read: (namespace, name) => readServiceAccount(kube, { namespace, name }, 300),
      clock: systemClock,
      logger: silentLogger(),
      record: (result) => recorded.push(result),
    });
    await eventually(() => source.isReady() && api.watches.length === 1);
  });

  afterAll(async () => {
    await source.close();
    await api.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('lists once with a page limit, then watches from the list resourceVersion, with the kubeconfig token', () => {
    expect(api.requests.map((r) => r.path)).toEqual(['/api/v1/serviceaccounts?limit=500', '/api/v1/serviceaccounts?watch=true&resourceVersion=100']);
    expect(api.requests.every((r) => r.authorization === `Bearer ${TOKEN}`)).toBe(true);
  });

  it("answers from the cache with only this project's annotations", async () => {
    recorded.length = 0;
    await expect(source.lookup('team-a', 'web')).resolves.toEqual({
      kind: 'found',
      serviceAccount: { namespace: 'team-a', name: 'web', annotations: { [`${P}inject`]: 'true', [`${P}mode`]: 'proxy' } },
    });
    expect(recorded).toEqual(['hit']);
  });

  /** Looks up until the answer satisfies `done` (a watch event arrives asynchronously). */
  async function lookupUntil(namespace: string, name: string, done: (lookup: ServiceAccountLookup) => boolean): Promise<ServiceAccountLookup> {
    let lookup = await source.lookup(namespace, name);
    for (let i = 0; i < 250 && !done(lookup); i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      lookup = await source.lookup(namespace, name);
    }
    return lookup;
  }

  it('follows watch events (added, modified, deleted)', async () => {
    api.push('ADDED', serviceAccount('team-b', 'new', '101', { [`${P}inject`]: 'true', 'foreign/annotation': 'x' }));
    expect(await lookupUntil('team-b', 'new', (l) => l.kind === 'found')).toEqual({
      kind: 'found',
      serviceAccount: { namespace: 'team-b', name: 'new', annotations: { [`${P}inject`]: 'true' } },
    });

    api.push('MODIFIED', serviceAccount('team-a', 'web', '102', { [`${P}inject`]: 'false' }));
    expect(await lookupUntil('team-a', 'web', (l) => l.kind === 'found' && l.serviceAccount.annotations[`${P}inject`] === 'false')).toEqual({
      kind: 'found',
      serviceAccount: { namespace: 'team-a', name: 'web', annotations: { [`${P}inject`]: 'false' } },
    });

    recorded.length = 0;
    api.push('DELETED', serviceAccount('team-b', 'new', '103', {}));
    expect(await lookupUntil('team-b', 'new', (l) => l.kind !== 'found')).toEqual({ kind: 'not-found' });
    expect(recorded.at(-1)).toBe('not_found');
  });

  it('reads a ServiceAccount the watch has not delivered yet', async () => {
    recorded.length = 0;
    await expect(source.lookup('team-a', 'late')).resolves.toEqual({ kind: 'found', serviceAccount: { namespace: 'team-a', name: 'late', annotations: { [`${P}workspace-id`]: 'default' } } });
    expect(recorded).toEqual(['miss']);
    expect(api.requests.at(-1)?.path).toBe('/api/v1/namespaces/team-a/serviceaccounts/late');
  });

  it('gives up on a slow live read after its time limit', async () => {
    recorded.length = 0;
    const started = Date.now();
    await expect(source.lookup('team-a', 'slow')).resolves.toEqual({ kind: 'unavailable', reason: 'GET /api/v1/namespaces/team-a/serviceaccounts/slow timed out after 300 ms' });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(recorded).toEqual(['unavailable']);
  });

  it('reads the API server version', async () => {
    await expect(readKubernetesVersion(createKubernetesApi(loadKubeConfig(join(work, 'kubeconfig'))), new AbortController().signal)).resolves.toEqual({ major: '1', minor: '20', gitVersion: 'v1.20.2' });
  });

  it('names an unloadable kubeconfig', () => {
    expect(() => loadKubeConfig(join(work, 'missing'))).toThrow(`cannot load --kubeconfig "${join(work, 'missing')}": ENOENT: no such file or directory, open '${join(work, 'missing')}'`);
  });
});

describe('anthropic-wif webhook with ServiceAccount lookup on a v1.20 cluster', () => {
  let api: FakeApiServer;
  let work: string;

  beforeAll(async () => {
    api = new FakeApiServer({ major: '1', minor: '20', gitVersion: 'v1.20.2' });
    api.objects.set('team-a/web', serviceAccount('team-a', 'web', '90', { [`${P}inject`]: 'true', [`${P}federation-rule-id`]: 'fdrl_from_service_account' }));
    await api.start();
    work = await mkdtemp(join(tmpdir(), 'anthropic-wif-kube-cli-'));
  });

  afterAll(async () => {
    await stopAllClis();
    await api.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('opts a pod in through its ServiceAccount and uses the legacy layout, saying why', async () => {
    const ca = await createTestCa(join(work, 'ca'));
    const certificate = await issueServingCertificate(ca, { serial: 0x7007n });
    const volume = await createSecretVolume(join(work, 'certs'), { 'tls.crt': certificate.certPem, 'tls.key': certificate.keyPem });
    const kubeconfig = await writeKubeconfig(work, api.url);
    const cli = startCli(['webhook', '--listen', '127.0.0.1:0', '--kubeconfig', kubeconfig, '--tls-cert-file', volume.path('tls.crt'), '--tls-key-file', volume.path('tls.key'), '--organization-id', '6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b']);
    const { port } = await cli.waitForListening();
    expect(await cli.waitForJson((l) => l.msg === 'sidecar layout decided')).toMatchObject({ nativeSidecar: false, reason: 'the API server is v1.20.2; native sidecars need 1.29' });
    await cli.waitForJson((l) => l.msg === 'ServiceAccount cache synced');

    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'web-', namespace: 'team-a' }, spec: { serviceAccountName: 'web', securityContext: { runAsUser: 1000 }, containers: [{ name: 'app', image: 'app:1' }] } };
    const body = JSON.stringify({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: { uid: 'uid-sa', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, operation: 'CREATE', namespace: 'team-a', object: pod },
    });
    const reply = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port, ca: ca.certPem, method: 'POST', path: '/mutate' }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, text }); });
      });
      req.on('error', reject);
      req.end(body);
    });
    expect(reply.status).toBe(200);
    const response = (JSON.parse(reply.text) as { response: { allowed: boolean; patch: string; warnings?: string[] } }).response;
    expect(response.allowed).toBe(true);
    expect(response.warnings?.some((w) => w.includes('the API server is v1.20.2; native sidecars need 1.29'))).toBe(true);
    const patched = fastJsonPatch.applyPatch(structuredClone(pod), JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as fastJsonPatch.Operation[], true, false).newDocument as unknown as {
      spec: { containers: { name: string; env?: { name: string; value?: string }[] }[]; initContainers?: { name: string }[] };
    };
    expect(patched.spec.initContainers?.map((c) => c.name)).toEqual(['anthropic-wif-init']);
    const agent = patched.spec.containers.find((c) => c.name === 'anthropic-wif-agent');
    expect(agent?.env?.find((e) => e.name === 'ANTHROPIC_FEDERATION_RULE_ID')?.value).toBe('fdrl_from_service_account');
    expect(await cli.waitForJson((l) => l.msg === 'admission' && l.uid === 'uid-sa')).toMatchObject({ result: 'injected', namespace: 'team-a', pod: 'web-' });
    const metrics = await new Promise<string>((resolve, reject) => {
      httpsRequest({ host: '127.0.0.1', port, ca: ca.certPem, path: '/metrics' }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => { resolve(text); });
      }).on('error', reject).end();
    });
    expect(metricSample(metrics, 'anthropic_wif_service_account_cache_total{result="hit"}')).toBe(1);
    expect(await cli.stop()).toEqual({ code: 0, signal: null });
  });
});
