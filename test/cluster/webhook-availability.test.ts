/**
 * Scenario 7, the webhook's availability:
 * - scaled to 0, a pod with the opt-in label is refused (its entry fails closed), and a pod
 *   opted in only through its ServiceAccount is created unmutated (its entry fails open), as
 *   the chart's MutatingWebhookConfiguration documents;
 * - a rolling restart of the webhook while pods are admitted in a loop fails no admission.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Annotation, ContainerName } from '../../contract/index.ts';
import { suiteCa } from './support/anthropic.ts';
import { apply, eventually, getJson, kubectl, readClusterEnv, type ClusterEnv } from './support/cluster-env.ts';
import { RELEASE_NAMESPACE, WEBHOOK_DEPLOYMENT } from './support/release.ts';
import { createTestNamespace, deleteNamespace, labelledSleeper, sleeperPod, type Pod } from './support/workloads.ts';

let env: ClusterEnv;
let namespace: string;
let replicas: number;

/** A pod that only sleeps; `label` opts it in by label, else it runs as the opted-in ServiceAccount. */
function sleeper(name: string, optIn: 'label' | 'service-account'): Record<string, unknown> {
  return optIn === 'label' ? labelledSleeper(env, namespace, name) : sleeperPod(env, namespace, name, { serviceAccountName: 'opted-in' });
}

/** `kubectl create --dry-run=server`: the full admission chain, nothing stored. */
async function admit(pod: Record<string, unknown>): Promise<{ ok: boolean; pod?: Pod; error?: string }> {
  const result = await kubectl(env, ['create', '--dry-run=server', '-o', 'json', '-f', '-'], { input: JSON.stringify(pod), allowFailure: true });
  return result.status === 0 ? { ok: true, pod: JSON.parse(result.stdout) as Pod } : { ok: false, error: result.stderr.trim() };
}

const injected = (pod: Pod | undefined): boolean => pod?.metadata.annotations?.[Annotation.status] !== undefined && (pod.spec.initContainers ?? []).some((c) => c.name === ContainerName.agent);

async function webhookPods(): Promise<Pod[]> {
  return (await getJson<{ items: Pod[] }>(env, ['pods', '-n', RELEASE_NAMESPACE, '-l', 'app.kubernetes.io/component=webhook'])).items;
}

async function scaleWebhook(to: number): Promise<void> {
  await kubectl(env, ['scale', '-n', RELEASE_NAMESPACE, `deployment/${WEBHOOK_DEPLOYMENT}`, `--replicas=${to}`]);
  if (to === 0) {
    await eventually('the webhook pods to be gone', async () => ((await webhookPods()).length === 0 ? true : undefined));
  } else {
    await kubectl(env, ['rollout', 'status', '-n', RELEASE_NAMESPACE, `deployment/${WEBHOOK_DEPLOYMENT}`, '--timeout=180s']);
  }
}

beforeAll(async () => {
  env = readClusterEnv();
  namespace = await createTestNamespace(env, 'availability', (await suiteCa()).certPem);
  await apply(env, [{ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'opted-in', namespace, annotations: { [Annotation.inject]: 'true' } } }]);
  replicas = (await getJson<{ spec: { replicas: number } }>(env, ['deployment', '-n', RELEASE_NAMESPACE, WEBHOOK_DEPLOYMENT])).spec.replicas;
});

afterAll(async () => {
  await scaleWebhook(replicas);
  await deleteNamespace(env, namespace);
});

describe('webhook down (scaled to 0)', () => {
  it('both opt-in ways are injected while it runs (the control)', async () => {
    expect(injected((await admit(sleeper('control-label', 'label'))).pod)).toBe(true);
    expect(injected((await admit(sleeper('control-sa', 'service-account'))).pod)).toBe(true);
  });

  it('refuses a pod with the opt-in label, and creates a pod opted in only through its ServiceAccount unmutated', async () => {
    await scaleWebhook(0);
    const labelled = await admit(sleeper('down-label', 'label'));
    expect(labelled.ok).toBe(false);
    expect(labelled.error).toMatch(/failed calling webhook/);
    // Stored for real, not a dry run: the pod exists, with nothing injected.
    await kubectl(env, ['create', '-f', '-'], { input: JSON.stringify(sleeper('down-sa', 'service-account')) });
    const stored = await getJson<Pod>(env, ['pod', '-n', namespace, 'down-sa']);
    expect(stored.metadata.annotations?.[Annotation.status]).toBeUndefined();
    expect(stored.spec.initContainers ?? []).toEqual([]);
    expect(stored.spec.containers.map((c) => c.name)).toEqual(['app']);
    await scaleWebhook(replicas);
    expect(injected((await admit(sleeper('up-label', 'label'))).pod)).toBe(true);
  });
});

describe('webhook rolling restart', () => {
  it('fails no admission while pods are admitted in a loop', async () => {
    expect(replicas).toBeGreaterThanOrEqual(2);
    const before = new Set((await webhookPods()).map((p) => p.metadata.uid));
    await kubectl(env, ['rollout', 'restart', '-n', RELEASE_NAMESPACE, `deployment/${WEBHOOK_DEPLOYMENT}`]);
    // Done when the rollout is complete and every old pod is gone (terminating pods still
    // answer until their preStop delay ends: that window is the one to test).
    let rolledOut = false;
    const rollout = (async (): Promise<void> => {
      await kubectl(env, ['rollout', 'status', '-n', RELEASE_NAMESPACE, `deployment/${WEBHOOK_DEPLOYMENT}`, '--timeout=300s']);
      await eventually('the old webhook pods to be gone', async () => ((await webhookPods()).some((p) => before.has(p.metadata.uid)) ? undefined : true), 180_000);
    })().finally(() => {
      rolledOut = true;
    });
    const results: { ok: boolean; injected: boolean; error?: string }[] = [];
    const loop = async (worker: number): Promise<void> => {
      // Keep admitting until the rollout is done, and a few more after it.
      for (let n = 0, after = 0; after < 5; n++) {
        if (rolledOut) after++;
        const answer = await admit(sleeper(`loop-${worker}-${n}`, 'label'));
        results.push({ ok: answer.ok, injected: injected(answer.pod), ...(answer.error === undefined ? {} : { error: answer.error }) });
      }
    };
    await Promise.all([loop(1), loop(2), rollout]);
    const after = await webhookPods();
    // Every webhook pod was replaced.
    expect(after.some((p) => before.has(p.metadata.uid))).toBe(false);
    expect(after).toHaveLength(replicas);
    expect(results.length).toBeGreaterThanOrEqual(20);
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(results.every((r) => r.injected)).toBe(true);
    console.log(`rolling restart: ${results.length} admissions, ${results.filter((r) => !r.ok).length} failed`);
  });
});
