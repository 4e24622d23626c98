/**
 * The audit's walk over the cluster, through a minimal reader (GET a path, get status and
 * text) so tests and the benchmark can serve it from memory. Every list is paged with
 * `limit` and `continue`, and each page is classified and dropped before the next is read:
 * memory grows with ServiceAccounts, owner links and distinct findings, never with pods.
 */
import { ANNOTATION_PREFIX, Annotation, ChartLabel, ContainerName, KubePath, PROJECT_NAME, SdkEnv, namespacedListPath, podMetricsProxyPath, secretPath } from '../contract/index.ts';
import { ConfigError, WifError, describeError } from '../runtime/errors.ts';
import { nameRecord } from '../runtime/json.ts';
import type { VersionObservation } from '../webhook/cluster-version.ts';
import { isJsonObject, objectField, objectsField, stringField, type JsonObject } from '../webhook/json.ts';
import { podAnnotations, podSpec, serviceAccountName } from '../webhook/pod.ts';
import type { ServiceAccountView } from '../webhook/types.ts';
import { classifyPod, classifyWorkload, objectName, objectNamespace, templateSpec, type PodContext } from './classify.ts';
import { readRecordedStatus } from './injection-state.ts';
import { OwnerIndex, controllerOf, type WorkloadKind } from './owners.ts';
import { ReportBuilder, type AuditReport } from './report.ts';
import { BindingHealth, bindingDraft, parseSidecarMetrics, type BindingKey, type BindingSummary, type SidecarReading } from './sidecar-health.ts';
import { credentialUses, looksLikeApiKey, referencedSecrets, type SecretFacts } from './static-credentials.ts';
import { defaultsFromDeployment, deploymentLabel, type WebhookDefaults } from './webhook-defaults.ts';

export interface KubeResponse {
  readonly status: number;
  readonly text: string;
}

/** GET one API path (with the kubeconfig's credentials); rejects only on network failure. */
export type KubeGet = (path: string, signal: AbortSignal) => Promise<KubeResponse>;

export interface ScanOptions {
  /** Only this namespace; all when undefined. */
  readonly namespace: string | undefined;
  readonly pageSize: number;
  readonly readSecrets: boolean;
  readonly metrics: boolean;
  /** `namespace/name` of the webhook Deployment; else found by the chart's labels. */
  readonly webhookDeployment: { readonly namespace: string; readonly name: string } | undefined;
  /** Pod proxy reads in flight at once. */
  readonly metricsConcurrency: number;
  readonly now: () => Date;
  readonly progress: (text: string) => void;
  readonly signal: AbortSignal;
}

const WORKLOAD_LISTS: readonly { readonly kind: WorkloadKind; readonly path: string; readonly fallback?: string }[] = [
  { kind: 'ReplicaSet', path: KubePath.replicaSets },
  { kind: 'Job', path: KubePath.jobs },
  { kind: 'Deployment', path: KubePath.deployments },
  { kind: 'StatefulSet', path: KubePath.statefulSets },
  { kind: 'DaemonSet', path: KubePath.daemonSets },
  { kind: 'CronJob', path: KubePath.cronJobs, fallback: KubePath.cronJobsV1beta1 },
];

function parseBody(response: KubeResponse, path: string): JsonObject {
  try {
    const body: unknown = JSON.parse(response.text);
    if (isJsonObject(body)) return body;
  } catch {
    // reported below
  }
  throw new WifError('audit-kubernetes', `GET ${path}: the API server's answer is not a JSON object`);
}

function httpFailure(path: string, status: number): WifError {
  if (status === 401 || status === 403) {
    return new WifError('audit-forbidden', `GET ${path} answered ${String(status)}: these credentials may not read it`, {
      status,
      hint: 'see the README (audit: RBAC) and manifests/audit-rbac.yaml for the ClusterRoles the audit needs',
    });
  }
  if (status === 410) return new WifError('audit-expired', `GET ${path} answered 410: the list expired while paging; run the audit again`, { status, retryable: true });
  return new WifError('audit-kubernetes', `GET ${path} answered HTTP ${String(status)}`, { status });
}

function withQuery(path: string, query: ReadonlyMap<string, string>): string {
  const params = new URLSearchParams([...query]);
  return `${path}${path.includes('?') ? '&' : '?'}${params.toString()}`;
}

