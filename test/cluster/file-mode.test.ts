/**
 * Scenario 1, file mode: a Deployment whose app container runs the official SDK, on a real
 * cluster with the Helm-installed webhook and the real image.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAnthropicStandIns, suiteCa, suiteRule, type AnthropicStandIns } from './support/anthropic.ts';
import { apply, eventually, kubectl, readClusterEnv, type ClusterEnv } from './support/cluster-env.ts';
import {
  AGENT_CONTAINER,
  APP_UID,
  INJECT_LABEL,
  NAMESPACE_PREFIX,
  TEST_CA_VOLUME,
  appContainer,
  containerEvents,
  createTestNamespace,
  deleteNamespace,
  podsOf,
  statusOf,
  type Pod,
} from './support/workloads.ts';

let env: ClusterEnv;
let anthropic: AnthropicStandIns;
let namespace: string;
let pod: Pod;

beforeAll(async () => {
  env = readClusterEnv();
  anthropic = await startAnthropicStandIns(env, [suiteRule(NAMESPACE_PREFIX)]);
  namespace = await createTestNamespace(env, 'file', (await suiteCa()).certPem);
  await apply(env, [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'sdk-app', namespace },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'sdk-app' } },
        template: {
          metadata: { labels: { app: 'sdk-app', [INJECT_LABEL]: 'true' } },
          spec: { serviceAccountName: 'app', containers: [appContainer(env, { baseUrl: anthropic.url, intervalMs: 2000 })], volumes: [TEST_CA_VOLUME] },
        },
      },
    },
  ]);
  await kubectl(env, ['rollout', 'status', '-n', namespace, 'deployment/sdk-app', '--timeout=180s']);
  pod = (await podsOf(env, namespace, 'app=sdk-app'))[0]!;
});

afterAll(async () => {
  await deleteNamespace(env, namespace);
  await anthropic.close();
});

describe('file mode: the official SDK in a Deployment', () => {
  it('is injected as a native sidecar by the webhook the chart installed', () => {
    const sidecar = pod.spec.initContainers?.find((c) => c.name === AGENT_CONTAINER);
    expect(sidecar?.restartPolicy).toBe('Always');
    expect(sidecar?.image).toContain('anthropic-wif');
  });

  it('the app calls the Messages stand-in successfully with a token the sidecar obtained', async () => {
    const calls = await eventually('two successful SDK calls', async () => {
      const events = (await containerEvents(env, namespace, pod.metadata.name, 'app')).filter((e) => e.event === 'call');
      return events.filter((e) => e.ok === true).length >= 2 ? events : undefined;
    });
    expect(calls.every((c) => c.ok === true)).toBe(true);
    const exchanged = anthropic.tokens.events.filter((e) => e.outcome === 'success');
    expect(exchanged.length).toBeGreaterThanOrEqual(1);
    expect(exchanged[0]).toMatchObject({ subject: `system:serviceaccount:${namespace}:app` });
    const authorized = anthropic.messages.requests.filter((r) => r.status === 200);
    expect(authorized.length).toBeGreaterThanOrEqual(2);
    for (const request of authorized) {
      const token = /^Bearer (.+)$/.exec(request.authorization ?? '')?.[1] ?? '';
      expect(anthropic.tokens.findToken(token)?.subject).toBe(`system:serviceaccount:${namespace}:app`);
    }
  });

  it('the app container started only after the sidecar was ready', async () => {
    const [started] = (await containerEvents(env, namespace, pod.metadata.name, 'app')).filter((e) => e.event === 'started');
    expect(started).toBeDefined();
    const firstToken = anthropic.tokens.issuedTokens.find((t) => t.subject === `system:serviceaccount:${namespace}:app`);
    expect(firstToken).toBeDefined();
    // The first token was minted (and so the startup probe could pass) before the app's first instruction ran.
    expect(firstToken!.issuedAtMs).toBeLessThan(started!.at as number);
    const files = started!.files as { path: string; mode?: string }[];
    expect(files.every((f) => f.mode !== undefined)).toBe(true);
    const fresh = (await podsOf(env, namespace, 'app=sdk-app'))[0]!;
    const agent = statusOf(fresh.status.initContainerStatuses, AGENT_CONTAINER);
    const app = statusOf(fresh.status.containerStatuses, 'app');
    expect(agent?.started).toBe(true);
    expect(Date.parse(app!.state!.running!.startedAt)).toBeGreaterThanOrEqual(Date.parse(agent!.state!.running!.startedAt));
  });

  it('inside the app container the files are 0600 and owned by the app uid, and no projected JWT is there', async () => {
    const [started] = (await containerEvents(env, namespace, pod.metadata.name, 'app')).filter((e) => e.event === 'started');
    expect(started!.uid).toBe(APP_UID);
    expect(started!.jwtVisible).toBe(false);
    const files = Object.fromEntries((started!.files as { path: string; mode: string; uid: number }[]).map((f) => [f.path, f]));
    expect(files['/var/run/anthropic/token']).toMatchObject({ mode: '0600', uid: APP_UID });
    expect(files['/var/run/anthropic/credentials/default.json']).toMatchObject({ mode: '0600', uid: APP_UID });
    const exec = async (script: string): Promise<string> =>
      (await kubectl(env, ['exec', '-n', namespace, pod.metadata.name, '-c', 'app', '--', 'sh', '-c', script], { allowFailure: true })).stdout.trim();
    expect(await exec('stat -c "%a %u" /var/run/anthropic/token /var/run/anthropic/credentials/default.json')).toBe(`600 ${APP_UID}\n600 ${APP_UID}`);
    expect(await exec('test -e /var/run/secrets/anthropic.com && echo present || echo absent')).toBe('absent');
    // No file the app can read holds a JWT (three dot-separated base64url parts starting eyJ).
    expect(await exec('grep -rlE "eyJ[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+" /var/run /etc/test-ca 2>/dev/null | grep -v kubernetes.io/serviceaccount || echo none')).toBe('none');
    const app = pod.spec.containers.find((c) => c.name === 'app')!;
    expect(app.volumeMounts?.some((m) => m.mountPath === '/var/run/secrets/anthropic.com')).toBe(false);
  });
});
