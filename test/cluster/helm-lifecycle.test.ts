/**
 * Scenario 10, `helm upgrade` and `helm uninstall` of the chart:
 * - an upgrade that changes the default mode leaves running pods alone and applies to new ones;
 * - uninstall leaves no webhook configuration behind, and pods (even with the opt-in label)
 *   can be created afterwards. The release is installed again at the end for the other files.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Annotation, ContainerName, PROXY_PLACEHOLDER_AUTH_TOKEN, SdkEnv } from '../../contract/index.ts';
import { startAnthropicStandIns, suiteCa, suiteRule, type AnthropicStandIns } from './support/anthropic.ts';
import { getJson, helm, kubectl, readClusterEnv, type ClusterEnv } from './support/cluster-env.ts';
import { RELEASE, RELEASE_NAMESPACE, upgradeRelease } from './support/release.ts';
import { NAMESPACE_PREFIX, appDeployment, labelledSleeper, createTestNamespace, deleteNamespace, getPod, rollOut, successfulCalls, type Pod } from './support/workloads.ts';

let env: ClusterEnv;
let anthropic: AnthropicStandIns;
let namespace: string;

const modeOf = (pod: Pod): string | undefined => {
  const app = pod.spec.containers.find((c) => c.name === 'app');
  if (app?.env?.find((e) => e.name === SdkEnv.authToken)?.value === PROXY_PLACEHOLDER_AUTH_TOKEN) return 'proxy';
  if (app?.env?.some((e) => e.name === SdkEnv.configDir) === true) return 'file';
  return undefined;
};

beforeAll(async () => {
  env = readClusterEnv();
  anthropic = await startAnthropicStandIns(env, [suiteRule(NAMESPACE_PREFIX)]);
  namespace = await createTestNamespace(env, 'helm', (await suiteCa()).certPem);
});

afterAll(async () => {
  await upgradeRelease(env, {});
  await deleteNamespace(env, namespace);
  await anthropic.close();
});

describe('helm upgrade', () => {
  it('a new default mode leaves running pods alone and applies to new ones', async () => {
    const before = await rollOut(env, namespace, appDeployment(env, namespace, { name: 'before-upgrade', baseUrl: anthropic.url }));
    expect(modeOf(before)).toBe('file');
    await successfulCalls(env, namespace, before.metadata.name, { count: 1 });

    await upgradeRelease(env, { agent: { mode: 'proxy' } });
    const upgradedAt = Date.now();
    const after = await rollOut(env, namespace, appDeployment(env, namespace, { name: 'after-upgrade', baseUrl: anthropic.url, noBaseUrl: true }));
    expect(modeOf(after)).toBe('proxy');
    await successfulCalls(env, namespace, after.metadata.name, { count: 1 });

    // The running pod is the same pod, unchanged, and still working.
    const still = await getPod(env, namespace, before.metadata.name);
    expect(still.metadata.uid).toBe(before.metadata.uid);
    expect(still.metadata.annotations?.[Annotation.status]).toBe(before.metadata.annotations?.[Annotation.status]);
    expect(modeOf(still)).toBe('file');
    await successfulCalls(env, namespace, before.metadata.name, { count: 2, sinceMs: upgradedAt });
  });
});

describe('helm uninstall', () => {
  it('leaves no webhook configuration behind, and pods can be created afterwards', async () => {
    await helm(env, ['uninstall', RELEASE, '--namespace', RELEASE_NAMESPACE, '--wait', '--timeout', '3m']);
    const configs = await getJson<{ items: { metadata: { name: string } }[] }>(env, ['mutatingwebhookconfigurations']);
    expect(configs.items.map((c) => c.metadata.name).filter((n) => n.includes(RELEASE))).toEqual([]);
    // The opt-in label alone no longer reaches any webhook: the pod is stored as written, and runs.
    await kubectl(env, ['create', '-f', '-'], { input: JSON.stringify(labelledSleeper(env, namespace, 'after-uninstall')) });
    await kubectl(env, ['wait', '-n', namespace, '--for=condition=Ready', 'pod/after-uninstall', '--timeout=120s']);
    const created = await getPod(env, namespace, 'after-uninstall');
    expect(created.metadata.annotations?.[Annotation.status]).toBeUndefined();
    expect([...(created.spec.initContainers ?? []), ...created.spec.containers].map((c) => c.name)).not.toContain(ContainerName.agent);
  });
});