/** Pages of a list; `undefined` first when the API server does not serve the resource (404). */
async function* listPages(get: KubeGet, path: string, options: ScanOptions, selector?: string): AsyncGenerator<JsonObject[] | undefined> {
  let token: string | undefined;
  do {
    const query = new Map([['limit', String(options.pageSize)]]);
    if (selector !== undefined) query.set('labelSelector', selector);
    if (token !== undefined) query.set('continue', token);
    const pagePath = withQuery(path, query);
    const response = await get(pagePath, options.signal);
    if (response.status === 404 && token === undefined) {
      yield undefined;
      return;
    }
    if (response.status !== 200) throw httpFailure(path, response.status);
    const body = parseBody(response, pagePath);
    yield objectsField(body, 'items');
    token = stringField(objectField(body, 'metadata'), 'continue');
  } while (token !== undefined && token !== '');
}

class SecretFactsCache {
  readonly #facts = new Map<string, SecretFacts>();

  readonly get: KubeGet;
  readonly enabled: boolean;
  readonly signal: AbortSignal;
  readonly report: ReportBuilder;

  constructor(get: KubeGet, enabled: boolean, signal: AbortSignal, report: ReportBuilder) {
    this.get = get;
    this.enabled = enabled;
    this.signal = signal;
    this.report = report;
  }

  lookup = (namespace: string, name: string): SecretFacts | undefined => (this.enabled ? this.#facts.get(`${namespace}/${name}`) : undefined);

  /** Reads each Secret a spec references, once; keeps key names and which hold an API key, never a value. */
  async load(namespace: string, spec: JsonObject | undefined): Promise<void> {
    if (!this.enabled || spec === undefined) return;
    for (const name of referencedSecrets(credentialUses(spec))) {
      const id = `${namespace}/${name}`;
      if (this.#facts.has(id)) continue;
      this.#facts.set(id, await this.#read(namespace, name));
    }
  }

  async #read(namespace: string, name: string): Promise<SecretFacts> {
    const path = secretPath(namespace, name);
    const response = await this.get(path, this.signal);
    if (response.status === 404) return { kind: 'missing' };
    if (response.status === 401 || response.status === 403) return { kind: 'forbidden' };
    if (response.status !== 200) throw httpFailure(path, response.status);
    this.report.counts.secretsRead += 1;
    const data = objectField(parseBody(response, path), 'data') ?? {};
    const keys = new Set(Object.keys(data));
    const apiKeyKeys = new Set(
      Object.entries(data)
        .filter(([, value]) => typeof value === 'string' && looksLikeApiKey(Buffer.from(value, 'base64').toString('latin1')))
        .map(([key]) => key),
    );
    return { kind: 'read', keys, apiKeyKeys };
  }
}

async function readVersion(get: KubeGet, signal: AbortSignal): Promise<VersionObservation> {
  try {
    const response = await get(KubePath.version, signal);
    if (response.status !== 200) return { kind: 'unreachable', reason: `HTTP ${String(response.status)}` };
    const body = parseBody(response, KubePath.version);
    return { kind: 'version', info: { major: stringField(body, 'major'), minor: stringField(body, 'minor'), gitVersion: stringField(body, 'gitVersion') } };
  } catch (error) {
    return { kind: 'unreachable', reason: describeError(error) };
  }
}

async function findWebhookDeployment(get: KubeGet, options: ScanOptions): Promise<JsonObject | undefined> {
  const wanted = options.webhookDeployment;
  if (wanted !== undefined) {
    const path = `${namespacedListPath(KubePath.deployments, wanted.namespace)}/${encodeURIComponent(wanted.name)}`;
    const response = await get(path, options.signal);
    if (response.status === 404) throw new ConfigError(`invalid --webhook-deployment "${wanted.namespace}/${wanted.name}": no such Deployment`);
    if (response.status !== 200) throw httpFailure(path, response.status);
    return parseBody(response, path);
  }
  const selector = `${ChartLabel.partOf}=${PROJECT_NAME},${ChartLabel.component}=${ChartLabel.webhookComponent}`;
  const found: JsonObject[] = [];
  for await (const page of listPages(get, KubePath.deployments, options, selector)) found.push(...(page ?? []));
  if (found.length > 1) {
    throw new ConfigError(`several webhook Deployments carry the chart's labels (${found.map(deploymentLabel).join(', ')}): name one with --webhook-deployment <namespace>/<name>`);
  }
  return found[0];
}

async function webhookDefaults(get: KubeGet, options: ScanOptions, report: ReportBuilder): Promise<WebhookDefaults | undefined> {
  const deployment = await findWebhookDeployment(get, options);
  if (deployment === undefined) {
    report.note(
      `no webhook Deployment found (labels ${ChartLabel.partOf}=${PROJECT_NAME}, ${ChartLabel.component}=${ChartLabel.webhookComponent}): ` +
        `stale-injection and sidecar-image checks were skipped; name it with --webhook-deployment <namespace>/<name>`,
    );
    return undefined;
  }
  const defaults = defaultsFromDeployment(deployment, await readVersion(get, options.signal));
  if (defaults.kind === 'invalid') report.note(`cannot read the webhook's defaults from ${defaults.source} (${defaults.reason}): stale-injection and sidecar-image checks were skipped`);
  else report.note(`webhook defaults read from ${defaults.source} (agent image ${defaults.defaults.agentImage}; ${defaults.defaults.nativeSidecar.reason})`);
  return defaults;
}

/** Only this project's annotations are kept, in a prototype-free record (names are the users'). */
function slimServiceAccount(object: JsonObject): ServiceAccountView {
  const annotations = objectField(objectField(object, 'metadata'), 'annotations') ?? {};
  const ours = nameRecord(Object.entries(annotations).flatMap(([key, value]): [string, string][] => (key.startsWith(ANNOTATION_PREFIX) && typeof value === 'string' ? [[key, value]] : [])));
  return { namespace: objectNamespace(object), name: objectName(object), annotations: ours };
}

class ServiceAccounts {
  readonly #accounts = new Map<string, ServiceAccountView>();
  /** One shared view for accounts without this project's annotations: most of them. */
  readonly #plain = new Map<string, string>();

