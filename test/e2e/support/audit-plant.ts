/**
 * The objects `test/e2e/audit.test.ts` plants on the real API server: one case of each audit
 * finding that needs no kubelet, the chart's own webhook Deployment (whose flags are the
 * defaults the audit reads), and the findings each case must produce. Injected pods are what
 * the webhook's pure core (decideInjection + applyInjection) makes of them with those flags.
 */
import YAML from 'yaml';
import { API_KEY_VALUE_PREFIX, Annotation, SdkEnv, type AuditSeverity } from '../../../contract/index.ts';
import type { FindingKind, OwnerRef } from '../../../audit/model.ts';
import { parseArgv, resolveConfig } from '../../../runtime/config.ts';
import { decideNativeSidecar } from '../../../webhook/cluster-version.ts';
import { injectionDefaultsFrom, WEBHOOK_COMMAND, webhookOptions } from '../../../webhook/config.ts';
import { decideInjection } from '../../../webhook/decide.ts';
import { applyInjection } from '../../../webhook/inject.ts';
import type { JsonObject } from '../../../webhook/json.ts';
import type { InjectionDefaults } from '../../../webhook/types.ts';
import { renderChart } from '../../support/k8s-tools.ts';
import type { Kubectl } from './kube.ts';
import { namespaceManifest } from './kube.ts';

/** Static credentials, a missed and a stale injection, and a healthy pod. */
export const MAIN_NAMESPACE = 'e2e-audit';
/** Only drift (sidecar image, sdk mode with two exchangers): nothing above medium. */
export const DRIFT_NAMESPACE = 'e2e-audit-drift';
export const WEBHOOK_NAMESPACE = 'e2e-audit-wif';

const ORGANIZATION_ID = '6f1c3b0e-8a52-4d3e-9f7a-2b4c5d6e7f80';
const RULE_ID = 'fdrl_e2e_audit_default';
export const OLD_RULE_ID = 'fdrl_e2e_audit_before';
export const NEW_RULE_ID = 'fdrl_e2e_audit_after';
const IMAGE_REPOSITORY = 'registry.example/anthropic-wif';
export const AGENT_IMAGE = `${IMAGE_REPOSITORY}:audit-e2e`;
export const OLD_AGENT_IMAGE = `${IMAGE_REPOSITORY}:audit-e2e-previous`;
const APP_IMAGE = 'registry.example/app:1';

/** Distinctive values that must never appear in the audit's output (nor their base64). */
export const SECRET_VALUES = {
  literal: `${API_KEY_VALUE_PREFIX}03-E2E-LITERAL-in-the-spec-9f3ac1`,
  secretKeyRef: `${API_KEY_VALUE_PREFIX}03-E2E-SECRETKEYREF-in-a-secret-4b7d20`,
  envFrom: `${API_KEY_VALUE_PREFIX}03-E2E-ENVFROM-in-a-secret-c81e55`,
  cronJobToken: 'E2E-CRONJOB-static-auth-token-77aa03',
} as const;

export const SECRET_KEY_REF = { secret: 'anthropic-key', key: 'api-key' } as const;
export const ENV_FROM_SECRET = 'anthropic-env';
/** The ServiceAccount whose annotations change after its pod was injected. */
export const CHANGING_ACCOUNT = 'claude';

export interface ExpectedFinding {
  readonly namespace: string;
  readonly owner: OwnerRef;
  readonly kind: FindingKind;
  readonly severity: AuditSeverity;
  readonly pods: number;
  /** A fragment of the message (names and settings, never a value). */
  readonly says: string;
  /** A fragment of the fix (the owner to restart). */
  readonly fix: string;
}

export interface WebhookRelease {
  readonly deployment: JsonObject;
  readonly defaults: InjectionDefaults;
}

