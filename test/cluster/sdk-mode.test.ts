/**
 * Scenario 4, sdk mode: no sidecar; the projected token, the federation variables and the
 * config dir go into the single app container, whose official SDK exchanges by itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Annotation, ContainerName, SdkEnv } from '../../contract/index.ts';
import { startAnthropicStandIns, suiteCa, suiteRule, type AnthropicStandIns } from './support/anthropic.ts';
import { readClusterEnv, type ClusterEnv } from './support/cluster-env.ts';
import { NAMESPACE_PREFIX, appDeployment, containerEvents, createTestNamespace, deleteNamespace, rollOut, successfulCalls, type Pod } from './support/workloads.ts';

let env: ClusterEnv;
let anthropic: AnthropicStandIns;
let namespace: string;
let pod: Pod;

beforeAll(async () => {
  env = readClusterEnv();
  anthropic = await startAnthropicStandIns(env, [suiteRule(NAMESPACE_PREFIX)]);
  namespace = await createTestNamespace(env, 'sdk', (await suiteCa()).certPem);
  pod = await rollOut(env, namespace, appDeployment(env, namespace, { name: 'sdk-mode-app', baseUrl: anthropic.url, noBaseUrl: true, annotations: { [Annotation.mode]: 'sdk' } }));
});

afterAll(async () => {
  await deleteNamespace(env, namespace);
  await anthropic.close();
});

describe('sdk mode: a single-container pod whose SDK exchanges by itself', () => {
  it('injects no sidecar, only the projected token and the federation variables', () => {
    const names = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].map((c) => c.name);
    expect(names).toEqual(['app']);
    expect(names).not.toContain(ContainerName.agent);
    const app = pod.spec.containers[0]!;
    const envNames = (app.env ?? []).map((e) => e.name);
    expect(envNames).toEqual(expect.arrayContaining([SdkEnv.federationRuleId, SdkEnv.organizationId, SdkEnv.identityTokenFile, SdkEnv.baseUrl]));
    expect(app.env?.find((e) => e.name === SdkEnv.baseUrl)?.value).toBe(anthropic.url);
  });

  it('the SDK exchanges the projected JWT itself and its calls succeed with the token it got', async () => {
    await successfulCalls(env, namespace, pod.metadata.name, { count: 2 });
    const subject = `system:serviceaccount:${namespace}:app`;
    const exchanges = anthropic.tokens.events.filter((e) => e.outcome === 'success' && e.subject === subject);
    expect(exchanges.length).toBeGreaterThanOrEqual(1);
    // The SDK caches its token: one exchange serves the calls.
    expect(exchanges).toHaveLength(1);
    const authorized = anthropic.messages.requests.filter((r) => r.status === 200);
    expect(authorized.length).toBeGreaterThanOrEqual(2);
    for (const request of authorized) {
      const token = /^Bearer (.+)$/.exec(request.authorization ?? '')?.[1] ?? '';
      expect(anthropic.tokens.findToken(token)?.subject).toBe(subject);
    }
    const [started] = (await containerEvents(env, namespace, pod.metadata.name, 'app')).filter((e) => e.event === 'started');
    // In sdk mode the app itself holds the projected JWT.
    expect(started!.jwtVisible).toBe(true);
  });
});
