/**
 * End to end on a real kube-apiserver (v1.20.2, built from Debian's source) and etcd:
 * the chart's MutatingWebhookConfiguration (url form, test CA) and RBAC, the real webhook
 * process with a ServiceAccount informer, pods created through kubectl and read back from
 * storage, then the real agent on a JWT minted by the API server's TokenRequest API and
 * verified against its real JWKS, and the official SDK running with exactly the environment
 * the webhook injected (paths mapped into a temp root).
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Annotation, ContainerName, Default, OPT_IN_LABEL, PROXY_PLACEHOLDER_AUTH_TOKEN, TokenExchange, VolumeName } from '../../contract/index.ts';
import type { InjectionDefaults } from '../../webhook/types.ts';
import { isJsonObject, type JsonObject } from '../../webhook/json.ts';
import { reviewPod } from '../../webhook/review.ts';
import { startAnthropicApi, type AnthropicApiStandIn } from '../support/anthropic-api.ts';
import { REPO_ROOT, runCli, startCli, stopAllClis, type CliProcess } from '../support/cli.ts';
import { TEST_AGENT_IMAGE, TEST_FEDERATION_RULE_ID, TEST_ORGANIZATION_ID } from '../support/injection-defaults.ts';
import { renderChart } from '../support/k8s-tools.ts';
import { createKubeletTokenDir } from '../support/kubelet-token-file.ts';
import { createTestCa, issueServingCertificate, type TestCa } from '../support/tls.ts';
import { freePort, kubeconfigYaml } from './support/cluster.ts';
import { admissionWarnings, kubectlFor, namespaceManifest, type Kubectl } from './support/kube.ts';

const run = promisify(execFile);
const cluster = inject('cluster');

const SYSTEM_NAMESPACE = 'anthropic-wif-system';
const APPS_NAMESPACE = 'e2e-apps';
const SERVICE_ACCOUNT = 'assistant';
const ORGANIZATION_ID = '0f8fad5b-d9cb-469f-a165-70867728950e';
const RULE_ID = 'fdrl_e2e_kubernetes';
const AGENT_IMAGE = 'registry.example/anthropic-wif:e2e';

let kubectl: Kubectl;
let work: string;
let ca: TestCa;
let webhookPort: number;
let proxyPort: number;
let webhookKubeconfig: string;
let webhook: CliProcess;
let api: AnthropicApiStandIn;
let layoutReason: string;
let serviceAccountAnnotations: Record<string, string>;

function readyzStatus(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path: '/readyz', ca: ca.certPem, timeout: 1_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => {
      resolve(0);
    });
    req.end();
  });
}

async function waitReady(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await readyzStatus(port)) === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`webhook on ${port} never became ready`);
}

async function startWebhook(extraArgs: readonly string[], port: number | '0'): Promise<CliProcess> {
  const dir = join(work, `webhook-${port}`);
  await mkdir(dir, { recursive: true });
  const serving = await issueServingCertificate(ca, { serial: BigInt(Date.now()) });
  await writeFile(join(dir, 'tls.crt'), serving.certPem);
  await writeFile(join(dir, 'tls.key'), serving.keyPem);
  const process = startCli(
    ['webhook', '--listen', `127.0.0.1:${port}`, '--tls-cert-file', join(dir, 'tls.crt'), '--tls-key-file', join(dir, 'tls.key'), '--kubeconfig', webhookKubeconfig, ...extraArgs],
    {},
  );
  const { port: bound } = await process.waitForListening(30_000);
  await waitReady(bound);
  return process;
}

function defaults(): InjectionDefaults {
  return {
    organizationId: ORGANIZATION_ID,
    federationRuleId: RULE_ID,
    audience: Default.audience,
    tokenExpirationSeconds: Default.tokenExpirationSeconds,
    mode: Default.mode,
    baseUrl: Default.baseUrl,
    agentImage: AGENT_IMAGE,
    agentImagePullPolicy: undefined,
    agentResources: Default.agentResources,
    nativeSidecar: { enabled: false, reason: layoutReason },
    shadowing: 'warn',
    proxyPort,
    caBundle: undefined,
    agentEnv: [],
    allowedBaseUrlOrigins: undefined,
  };
}

interface PodOptions {
  readonly annotations?: Record<string, string>;
  readonly labels?: Record<string, string>;
  readonly env?: { name: string; value: string }[];
}

function appPod(name: string, options: PodOptions = {}): JsonObject {
  const metadata: JsonObject = { name, namespace: APPS_NAMESPACE };
  if (options.annotations !== undefined) metadata.annotations = options.annotations;
  if (options.labels !== undefined) metadata.labels = options.labels;
  const app: JsonObject = { name: 'app', image: 'registry.example/app:1' };
  if (options.env !== undefined) app.env = options.env;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata,
    spec: { serviceAccountName: SERVICE_ACCOUNT, securityContext: { runAsUser: 1000, runAsNonRoot: true }, containers: [app] },
  };
}

interface Created {
  readonly status: number;
  readonly stderr: string;
  readonly warnings: string[];
}

async function createPod(pod: JsonObject): Promise<Created> {
  const result = await kubectl.run(['create', '-f', '-'], JSON.stringify(pod));
  return { status: result.status, stderr: result.stderr, warnings: admissionWarnings(result.stderr) };
}

async function storedPod(name: string): Promise<JsonObject> {
  return kubectl.getJson('pod', name, APPS_NAMESPACE);
}

const serviceAccountLookup = (): Parameters<typeof reviewPod>[1] => ({
  kind: 'found',
  serviceAccount: { namespace: APPS_NAMESPACE, name: SERVICE_ACCOUNT, annotations: serviceAccountAnnotations },
});

function names(list: unknown): string[] {
  return Array.isArray(list) ? list.filter(isJsonObject).map((item) => item.name as string) : [];
}

function spec(pod: JsonObject): JsonObject {
  if (!isJsonObject(pod.spec)) throw new Error('pod has no spec');
  return pod.spec;
}

/** Creates the pod through the API server and checks what was stored against the pure core's answer. */
async function expectInjected(pod: JsonObject): Promise<JsonObject> {
  const review = reviewPod(pod, serviceAccountLookup(), defaults());
  expect(review.result).toBe('injected');
  const created = await createPod(pod);
  expect(created.status, created.stderr).toBe(0);
  expect(created.warnings).toEqual(review.warnings);
  const expected = fastJsonPatch.applyPatch(structuredClone(pod), structuredClone(review.patch) as Operation[], true, false).newDocument;
  const stored = await storedPod((pod.metadata as JsonObject).name as string);
  const annotations = (stored.metadata as JsonObject).annotations as JsonObject;
  expect(annotations[Annotation.status]).toBe(((expected.metadata as JsonObject).annotations as JsonObject)[Annotation.status]);
  // Every field the webhook set is stored with its exact value; arrays match in length and
  // order. The API server's own defaults (terminationMessagePath, defaultMode…) are extra.
  expect(spec(stored)).toMatchObject(spec(expected));
  // Re-admitting what was stored changes nothing.
  expect(reviewPod(stored, serviceAccountLookup(), defaults()).patch).toEqual([]);
  return stored;
}

