/**
 * `anthropic-wif audit` end to end against a Kubernetes API stand-in (test/support/fake-kube-lists.ts):
 * paging with limit/continue, the webhook Deployment's flags as today's defaults, Secrets read
 * only with --read-secrets, sidecar metrics through the pod proxy only with --metrics (finding 5),
 * the exit codes of --fail-on and of bad flags, and no secret value anywhere in the output.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metric, OPT_IN_LABEL, SdkEnv } from '../../contract/index.ts';
import type { AuditReport } from '../../audit/report.ts';
import type { JsonObject } from '../../webhook/json.ts';
import { STAND_IN_WEBHOOK_DEPLOYMENT, storedAfterAdmission } from '../support/audit-fixtures.ts';
import { runCli } from '../support/cli.ts';
import { startFakeKubeLists, type FakeKubeLists, type KubeItem } from '../support/fake-kube-lists.ts';
import { TEST_FEDERATION_RULE_ID } from '../support/injection-defaults.ts';

const SECRET_VALUE = 'sk-ant-api03-INTEGRATION-SECRET-never-printed';
const LITERAL_VALUE = 'sk-ant-api03-INTEGRATION-LITERAL-never-printed';
const NOW_SECONDS = Math.floor(Date.now() / 1000);

function injected(namespace: string, name: string, serviceAccount: string): KubeItem {
  const pod: JsonObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: { [OPT_IN_LABEL]: 'true' } },
    spec: { serviceAccountName: serviceAccount, securityContext: { runAsUser: 1000 }, containers: [{ name: 'app', image: 'registry.example/app:1' }] },
  };
  const stored = storedAfterAdmission(pod, { kind: 'found', serviceAccount: { namespace, name: serviceAccount, annotations: {} } });
  return { ...stored, status: { phase: 'Running' } };
}

/** An agent's /metrics; `lastSuccessAgoS` undefined: the agent reports no success yet. */
function metrics(succeeded: number, failed: number, expiry: number, lastSuccessAgoS?: number): string {
  return [
    `# TYPE ${Metric.exchangesTotal} counter`,
    `${Metric.exchangesTotal}{result="success"} ${String(succeeded)}`,
    `${Metric.exchangesTotal}{result="failure"} ${String(failed)}`,
    `${Metric.lastExchangeTimestampSeconds}{result="success"} ${String(lastSuccessAgoS === undefined ? 0 : NOW_SECONDS - lastSuccessAgoS)}`,
    `${Metric.lastExchangeTimestampSeconds}{result="failure"} ${String(failed === 0 ? 0 : NOW_SECONDS - 5)}`,
    `${Metric.accessTokenExpiryTimestampSeconds} ${String(expiry)}`,
    `${Metric.identityTokenExpiryTimestampSeconds} ${String(NOW_SECONDS + 400)}`,
    `${Metric.rotationGapSeconds} 0`,
    '',
  ].join('\n');
}

const pods: KubeItem[] = [
  injected('team-a', 'healthy-1', 'summarizer'),
  injected('team-a', 'healthy-2', 'summarizer'),
  injected('team-b', 'broken-1', 'broken'),
  injected('team-b', 'broken-2', 'broken'),
  {
    metadata: { name: 'chat-5d9f-abcde', namespace: 'team-a', ownerReferences: [{ kind: 'ReplicaSet', name: 'chat-5d9f', controller: true }] },
    spec: { containers: [{ name: 'app', image: 'registry.example/chat:1', env: [{ name: SdkEnv.apiKey, value: LITERAL_VALUE }] }] },
  },
  {
    metadata: { name: 'reader', namespace: 'team-a' },
    spec: { containers: [{ name: 'app', image: 'registry.example/app:1', env: [{ name: SdkEnv.apiKey, valueFrom: { secretKeyRef: { name: 'anthropic', key: 'api-key' } } }] }] },
  },
];

let api: FakeKubeLists;

