/**
 * `anthropic-wif audit` end to end on the suite's real kube-apiserver (v1.20.2) and etcd: one
 * planted case of each finding that needs no kubelet (test/e2e/support/audit-plant.ts), the
 * chart's webhook Deployment as the source of today's defaults, and the real CLI as a child
 * process. It checks every finding with its severity and owner (table and JSON), the exit codes
 * of --fail-on, paging with limit/continue on the real server, that no planted secret value is
 * ever printed, and that manifests/audit-rbac.yaml is enough (and no more than needed).
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { AUDIT_SEVERITIES, KubePath, type AuditSeverity } from '../../contract/index.ts';
import type { AuditReport } from '../../audit/report.ts';
import type { Finding } from '../../audit/model.ts';
import { INSTALL_NAMESPACE } from '../../scripts/render-manifests.ts';
import { REPO_ROOT, runCli, type CliResult } from '../support/cli.ts';
import { parseManifests } from '../support/chart.ts';
import {
  AGENT_IMAGE,
  DRIFT_NAMESPACE,
  MAIN_NAMESPACE,
  SECRET_VALUES,
  WEBHOOK_NAMESPACE,
  plantCases,
  webhookRelease,
  withSecretsRead,
  type ExpectedFinding,
} from './support/audit-plant.ts';
import { kubeconfigYaml } from './support/cluster.ts';
import { kubectlFor, namespaceManifest, type Kubectl } from './support/kube.ts';

const cluster = inject('cluster');
const RBAC_FILE = join(REPO_ROOT, 'manifests', 'audit-rbac.yaml');
const AUDIT_ACCOUNT = 'anthropic-wif-audit';
const UNBOUND_ACCOUNT = 'audit-unbound';

let kubectl: Kubectl;
let work: string;
let expected: ExpectedFinding[];
/** Every audit run of this file, for the check that no secret value was printed. */
const runs: { readonly args: readonly string[]; readonly admin: boolean; readonly result: CliResult }[] = [];

async function audit(args: readonly string[], kubeconfig = cluster.kubeconfig): Promise<CliResult> {
  const result = await runCli(['audit', '--kubeconfig', kubeconfig, ...args], { timeoutMs: 30_000 });
  runs.push({ args, admin: kubeconfig === cluster.kubeconfig, result });
  return result;
}

async function auditJson(args: readonly string[], kubeconfig?: string): Promise<AuditReport> {
  const result = await audit(['-o', 'json', ...args], kubeconfig);
  expect(result.code, result.stderr).toBe(0);
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout) as AuditReport;
}

/** The comparable part of a finding: what the expectation table says. */
function shape(finding: Finding | ExpectedFinding): string {
  return `${finding.namespace} ${finding.owner.kind}/${finding.owner.name} ${finding.severity} ${finding.kind} pods=${String(finding.pods)}`;
}

function expectFindings(report: AuditReport, want: readonly ExpectedFinding[]): void {
  expect(report.findings.map(shape)).toEqual(want.map(shape));
  for (const [i, finding] of want.entries()) {
    expect(report.findings[i]?.message).toContain(finding.says);
    expect(report.findings[i]?.fix).toContain(finding.fix);
  }
}

function inNamespace(namespace: string): ExpectedFinding[] {
  return expected.filter((finding) => finding.namespace === namespace);
}

/** The owner sections of the table: `Kind/name` → its `SEVERITY kind` rows. */
function tableSections(table: string): Map<string, string[]> {
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of table.split('\n')) {
    const owner = /^ {2}(\S+\/\S+)$/.exec(line)?.[1];
    if (owner !== undefined) sections.set(owner, (current = []));
    const row = /^ {4}([A-Z]+)\s+(\S+) {2}\(/.exec(line);
    if (row !== null && current !== undefined) current.push(`${row[1] ?? ''} ${row[2] ?? ''}`);
  }
  return sections;
}