beforeAll(async () => {
  kubectl = kubectlFor(cluster.kubeconfig);
  work = await mkdtemp(join(tmpdir(), 'anthropic-wif-e2e-test-'));
  ca = await createTestCa(join(work, 'ca'));
  [webhookPort, proxyPort] = [await freePort(), await freePort()];

  await kubectl.ok(['apply', '-f', '-'], `${namespaceManifest(SYSTEM_NAMESPACE)}\n---\n${namespaceManifest(APPS_NAMESPACE)}`);
  const rendered = renderChart({
    namespace: SYSTEM_NAMESPACE,
    kubeVersion: '1.20.2',
    values: {
      federation: { organizationId: ORGANIZATION_ID, ruleId: RULE_ID },
      webhook: { clientConfig: { url: `https://127.0.0.1:${webhookPort}/mutate` }, timeoutSeconds: 5 },
      certificates: { mode: 'provided', provided: { caBundle: Buffer.from(ca.certPem).toString('base64') } },
    },
    showOnly: ['templates/serviceaccount.yaml', 'templates/rbac.yaml', 'templates/mutatingwebhookconfiguration.yaml'],
  });
  await kubectl.ok(['apply', '-f', '-'], rendered);

  // The webhook runs with its chart ServiceAccount's own token, so the chart's RBAC is what it gets.
  const webhookAccount = /kind: ServiceAccount\nmetadata:\n {2}name: (\S+)/.exec(rendered)?.[1];
  if (webhookAccount === undefined) throw new Error('the chart rendered no ServiceAccount');
  const webhookToken = (await kubectl.ok(['create', 'token', webhookAccount, '-n', SYSTEM_NAMESPACE, '--duration', '1h'])).trim();
  webhookKubeconfig = join(work, 'webhook.kubeconfig');
  await writeFile(webhookKubeconfig, kubeconfigYaml(cluster.server, cluster.caCert, { token: webhookToken }));

  api = await startAnthropicApi({
    organizationId: ORGANIZATION_ID,
    issuer: cluster.server,
    jwks: { url: `${cluster.server}/openid/v1/jwks`, ca: await readFile(cluster.caCert), bearerToken: webhookToken },
    rules: [{ id: RULE_ID, subjectPrefix: `system:serviceaccount:${APPS_NAMESPACE}:${SERVICE_ACCOUNT}`, audience: Default.audience, lifetimeSeconds: 3600 }],
  });
  serviceAccountAnnotations = { [Annotation.inject]: 'true', [Annotation.baseUrl]: api.url };
  await kubectl.ok(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: SERVICE_ACCOUNT, namespace: APPS_NAMESPACE, annotations: serviceAccountAnnotations } }));

  webhook = await startWebhook(['--organization-id', ORGANIZATION_ID, '--federation-rule-id', RULE_ID, '--agent-image', AGENT_IMAGE, '--proxy-port', String(proxyPort)], webhookPort);
  const decided = await webhook.waitForJson((line) => line.msg === 'sidecar layout decided' && line.nativeSidecar === false, 10_000);
  layoutReason = String(decided.reason);
}, 180_000);