function lists(): Map<string, readonly KubeItem[]> {
  return new Map<string, readonly KubeItem[]>([
    ['/api/v1/pods', pods],
    [
      '/api/v1/serviceaccounts',
      ['summarizer', 'broken'].map((name) => ({ metadata: { name, namespace: name === 'broken' ? 'team-b' : 'team-a' } })),
    ],
    ['/apis/apps/v1/replicasets', [{ metadata: { name: 'chat-5d9f', namespace: 'team-a', ownerReferences: [{ kind: 'Deployment', name: 'chat', controller: true }] } }]],
    ['/apis/apps/v1/deployments', [STAND_IN_WEBHOOK_DEPLOYMENT]],
    ['/apis/apps/v1/statefulsets', []],
    ['/apis/apps/v1/daemonsets', []],
    ['/apis/batch/v1/jobs', []],
    ['/apis/batch/v1/cronjobs', []],
  ]);
}

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'audit-it-'));
  api = await startFakeKubeLists(
    {
      lists: lists(),
      objects: new Map([
        ['/api/v1/namespaces/team-a/secrets/anthropic', { kind: 'Secret', metadata: { name: 'anthropic', namespace: 'team-a' }, data: { 'api-key': Buffer.from(SECRET_VALUE).toString('base64') } }],
      ]),
      metrics: new Map<string, string | number>([
        ['team-a/healthy-1', metrics(3, 0, NOW_SECONDS + 3000, 600)],
        ['team-a/healthy-2', metrics(2, 1, NOW_SECONDS + 2500, 1100)],
        ['team-b/broken-1', metrics(0, 7, 0)],
        ['team-b/broken-2', metrics(0, 6, 0)],
      ]),
    },
    dir,
  );
});

afterAll(async () => {
  await api.close();
});

async function audit(args: readonly string[]): Promise<Awaited<ReturnType<typeof runCli>>> {
  return runCli(['audit', '--kubeconfig', api.kubeconfigPath, '--page-size', '2', ...args], { timeoutMs: 30_000 });
}

function expectNoSecret(text: string): void {
  for (const value of [SECRET_VALUE, LITERAL_VALUE, Buffer.from(SECRET_VALUE).toString('base64')]) expect(text).not.toContain(value);
}