async function serviceAccountKubeconfig(name: string): Promise<string> {
  const token = (await kubectl.ok(['create', 'token', name, '-n', INSTALL_NAMESPACE, '--duration', '1h'])).trim();
  const path = join(work, `${name}.kubeconfig`);
  await writeFile(path, kubeconfigYaml(cluster.server, cluster.caCert, { token }));
  return path;
}

beforeAll(async () => {
  kubectl = kubectlFor(cluster.kubeconfig);
  work = await mkdtemp(join(tmpdir(), 'anthropic-wif-e2e-audit-'));
  expected = await plantCases(kubectl, webhookRelease());
}, 120_000);

describe('every planted case, on the real API server', () => {
  let report: AuditReport;
  beforeAll(async () => {
    report = await auditJson(['-n', MAIN_NAMESPACE]);
  });

  it('reads the defaults from the chart\'s webhook Deployment (found by its labels) and the legacy layout of 1.20', () => {
    const defaultsNote = report.notes.find((note) => note.startsWith('webhook defaults read from'));
    expect(defaultsNote).toBe(`webhook defaults read from Deployment ${WEBHOOK_NAMESPACE}/awi-anthropic-workload-identity (agent image ${AGENT_IMAGE}; the API server is v1.20.2; native sidecars need 1.29)`);
  });

  it('-o json: each finding with its severity, owner, message and fix, and nothing else', () => {
    expectFindings(report, inNamespace(MAIN_NAMESPACE));
    expect(report.counts).toEqual({ pods: 3, workloads: 5, serviceAccounts: 2, secretsRead: 0, sidecarsScraped: 0 });
    expect(report.bySeverity).toEqual({ info: 0, low: 0, medium: 2, high: 2, critical: 2 });
  });

  it('the drift namespace: an old sidecar image under its StatefulSet, sdk mode with two exchangers', async () => {
    expectFindings(await auditJson(['-n', DRIFT_NAMESPACE]), inNamespace(DRIFT_NAMESPACE));
  });

  it('the table groups the same findings by namespace and owner', async () => {
    const result = await audit(['-n', MAIN_NAMESPACE]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdoutLines[0]).toBe(`anthropic-wif audit: 6 findings (2 critical, 2 high, 2 medium, 0 low, 0 info) in 3 pods and 5 workloads`);
    const want = new Map<string, string[]>();
    for (const finding of inNamespace(MAIN_NAMESPACE)) {
      const owner = `${finding.owner.kind}/${finding.owner.name}`;
      want.set(owner, [...(want.get(owner) ?? []), `${finding.severity.toUpperCase()} ${finding.kind}`]);
    }
    expect(tableSections(result.stdout)).toEqual(want);
    for (const finding of inNamespace(MAIN_NAMESPACE)) expect(result.stdout).toContain(finding.says);
  });

  it('--read-secrets: names what the referenced Secrets hold', async () => {
    const read = await auditJson(['-n', MAIN_NAMESPACE, '--read-secrets']);
    expectFindings(read, withSecretsRead(inNamespace(MAIN_NAMESPACE)));
    expect(read.counts.secretsRead).toBe(2);
    const table = await audit(['-n', MAIN_NAMESPACE, '--read-secrets']);
    // The README's example output ("anthropic-wif audit") is this table.
    console.log(`anthropic-wif audit -n ${MAIN_NAMESPACE} --read-secrets:\n${table.stdout}`);
    expect(table.code, table.stderr).toBe(0);
    for (const finding of withSecretsRead(inNamespace(MAIN_NAMESPACE))) expect(table.stdout).toContain(finding.says);
  });

  it('every namespace at once: the same findings, and the cluster.test namespaces do not disturb ours', async () => {
    const all = await auditJson(['--read-secrets']);
    const ours = all.findings.filter((f) => f.namespace === MAIN_NAMESPACE || f.namespace === DRIFT_NAMESPACE);
    expectFindings({ ...all, findings: ours }, withSecretsRead(expected));
  });
});

