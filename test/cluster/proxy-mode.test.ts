/**
 * Scenario 3, proxy mode: the app holds only a placeholder and talks to the sidecar's proxy on
 * loopback; the stand-in sees the real token; no token file in the app; no other pod can reach
 * the proxy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Annotation, PROXY_PLACEHOLDER_AUTH_TOKEN } from '../../contract/index.ts';
import { startAnthropicStandIns, suiteCa, suiteRule, type AnthropicStandIns } from './support/anthropic.ts';
import { apply, eventually, kubectl, readClusterEnv, type ClusterEnv } from './support/cluster-env.ts';
import {
  INJECT_LABEL,
  NAMESPACE_PREFIX,
  TEST_CA_VOLUME,
  appContainer,
  containerEvents,
  createTestNamespace,
  deleteNamespace,
  getPod,
  podsOf,
  proberPod,
  tcpProbe,
  type Pod,
} from './support/workloads.ts';

const PLACEHOLDER = PROXY_PLACEHOLDER_AUTH_TOKEN;
let env: ClusterEnv;
let anthropic: AnthropicStandIns;
let namespace: string;
let pod: Pod;

beforeAll(async () => {
  env = readClusterEnv();
  anthropic = await startAnthropicStandIns(env, [suiteRule(NAMESPACE_PREFIX)]);
  namespace = await createTestNamespace(env, 'proxy', (await suiteCa()).certPem);
  const app = appContainer(env, { baseUrl: anthropic.url, intervalMs: 2000 });
  // The proxy gives the app its base URL; the app sets none of its own.
  const appEnv = (app.env as { name: string }[]).filter((e) => e.name !== 'ANTHROPIC_BASE_URL');
  await apply(env, [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'proxy-app', namespace },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'proxy-app' } },
        template: {
          metadata: { labels: { app: 'proxy-app', [INJECT_LABEL]: 'true' }, annotations: { [Annotation.mode]: 'proxy' } },
          spec: { serviceAccountName: 'app', containers: [{ ...app, env: appEnv }], volumes: [TEST_CA_VOLUME] },
        },
      },
    },
    proberPod(env, namespace),
  ]);
  await kubectl(env, ['rollout', 'status', '-n', namespace, 'deployment/proxy-app', '--timeout=180s']);
  await kubectl(env, ['wait', '-n', namespace, '--for=condition=Ready', 'pod/prober', '--timeout=120s']);
  pod = (await podsOf(env, namespace, 'app=proxy-app'))[0]!;
});

afterAll(async () => {
  await deleteNamespace(env, namespace);
  await anthropic.close();
});

describe('proxy mode', () => {
  it('the app holds only the placeholder, and the stand-in sees the real token', async () => {
    await eventually('two successful calls through the proxy', async () => {
      const calls = (await containerEvents(env, namespace, pod.metadata.name, 'app')).filter((e) => e.event === 'call' && e.ok === true);
      return calls.length >= 2 ? calls : undefined;
    });
    const [started] = (await containerEvents(env, namespace, pod.metadata.name, 'app')).filter((e) => e.event === 'started');
    expect(started!.authTokenIsPlaceholder).toBe(true);
    const app = pod.spec.containers.find((c) => c.name === 'app')!;
    expect(app.env?.find((e) => e.name === 'ANTHROPIC_AUTH_TOKEN')?.value).toBe(PLACEHOLDER);
    expect(app.env?.find((e) => e.name === 'ANTHROPIC_BASE_URL')?.value).toBe('http://127.0.0.1:8423');
    const seen = anthropic.messages.requests;
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen.some((r) => (r.authorization ?? '').includes(PLACEHOLDER))).toBe(false);
    for (const request of seen.filter((r) => r.status === 200)) {
      const token = /^Bearer (.+)$/.exec(request.authorization ?? '')?.[1] ?? '';
      expect(anthropic.tokens.findToken(token)?.subject).toBe(`system:serviceaccount:${namespace}:app`);
    }
  });

  it('the app container has no token files', async () => {
    const [started] = (await containerEvents(env, namespace, pod.metadata.name, 'app')).filter((e) => e.event === 'started');
    expect((started!.files as { mode?: string }[]).every((f) => f.mode === undefined)).toBe(true);
    expect(started!.jwtVisible).toBe(false);
    const app = pod.spec.containers.find((c) => c.name === 'app')!;
    expect(app.volumeMounts?.map((m) => m.mountPath)).not.toContain('/var/run/anthropic');
    const listing = await kubectl(env, ['exec', '-n', namespace, pod.metadata.name, '-c', 'app', '--', 'sh', '-c', 'ls -A /var/run/anthropic /var/run/secrets/anthropic.com 2>&1 | wc -l; ls /var/run/anthropic 2>/dev/null | wc -l']);
    expect(listing.stdout.trim().split('\n').at(-1)).toBe('0');
  });

  it('the proxy is not reachable from another pod (while the sidecar health port on the same IP is)', async () => {
    const ip = (await getPod(env, namespace, pod.metadata.name)).status.podIP!;
    expect(await tcpProbe(env, { namespace, pod: 'prober', ip, port: 8424 })).toBe('open');
    expect(await tcpProbe(env, { namespace, pod: 'prober', ip, port: 8423 })).toBe('refused');
  });
});