afterAll(async () => {
  await stopAllClis();
  await api.close();
});

describe('the webhook against a real v1.20 API server', () => {
  it('chooses the legacy layout there with --native-sidecar=auto, and says why', () => {
    expect(layoutReason).toBe('the API server is v1.20.2; native sidecars need 1.29');
  });

  it.each([
    { mode: 'file', how: 'the opt-in label (failurePolicy Fail entry)' },
    { mode: 'proxy', how: 'annotations only (the catch-all entry)' },
    { mode: 'sdk', how: 'annotations only (the catch-all entry)' },
  ])('injects $mode mode into a pod that opted in with $how', async ({ mode }) => {
    const pod = appPod(`app-${mode}`, {
      annotations: { [Annotation.inject]: 'true', [Annotation.mode]: mode },
      ...(mode === 'file' ? { labels: { [OPT_IN_LABEL]: 'true' }, env: [{ name: 'ANTHROPIC_BASE_URL', value: api.url }] } : {}),
    });
    const stored = await expectInjected(pod);
    const layout = mode === 'sdk' ? { init: [], containers: ['app'] } : { init: [ContainerName.init], containers: ['app', ContainerName.agent] };
    expect(names(spec(stored).initContainers)).toEqual(layout.init);
    expect(names(spec(stored).containers)).toEqual(layout.containers);
  });

  it('injects a pod whose only settings come from its ServiceAccount', async () => {
    const stored = await expectInjected(appPod('sa-only'));
    expect(names(spec(stored).volumes)).toEqual([VolumeName.identityToken, VolumeName.credentials]);
  });

  it('leaves a pod that opted out exactly as it was', async () => {
    const pod = appPod('opted-out', { annotations: { [Annotation.inject]: 'false' } });
    expect(reviewPod(pod, serviceAccountLookup(), defaults()).result).toBe('skipped');
    const created = await createPod(pod);
    expect(created).toEqual({ status: 0, stderr: '', warnings: [] });
    const stored = await storedPod('opted-out');
    expect((stored.metadata as JsonObject).annotations).toEqual({ [Annotation.inject]: 'false' });
    expect(names(spec(stored).containers)).toEqual(['app']);
    expect(spec(stored).initContainers).toBeUndefined();
    expect(spec(stored).volumes).toBeUndefined();
  });

  it('denies a pod with invalid annotations, naming each annotation, value and expected form', async () => {
    const pod = appPod('invalid', { annotations: { [Annotation.inject]: 'true', [Annotation.tokenExpiration]: '30', [Annotation.mode]: 'sidecar' } });
    const review = reviewPod(pod, serviceAccountLookup(), defaults());
    expect(review.result).toBe('denied');
    expect(review.message).toContain(`${Annotation.tokenExpiration} "30"`);
    const created = await createPod(pod);
    expect(created.status).toBe(1);
    expect(created.stderr).toContain(`denied the request: ${review.message ?? ''}`);
    expect((await kubectl.run(['get', 'pod', 'invalid', '-n', APPS_NAMESPACE])).status).toBe(1);
  });
});

