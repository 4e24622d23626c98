/**
 * 48 simulated hours per (rule lifetime R, projected expiration E) pair, on a fake clock, with
 * a kubelet that rotates at 80 % and a token endpoint that enforces single-use jti and
 * L = max(60, min(R, 2 × JWT remaining)).
 */
import { describe, expect, it } from 'vitest';
import type { Random } from '../../runtime/clock.ts';
import type { IdentityTokenSource } from '../../agent/refresh/identity-sources.ts';
import { FakeClock, constantRandom, seededRandom } from '../support/fake-clock.ts';
import {
  FakeKubelet,
  FakeTokenEndpoint,
  FakeTokenStore,
  IdentityTokenRegistry,
  RecordedEvents,
  capturingLogger,
  freshTokenSource,
  refresherFor,
} from '../support/fake-token-world.ts';

const HOURS_48 = 48 * 3600 * 1000;

interface Outcome {
  readonly minted: number;
  /** Smallest lifetime left in the files at any instant while they held a token, in ms. */
  readonly minRemainingMs: number;
  readonly removals: number;
  /** Removals that happened exactly when the removed token expired. */
  readonly removalsAtExpiry: number;
  readonly replays: readonly string[];
  readonly uniqueJtis: boolean;
  readonly expiredWrites: readonly number[];
  /** Instants at which the files held an expired token. */
  readonly expiredInstants: number;
  readonly gapWarnings: readonly string[];
  readonly gapMetric: readonly number[];
}

interface WorldSpec {
  readonly rule: number;
  readonly expiration: number;
  readonly random: Random;
  readonly latencyMs?: number;
  /** A command-like source minting a fresh token per read (lifetime = expiration). */
  readonly freshPerRead?: boolean;
}

async function simulate48h(spec: WorldSpec): Promise<Outcome> {
  const clock = new FakeClock();
  const start = clock.now();
  const registry = new IdentityTokenRegistry();
  const kubelet = spec.freshPerRead === true ? undefined : new FakeKubelet(clock, registry, spec.expiration);
  const source: IdentityTokenSource = kubelet?.source() ?? freshTokenSource(clock, registry, spec.expiration);
  const endpoint = new FakeTokenEndpoint(clock, registry, spec.rule);
  endpoint.latencyMs = spec.latencyMs ?? 0;
  const store = new FakeTokenStore(clock);
  const events = new RecordedEvents();
  const { logger, lines } = capturingLogger();
  const refresher = refresherFor({ clock, source, endpoint, store }, { random: spec.random, events, logger });
  let expiredInstants = 0;
  clock.onSettled = (nowMs) => {
    if (store.token !== undefined && store.token.expiresAtMs <= nowMs) expiredInstants += 1;
  };
  const stop = new AbortController();
  const running = refresher.run(stop.signal);
  await clock.advanceTo(start + HOURS_48);
  stop.abort();
  kubelet?.stop();
  await running;

  const writes = store.events.filter((e) => e.kind === 'write');
  const remaining = writes.flatMap((w) => (w.previousRemainingMs === undefined ? [] : [w.previousRemainingMs]));
  const removals = store.events.flatMap((e, i) => (e.kind === 'remove' ? [{ atMs: e.atMs, expired: store.events[i - 1]?.expiresAtMs }] : []));
  const jtis = endpoint.minted.map((r) => r.jti);
  return {
    minted: endpoint.minted.length,
    minRemainingMs: Math.min(...remaining),
    removals: removals.length,
    removalsAtExpiry: removals.filter((r) => r.expired === r.atMs).length,
    replays: endpoint.replays,
    uniqueJtis: new Set(jtis).size === jtis.length,
    expiredWrites: store.expiredWrites,
    expiredInstants,
    gapWarnings: lines.filter((l) => l.level === 'error').map((l) => String(l.msg)),
    gapMetric: [...new Set(events.gaps)],
  };
}

const gapWarning = (lifetime: number, interval: number, gap: number, fix: string): string =>
  `access tokens live ${lifetime} s but a new identity token only arrives every ${interval} s: ` +
  `for ${gap} s of each rotation there is no valid token and the token files are removed. Fix: ${fix}.`;

