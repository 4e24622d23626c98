/**
 * Scenario 8, the token endpoint unavailable when the pod starts: the app container does not
 * start while the sidecar has no token (its startup probe holds it back); once the endpoint
 * answers, the sidecar's retries get a token and the app starts and succeeds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAnthropicStandIns, suiteCa, suiteRule, type AnthropicStandIns } from './support/anthropic.ts';
import { apply, eventually, readClusterEnv, type ClusterEnv } from './support/cluster-env.ts';
import { AGENT_CONTAINER, NAMESPACE_PREFIX, appDeployment, createTestNamespace, deleteNamespace, podsOf, statusOf, successfulCalls, type Pod } from './support/workloads.ts';

/** How long the endpoint stays down after the pod was scheduled. */
const OUTAGE_MS = 45_000;

let env: ClusterEnv;
let anthropic: AnthropicStandIns;
let namespace: string;

beforeAll(async () => {
  env = readClusterEnv();
  anthropic = await startAnthropicStandIns(env, [suiteRule(NAMESPACE_PREFIX)]);
  namespace = await createTestNamespace(env, 'outage', (await suiteCa()).certPem);
});

afterAll(async () => {
  await anthropic.resume().catch(() => undefined);
  await deleteNamespace(env, namespace);
  await anthropic.close();
});

describe('the token endpoint unavailable when the pod starts', () => {
  it('holds the app container back until a token exists, then starts it', async () => {
    await anthropic.pause();
    await apply(env, [appDeployment(env, namespace, { name: 'outage-app', baseUrl: anthropic.url })]);
    const scheduled = await eventually('the pod to be created and its sidecar to run', async () => {
      const [p] = await podsOf(env, namespace, 'app=outage-app');
      return p !== undefined && statusOf(p.status.initContainerStatuses, AGENT_CONTAINER)?.state?.running !== undefined ? p : undefined;
    });
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));

    const during = (await podsOf(env, namespace, 'app=outage-app')).find((p) => p.metadata.uid === scheduled.metadata.uid)!;
    const agent = statusOf(during.status.initContainerStatuses, AGENT_CONTAINER);
    expect(agent?.started).toBe(false);
    expect(agent?.ready).toBe(false);
    const app = statusOf(during.status.containerStatuses, 'app');
    expect(app?.state?.running).toBeUndefined();
    expect(app?.restartCount ?? 0).toBe(0);
    expect(anthropic.tokens.requests).toHaveLength(0);

    const resumedAt = Date.now();
    await anthropic.resume();
    const running = await eventually(
      'the app container to start',
      async (): Promise<Pod | undefined> => {
        const [p] = await podsOf(env, namespace, 'app=outage-app');
        return p !== undefined && statusOf(p.status.containerStatuses, 'app')?.state?.running !== undefined ? p : undefined;
      },
      180_000,
    );
    // The same pod (not a replacement) went on, and its first call succeeded.
    expect(running.metadata.uid).toBe(scheduled.metadata.uid);
    const calls = await successfulCalls(env, namespace, running.metadata.name, { count: 1 });
    expect(calls[0]).toMatchObject({ n: 1, ok: true });
    const minted = anthropic.tokens.issuedTokens.filter((t) => t.subject === `system:serviceaccount:${namespace}:app`);
    expect(minted).toHaveLength(1);
    expect(minted[0]!.issuedAtMs).toBeGreaterThanOrEqual(resumedAt);
    expect(Date.parse(statusOf(running.status.containerStatuses, 'app')!.state!.running!.startedAt)).toBeGreaterThanOrEqual(Math.floor(resumedAt / 1000) * 1000);
  });
});
