/**
 * Scenario 6, the sidecar killed mid-life: SIGKILL from the host, as the OOM killer or a crash
 * would. The kubelet restarts the native sidecar; the new process adopts the token on disk and
 * never sends the spent projected JWT (its `jti`) again; the app keeps succeeding.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentArgs, Annotation } from '../../contract/index.ts';
import { startAnthropicStandIns, suiteCa, suiteRule, type AnthropicStandIns } from './support/anthropic.ts';
import { eventually, readClusterEnv, type ClusterEnv } from './support/cluster-env.ts';
import { podProcesses } from './support/host.ts';
import { AGENT_CONTAINER, NAMESPACE_PREFIX, appDeployment, containerEvents, createTestNamespace, deleteNamespace, getPod, rollOut, statusOf, successfulCalls, type Pod } from './support/workloads.ts';

let env: ClusterEnv;
let anthropic: AnthropicStandIns;
let namespace: string;
let pod: Pod;

beforeAll(async () => {
  env = readClusterEnv();
  anthropic = await startAnthropicStandIns(env, [suiteRule(NAMESPACE_PREFIX)]);
  namespace = await createTestNamespace(env, 'restart', (await suiteCa()).certPem);
  pod = await rollOut(env, namespace, appDeployment(env, namespace, { name: 'restart-app', baseUrl: anthropic.url, annotations: { [Annotation.mode]: 'file' } }));
});

afterAll(async () => {
  await deleteNamespace(env, namespace);
  await anthropic.close();
});

describe('the sidecar killed mid-life', () => {
  it('is restarted by the kubelet, adopts the token on disk, and never resends a spent jti', async () => {
    await successfulCalls(env, namespace, pod.metadata.name, { count: 2 });
    const subject = `system:serviceaccount:${namespace}:app`;
    const exchangesBefore = anthropic.tokens.requests.filter((r) => r.jti !== undefined);
    expect(anthropic.tokens.events.filter((e) => e.outcome === 'success' && e.subject === subject)).toHaveLength(1);

    const pids = podProcesses(pod.metadata.uid, AgentArgs.sidecar);
    expect(pids).toHaveLength(1);
    process.kill(pids[0]!, 'SIGKILL');
    const killedAt = Date.now();

    const restarted = await eventually('the kubelet to restart the sidecar', async () => {
      const fresh = await getPod(env, namespace, pod.metadata.name);
      const agent = statusOf(fresh.status.initContainerStatuses, AGENT_CONTAINER);
      return agent !== undefined && agent.restartCount >= 1 && agent.ready && agent.state?.running !== undefined ? fresh : undefined;
    });
    expect(statusOf(restarted.status.initContainerStatuses, AGENT_CONTAINER)?.restartCount).toBe(1);
    // The app container was not restarted with it.
    expect(statusOf(restarted.status.containerStatuses, 'app')?.restartCount).toBe(0);

    // The restarted agent's log (the current container's) says it adopted the token.
    const events = await containerEvents(env, namespace, pod.metadata.name, AGENT_CONTAINER);
    expect(events.map((e) => e.msg)).toContain('adopted the access token already on disk');

    // The app keeps succeeding after the kill.
    await successfulCalls(env, namespace, pod.metadata.name, { count: 3, sinceMs: killedAt });

    // No assertion was sent twice, and none was refused as a replay.
    const jtis = anthropic.tokens.requests.flatMap((r) => (r.jti === undefined ? [] : [r.jti]));
    expect(new Set(jtis).size).toBe(jtis.length);
    expect(anthropic.tokens.events.filter((e) => e.outcome === 'denied' && e.reason === 'jti_reused')).toEqual([]);
    // The projected JWT has not rotated yet (600 s), so the restarted agent had nothing new to send.
    expect(anthropic.tokens.requests.filter((r) => r.jti !== undefined)).toHaveLength(exchangesBefore.length);
  });
});