/** The chart's webhook Deployment as rendered for 1.20, and the defaults its flags give the webhook. */
export function webhookRelease(): WebhookRelease {
  const rendered = renderChart({
    namespace: WEBHOOK_NAMESPACE,
    kubeVersion: '1.20.2',
    values: {
      federation: { organizationId: ORGANIZATION_ID, ruleId: RULE_ID },
      image: { repository: IMAGE_REPOSITORY, tag: 'audit-e2e' },
      certificates: { mode: 'provided', provided: { caBundle: Buffer.from('unused').toString('base64') } },
    },
    showOnly: ['templates/deployment.yaml'],
  });
  const deployment = YAML.parse(rendered) as JsonObject;
  const container = ((deployment.spec as JsonObject).template as { spec: { containers: { args: string[] }[] } }).spec.containers[0];
  const args = container?.args ?? [];
  const options = resolveConfig(webhookOptions, parseArgv(webhookOptions, args.slice(args.indexOf(WEBHOOK_COMMAND) + 1), WEBHOOK_COMMAND), {});
  const nativeSidecar = decideNativeSidecar(options.nativeSidecar, { kind: 'version', info: { major: '1', minor: '20', gitVersion: 'v1.20.2' } });
  return { deployment, defaults: injectionDefaultsFrom({ ...options, tlsCertFile: '', tlsKeyFile: '' }, nativeSidecar) };
}

function container(name: string, extra: JsonObject = {}): JsonObject {
  return { name, image: APP_IMAGE, ...extra };
}

function podTemplate(app: string, containers: JsonObject[]): JsonObject {
  return { metadata: { labels: { app } }, spec: { serviceAccountName: 'app', containers } };
}

function deployment(name: string, containers: JsonObject[]): JsonObject {
  return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: MAIN_NAMESPACE }, spec: { selector: { matchLabels: { app: name } }, template: podTemplate(name, containers) } };
}

function secret(name: string, data: Record<string, string>): JsonObject {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: MAIN_NAMESPACE }, type: 'Opaque', stringData: data };
}

function serviceAccount(namespace: string, name: string, annotations: Record<string, string> = {}): JsonObject {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace, annotations } };
}

interface PodSpecOptions {
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly annotations: Record<string, string>;
  readonly containers?: string[];
  readonly owner?: { readonly apiVersion: string; readonly kind: string; readonly name: string; readonly uid: string };
}

function pod(name: string, options: PodSpecOptions): JsonObject {
  const metadata: JsonObject = { name, namespace: options.namespace, annotations: options.annotations };
  if (options.owner !== undefined) metadata.ownerReferences = [{ ...options.owner, controller: true, blockOwnerDeletion: true }];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata,
    spec: { serviceAccountName: options.serviceAccount, securityContext: { runAsUser: 1000, runAsNonRoot: true }, containers: (options.containers ?? ['app']).map((c) => container(c)) },
  };
}

/** The pod as the webhook would have stored it, with these ServiceAccount annotations and defaults. */
function injected(object: JsonObject, accountAnnotations: Record<string, string>, defaults: InjectionDefaults): JsonObject {
  const metadata = object.metadata as { namespace: string };
  const name = (object.spec as { serviceAccountName: string }).serviceAccountName;
  const decision = decideInjection(object, { kind: 'found', serviceAccount: { namespace: metadata.namespace, name, annotations: accountAnnotations } }, defaults);
  if (decision.kind !== 'inject') throw new Error(`the webhook would not inject the planted pod: ${decision.kind}`);
  return applyInjection(object, decision.plan);
}

async function create(kubectl: Kubectl, object: JsonObject): Promise<JsonObject> {
  return JSON.parse(await kubectl.ok(['create', '-f', '-', '-o', 'json'], JSON.stringify(object))) as JsonObject;
}

function ownerOf(object: JsonObject): NonNullable<PodSpecOptions['owner']> {
  const metadata = object.metadata as { name: string; uid: string };
  return { apiVersion: object.apiVersion as string, kind: object.kind as string, name: metadata.name, uid: metadata.uid };
}

const optedIn = { [Annotation.inject]: 'true' };
const restart = (kind: string, name: string, namespace: string): string => `kubectl rollout restart ${kind}/${name} -n ${namespace}`;