describe('the agent and the official SDK on what was stored', () => {
  interface Container {
    readonly name: string;
    readonly args?: string[];
    readonly env?: { name: string; value?: string }[];
    readonly volumeMounts?: { name: string; mountPath: string }[];
  }

  function containerOf(pod: JsonObject, name: string): Container {
    const all = [...((spec(pod).initContainers ?? []) as unknown[]), ...(spec(pod).containers as unknown[])] as Container[];
    const found = all.find((c) => c.name === name);
    if (found === undefined) throw new Error(`no container ${name}`);
    return found;
  }

  /** The container's environment with every /var/run path mapped under `root`. */
  function mappedEnv(container: Container, root: string): Record<string, string> {
    const env: Record<string, string> = { HOME: root };
    for (const entry of container.env ?? []) {
      if (entry.value === undefined) throw new Error(`${container.name}: ${entry.name} is not a literal`);
      env[entry.name] = entry.value.startsWith('/var/run/') ? join(root, entry.value) : entry.value;
    }
    return env;
  }

  /** Mints the projected token the kubelet would mount, via TokenRequest, with the stored volume's audience and lifetime. */
  async function mountIdentityToken(pod: JsonObject, container: Container, root: string): Promise<string> {
    const volume = (spec(pod).volumes as JsonObject[]).find((v) => v.name === VolumeName.identityToken) as JsonObject;
    const source = (((volume.projected as JsonObject).sources as JsonObject[])[0] as JsonObject).serviceAccountToken as {
      audience: string;
      expirationSeconds: number;
      path: string;
    };
    const mount = container.volumeMounts?.find((m) => m.name === VolumeName.identityToken);
    if (mount === undefined) throw new Error(`${container.name} does not mount the identity token`);
    const jwt = (await kubectl.ok(['create', 'token', SERVICE_ACCOUNT, '-n', APPS_NAMESPACE, '--audience', source.audience, '--duration', `${source.expirationSeconds}s`])).trim();
    await createKubeletTokenDir(join(root, mount.mountPath), jwt, { item: source.path });
    return jwt;
  }

  async function runSdk(env: Record<string, string>): Promise<string> {
    const script = [
      "const { default: Anthropic } = await import('@anthropic-ai/sdk');",
      'const client = new Anthropic();',
      "const message = await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 32, messages: [{ role: 'user', content: 'hello' }] });",
      'process.stdout.write(message.content[0].text);',
    ].join('\n');
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: REPO_ROOT, env, timeout: 30_000 });
    return stdout;
  }

  /** The legacy init container (`agent --once`), then the sidecar, both with their stored env. */
  async function runAgentContainers(pod: JsonObject, root: string): Promise<CliProcess> {
    const init = containerOf(pod, ContainerName.init);
    const once = await runCli(init.args ?? [], { env: mappedEnv(init, root), timeoutMs: 30_000 });
    expect(once.code, once.stderr).toBe(0);
    const sidecar = containerOf(pod, ContainerName.agent);
    // The only addition: health on loopback, as every test server here (the pod default is :8424).
    const agent = startCli(sidecar.args ?? [], { env: { ...mappedEnv(sidecar, root), ANTHROPIC_WIF_HEALTH_ADDR: '127.0.0.1:0' } });
    await agent.waitForListening(15_000);
    return agent;
  }

  it('file mode: the init container exchanges the real Kubernetes JWT once; the SDK sends the token it wrote', async () => {
    const pod = await storedPod('app-file');
    const root = await mkdtemp(join(work, 'file-'));
    const exchangesBefore = api.tokens.requests.length;
    await mountIdentityToken(pod, containerOf(pod, ContainerName.init), root);
    const agent = await runAgentContainers(pod, root);
    const token = await readFile(join(root, '/var/run/anthropic/token'), 'utf8');
    expect(api.tokens.events.at(-1)).toMatchObject({ outcome: 'success', subject: `system:serviceaccount:${APPS_NAMESPACE}:${SERVICE_ACCOUNT}` });
    // The sidecar adopted the init container's token: one exchange, no replay.
    expect(api.tokens.requests.length - exchangesBefore).toBe(1);

    expect(await runSdk(mappedEnv(containerOf(pod, 'app'), root))).toBe('Hello from the Messages stand-in.');
    const seen = api.messages.requests.at(-1);
    expect(seen?.authorization).toBe(`Bearer ${token}`);
    expect(seen?.anthropicBeta?.split(',')).toContain(TokenExchange.oauthBeta);
    expect((await agent.stop()).code).toBe(0);
  });

  it('proxy mode: the app holds only the placeholder; the stand-in sees the real token through the proxy', async () => {
    const pod = await storedPod('app-proxy');
    const root = await mkdtemp(join(work, 'proxy-'));
    await mountIdentityToken(pod, containerOf(pod, ContainerName.init), root);
    const agent = await runAgentContainers(pod, root);
    const appEnv = mappedEnv(containerOf(pod, 'app'), root);
    expect(appEnv.ANTHROPIC_AUTH_TOKEN).toBe(PROXY_PLACEHOLDER_AUTH_TOKEN);
    expect(appEnv.ANTHROPIC_BASE_URL).toBe(`http://127.0.0.1:${proxyPort}`);

    expect(await runSdk(appEnv)).toBe('Hello from the Messages stand-in.');
    const seen = api.messages.requests.at(-1);
    expect(seen?.authorization).toBe(`Bearer ${api.tokens.issuedTokens.at(-1)?.accessToken ?? '?'}`);
    expect(JSON.stringify(api.messages.requests)).not.toContain(PROXY_PLACEHOLDER_AUTH_TOKEN);
    expect((await agent.stop()).code).toBe(0);
  });

  it('sdk mode: the SDK itself exchanges the real Kubernetes JWT and calls the API with the result', async () => {
    const pod = await storedPod('app-sdk');
    const root = await mkdtemp(join(work, 'sdk-'));
    const app = containerOf(pod, 'app');
    await mountIdentityToken(pod, app, root);
    const exchangesBefore = api.tokens.requests.length;
    expect(await runSdk(mappedEnv(app, root))).toBe('Hello from the Messages stand-in.');
    expect(api.tokens.requests.length - exchangesBefore).toBe(1);
    expect(api.tokens.events.at(-1)).toMatchObject({ outcome: 'success', subject: `system:serviceaccount:${APPS_NAMESPACE}:${SERVICE_ACCOUNT}` });
    expect(api.messages.requests.at(-1)?.authorization).toBe(`Bearer ${api.tokens.issuedTokens.at(-1)?.accessToken ?? '?'}`);
  });
});