describe('48 h with a kubelet-rotated token, jitter at its midpoint, instant exchanges', () => {
  it.each([
    // (R, E): exchanges, smallest lifetime left in the files (s), removals, gap (s)
    { rule: 3600, expiration: 600, minted: 360, minRemainingS: 480, removals: 0, gap: 0 },
    { rule: 600, expiration: 600, minted: 361, minRemainingS: 120, removals: 0, gap: 0 },
    // A rotation found with spare time is put off by random × 0.5 × (left − 180 s): at the
    // midpoint, a quarter of it. 720 s left at the rotation → 720 − 0.25 × 540 = 585 s; the
    // last rotation's exchange then falls after the 48 h.
    { rule: 3600, expiration: 3600, minted: 60, minRemainingS: 585, removals: 0, gap: 0 },
    { rule: 600, expiration: 3600, minted: 61, minRemainingS: Number.POSITIVE_INFINITY, removals: 60, gap: 2280 },
    { rule: 86_400, expiration: 86_400, minted: 3, minRemainingS: 17_280 - 0.25 * (17_280 - 180), removals: 0, gap: 0 },
    { rule: 60, expiration: 600, minted: 361, minRemainingS: Number.POSITIVE_INFINITY, removals: 360, gap: 420 },
  ])('R=$rule E=$expiration: $minted exchanges, ≥ $minRemainingS s left, $removals removals', async ({ rule, expiration, minted, minRemainingS, removals, gap }) => {
    const outcome = await simulate48h({ rule, expiration, random: constantRandom(0.5) });
    expect(outcome.replays).toEqual([]);
    expect(outcome.uniqueJtis).toBe(true);
    expect(outcome.expiredWrites).toEqual([]);
    expect(outcome.expiredInstants).toBe(0);
    expect(outcome.minted).toBe(minted);
    expect(outcome.minRemainingMs).toBe(minRemainingS * 1000);
    expect(outcome.removals).toBe(removals);
    // In the too-short case the files go exactly when their token expires, never later.
    expect(outcome.removalsAtExpiry).toBe(removals);
    expect(outcome.gapMetric).toEqual([gap]);
    expect(outcome.gapWarnings.length).toBe(gap > 0 ? 1 : 0);
  });

  it('explains the too-short case once, with the numbers and the fix', async () => {
    const long = await simulate48h({ rule: 600, expiration: 3600, random: constantRandom(0.5) });
    const tiny = await simulate48h({ rule: 60, expiration: 600, random: constantRandom(0.5) });
    expect(long.gapWarnings).toEqual([
      gapWarning(600, 2880, 2280, "lower the pod's anthropic.workload.identity/token-expiration annotation to 600 or less, or raise the federation rule's token lifetime to 3000 s or more"),
    ]);
    expect(tiny.gapWarnings).toEqual([gapWarning(60, 480, 420, "raise the federation rule's token lifetime to 600 s or more")]);
  });
});

describe('48 h with seeded jitter and 250 ms exchanges', () => {
  // Bounds that hold for any jitter: (3600, 600) may exchange an old JWT (L ≥ 240 s) and then
  // refreshes after at most 0.6 L, so ≥ 144 s; (600, 600) is set by the facts: R − 0.8 E; where
  // R − 0.8 E leaves spare time beyond the 180 s margin, the exchange of a rotation is put off
  // by up to half of it: R − 0.8 E − (R − 0.8 E − 180) / 2.
  it.each([
    { rule: 3600, expiration: 600, minted: 360, boundS: 144 },
    { rule: 600, expiration: 600, minted: 360, boundS: 120 },
    { rule: 3600, expiration: 3600, minted: 60, boundS: 720 - (720 - 180) / 2 },
    { rule: 86_400, expiration: 86_400, minted: 3, boundS: 17_280 - (17_280 - 180) / 2 },
  ])('R=$rule E=$expiration keeps ≥ $boundS s − 250 ms left over 5 seeds', async ({ rule, expiration, minted, boundS }) => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const outcome = await simulate48h({ rule, expiration, random: seededRandom(seed), latencyMs: 250 });
      expect({ seed, replays: outcome.replays, expiredInstants: outcome.expiredInstants, removals: outcome.removals, minted: outcome.minted }).toEqual({
        seed,
        replays: [],
        expiredInstants: 0,
        removals: 0,
        minted,
      });
      expect(outcome.minRemainingMs).toBeGreaterThanOrEqual(boundS * 1000 - 250);
    }
  });
});

describe('48 h with a source that mints a fresh token per read (command, URL)', () => {
  it.each([
    // A fresh JWT of lifetime E gives L = min(R, 2E); refresh at L / 2.
    { rule: 3600, expiration: 3600, minted: 97, minRemainingS: 1800 },
    { rule: 600, expiration: 300, minted: 577, minRemainingS: 300 },
  ])('R=$rule, JWT lifetime $expiration s: $minted exchanges, ≥ $minRemainingS s left', async ({ rule, expiration, minted, minRemainingS }) => {
    const outcome = await simulate48h({ rule, expiration, random: constantRandom(0.5), freshPerRead: true });
    expect(outcome).toMatchObject({ minted, minRemainingMs: minRemainingS * 1000, removals: 0, replays: [], expiredInstants: 0, gapMetric: [] });
  });
});