  add(object: JsonObject): void {
    const slim = slimServiceAccount(object);
    const id = `${slim.namespace}/${slim.name}`;
    if (Object.keys(slim.annotations).length === 0) this.#plain.set(id, slim.name);
    else this.#accounts.set(id, slim);
  }

  get size(): number {
    return this.#accounts.size + this.#plain.size;
  }

  lookup = (namespace: string, name: string): ServiceAccountView | undefined => {
    const id = `${namespace}/${name}`;
    const annotated = this.#accounts.get(id);
    if (annotated !== undefined) return annotated;
    return this.#plain.has(id) ? { namespace, name, annotations: nameRecord() } : undefined;
  };
}

interface Walk {
  readonly get: KubeGet;
  readonly options: ScanOptions;
  readonly report: ReportBuilder;
  readonly secrets: SecretFactsCache;
  readonly owners: OwnerIndex;
}

async function readServiceAccounts(walk: Walk): Promise<ServiceAccounts> {
  const accounts = new ServiceAccounts();
  for await (const page of listPages(walk.get, namespacedListPath(KubePath.serviceAccounts, walk.options.namespace), walk.options)) {
    for (const object of page ?? []) accounts.add(object);
    walk.options.progress(`serviceaccounts ${String(accounts.size)}`);
  }
  walk.report.counts.serviceAccounts = accounts.size;
  return accounts;
}

async function readWorkloads(walk: Walk, kind: WorkloadKind, path: string): Promise<boolean> {
  let seen = 0;
  for await (const page of listPages(walk.get, namespacedListPath(path, walk.options.namespace), walk.options)) {
    if (page === undefined) return false;
    for (const object of page) {
      const namespace = objectNamespace(object);
      const parent = controllerOf(object);
      if (parent !== undefined) walk.owners.add(kind, namespace, objectName(object), parent);
      seen += 1;
      // An owned ReplicaSet or Job repeats its owner's template: the owner reports it.
      if (parent !== undefined && (kind === 'ReplicaSet' || kind === 'Job')) continue;
      walk.report.counts.workloads += 1;
      await walk.secrets.load(namespace, templateSpec(kind, object));
      for (const draft of classifyWorkload(kind, object, walk.secrets.lookup)) walk.report.add(namespace, { kind, name: objectName(object) }, draft);
    }
    walk.options.progress(`${kind.toLowerCase()}s ${String(seen)}`);
  }
  return true;
}

/** The binding an injected, running pod's sidecar serves, or undefined when it has no sidecar to read. */
function sidecarBinding(pod: JsonObject): BindingKey | undefined {
  const raw = podAnnotations(pod)[Annotation.status];
  const recorded = raw === undefined ? undefined : readRecordedStatus(raw);
  if (recorded === undefined || recorded.layout === 'none' || stringField(objectField(pod, 'status'), 'phase') !== 'Running') return undefined;
  const spec = podSpec(pod);
  const agent = [...objectsField(spec, 'initContainers'), ...objectsField(spec, 'containers')].find((c) => stringField(c, 'name') === ContainerName.agent);
  const rule = objectsField(agent, 'env').find((e) => stringField(e, 'name') === SdkEnv.federationRuleId);
  return { namespace: objectNamespace(pod), serviceAccount: serviceAccountName(pod), federationRuleId: stringField(rule, 'value') ?? '(unknown)' };
}

async function readSidecar(get: KubeGet, pod: JsonObject, signal: AbortSignal): Promise<SidecarReading> {
  const name = objectName(pod);
  try {
    const response = await get(podMetricsProxyPath(objectNamespace(pod), name), signal);
    if (response.status !== 200) return { pod: name, metrics: undefined, error: `HTTP ${String(response.status)}` };
    const metrics = parseSidecarMetrics(response.text);
    return metrics === undefined ? { pod: name, metrics, error: 'not the agent metrics' } : { pod: name, metrics };
  } catch (error) {
    return { pod: name, metrics: undefined, error: describeError(error) };
  }
}

async function scrapePage(walk: Walk, pods: readonly JsonObject[], health: BindingHealth): Promise<void> {
  const queue = pods.flatMap((pod) => {
    const key = sidecarBinding(pod);
    return key === undefined ? [] : [{ pod, key }];
  });
  const worker = async (): Promise<void> => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const reading = await readSidecar(walk.get, next.pod, walk.options.signal);
      walk.report.counts.sidecarsScraped += 1;
      health.add(next.key, reading, walk.options.now().getTime() / 1000);
    }
  };
  await Promise.all(Array.from({ length: walk.options.metricsConcurrency }, worker));
}

