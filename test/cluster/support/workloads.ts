/**
 * Test workloads for the cluster suite: a namespace with the test CA ConfigMap (the app's
 * trust, and the sidecar's once the chart mounts CA bundles), the app container running the
 * official SDK, and readers for what the pods report.
 */
import { readFileSync } from 'node:fs';
import { Annotation, ContainerName, OPT_IN_LABEL } from '../../../contract/index.ts';
import { apply, getJson, kubectl, type ClusterEnv } from './cluster-env.ts';

export const INJECT_LABEL = OPT_IN_LABEL;
export const STATUS_ANNOTATION = Annotation.status;
export const AGENT_CONTAINER = ContainerName.agent;
export const TEST_CA_CONFIGMAP = 'anthropic-test-ca';
/** Namespaces of the suite share this prefix; the federation rule matches it. */
export const NAMESPACE_PREFIX = 'awi-test-';
export const APP_UID = 1000;

export interface ContainerStatus {
  readonly name: string;
  readonly ready: boolean;
  readonly started?: boolean;
  readonly restartCount: number;
  readonly state?: { readonly running?: { readonly startedAt: string }; readonly terminated?: { readonly exitCode: number; readonly startedAt?: string; readonly finishedAt?: string } };
}

export interface Container {
  readonly name: string;
  readonly image?: string;
  readonly restartPolicy?: string;
  readonly env?: readonly { readonly name: string; readonly value?: string }[];
  readonly volumeMounts?: readonly { readonly name: string; readonly mountPath: string; readonly readOnly?: boolean }[];
  readonly [field: string]: unknown;
}

export interface Pod {
  readonly metadata: { readonly name: string; readonly namespace: string; readonly labels?: Record<string, string>; readonly annotations?: Record<string, string>; readonly uid: string; readonly deletionTimestamp?: string };
  readonly spec: { readonly containers: readonly Container[]; readonly initContainers?: readonly Container[]; readonly volumes?: readonly { readonly name: string }[] };
  readonly status: {
    readonly phase: string;
    readonly podIP?: string;
    readonly containerStatuses?: readonly ContainerStatus[];
    readonly initContainerStatuses?: readonly ContainerStatus[];
  };
}

export async function createTestNamespace(env: ClusterEnv, suffix: string, caPem: string): Promise<string> {
  const name = `${NAMESPACE_PREFIX}${suffix}`;
  await kubectl(env, ['delete', 'namespace', name, '--ignore-not-found', '--wait=true', '--timeout=120s']);
  await apply(env, [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'app', namespace: name } },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: TEST_CA_CONFIGMAP, namespace: name }, data: { 'ca.crt': caPem } },
  ]);
  return name;
}

export async function deleteNamespace(env: ClusterEnv, name: string): Promise<void> {
  await kubectl(env, ['delete', 'namespace', name, '--ignore-not-found', '--wait=false']);
}

export interface AppOptions {
  readonly baseUrl: string;
  readonly once?: boolean;
  readonly intervalMs?: number;
  readonly name?: string;
  readonly extraEnv?: readonly { name: string; value: string }[];
}

/** The SDK app container; it trusts the test CA through NODE_EXTRA_CA_CERTS. */
export function appContainer(env: ClusterEnv, options: AppOptions): Record<string, unknown> {
  return {
    name: options.name ?? 'app',
    image: env.imageApp,
    imagePullPolicy: 'Never',
    securityContext: { runAsUser: APP_UID, runAsGroup: APP_UID, runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
    env: [
      { name: 'ANTHROPIC_BASE_URL', value: options.baseUrl },
      { name: 'NODE_EXTRA_CA_CERTS', value: '/etc/test-ca/ca.crt' },
      { name: 'APP_ONCE', value: options.once === true ? '1' : '0' },
      { name: 'APP_INTERVAL_MS', value: String(options.intervalMs ?? 3000) },
      ...(options.extraEnv ?? []),
    ],
    volumeMounts: [{ name: 'test-ca', mountPath: '/etc/test-ca', readOnly: true }],
    resources: { requests: { cpu: '5m', memory: '48Mi' } },
  };
}

export const TEST_CA_VOLUME = { name: 'test-ca', configMap: { name: TEST_CA_CONFIGMAP } };

export async function podsOf(env: ClusterEnv, namespace: string, selector: string): Promise<Pod[]> {
  return (await getJson<{ items: Pod[] }>(env, ['pods', '-n', namespace, '-l', selector])).items;
}

export async function getPod(env: ClusterEnv, namespace: string, name: string): Promise<Pod> {
  return getJson<Pod>(env, ['pod', '-n', namespace, name]);
}

/** The JSON lines a container printed (other lines are skipped). */
export async function containerEvents(env: ClusterEnv, namespace: string, pod: string, container: string): Promise<Record<string, unknown>[]> {
  const result = await kubectl(env, ['logs', '-n', namespace, pod, '-c', container], { allowFailure: true });
  if (result.status !== 0) return [];
  return result.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

export function statusOf(statuses: readonly ContainerStatus[] | undefined, name: string): ContainerStatus | undefined {
  return statuses?.find((s) => s.name === name);
}

export function readCaPem(file: string): string {
  return readFileSync(file, 'utf8');
}

/** A pod that is not opted in, to look at the others from the pod network. */
export function proberPod(env: ClusterEnv, namespace: string): Record<string, unknown> {
  return sleeperPod(env, namespace, 'prober', { serviceAccountName: 'default' });
}

/** From inside `pod`: `open`, `refused` or `timeout` for a TCP connection to ip:port. */
export async function tcpProbe(env: ClusterEnv, target: { namespace: string; pod: string; ip: string; port: number }): Promise<string> {
  const script = `const s=require('node:net').connect(${target.port},'${target.ip}');s.setTimeout(3000);s.on('connect',()=>{console.log('open');s.destroy()});s.on('timeout',()=>{console.log('timeout');s.destroy()});s.on('error',(e)=>console.log(e.code==='ECONNREFUSED'?'refused':e.code))`;
  const result = await kubectl(env, ['exec', '-n', target.namespace, target.pod, '--', 'node', '-e', script]);
  return result.stdout.trim();
}

/** A Job of one SDK call, opted in by label. */
export function sdkJob(env: ClusterEnv, namespace: string, options: { name: string; baseUrl: string; annotations?: Record<string, string> }): Record<string, unknown> {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: options.name, namespace },
    spec: {
      backoffLimit: 0,
      template: {
        metadata: { labels: { job: options.name, [INJECT_LABEL]: 'true' }, annotations: options.annotations ?? {} },
        spec: { serviceAccountName: 'app', restartPolicy: 'Never', containers: [appContainer(env, { baseUrl: options.baseUrl, once: true })], volumes: [TEST_CA_VOLUME] },
      },
    },
  };
}

