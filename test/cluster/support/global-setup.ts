/**
 * The cluster suite's one-time setup, against the cluster `npm run cluster:up` started: the
 * test CA, and the chart installed with the real helm in its generated-certificate mode, the
 * webhook as a Deployment on the locally imported image, the sidecar trusting the test CA
 * through the chart's `caBundle` (a ConfigMap each test namespace holds), and the webhook
 * answering admissions only from the API server (`webhook.clientAuth`, the CA of the client
 * certificate cluster:up gives the API server, in a ConfigMap of the release). Then the rotation
 * scenario's workload (support/rotation.ts), which ages while the other files run.
 */
import type { TestProject } from 'vitest/node';
import { CHART_DIR } from '../../support/k8s-tools.ts';
import { AUDIENCE, FRONT_PORT, ORGANIZATION_ID, RULE_ID } from './anthropic.ts';
import { readFileSync } from 'node:fs';
import { apply, helm, readClusterEnv, type ClusterEnv } from './cluster-env.ts';
import { RELEASE, RELEASE_NAMESPACE, WEBHOOK_CLIENT_CA_CONFIGMAP, WEBHOOK_CLIENT_NAME } from './release.ts';
import { startRotationScenario } from './rotation.ts';
import { TEST_CA_CONFIGMAP } from './workloads.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    clusterDir: string;
    chartValues: Record<string, unknown>;
    /** Where rotation.test.ts reads what the rotation stand-ins saw. */
    rotationRecordsUrl: string;
  }
}

function imageParts(ref: string): { repository: string; tag: string } {
  const at = ref.lastIndexOf(':');
  return { repository: ref.slice(0, at), tag: ref.slice(at + 1) };
}

export function baseChartValues(env: ClusterEnv): Record<string, unknown> {
  const image = imageParts(env.imageWif);
  return {
    federation: { organizationId: ORGANIZATION_ID, ruleId: RULE_ID, audience: AUDIENCE, baseUrl: `https://${env.hostIp}:${FRONT_PORT}` },
    image: { ...image, pullPolicy: 'Never' },
    agent: { image, imagePullPolicy: 'Never' },
    caBundle: { configMapName: TEST_CA_CONFIGMAP, key: 'ca.crt' },
    webhook: { clientAuth: { enabled: true, caConfigMap: WEBHOOK_CLIENT_CA_CONFIGMAP, allowedNames: [WEBHOOK_CLIENT_NAME] } },
  };
}

/** The release namespace, with the CA of the API server's webhook client certificate. */
async function prepareReleaseNamespace(env: ClusterEnv): Promise<void> {
  await apply(env, [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: RELEASE_NAMESPACE } },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: WEBHOOK_CLIENT_CA_CONFIGMAP, namespace: RELEASE_NAMESPACE }, data: { 'ca.crt': readFileSync(env.webhookClientCaFile, 'utf8') } },
  ]);
}

export async function setup(project: TestProject): Promise<() => Promise<void>> {
  const env = readClusterEnv();
  const values = baseChartValues(env);
  await prepareReleaseNamespace(env);
  await helm(env, ['upgrade', '--install', RELEASE, CHART_DIR, '--namespace', RELEASE_NAMESPACE, '--create-namespace', '--wait', '--timeout', '5m', '--values', '-'], {
    input: JSON.stringify(values),
  });
  project.provide('clusterDir', env.dir);
  project.provide('chartValues', values);
  const rotation = await startRotationScenario(env);
  project.provide('rotationRecordsUrl', rotation.recordsUrl);
  return () => rotation.stop();
}
