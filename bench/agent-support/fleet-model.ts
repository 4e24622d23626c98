/**
 * The fleet simulation's world, shared by the discrete-event simulation (fleet-sim.ts) and
 * the replay through the real Refresher (fleet-replay.ts), so both see the same pods, the
 * same kubelet and the same endpoint.
 *
 * Two kubelets:
 * - `exact`: the projected token is replaced at iat + 80 % of expirationSeconds, to the
 *   millisecond (the facts document's model, and test/support/fake-token-world.ts's).
 * - `kubelet`: as the kubelet does it. Its token manager (pkg/kubelet/token/token_manager.go,
 *   requiresRefresh) wants a new token once now > exp − 20 % of expirationSeconds − jitter,
 *   jitter a whole number of seconds in [0, 10) drawn at each check; the check runs when the
 *   projected volume is set up again, at each pod sync, and a running pod is synced every
 *   --sync-frequency (1 min) stretched by wait.Jitter(…, 0.5) (pkg/kubelet/pod_workers.go,
 *   workerResyncIntervalJitterFactor): every 60–90 s. So a new token appears at the first
 *   sync after the 80 % mark (less up to 9 s): up to ~90 s late, at a per-pod moment.
 */
import type { Random } from '../../runtime/clock.ts';
import { seededRandom } from '../../test/support/fake-clock.ts';
import { exactRotation, type RotationSchedule } from '../../test/support/fake-token-world.ts';

export type KubeletKind = 'exact' | 'kubelet';

export const ROTATION_FRACTION = 0.8;
const SYNC_PERIOD_MS = 60_000;
const SYNC_JITTER_FACTOR = 0.5;
const TOKEN_MANAGER_MAX_JITTER_S = 10;

/** When the kubelet puts a new projected token in place of one issued at `issuedAtMs`. */
export type KubeletSchedule = RotationSchedule;

/** Pod syncs from `podStartMs` every 60–90 s; the token is replaced at the first sync past the token manager's threshold. */
export function realisticKubelet(expirationSeconds: number, podStartMs: number, random: Random): KubeletSchedule {
  let syncAtMs = podStartMs;
  const nextSync = (): void => {
    syncAtMs += Math.round(SYNC_PERIOD_MS * (1 + SYNC_JITTER_FACTOR * random()));
  };
  return {
    nextRotationAt(issuedAtMs) {
      const expiresAtMs = issuedAtMs + expirationSeconds * 1000;
      const thresholdMs = expiresAtMs - expirationSeconds * 1000 * (1 - ROTATION_FRACTION);
      for (;;) {
        nextSync();
        // A sync before threshold − 10 s cannot pass the check whatever the jitter.
        if (syncAtMs <= thresholdMs - TOKEN_MANAGER_MAX_JITTER_S * 1000) continue;
        const jitterMs = Math.floor(random() * TOKEN_MANAGER_MAX_JITTER_S) * 1000;
        if (syncAtMs > thresholdMs - jitterMs) return syncAtMs;
      }
    },
  };
}

/** One simulated pod: when it starts and its own random streams (the agent's, the kubelet's). */
export interface PodSpec {
  readonly index: number;
  readonly startMs: number;
  readonly agentSeed: number;
  readonly kubeletSeed: number;
}

/** `count` pods starting uniformly at random within `windowMs` of `originMs`, reproducibly. */
export function podSpecs(count: number, originMs: number, windowMs: number, seed: number): PodSpec[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, index) => ({
    index,
    startMs: originMs + Math.floor(random() * windowMs),
    agentSeed: 1_000_000 + index * 2,
    kubeletSeed: 1_000_001 + index * 2,
  }));
}

export function kubeletFor(kind: KubeletKind, expirationSeconds: number, pod: PodSpec): KubeletSchedule {
  return kind === 'exact' ? exactRotation(expirationSeconds) : realisticKubelet(expirationSeconds, pod.startMs, seededRandom(pod.kubeletSeed));
}
