/**
 * Scenario 2, a real kubelet rotation with the default `expirationSeconds: 600`: the kubelet
 * replaces the projected JWT near 480 s; the agent exchanges the new one exactly once; the app
 * keeps succeeding across the rotation. The workload started in global setup
 * (support/rotation.ts) and this file runs last, so its ~11 minutes overlap the other files.
 */
import { describe, expect, inject, it } from 'vitest';
import { eventually, kubectl, readClusterEnv, type ClusterEnv } from './support/cluster-env.ts';
import { ROTATION_NAMESPACE, ROTATION_RULE_LIFETIME_S, type RotationRecords } from './support/rotation.ts';

const EXPIRATION_S = 600;
/** The kubelet's pod sync (1 min) on top of 80 % of the life; the agent's 30 s poll; the ≤ ~70 s spread (support/rotation.ts). */
const LATEST_EXCHANGE_S = 0.8 * EXPIRATION_S + 60 + 30 + 80;

async function records(): Promise<RotationRecords> {
  const response = await fetch(inject('rotationRecordsUrl'));
  return (await response.json()) as RotationRecords;
}

type Exchange = RotationRecords['exchanges'][number];

/**
 * The pod whose JWTs the agent exchanged last. It is the one global setup rolled out, unless the
 * cluster replaced that pod (an eviction, say): then the scenario follows its successor, and says
 * why the first one went, so that a replacement is seen and not mistaken for a rotation.
 */
async function followedPod(env: ClusterEnv, r: RotationRecords, successes: readonly Exchange[]): Promise<string> {
  const last = successes.at(-1)?.podUid ?? r.podUid;
  if (last !== r.podUid && !reported.has(last)) {
    reported.add(last);
    const events = await kubectl(env, ['get', 'events', '-n', ROTATION_NAMESPACE, '--sort-by=.lastTimestamp'], { allowFailure: true });
    console.log(`rotation: pod ${r.podName} (${r.podUid}) was replaced by ${last}; following the new pod. Events:\n${events.stdout}`);
  }
  return last;
}
const reported = new Set<string>();

describe('a real kubelet rotation of the projected JWT', () => {
  it('is exchanged exactly once, after the kubelet replaced it near 480 s, and the app keeps succeeding', { timeout: 1_500_000 }, async () => {
    const env = readClusterEnv();
    const subject = `system:serviceaccount:${ROTATION_NAMESPACE}:app`;
    const successesOf = (r: RotationRecords): Exchange[] => r.exchanges.filter((e) => e.outcome === 'success' && e.subject === subject);
    const ofPod = (r: RotationRecords, uid: string): Exchange[] => successesOf(r).filter((e) => e.podUid === uid);
    let pod = (await records()).podUid;
    const outcome = await eventually(
      'the agent to exchange the rotated JWT',
      async () => {
        const r = await records();
        pod = await followedPod(env, r, successesOf(r));
        const mine = ofPod(r, pod);
        if (mine.length >= 2) return 'exchanged';
        // The kubelet rotates at 80 % of the first JWT's life: past the latest time, stop waiting.
        const firstIatMs = mine[0]?.assertionIat === undefined ? r.podCreatedAtMs : mine[0].assertionIat * 1000;
        return Date.now() > firstIatMs + LATEST_EXCHANGE_S * 1000 ? 'late' : undefined;
      },
      1_400_000,
      5_000,
    );
    expect(outcome, `a second exchange for pod ${pod} within ${LATEST_EXCHANGE_S} s of its first JWT`).toBe('exchanged');
    // A little longer, so that a duplicate exchange would show.
    await new Promise((resolve) => setTimeout(resolve, 20_000));
    const final = await records();
    const successes = ofPod(final, pod);
    expect(final.exchanges.filter((e) => e.outcome !== 'success')).toEqual([]);
    expect(successes).toHaveLength(2);
    const [first, second] = successes as [(typeof successes)[0], (typeof successes)[0]];
    expect(second.jti).toBeDefined();
    expect(second.jti).not.toBe(first.jti);

    // The kubelet issued the second JWT at 80 % of the first one's life, on its next pod sync.
    const rotatedAfterS = second.assertionIat! - first.assertionIat!;
    const exchangedAfterS = (second.atMs - first.atMs) / 1000;
    console.log(`rotation: the kubelet's second JWT ${rotatedAfterS} s after the first; the agent exchanged it ${exchangedAfterS.toFixed(0)} s after its first exchange`);
    if (rotatedAfterS < 0.8 * EXPIRATION_S - 5) {
      const events = await kubectl(env, ['get', 'events', '-n', ROTATION_NAMESPACE, '--sort-by=.lastTimestamp'], { allowFailure: true });
      console.log(`rotation: the kubelet replaced the JWT early in pod ${pod}. Events:\n${events.stdout}`);
    }
    // (iat is whole seconds, stamped by the API server; the kubelet judges 80 % on its own clock.)
    expect(rotatedAfterS).toBeGreaterThanOrEqual(0.8 * EXPIRATION_S - 5);
    expect(rotatedAfterS).toBeLessThanOrEqual(0.8 * EXPIRATION_S + 90);
    // The agent exchanged it after the kubelet wrote it, while the first token had time left.
    expect(second.atMs).toBeGreaterThanOrEqual(second.assertionIat! * 1000);
    const firstToken = final.issued.find((t) => t.jti === first.jti)!;
    expect(firstToken.expiresAtMs - firstToken.issuedAtMs).toBe(ROTATION_RULE_LIFETIME_S * 1000);
    expect(firstToken.expiresAtMs - second.atMs).toBeGreaterThan(120_000);

    // The app's calls all succeeded, across the rotation and after it, each with a token
    // minted here and unexpired when used. (The SDK keeps the token it read until it nears
    // expiry, so it may still be on the first one: both are valid.)
    const calls = final.calls.filter((c) => c.atMs >= first.atMs);
    expect(calls.length).toBeGreaterThanOrEqual(60);
    expect(calls.filter((c) => c.status !== 200)).toEqual([]);
    expect(calls.filter((c) => c.atMs > second.atMs).length).toBeGreaterThanOrEqual(3);
    for (const call of calls) {
      const token = final.issued[call.tokenIndex];
      expect(token).toBeDefined();
      expect(call.atMs).toBeLessThan(token!.expiresAtMs);
    }
  });
});
