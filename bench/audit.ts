/**
 * `anthropic-wif audit` over a recorded large cluster: the real CLI (from dist/, as in the
 * image) against the paging API stand-in (test/support/fake-kube-lists.ts), which makes each
 * pod on the fly, so only the audit's own memory is measured. The cluster: N pods in 50
 * namespaces, of which 60 % are injected and current, 10 % stale (their ServiceAccount's
 * annotations changed since), 5 % missed injections, 5 % Deployment pods with a literal key,
 * 20 % not opted in; a ReplicaSet and a Deployment per 20 pods. Time is wall time from spawn
 * to exit; memory is the process's peak RSS (VmHWM). Sizes 1,000, 10,000 and 50,000 show that
 * memory is bounded by the page size, not the cluster; `--metrics` adds a pod-proxy read of
 * every running sidecar.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Annotation, Metric, OPT_IN_LABEL, SdkEnv } from '../contract/index.ts';
import type { JsonObject } from '../webhook/json.ts';
import { STAND_IN_WEBHOOK_DEPLOYMENT, storedAfterAdmission } from '../test/support/audit-fixtures.ts';
import { startFakeKubeLists, type KubeItem, type ListSource } from '../test/support/fake-kube-lists.ts';
import { loadAverage, numberFlag, type BenchOptions } from './support/bench-options.ts';
import { REPO_ROOT } from './support/processes.ts';
import { integer, markdownTable, mib } from './support/report.ts';

const DIST_CLI = join(REPO_ROOT, 'dist', 'cli', 'anthropic-wif.js');
const NAMESPACES = 50;
const PODS_PER_OWNER = 20;
const LITERAL_VALUE = 'sk-ant-api03-BENCH-LITERAL-never-printed';
const NOW_SECONDS = Math.floor(Date.now() / 1000);

type PodKind = 'current' | 'stale' | 'missed' | 'literal' | 'plain';

/** By index: 60 current, 10 stale, 5 missed, 5 literal, 20 plain in every hundred. */
function kindOf(index: number): PodKind {
  const r = index % 100;
  if (r < 60) return 'current';
  if (r < 70) return 'stale';
  if (r < 75) return 'missed';
  if (r < 80) return 'literal';
  return 'plain';
}

/** A pod's namespace is its owner's: owners take turns over the namespaces. */
const namespaceOf = (index: number): string => `team-${String(Math.floor(index / PODS_PER_OWNER) % NAMESPACES).padStart(2, '0')}`;
const ownerOf = (index: number): string => `app-${String(Math.floor(index / PODS_PER_OWNER))}`;
const podName = (index: number): string => `${ownerOf(index)}-5d9f-${String(index)}`;

/** The stored form of an injected pod for `serviceAccount`, as the webhook admitted it (annotations as then). */
function admittedTemplate(serviceAccount: string): JsonObject {
  const pod: JsonObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'template', namespace: 'team-00', labels: { [OPT_IN_LABEL]: 'true' } },
    spec: { serviceAccountName: serviceAccount, securityContext: { runAsUser: 1000 }, containers: [{ name: 'app', image: 'registry.example/app:1' }] },
  };
  return storedAfterAdmission(pod, { kind: 'found', serviceAccount: { namespace: 'team-00', name: serviceAccount, annotations: {} } });
}

function podMaker(): (index: number) => KubeItem {
  const templates = { current: admittedTemplate('summarizer'), stale: admittedTemplate('legacy') };
  return (index) => {
    const kind = kindOf(index);
    const metadata = {
      name: podName(index),
      namespace: namespaceOf(index),
      ownerReferences: [{ kind: 'ReplicaSet', name: `${ownerOf(index)}-5d9f`, controller: true }],
    };
    if (kind === 'current' || kind === 'stale') {
      const pod = structuredClone(templates[kind]) as { metadata: Record<string, unknown> };
      return { ...pod, metadata: { ...pod.metadata, ...metadata }, status: { phase: 'Running' } };
    }
    const env = kind === 'literal' ? [{ name: SdkEnv.apiKey, value: LITERAL_VALUE }] : [];
    const labels = kind === 'missed' ? { [OPT_IN_LABEL]: 'true' } : {};
    return { metadata: { ...metadata, labels }, spec: { serviceAccountName: 'summarizer', containers: [{ name: 'app', image: 'registry.example/app:1', env }] }, status: { phase: 'Running' } };
  };
}