describe('paging with limit and continue on the real server', () => {
  it.each([1, 2])('--page-size %i gives the same report as one page', async (pageSize) => {
    const paged = await auditJson(['-n', MAIN_NAMESPACE, '--read-secrets', '--page-size', String(pageSize)]);
    const whole = await auditJson(['-n', MAIN_NAMESPACE, '--read-secrets', '--page-size', '500']);
    // 3 pods, 5 workloads (and an owned ReplicaSet), 2 ServiceAccounts: only a followed `continue` counts them all.
    expect(paged.counts).toEqual({ pods: 3, workloads: 5, serviceAccounts: 2, secretsRead: 2, sidecarsScraped: 0 });
    expect(paged.findings).toEqual(whole.findings);
  });
});

describe('--fail-on', () => {
  it.each<{ namespace: string; failOn: AuditSeverity | undefined; code: number }>([
    { namespace: MAIN_NAMESPACE, failOn: undefined, code: 0 },
    { namespace: MAIN_NAMESPACE, failOn: 'critical', code: 1 },
    { namespace: MAIN_NAMESPACE, failOn: 'info', code: 1 },
    { namespace: DRIFT_NAMESPACE, failOn: undefined, code: 0 },
    { namespace: DRIFT_NAMESPACE, failOn: 'critical', code: 0 },
    { namespace: DRIFT_NAMESPACE, failOn: 'high', code: 0 },
    { namespace: DRIFT_NAMESPACE, failOn: 'medium', code: 1 },
    { namespace: DRIFT_NAMESPACE, failOn: 'low', code: 1 },
  ])('$namespace with --fail-on $failOn exits $code', async ({ namespace, failOn, code }) => {
    const result = await audit(['-n', namespace, ...(failOn === undefined ? [] : ['--fail-on', failOn])]);
    expect(result.code).toBe(code);
    const summary = result.stdoutLines[0]?.replace('anthropic-wif audit: ', '') ?? '';
    expect(result.stderr).toBe(code === 0 ? '' : `anthropic-wif audit: ${summary}: at or above --fail-on ${failOn ?? ''}\n`);
  });

  it('rejects an unknown severity with the usage exit code, naming the allowed ones', async () => {
    const result = await audit(['--fail-on', 'severe']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    for (const severity of AUDIT_SEVERITIES) expect(result.stderr).toContain(severity);
  });
});

describe('manifests/audit-rbac.yaml', () => {
  const objects = parseManifests(readFileSync(RBAC_FILE, 'utf8'));
  let auditor: string;

  beforeAll(async () => {
    await kubectl.ok(['apply', '-f', '-'], namespaceManifest(INSTALL_NAMESPACE));
    await kubectl.ok(['apply', '-f', RBAC_FILE]);
    await kubectl.ok(['create', 'serviceaccount', UNBOUND_ACCOUNT, '-n', INSTALL_NAMESPACE]);
    auditor = await serviceAccountKubeconfig(AUDIT_ACCOUNT);
  });

  it('holds the ServiceAccount, the three ClusterRoles and the base binding', () => {
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      `ServiceAccount/${AUDIT_ACCOUNT}`,
      'ClusterRole/anthropic-wif-audit',
      'ClusterRole/anthropic-wif-audit-read-secrets',
      'ClusterRole/anthropic-wif-audit-metrics',
      'ClusterRoleBinding/anthropic-wif-audit',
    ]);
  });

  it.each([
    ['list', 'pods', 'yes'],
    ['list', 'serviceaccounts', 'yes'],
    ['list', 'deployments.apps', 'yes'],
    ['get', 'deployments.apps', 'yes'],
    ['list', 'statefulsets.apps', 'yes'],
    ['list', 'daemonsets.apps', 'yes'],
    ['list', 'replicasets.apps', 'yes'],
    ['list', 'jobs.batch', 'yes'],
    ['list', 'cronjobs.batch', 'yes'],
    ['get', 'pods', 'no'],
    ['watch', 'pods', 'no'],
    ['get', 'secrets', 'no'],
    ['list', 'secrets', 'no'],
    ['get', 'pods/proxy', 'no'],
    ['create', 'pods', 'no'],
    ['list', 'configmaps', 'no'],
  ])('the base role: %s %s → %s', async (verb, resource, answer) => {
    const [plural = '', subresource] = resource.split('/');
    const sub = subresource === undefined ? [] : ['--subresource', subresource];
    const result = await kubectl.run(['auth', 'can-i', verb, plural, ...sub, '-A', '--as', `system:serviceaccount:${INSTALL_NAMESPACE}:${AUDIT_ACCOUNT}`]);
    expect(result.stdout.trim()).toBe(answer);
  });

  it('is enough: the audit as that ServiceAccount reports exactly what an admin sees', async () => {
    expectFindings(await auditJson(['-n', MAIN_NAMESPACE], auditor), inNamespace(MAIN_NAMESPACE));
    expectFindings(await auditJson(['-n', DRIFT_NAMESPACE, '--webhook-deployment', `${WEBHOOK_NAMESPACE}/awi-anthropic-workload-identity`], auditor), inNamespace(DRIFT_NAMESPACE));
  });

  it('without the opt-in role, --read-secrets says the Secrets are forbidden (and still names no value)', async () => {
    const forbidden = await auditJson(['-n', MAIN_NAMESPACE, '--read-secrets'], auditor);
    const refs = forbidden.findings.filter((f) => f.owner.name === 'secret-key-ref' || f.owner.name === 'env-from');
    expect(refs.map((f) => `${f.owner.name} ${f.severity} ${f.message.endsWith('(the Secret could not be read: forbidden)') ? 'forbidden' : f.message}`)).toEqual([
      'env-from medium forbidden',
      'secret-key-ref high forbidden',
    ]);
  });

  it('with the read-secrets role bound as the file says, --read-secrets reads them', async () => {
    await kubectl.ok(['create', 'clusterrolebinding', 'anthropic-wif-audit-read-secrets', '--clusterrole=anthropic-wif-audit-read-secrets', `--serviceaccount=${INSTALL_NAMESPACE}:${AUDIT_ACCOUNT}`]);
    await expect.poll(async () => (await auditJson(['-n', MAIN_NAMESPACE, '--read-secrets'], auditor)).counts.secretsRead, { timeout: 10_000 }).toBe(2);
    expectFindings(await auditJson(['-n', MAIN_NAMESPACE, '--read-secrets'], auditor), withSecretsRead(inNamespace(MAIN_NAMESPACE)));
  });

  it('is needed: a ServiceAccount without it exits 1, naming the list it may not read and where the RBAC is', async () => {
    const result = await audit(['-n', MAIN_NAMESPACE], await serviceAccountKubeconfig(UNBOUND_ACCOUNT));
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    // The first read is the cluster-wide search for the webhook Deployment by its labels.
    expect(result.stderr).toBe(
      `anthropic-wif audit: GET ${KubePath.deployments} answered 403: these credentials may not read it (see the README (audit: RBAC) and manifests/audit-rbac.yaml for the ClusterRoles the audit needs)\n`,
    );
  });
});

describe('no secret value is ever printed', () => {
  const values = Object.entries(SECRET_VALUES);

  it('covers both outputs, with and without --read-secrets, as admin and as the audit ServiceAccount', () => {
    const kinds = runs.map((run) =>
      [run.admin ? 'admin' : 'service account', run.args.includes('json') ? 'json' : 'table', run.args.includes('--read-secrets') ? 'read-secrets' : 'no secrets'].join(', '),
    );
    expect([...new Set(kinds)].sort()).toEqual([
      'admin, json, no secrets',
      'admin, json, read-secrets',
      'admin, table, no secrets',
      'admin, table, read-secrets',
      'service account, json, no secrets',
      'service account, json, read-secrets',
      'service account, table, no secrets',
    ]);
  });

  it.each(values)('%s: in no run’s stdout or stderr, plain or base64', (_name, value) => {
    const forms = [value, Buffer.from(value).toString('base64'), value.slice(-12)];
    const leaks = runs.flatMap((run) => forms.filter((form) => run.result.stdout.includes(form) || run.result.stderr.includes(form)).map((form) => `${run.args.join(' ')}: ${form}`));
    expect(leaks).toEqual([]);
  });
});
