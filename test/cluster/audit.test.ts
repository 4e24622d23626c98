/**
 * `anthropic-wif audit` on the real cluster: `--metrics` reads the rotation scenario's running
 * sidecar through the API server's pod proxy (the agent's real /metrics, its last exchange
 * included) and reports its binding healthy; a Deployment with a literal key is critical and
 * fails `--fail-on critical`, and its value is printed nowhere.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SdkEnv } from '../../contract/index.ts';
import type { AuditReport } from '../../audit/report.ts';
import { runCli, type CliResult } from '../support/cli.ts';
import { suiteCa } from './support/anthropic.ts';
import { apply, readClusterEnv, type ClusterEnv } from './support/cluster-env.ts';
import { ROTATION_NAMESPACE } from './support/rotation.ts';
import { createTestNamespace, deleteNamespace } from './support/workloads.ts';

const LITERAL_VALUE = 'sk-ant-api03-CLUSTER-AUDIT-never-printed';

let env: ClusterEnv;
let namespace: string;

beforeAll(async () => {
  env = readClusterEnv();
  namespace = await createTestNamespace(env, 'audit', (await suiteCa()).certPem);
  await apply(env, [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'legacy-chat', namespace },
      spec: {
        replicas: 0,
        selector: { matchLabels: { app: 'legacy-chat' } },
        template: {
          metadata: { labels: { app: 'legacy-chat' } },
          spec: { containers: [{ name: 'app', image: env.imageApp, imagePullPolicy: 'Never', env: [{ name: SdkEnv.apiKey, value: LITERAL_VALUE }] }] },
        },
      },
    },
  ]);
});

afterAll(async () => {
  await deleteNamespace(env, namespace);
});

function audit(args: readonly string[]): Promise<CliResult> {
  return runCli(['audit', '--kubeconfig', env.kubeconfig, ...args], { timeoutMs: 60_000 });
}

describe('anthropic-wif audit on the real cluster', () => {
  it("with --metrics: the rotation scenario's binding is healthy, read from its sidecar through the pod proxy", async () => {
    const startedS = Date.now() / 1000;
    const result = await audit(['--metrics', '-o', 'json', '--namespace', ROTATION_NAMESPACE]);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as AuditReport;
    expect(report.findings).toEqual([]);
    expect(report.counts).toMatchObject({ sidecarsScraped: 1 });
    const [binding, ...others] = report.bindings ?? [];
    expect(others).toEqual([]);
    expect(binding).toMatchObject({ namespace: ROTATION_NAMESPACE, serviceAccount: 'app', sidecars: 1, ok: 1, failing: 0, unreadable: 0 });
    expect(binding?.exchangesSucceeded).toBeGreaterThanOrEqual(1);
    // The agent's last successful exchange: after the suite started, before this run.
    expect(binding?.lastSuccessAt).toBeGreaterThan(startedS - 3600);
    expect(binding?.lastSuccessAt).toBeLessThanOrEqual(startedS + 1);
    expect(binding?.minRemainingSeconds).toBeGreaterThan(120);
    const table = await audit(['--metrics', '--namespace', ROTATION_NAMESPACE]);
    console.log(`audit --metrics on the real cluster:\n${table.stdout}`);
    expect(table.stdout).toMatch(new RegExp(`^  ${ROTATION_NAMESPACE} +app +\\S+ +1 +1 +0 +0 +0 +\\d+ s +[1-9]\\d*/0 +\\d+(m \\d+)?s ago$`, 'm'));
  });

  it('finds the literal key in a Deployment at the highest severity, fails --fail-on critical, and never prints the value', async () => {
    const table = await audit(['--namespace', namespace, '--fail-on', 'critical']);
    console.log(`audit on the real cluster:\n${table.stdout}`);
    expect(table.code, table.stderr).toBe(1);
    expect(table.stdout).toContain(`namespace ${namespace}\n  Deployment/legacy-chat\n    CRITICAL  static-credential`);
    expect(table.stderr).toContain('at or above --fail-on critical');
    const json = await audit(['--namespace', namespace, '-o', 'json', '--read-secrets']);
    expect(json.code, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout) as AuditReport;
    expect(report.findings.map((f) => `${f.severity} ${f.kind} ${f.owner.kind}/${f.owner.name}`)).toEqual(['critical static-credential Deployment/legacy-chat']);
    for (const output of [table.stdout, table.stderr, json.stdout, json.stderr]) expect(output).not.toContain(LITERAL_VALUE);
  });
});