function owners(pods: number, kind: 'ReplicaSet' | 'Deployment'): { readonly count: number; readonly item: (index: number) => KubeItem } {
  return {
    count: Math.ceil(pods / PODS_PER_OWNER),
    item: (o) => {
      const first = o * PODS_PER_OWNER;
      const name = ownerOf(first);
      if (kind === 'ReplicaSet') return { metadata: { name: `${name}-5d9f`, namespace: namespaceOf(first), ownerReferences: [{ kind: 'Deployment', name, controller: true }] } };
      const env = kindOf(first) === 'literal' ? [{ name: SdkEnv.apiKey, value: LITERAL_VALUE }] : [];
      return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: namespaceOf(first) }, spec: { template: { spec: { containers: [{ name: 'app', image: 'registry.example/app:1', env }] } } } };
    },
  };
}

/** A sidecar's /metrics: healthy, except one pod in fifty whose exchanges fail. */
function sidecarMetrics(index: number): string {
  const failing = index % 50 === 0;
  return [
    `${Metric.exchangesTotal}{result="success"} ${failing ? '0' : '3'}`,
    `${Metric.exchangesTotal}{result="failure"} ${failing ? '9' : '0'}`,
    `${Metric.lastExchangeTimestampSeconds}{result="success"} ${failing ? '0' : String(NOW_SECONDS - 600)}`,
    `${Metric.lastExchangeTimestampSeconds}{result="failure"} ${failing ? String(NOW_SECONDS - 30) : '0'}`,
    `${Metric.accessTokenExpiryTimestampSeconds} ${failing ? '0' : String(NOW_SECONDS + 2400)}`,
    `${Metric.identityTokenExpiryTimestampSeconds} ${String(NOW_SECONDS + 1800)}`,
    `${Metric.rotationGapSeconds} 0`,
    '',
  ].join('\n');
}

interface Run {
  readonly pods: number;
  readonly metrics: boolean;
  readonly seconds: number;
  readonly peakBytes: number;
  readonly requests: number;
  readonly findings: number;
  /** V8's old space capped (`--max-old-space-size`), to show what the audit needs rather than what it is allowed. */
  readonly heapMib: number | undefined;
}