export interface AppDeploymentOptions {
  readonly name: string;
  readonly baseUrl: string;
  /** Opt in by the label (the chart's `failurePolicy: Fail` entry); default true. */
  readonly label?: boolean;
  readonly annotations?: Record<string, string>;
  readonly serviceAccountName?: string;
  readonly intervalMs?: number;
  /** Drops the app's own ANTHROPIC_BASE_URL (proxy and sdk modes get it from the webhook). */
  readonly noBaseUrl?: boolean;
}

/** A one-replica Deployment of the SDK app; its pods carry the label `app=<name>`. */
export function appDeployment(env: ClusterEnv, namespace: string, options: AppDeploymentOptions): Record<string, unknown> {
  const app = appContainer(env, { baseUrl: options.baseUrl, intervalMs: options.intervalMs ?? 2000 });
  const appEnv = (app.env as { name: string }[]).filter((e) => options.noBaseUrl !== true || e.name !== 'ANTHROPIC_BASE_URL');
  const labels: Record<string, string> = { app: options.name, ...(options.label === false ? {} : { [INJECT_LABEL]: 'true' }) };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: options.name, namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: options.name } },
      template: {
        metadata: { labels, annotations: options.annotations ?? {} },
        spec: { serviceAccountName: options.serviceAccountName ?? 'app', containers: [{ ...app, env: appEnv }], volumes: [TEST_CA_VOLUME], terminationGracePeriodSeconds: 5 },
      },
    },
  };
}

/** Applies `deployment`, waits for its rollout, and returns its (one) pod. */
export async function rollOut(env: ClusterEnv, namespace: string, deployment: Record<string, unknown>, timeout = '180s'): Promise<Pod> {
  await apply(env, [deployment]);
  const name = (deployment.metadata as { name: string }).name;
  await kubectl(env, ['rollout', 'status', '-n', namespace, `deployment/${name}`, `--timeout=${timeout}`]);
  const pods = (await podsOf(env, namespace, `app=${name}`)).filter((p) => p.status.phase === 'Running');
  if (pods.length !== 1) throw new Error(`deployment/${name}: expected one running pod, found ${pods.length}`);
  return pods[0]!;
}

/** The app's Messages calls so far, as it reported them. */
export async function appCalls(env: ClusterEnv, namespace: string, pod: string): Promise<{ n: number; ok: boolean; at: number }[]> {
  return (await containerEvents(env, namespace, pod, 'app')).filter((e) => e.event === 'call') as unknown as { n: number; ok: boolean; at: number }[];
}

/** Waits until the app has made `count` successful calls after `sinceMs` (default: ever), and returns all its calls. */
export async function successfulCalls(
  env: ClusterEnv,
  namespace: string,
  pod: string,
  wanted: { readonly count: number; readonly sinceMs?: number; readonly timeoutMs?: number },
): Promise<{ n: number; ok: boolean; at: number }[]> {
  const timeoutMs = wanted.timeoutMs ?? 120_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const calls = await appCalls(env, namespace, pod);
    if (calls.filter((c) => c.ok && c.at > (wanted.sinceMs ?? 0)).length >= wanted.count) return calls;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for the app's calls in ${namespace}/${pod} (${calls.filter((c) => c.ok).length} ok of ${calls.length})`);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

/** A pod that only sleeps (the app image, no SDK call). */
export function sleeperPod(env: ClusterEnv, namespace: string, name: string, options: { labels?: Record<string, string>; serviceAccountName?: string } = {}): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: options.labels ?? {} },
    spec: {
      serviceAccountName: options.serviceAccountName ?? 'app',
      containers: [{ name: 'app', image: env.imageApp, imagePullPolicy: 'Never', command: ['sleep', '3600'], securityContext: { runAsUser: APP_UID, allowPrivilegeEscalation: false } }],
      terminationGracePeriodSeconds: 0,
    },
  };
}

/** A sleeping pod opted in by the label. */
export function labelledSleeper(env: ClusterEnv, namespace: string, name: string): Record<string, unknown> {
  return sleeperPod(env, namespace, name, { labels: { [INJECT_LABEL]: 'true' } });
}
