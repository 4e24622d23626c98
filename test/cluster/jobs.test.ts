/**
 * Scenario 5, Jobs: with the native sidecar a Job's pod reaches Succeeded; with
 * `--native-sidecar=false` (legacy layout) the documented behaviour holds: the app container
 * completes, the regular sidecar keeps running, so the Job never completes (README,
 * Troubleshooting: "Job never completes").
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContainerName } from '../../contract/index.ts';
import { startAnthropicStandIns, suiteCa, suiteRule, type AnthropicStandIns } from './support/anthropic.ts';
import { apply, eventually, getJson, readClusterEnv, type ClusterEnv } from './support/cluster-env.ts';
import { upgradeRelease } from './support/release.ts';
import { AGENT_CONTAINER, NAMESPACE_PREFIX, createTestNamespace, deleteNamespace, podsOf, sdkJob, statusOf } from './support/workloads.ts';

interface Job {
  readonly status: { readonly succeeded?: number; readonly failed?: number; readonly conditions?: readonly { type: string; status: string }[] };
}

let env: ClusterEnv;
let anthropic: AnthropicStandIns;
let namespace: string;

beforeAll(async () => {
  env = readClusterEnv();
  anthropic = await startAnthropicStandIns(env, [suiteRule(NAMESPACE_PREFIX)]);
  namespace = await createTestNamespace(env, 'jobs', (await suiteCa()).certPem);
});

afterAll(async () => {
  await upgradeRelease(env, {});
  await deleteNamespace(env, namespace);
  await anthropic.close();
});

const complete = (job: Job): boolean => job.status.conditions?.some((c) => c.type === 'Complete' && c.status === 'True') === true;

describe('Jobs', () => {
  it('a Job with the native sidecar completes: its pod reaches Succeeded after one successful call', async () => {
    await apply(env, [sdkJob(env, namespace, { name: 'native', baseUrl: anthropic.url })]);
    const job = await eventually('the Job to finish', async () => {
      const j = await getJson<Job>(env, ['job', '-n', namespace, 'native']);
      return complete(j) || (j.status.failed ?? 0) > 0 ? j : undefined;
    }, 180_000);
    expect(complete(job)).toBe(true);
    const [pod] = await podsOf(env, namespace, 'job=native');
    expect(pod!.status.phase).toBe('Succeeded');
    expect(pod!.spec.initContainers?.find((c) => c.name === AGENT_CONTAINER)?.restartPolicy).toBe('Always');
    expect(statusOf(pod!.status.containerStatuses, 'app')?.state?.terminated?.exitCode).toBe(0);
    expect(anthropic.authorizedCalls()).toBeGreaterThanOrEqual(1);
  });

  it('with --native-sidecar=false the app completes but the regular sidecar keeps the Job from completing, as documented', async () => {
    await upgradeRelease(env, { agent: { nativeSidecar: 'false' } });
    const callsBefore = anthropic.authorizedCalls();
    await apply(env, [sdkJob(env, namespace, { name: 'legacy', baseUrl: anthropic.url })]);
    const pod = await eventually('the legacy app container to exit', async () => {
      const [p] = await podsOf(env, namespace, 'job=legacy');
      return p !== undefined && statusOf(p.status.containerStatuses, 'app')?.state?.terminated !== undefined ? p : undefined;
    }, 180_000);
    expect(pod.spec.initContainers?.map((c) => c.name)).toContain(ContainerName.init);
    expect(pod.spec.containers.map((c) => c.name)).toContain(AGENT_CONTAINER);
    expect(statusOf(pod.status.containerStatuses, 'app')?.state?.terminated?.exitCode).toBe(0);
    expect(anthropic.authorizedCalls()).toBeGreaterThan(callsBefore);
    // Give the Job controller time to act; it must still see an active pod.
    await new Promise((resolve) => setTimeout(resolve, 20_000));
    const [later] = await podsOf(env, namespace, 'job=legacy');
    expect(later!.status.phase).toBe('Running');
    expect(statusOf(later!.status.containerStatuses, AGENT_CONTAINER)?.state?.running).toBeDefined();
    expect(complete(await getJson<Job>(env, ['job', '-n', namespace, 'legacy']))).toBe(false);
  });
});