function peakRss(pid: number): number {
  try {
    const kib = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${String(pid)}/status`, 'utf8'))?.[1];
    return kib === undefined ? 0 : Number(kib) * 1024;
  } catch {
    return 0;
  }
}

/** Runs the CLI to its exit, sampling VmHWM (the kernel's peak RSS) until the process is gone. */
function runAudit(args: readonly string[], heapMib: number | undefined): Promise<{ seconds: number; peakBytes: number; stdout: string; exitCode: number | null }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const nodeArgs = heapMib === undefined ? [] : [`--max-old-space-size=${String(heapMib)}`];
    const child = spawn(process.execPath, [...nodeArgs, DIST_CLI, 'audit', ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
    let peakBytes = 0;
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    const sampler = setInterval(() => {
      if (child.pid !== undefined) peakBytes = Math.max(peakBytes, peakRss(child.pid));
    }, 10);
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(sampler);
      resolve({ seconds: Number(process.hrtime.bigint() - started) / 1e9, peakBytes, stdout: Buffer.concat(chunks).toString('utf8'), exitCode: code });
    });
  });
}

async function measure(pods: number, metrics: boolean, options: BenchOptions, heapMib?: number): Promise<Run> {
  const makePod = podMaker();
  const running = (i: number): boolean => kindOf(i) === 'current' || kindOf(i) === 'stale';
  const metricsByPod = new Map<string, string>();
  for (let i = 0; metrics && i < pods; i += 1) if (running(i)) metricsByPod.set(`${namespaceOf(i)}/${podName(i)}`, sidecarMetrics(i));
  const serviceAccounts: KubeItem[] = [];
  for (let n = 0; n < NAMESPACES; n += 1) {
    const namespace = namespaceOf(n * PODS_PER_OWNER);
    serviceAccounts.push({ metadata: { name: 'summarizer', namespace } }, { metadata: { name: 'legacy', namespace, annotations: { [Annotation.tokenExpiration]: '7200' } } });
  }
  const deployments = owners(pods, 'Deployment');
  const api = await startFakeKubeLists(
    {
      lists: new Map<string, ListSource>([
        ['/api/v1/pods', { count: pods, item: makePod }],
        ['/api/v1/serviceaccounts', serviceAccounts],
        ['/apis/apps/v1/replicasets', owners(pods, 'ReplicaSet')],
        ['/apis/apps/v1/deployments', { count: deployments.count + 1, item: (i) => (i === 0 ? STAND_IN_WEBHOOK_DEPLOYMENT : deployments.item(i - 1)) }],
        ['/apis/apps/v1/statefulsets', []],
        ['/apis/apps/v1/daemonsets', []],
        ['/apis/batch/v1/jobs', []],
        ['/apis/batch/v1/cronjobs', []],
      ]),
      metrics: metricsByPod,
    },
    mkdtempSync(join(tmpdir(), 'bench-audit-')),
  );
  try {
    options.progress(`${integer(pods)} pods${metrics ? ', --metrics' : ''}${heapMib === undefined ? '' : `, heap capped at ${String(heapMib)} MiB`}`);
    const result = await runAudit(['--kubeconfig', api.kubeconfigPath, '-o', 'json', ...(metrics ? ['--metrics'] : [])], heapMib);
    if (result.stdout.includes(LITERAL_VALUE)) throw new Error('the audit printed the planted literal key');
    if (result.exitCode !== 0) throw new Error(`the audit exited ${String(result.exitCode)}`);
    const report = JSON.parse(result.stdout) as { findings: unknown[] };
    return { pods, metrics, seconds: result.seconds, peakBytes: result.peakBytes, requests: api.requests.length, findings: report.findings.length, heapMib };
  } finally {
    await api.close();
  }
}

export async function run(options: BenchOptions): Promise<string> {
  const load = loadAverage();
  const largest = numberFlag(options, 'pods', 50_000);
  const sizes = [1_000, 10_000, largest].filter((n, i, all) => n <= largest && all.indexOf(n) === i);
  const runs: Run[] = [];
  for (const pods of sizes) runs.push(await measure(pods, false, options));
  runs.push(await measure(Math.min(10_000, largest), true, options));
  const cap = numberFlag(options, 'heap-mib', 96);
  runs.push(await measure(largest, false, options, cap), await measure(Math.min(10_000, largest), true, options, cap));
  const rows = runs.map((r) => [
    `${integer(r.pods)}${r.metrics ? ' + `--metrics`' : ''}${r.heapMib === undefined ? '' : `, heap ≤ ${String(r.heapMib)} MiB`}`,
    `${r.seconds.toFixed(1)} s`,
    integer(Math.round(r.pods / r.seconds)),
    mib(r.peakBytes),
    integer(r.requests),
    integer(r.findings),
  ]);
  return [
    '## Audit over a large cluster',
    '',
    '`anthropic-wif audit -o json` (from dist/, Node 24) against the paging API stand-in, which',
    'serves each pod made on the fly: 60 % injected and current, 10 % stale, 5 % missed',
    'injections, 5 % Deployment pods with a literal key, 20 % not opted in, in 50 namespaces, a',
    'ReplicaSet and Deployment per 20 pods. Page size 500 (the default). Wall time from spawn to',
    'exit; peak RSS is the kernel\'s VmHWM. With `--metrics`, every running sidecar\'s /metrics is',
    'read through the pod proxy (8 at a time; one in fifty fails). Findings are grouped by owner,',
    'so their count grows with owners, not pods.',
    '',
    `Flags read: \`--pods=${String(largest)}\` (the largest size). Load average at start: ${load.toFixed(2)}.`,
    '',
    markdownTable(['pods', 'time', 'pods/s', 'peak RSS (MiB)', 'API requests', 'findings'], rows),
    '',
    'Memory is bounded: the audit keeps one page of pods (500), the owner index (one entry per',
    'ReplicaSet and workload) and one finding per owner and kind, never the pod list. Uncapped,',
    "V8 grows its heap lazily, so peak RSS rises with the run's length and garbage, not with what",
    'is kept: with the old space capped at 96 MiB (`--max-old-space-size=96`, flag `--heap-mib`),',
    '50,000 pods and the 7,000 pod-proxy reads of `--metrics` still complete, with the same',
    'findings, at the cost of more garbage collection. (At 64 MiB one run of two ran out of heap.)',
  ].join('\n');
}
