/**
 * The cluster suite's one-time setup, against the cluster `npm run cluster:up` started: the
 * test CA, the sidecar's trust of it, and the chart installed with the real helm in its
 * generated-certificate mode, the webhook as a Deployment on the locally imported image.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { CHART_DIR, REPO_ROOT } from '../../support/k8s-tools.ts';
import { AUDIENCE, FRONT_PORT, ORGANIZATION_ID, RULE_ID, suiteCa } from './anthropic.ts';
import { helm, readClusterEnv, type ClusterEnv } from './cluster-env.ts';
import { startRotationScenario } from './rotation.ts';

export const RELEASE = 'awi';
export const RELEASE_NAMESPACE = 'anthropic-workload-identity';

declare module 'vitest' {
  export interface ProvidedContext {
    clusterDir: string;
    /** How the sidecar trusts the test CA: the chart's caBundle values, or (interim) a test image. */
    caTrust: 'chart-ca-bundle' | 'test-image';
    chartValues: Record<string, unknown>;
    /** Where rotation.test.ts reads what the rotation stand-ins saw. */
    rotationRecordsUrl: string;
  }
}

/** Does this chart know `caBundle` (the CA-bundle ConfigMap feature)? */
function chartHasCaBundle(): boolean {
  const schema = JSON.parse(readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8')) as { properties?: Record<string, unknown> };
  return schema.properties?.caBundle !== undefined;
}

function imageParts(ref: string): { repository: string; tag: string } {
  const at = ref.lastIndexOf(':');
  return { repository: ref.slice(0, at), tag: ref.slice(at + 1) };
}

export function baseChartValues(env: ClusterEnv, agentImage: string, caTrust: 'chart-ca-bundle' | 'test-image'): Record<string, unknown> {
  const image = imageParts(env.imageWif);
  return {
    federation: { organizationId: ORGANIZATION_ID, ruleId: RULE_ID, audience: AUDIENCE, baseUrl: `https://${env.hostIp}:${FRONT_PORT}` },
    image: { ...image, pullPolicy: 'Never' },
    agent: { image: imageParts(agentImage), imagePullPolicy: 'Never' },
    ...(caTrust === 'chart-ca-bundle' ? { caBundle: { configMapName: 'anthropic-test-ca', key: 'ca.crt' } } : {}),
  };
}

export async function setup(project: TestProject): Promise<() => Promise<void>> {
  const env = readClusterEnv();
  const ca = await suiteCa();
  const caTrust = chartHasCaBundle() ? 'chart-ca-bundle' : 'test-image';
  const agentImage =
    caTrust === 'chart-ca-bundle'
      ? env.imageWif
      : execFileSync('bash', [join(REPO_ROOT, 'scripts/cluster/sidecar-ca-image.sh'), env.imageWif, ca.certFile], { encoding: 'utf8' }).trim();
  const values = baseChartValues(env, agentImage, caTrust);
  await helm(env, ['upgrade', '--install', RELEASE, CHART_DIR, '--namespace', RELEASE_NAMESPACE, '--create-namespace', '--wait', '--timeout', '5m', '--values', '-'], {
    input: JSON.stringify(values),
  });
  project.provide('clusterDir', env.dir);
  project.provide('caTrust', caTrust);
  project.provide('chartValues', values);
  const rotation = await startRotationScenario(env);
  project.provide('rotationRecordsUrl', rotation.recordsUrl);
  return () => rotation.stop();
}