async function readPods(walk: Walk, context: PodContext, health: BindingHealth | undefined): Promise<void> {
  for await (const page of listPages(walk.get, namespacedListPath(KubePath.pods, walk.options.namespace), walk.options)) {
    for (const pod of page ?? []) {
      walk.report.counts.pods += 1;
      const namespace = objectNamespace(pod);
      await walk.secrets.load(namespace, podSpec(pod));
      const { owner, drafts } = classifyPod(pod, context);
      for (const draft of drafts) walk.report.add(namespace, owner, draft, objectName(pod));
    }
    if (health !== undefined) await scrapePage(walk, page ?? [], health);
    walk.options.progress(`pods ${String(walk.report.counts.pods)}`);
  }
}

async function readAllWorkloads(walk: Walk): Promise<void> {
  for (const list of WORKLOAD_LISTS) {
    const served = await readWorkloads(walk, list.kind, list.path);
    if (!served && list.fallback !== undefined) await readWorkloads(walk, list.kind, list.fallback);
  }
}

function reportBindings(report: ReportBuilder, bindings: readonly BindingSummary[], nowSeconds: number): void {
  for (const binding of bindings) {
    const draft = bindingDraft(binding, nowSeconds);
    const pods = { count: binding.sidecars, examples: binding.failingPods };
    if (draft !== undefined) report.addCounted(binding.namespace, { kind: 'ServiceAccount', name: binding.serviceAccount }, draft, pods);
  }
}

/** Reads the cluster and returns the report. Throws WifError on an unreadable list (RBAC, network). */
export async function scanCluster(get: KubeGet, options: ScanOptions): Promise<AuditReport> {
  const report = new ReportBuilder();
  const walk: Walk = { get, options, report, secrets: new SecretFactsCache(get, options.readSecrets, options.signal, report), owners: new OwnerIndex() };
  const defaults = await webhookDefaults(get, options, report);
  const accounts = await readServiceAccounts(walk);
  await readAllWorkloads(walk);
  const read = defaults?.kind === 'read' ? defaults : undefined;
  const context: PodContext = {
    owners: walk.owners,
    serviceAccount: accounts.lookup,
    serviceAccountLookup: read?.serviceAccountLookup ?? true,
    defaults: read?.defaults,
    secrets: walk.secrets.lookup,
  };
  const health = options.metrics ? new BindingHealth() : undefined;
  await readPods(walk, context, health);
  const bindings = health?.summaries();
  reportBindings(report, bindings ?? [], options.now().getTime() / 1000);
  if (!options.readSecrets) report.note('Secrets were not read: --read-secrets checks whether referenced Secrets hold an Anthropic key (values are never printed)');
  return report.build(options.now(), bindings);
}