describe('anthropic-wif audit (Kubernetes API stand-in)', () => {
  it('prints a table grouped by namespace and owner, reads no Secret and no pod proxy by default, and exits 0 without --fail-on', async () => {
    api.requests.length = 0;
    const result = await audit([]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^anthropic-wif audit: 2 findings \(1 critical, 1 high, 0 medium, 0 low, 0 info\) in 6 pods and 1 workloads/);
    expect(result.stdout).toContain('namespace team-a\n  Deployment/chat\n    CRITICAL  static-credential  (1 pod: chat-5d9f-abcde)');
    expect(result.stdout).toContain('sets ANTHROPIC_API_KEY from Secret "anthropic" key "api-key" (not read; --read-secrets checks what it holds)');
    expect(result.stdout).toContain('note: webhook defaults read from Deployment anthropic-wif-system/awi');
    expect(api.requests.filter((r) => r.includes('/secrets/') || r.includes('/proxy/'))).toEqual([]);
    expectNoSecret(result.stdout + result.stderr);
  });

  it('pages every list with limit and continue', async () => {
    api.requests.length = 0;
    await audit([]);
    const podPages = api.requests.filter((r) => r.startsWith('/api/v1/pods?'));
    expect(podPages).toEqual(['/api/v1/pods?limit=2', '/api/v1/pods?limit=2&continue=2', '/api/v1/pods?limit=2&continue=4']);
    expect(api.requests.filter((r) => r.startsWith('/api') && !r.includes('limit=')).length).toBe(0);
  });

  it('with --read-secrets --metrics -o json: the Secret holds an API key (never printed) and the binding whose sidecars all fail is high', async () => {
    const result = await audit(['--read-secrets', '--metrics', '-o', 'json']);
    expect(result.code, result.stderr).toBe(0);
    expectNoSecret(result.stdout + result.stderr);
    const report = JSON.parse(result.stdout) as AuditReport;
    // The fields README.md ("anthropic-wif audit") lists for -o json, and no others.
    expect(Object.keys(report).sort()).toEqual(['bindings', 'bySeverity', 'counts', 'findings', 'generatedAt', 'notes', 'version']);
    expect(report.findings.map((f) => Object.keys(f).sort())).toEqual(report.findings.map(() => ['examplePods', 'fix', 'kind', 'message', 'namespace', 'owner', 'pods', 'severity']));
    const summary = report.findings.map((f) => `${f.severity} ${f.kind} ${f.namespace} ${f.owner.kind}/${f.owner.name} ${String(f.pods)}`);
    expect(summary).toEqual([
      'critical static-credential team-a Deployment/chat 1',
      'high static-credential team-a Pod/reader 1',
      'high binding-failing team-b ServiceAccount/broken 2',
    ]);
    expect(report.findings[1]?.message).toBe('container "app" sets ANTHROPIC_API_KEY from Secret "anthropic" key "api-key", which holds an Anthropic API key');
    expect(report.findings[2]?.message).toBe('binding ServiceAccount "broken" → rule fdrl_test_rule: all 2 sidecars fail (no valid token; 13 failed and 0 successful exchanges; no success reported)');
    expect(report.bindings?.map((b) => [b.namespace, b.serviceAccount, b.federationRuleId, b.sidecars, b.ok, b.failing])).toEqual([
      ['team-a', 'summarizer', TEST_FEDERATION_RULE_ID, 2, 2, 0],
      ['team-b', 'broken', TEST_FEDERATION_RULE_ID, 2, 0, 2],
    ]);
    expect(report.bindings?.[0]?.minRemainingSeconds).toBeGreaterThan(2400);
    // The newest success among its sidecars (10 min ago); the failing binding reports none.
    expect(report.bindings?.map((b) => [b.lastSuccessAt, b.lastFailureAt])).toEqual([
      [NOW_SECONDS - 600, NOW_SECONDS - 5],
      [undefined, NOW_SECONDS - 5],
    ]);
    expect(report.counts).toMatchObject({ pods: 6, secretsRead: 1, sidecarsScraped: 4 });
  });

  it('--fail-on gates on the highest severity found', async () => {
    const failing = await audit(['--fail-on', 'critical']);
    expect(failing.code).toBe(1);
    expect(failing.stderr).toContain('at or above --fail-on critical');
    const none = await audit(['--fail-on', 'low', '--namespace', 'team-b']);
    expect(none.code, none.stdout).toBe(0);
    const bindingOnly = await audit(['--fail-on', 'high', '--namespace', 'team-b', '--metrics']);
    expect(bindingOnly.code).toBe(1);
  });

  it.each([
    [['--fail-on', 'severe'], 'invalid --fail-on "severe": expected one of info, low, medium, high, critical'],
    [['--page-size', '0'], 'invalid --page-size "0": expected an integer from 1 to 5000'],
    [['--webhook-deployment', 'no-slash'], 'invalid --webhook-deployment "no-slash": expected <namespace>/<name> of a Deployment'],
    [['--output', 'yaml'], 'invalid --output "yaml": expected one of table, json'],
    [['--bogus'], 'unknown flag --bogus'],
  ])('a bad flag %j exits 2 with a message naming it', async (args, message) => {
    const result = await runCli(['audit', '--kubeconfig', api.kubeconfigPath, ...args], { timeoutMs: 30_000 });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stdout).toBe('');
  });

  it('a list it may not read exits 1, naming the path and the RBAC section', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'audit-rbac-'));
    const denied = await startFakeKubeLists({ lists: lists(), forbidden: ['/api/v1/pods'] }, dir);
    try {
      const result = await runCli(['audit', '--kubeconfig', denied.kubeconfigPath], { timeoutMs: 30_000 });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('GET /api/v1/pods answered 403: these credentials may not read it (see the README (audit: RBAC)');
    } finally {
      await denied.close();
    }
  });

  it('a missing --webhook-deployment exits 2', async () => {
    const result = await audit(['--webhook-deployment', 'anthropic-wif-system/nope']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('invalid --webhook-deployment "anthropic-wif-system/nope": no such Deployment');
  });
});
