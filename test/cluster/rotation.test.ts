/**
 * Scenario 2, a real kubelet rotation with the default `expirationSeconds: 600`: the kubelet
 * replaces the projected JWT near 480 s; the agent exchanges the new one exactly once; the app
 * keeps succeeding across the rotation. The workload started in global setup
 * (support/rotation.ts) and this file runs last, so the ~9 minutes overlap the other files.
 */
import { describe, expect, inject, it } from 'vitest';
import { eventually } from './support/cluster-env.ts';
import { ROTATION_NAMESPACE, type RotationRecords } from './support/rotation.ts';

const EXPIRATION_S = 600;

async function records(): Promise<RotationRecords> {
  const response = await fetch(inject('rotationRecordsUrl'));
  return (await response.json()) as RotationRecords;
}

describe('a real kubelet rotation of the projected JWT', () => {
  it('is exchanged exactly once, near 80 % of its life, and the app keeps succeeding', { timeout: 900_000 }, async () => {
    const subject = `system:serviceaccount:${ROTATION_NAMESPACE}:app`;
    const seen = await eventually(
      'the agent to exchange the rotated JWT',
      async () => {
        const r = await records();
        return r.exchanges.filter((e) => e.outcome === 'success' && e.subject === subject).length >= 2 ? r : undefined;
      },
      // From the pod's creation: rotation at 480 s + the kubelet's sync period, well before expiry.
      Math.max(60_000, (await records()).podCreatedAtMs + EXPIRATION_S * 1000 - Date.now()),
      5_000,
    );
    // A little longer, so that a duplicate exchange would show.
    await new Promise((resolve) => setTimeout(resolve, 15_000));
    const final = await records();
    const successes = final.exchanges.filter((e) => e.outcome === 'success' && e.subject === subject);
    expect(successes).toHaveLength(2);
    expect(final.exchanges.filter((e) => e.outcome !== 'success')).toEqual([]);
    const [first, second] = successes as [(typeof successes)[0], (typeof successes)[0]];
    expect(second.jti).toBeDefined();
    expect(second.jti).not.toBe(first.jti);
    const gapS = (second.atMs - first.atMs) / 1000;
    console.log(`rotation: second exchange ${gapS.toFixed(0)} s after the first, ${((second.atMs - seen.podCreatedAtMs) / 1000).toFixed(0)} s after the pod was created`);
    // The kubelet refreshes at 80 % of 600 s (480 s), on its next sync; never after expiry.
    expect(gapS).toBeGreaterThanOrEqual(0.8 * EXPIRATION_S - 15);
    expect(gapS).toBeLessThan(EXPIRATION_S);

    // The app's calls all succeeded, across the rotation, and it moved on to the second token.
    const calls = final.calls.filter((c) => c.atMs >= first.atMs);
    expect(calls.length).toBeGreaterThanOrEqual(60);
    expect(calls.filter((c) => c.status !== 200)).toEqual([]);
    const secondIndex = final.issued.findIndex((t) => t.jti === second.jti);
    expect(secondIndex).toBeGreaterThan(0);
    expect(calls.some((c) => c.tokenIndex === secondIndex)).toBe(true);
  });
});