describe('the native sidecar layout (--native-sidecar=true) on the golden fixtures', () => {
  interface Fixture {
    readonly file: string;
    readonly pod: JsonObject;
    readonly lookup: { kind: string; serviceAccount?: { namespace: string; name: string; annotations: Record<string, string> } };
    readonly expected: { result: string; message?: string; warnings: string[]; patch: unknown[] };
  }

  // Fixtures whose defaults are the webhook's flags below and whose ServiceAccount state a
  // real cluster can hold (found with annotations, or absent), or that need no lookup at all
  // (those go to a second process run with --service-account-lookup=false).
  function nativeFixtures(): Fixture[] {
    const dir = new URL('../fixtures/pods/', import.meta.url);
    return readdirSync(dir)
      .filter((file) => file.endsWith('.yaml'))
      .map((file) => ({ file, ...(YAML.parse(readFileSync(new URL(file, dir), 'utf8')) as Omit<Fixture, 'file'> & { defaults?: unknown; serviceAccount?: Fixture['lookup'] }) }))
      .map((raw) => ({ ...raw, serviceAccount: raw.serviceAccount ?? { kind: 'disabled' } }))
      .filter((raw) => raw.defaults === undefined && ['found', 'not-found', 'disabled'].includes(raw.serviceAccount.kind))
      .map((raw) => ({ file: raw.file, pod: raw.pod, lookup: raw.serviceAccount, expected: raw.expected }));
  }

  function postReview(port: number, review: JsonObject): Promise<{ status: number; body: JsonObject }> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port, path: '/mutate', method: 'POST', ca: ca.certPem, headers: { 'content-type': 'application/json' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) as JsonObject });
        });
      });
      req.on('error', reject);
      req.end(JSON.stringify(review));
    });
  }

  async function placeServiceAccount(namespace: string, name: string, fixture: Fixture): Promise<void> {
    await kubectl.ok(['apply', '-f', '-'], namespaceManifest(namespace));
    await kubectl.ok(['delete', 'serviceaccount', name, '-n', namespace, '--ignore-not-found', '--wait=false']);
    if (fixture.lookup.kind !== 'found') return;
    const annotations = fixture.lookup.serviceAccount?.annotations ?? {};
    await kubectl.ok(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace, annotations } }));
  }

  interface Observed {
    readonly allowed: boolean;
    readonly patch: unknown[];
    readonly warnings: string[];
    readonly message: string | undefined;
  }

  function observed(body: JsonObject): Observed {
    const response = body.response as { allowed: boolean; patch?: string; warnings?: string[]; status?: { message?: string } };
    return {
      allowed: response.allowed,
      patch: response.patch === undefined ? [] : (JSON.parse(Buffer.from(response.patch, 'base64').toString()) as unknown[]),
      warnings: response.warnings ?? [],
      message: response.status?.message,
    };
  }

  const fixtureFlags = ['--organization-id', TEST_ORGANIZATION_ID, '--federation-rule-id', TEST_FEDERATION_RULE_ID, '--agent-image', TEST_AGENT_IMAGE, '--agent-image-pull-policy', 'IfNotPresent', '--native-sidecar', 'true'];
  let withLookup: CliProcess;
  let withoutLookup: CliProcess;
  const ports = { lookup: 0, noLookup: 0 };

  beforeAll(async () => {
    withLookup = await startWebhook(fixtureFlags, '0');
    withoutLookup = await startWebhook([...fixtureFlags, '--service-account-lookup=false'], '0');
    ports.lookup = (await withLookup.waitForListening()).port;
    ports.noLookup = (await withoutLookup.waitForListening()).port;
  });

  afterAll(async () => {
    expect((await withLookup.stop()).code).toBe(0);
    expect((await withoutLookup.stop()).code).toBe(0);
  });

  const fixtures = nativeFixtures();

  it('covers the fixtures a real webhook process can express', () => {
    expect(fixtures.filter((f) => f.lookup.kind !== 'disabled').length).toBe(18);
    expect(fixtures.length).toBe(59);
  });

  it.each(fixtures.map((f) => [f.file, f] as const))('%s: the real webhook answers exactly as the fixture says', async (_file, fixture) => {
    const metadata = fixture.pod.metadata as { namespace?: string };
    const namespace = metadata.namespace ?? 'default';
    const name = ((fixture.pod.spec as JsonObject).serviceAccountName as string | undefined) ?? 'default';
    const lookup = fixture.lookup.kind !== 'disabled';
    if (lookup) await placeServiceAccount(namespace, name, fixture);
    const review = {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: { uid: `e2e-${fixture.file}`, kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, operation: 'CREATE', namespace, object: fixture.pod },
    };
    const want: Observed = {
      allowed: fixture.expected.result !== 'denied',
      patch: fixture.expected.patch,
      warnings: fixture.expected.warnings,
      message: fixture.expected.result === 'denied' ? fixture.expected.message : undefined,
    };
    // The webhook's ServiceAccount cache follows the watch; give it a moment to see the change.
    let got: Observed | undefined;
    for (let attempt = 0; attempt < 50; attempt++) {
      const answer = await postReview(lookup ? ports.lookup : ports.noLookup, review);
      expect(answer.status).toBe(200);
      got = observed(answer.body);
      if (JSON.stringify(got) === JSON.stringify(want)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(got).toEqual(want);
  });
});

describe('when the webhook is down', () => {
  beforeAll(async () => {
    expect((await webhook.stop()).code).toBe(0);
  });

  it('refuses a pod with the opt-in label (failurePolicy Fail): never created without credentials', async () => {
    const created = await createPod(appPod('labelled-while-down', { labels: { [OPT_IN_LABEL]: 'true' } }));
    expect(created.status).toBe(1);
    expect(created.stderr).toContain('failed calling webhook');
    expect((await kubectl.run(['get', 'pod', 'labelled-while-down', '-n', APPS_NAMESPACE])).status).toBe(1);
  });

  it('creates a pod without the label (failurePolicy Ignore), unmutated', async () => {
    const created = await createPod(appPod('unlabelled-while-down'));
    expect(created.status, created.stderr).toBe(0);
    const stored = await storedPod('unlabelled-while-down');
    expect(names(spec(stored).containers)).toEqual(['app']);
    expect((stored.metadata as JsonObject).annotations).toBeUndefined();
  });
});