async function plantStaticCredentials(kubectl: Kubectl): Promise<void> {
  await create(kubectl, secret(SECRET_KEY_REF.secret, { [SECRET_KEY_REF.key]: SECRET_VALUES.secretKeyRef }));
  await create(kubectl, secret(ENV_FROM_SECRET, { [SdkEnv.apiKey]: SECRET_VALUES.envFrom }));
  await create(kubectl, deployment('literal-key', [container('app', { env: [{ name: SdkEnv.apiKey, value: SECRET_VALUES.literal }] })]));
  const fromSecret = { env: [{ name: SdkEnv.apiKey, valueFrom: { secretKeyRef: { name: SECRET_KEY_REF.secret, key: SECRET_KEY_REF.key } } }] };
  await create(kubectl, deployment('secret-key-ref', [container('app', fromSecret)]));
  await create(kubectl, deployment('env-from', [container('worker', { envFrom: [{ secretRef: { name: ENV_FROM_SECRET } }] })]));
  // batch/v1beta1: the only CronJob version a 1.20 API server serves (the audit falls back to it).
  const job = { spec: { template: { spec: { restartPolicy: 'Never', containers: [container('report', { env: [{ name: SdkEnv.authToken, value: SECRET_VALUES.cronJobToken }] })] } } } };
  await create(kubectl, { apiVersion: 'batch/v1beta1', kind: 'CronJob', metadata: { name: 'nightly-report', namespace: MAIN_NAMESPACE }, spec: { schedule: '0 3 * * *', jobTemplate: job } });
}

/** A Deployment → ReplicaSet → Pod chain (no controller-manager here: the test links them itself). */
async function plantStaleInjection(kubectl: Kubectl, defaults: InjectionDefaults): Promise<void> {
  const before = { ...optedIn, [Annotation.federationRuleId]: OLD_RULE_ID };
  await create(kubectl, serviceAccount(MAIN_NAMESPACE, CHANGING_ACCOUNT, before));
  const owner = await create(kubectl, deployment('stale-app', [container('app')]));
  const template = podTemplate('stale-app', [container('app')]);
  const replicaSet = await create(kubectl, {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: 'stale-app-6d9f7c', namespace: MAIN_NAMESPACE, ownerReferences: [{ ...ownerOf(owner), controller: true }] },
    spec: { selector: { matchLabels: { app: 'stale-app' } }, template },
  });
  const podOptions = { namespace: MAIN_NAMESPACE, serviceAccount: CHANGING_ACCOUNT, annotations: {}, owner: ownerOf(replicaSet) };
  await create(kubectl, injected(pod('stale-app-6d9f7c-x2k4q', podOptions), before, defaults));
  await kubectl.ok(['annotate', 'serviceaccount', CHANGING_ACCOUNT, '-n', MAIN_NAMESPACE, '--overwrite', `${Annotation.federationRuleId}=${NEW_RULE_ID}`]);
}

async function plantDrift(kubectl: Kubectl, defaults: InjectionDefaults): Promise<void> {
  await create(kubectl, serviceAccount(DRIFT_NAMESPACE, 'app'));
  const statefulSet = await create(kubectl, {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'drift-app', namespace: DRIFT_NAMESPACE },
    spec: { serviceName: 'drift-app', selector: { matchLabels: { app: 'drift-app' } }, template: podTemplate('drift-app', [container('app')]) },
  });
  const drifted = pod('drift-app-0', { namespace: DRIFT_NAMESPACE, serviceAccount: 'app', annotations: optedIn, owner: ownerOf(statefulSet) });
  await create(kubectl, injected(drifted, {}, { ...defaults, agentImage: OLD_AGENT_IMAGE }));
  const sdk = pod('sdk-two-apps', { namespace: DRIFT_NAMESPACE, serviceAccount: 'app', annotations: { ...optedIn, [Annotation.mode]: 'sdk' }, containers: ['app', 'worker'] });
  await create(kubectl, injected(sdk, {}, defaults));
}

/** Plants every case; returns the findings the audit must report, and nothing else. */
export async function plantCases(kubectl: Kubectl, release: WebhookRelease): Promise<ExpectedFinding[]> {
  const namespaces = [WEBHOOK_NAMESPACE, MAIN_NAMESPACE, DRIFT_NAMESPACE].map(namespaceManifest).join('\n---\n');
  await kubectl.ok(['apply', '-f', '-'], namespaces);
  await create(kubectl, release.deployment);
  await create(kubectl, serviceAccount(MAIN_NAMESPACE, 'app'));
  await plantStaticCredentials(kubectl);
  // Opted in by annotation (the chart's Ignore entry), created while no webhook answers.
  await create(kubectl, pod('missed-injection', { namespace: MAIN_NAMESPACE, serviceAccount: 'app', annotations: optedIn }));
  await create(kubectl, injected(pod('healthy', { namespace: MAIN_NAMESPACE, serviceAccount: 'app', annotations: optedIn }), {}, release.defaults));
  await plantStaleInjection(kubectl, release.defaults);
  await plantDrift(kubectl, release.defaults);
  const main = MAIN_NAMESPACE;
  const drift = DRIFT_NAMESPACE;
  return [
    { namespace: main, owner: { kind: 'CronJob', name: 'nightly-report' }, kind: 'static-credential', severity: 'critical', pods: 0, says: `container "report" sets ${SdkEnv.authToken} to a literal value in the spec`, fix: `remove ${SdkEnv.authToken} from container "report"` },
    { namespace: main, owner: { kind: 'Deployment', name: 'env-from' }, kind: 'static-credential', severity: 'medium', pods: 0, says: `container "worker" may set ${SdkEnv.apiKey} or ${SdkEnv.authToken} through envFrom Secret "${ENV_FROM_SECRET}" (not read; --read-secrets checks its keys)`, fix: `remove the key from Secret "${ENV_FROM_SECRET}"` },
    { namespace: main, owner: { kind: 'Deployment', name: 'literal-key' }, kind: 'static-credential', severity: 'critical', pods: 0, says: `container "app" sets ${SdkEnv.apiKey} to a literal Anthropic API key in the spec`, fix: `remove ${SdkEnv.apiKey} from container "app"` },
    { namespace: main, owner: { kind: 'Deployment', name: 'secret-key-ref' }, kind: 'static-credential', severity: 'high', pods: 0, says: `container "app" sets ${SdkEnv.apiKey} from Secret "${SECRET_KEY_REF.secret}" key "${SECRET_KEY_REF.key}" (not read; --read-secrets checks what it holds)`, fix: `remove ${SdkEnv.apiKey} from container "app"` },
    { namespace: main, owner: { kind: 'Deployment', name: 'stale-app' }, kind: 'stale-injection', severity: 'medium', pods: 1, says: `${SdkEnv.federationRuleId} ${OLD_RULE_ID} → ${NEW_RULE_ID}`, fix: restart('deployment', 'stale-app', main) },
    { namespace: main, owner: { kind: 'Pod', name: 'missed-injection' }, kind: 'missed-injection', severity: 'high', pods: 1, says: `opted in (annotation ${Annotation.inject} on the Pod) but has no ${Annotation.status} annotation`, fix: `kubectl delete pod missed-injection -n ${main}` },
    { namespace: drift, owner: { kind: 'Pod', name: 'sdk-two-apps' }, kind: 'sdk-several-exchangers', severity: 'medium', pods: 1, says: 'sdk mode with 2 containers ("app", "worker")', fix: `${Annotation.mode}: file` },
    { namespace: drift, owner: { kind: 'StatefulSet', name: 'drift-app' }, kind: 'sidecar-image-drift', severity: 'low', pods: 1, says: `sidecar runs ${OLD_AGENT_IMAGE}, not the configured ${AGENT_IMAGE}`, fix: restart('statefulset', 'drift-app', drift) },
  ];
}

/** What --read-secrets changes: the Secrets are read, and what they hold is named (never shown). */
export function withSecretsRead(expected: readonly ExpectedFinding[]): ExpectedFinding[] {
  return expected.map((finding) => {
    if (finding.owner.name === 'secret-key-ref') return { ...finding, says: `from Secret "${SECRET_KEY_REF.secret}" key "${SECRET_KEY_REF.key}", which holds an Anthropic API key` };
    if (finding.owner.name === 'env-from') return { ...finding, severity: 'high', says: `container "worker" sets ${SdkEnv.apiKey} through envFrom Secret "${ENV_FROM_SECRET}"` };
    return finding;
  });
}
