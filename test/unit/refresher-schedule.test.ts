import { describe, expect, it } from 'vitest';
import {
  DEFAULT_REFRESH_POLICY as policy,
  backoffDelayMs,
  decideAfterExchange,
  decideAfterRead,
  expireToken,
  initialState,
  nextRefreshAt,
  nextWakeAt,
  onSourceChanged,
  predictedRotationAt,
  rotationGap,
  type AssertionFacts,
  type PlanContext,
  type RefreshState,
} from '../../agent/refresh/refresh-schedule.ts';
import { constantRandom } from '../support/fake-clock.ts';

const T0 = Date.UTC(2026, 0, 1);
const S = 1000;

function context(nowMs: number, overrides: Partial<PlanContext> = {}): PlanContext {
  return { nowMs, rotatesOnItsOwn: true, policy, random: constantRandom(0.5), ...overrides };
}

function assertion(key: string, issuedAtS: number, lifetimeS: number, hasJti = true): AssertionFacts {
  return { key, hasJti, issuedAtMs: T0 + issuedAtS * S, expiresAtMs: T0 + (issuedAtS + lifetimeS) * S };
}

const fresh: RefreshState = {
  phase: 'fresh',
  token: { obtainedAtMs: T0, expiresAtMs: T0 + 600 * S },
  nextReadAtMs: T0 + 300 * S,
  spentKeys: ['a'],
  failures: 0,
};

describe('nextRefreshAt', () => {
  it.each([
    // lifetime s, random, refresh after s: 0.5 ± 0.1 of the lifetime, at the latest 180 s before expiry, never before 40 %
    { lifetime: 3600, random: 0.5, after: 1800 },
    { lifetime: 3600, random: 0, after: 1440 },
    { lifetime: 3600, random: 0.75, after: 1980 },
    { lifetime: 600, random: 0.5, after: 300 },
    { lifetime: 600, random: 0.999_999, after: 360 },
    { lifetime: 400, random: 0.999_999, after: 220 },
    { lifetime: 300, random: 0.5, after: 120 },
    { lifetime: 60, random: 0.5, after: 24 },
    { lifetime: 60, random: 0, after: 24 },
    { lifetime: 86_400, random: 0.5, after: 43_200 },
  ])('a $lifetime s token refreshes after $after s (random $random)', ({ lifetime, random, after }) => {
    const token = { obtainedAtMs: T0, expiresAtMs: T0 + lifetime * S };
    expect(nextRefreshAt(token, policy, constantRandom(random))).toBe(T0 + after * S);
  });
});

describe('backoffDelayMs', () => {
  it.each([
    { random: 0.5, delays: [750, 1500, 3000, 6000, 12_000, 22_500, 22_500, 22_500] },
    { random: 0, delays: [500, 1000, 2000, 4000, 8000, 15_000, 15_000, 15_000] },
    { random: 0.999_999, delays: [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000] },
  ])('with random $random the first eight retries wait $delays ms', ({ random, delays }) => {
    expect(delays.map((_, i) => backoffDelayMs(i + 1, policy, constantRandom(random)))).toEqual(delays);
  });

  it('stays capped for huge failure counts', () => {
    expect(backoffDelayMs(Number.MAX_SAFE_INTEGER, policy, constantRandom(0.999_999))).toBe(30_000);
  });
});

describe('predictedRotationAt', () => {
  it.each([
    { lifetime: 600, rotatesAfter: 480 },
    { lifetime: 3600, rotatesAfter: 2880 },
    { lifetime: 86_400, rotatesAfter: 69_120 },
    // The kubelet also rotates after 24 h whatever the expiration.
    { lifetime: 200_000, rotatesAfter: 86_400 },
  ])('a $lifetime s projected token rotates after $rotatesAfter s', ({ lifetime, rotatesAfter }) => {
    expect(predictedRotationAt(assertion('k', 0, lifetime), policy)).toBe(T0 + rotatesAfter * S);
  });

  it('cannot predict without iat and exp', () => {
    expect(predictedRotationAt({ key: 'k', hasJti: true, issuedAtMs: undefined, expiresAtMs: T0 }, policy)).toBeUndefined();
  });
});

describe('initialState', () => {
  const disk = { expiresAtMs: T0 + 1000 * S };
  it.each([
    { name: 'nothing on disk', adopted: undefined, saved: undefined, token: undefined, spent: [], nextReadAtS: 0, phase: 'awaiting-assertion' },
    {
      name: 'an accepted assertion and its token',
      adopted: disk,
      saved: { assertionKey: 'k1', hasJti: true, outcome: 'accepted' as const, atMs: T0 - 200 * S },
      // obtained 200 s ago, lifetime 1200 s: refresh 600 s after it was obtained
      token: { obtainedAtMs: T0 - 200 * S, expiresAtMs: disk.expiresAtMs },
      spent: ['k1'],
      nextReadAtS: 400,
      phase: 'fresh',
    },
    {
      name: 'a sent assertion with a comfortable token on disk counts as spent',
      adopted: disk,
      saved: { assertionKey: 'k1', hasJti: true, outcome: 'sent' as const, atMs: T0 - 10 * S },
      token: { obtainedAtMs: T0, expiresAtMs: disk.expiresAtMs },
      spent: ['k1'],
      nextReadAtS: 500,
      phase: 'fresh',
    },
    {
      name: 'a sent assertion without a valid token may be retried',
      adopted: { expiresAtMs: T0 - 1 },
      saved: { assertionKey: 'k1', hasJti: true, outcome: 'sent' as const, atMs: T0 - 10 * S },
      token: undefined,
      spent: [],
      nextReadAtS: 0,
      phase: 'awaiting-assertion',
    },
    {
      name: 'a sent assertion with a token inside the SDK window may be retried',
      adopted: { expiresAtMs: T0 + 120 * S },
      saved: { assertionKey: 'k1', hasJti: true, outcome: 'sent' as const, atMs: T0 - 10 * S },
      token: { obtainedAtMs: T0, expiresAtMs: T0 + 120 * S },
      spent: [],
      nextReadAtS: 48,
      phase: 'fresh',
    },
    {
      name: 'a rejected assertion is never resent, even without a jti',
      adopted: undefined,
      saved: { assertionKey: 'k1', hasJti: false, outcome: 'rejected' as const, atMs: T0 - 10 * S },
      token: undefined,
      spent: ['k1'],
      nextReadAtS: 0,
      phase: 'awaiting-assertion',
    },
    {
      name: 'an accepted assertion without a jti may be sent again',
      adopted: undefined,
      saved: { assertionKey: 'k1', hasJti: false, outcome: 'accepted' as const, atMs: T0 - 10 * S },
      token: undefined,
      spent: [],
      nextReadAtS: 0,
      phase: 'awaiting-assertion',
    },
  ])('$name', ({ adopted, saved, token, spent, nextReadAtS, phase }) => {
    expect(initialState({ adopted, saved }, context(T0))).toEqual({ phase, token, spentKeys: spent, nextReadAtMs: T0 + nextReadAtS * S, failures: 0 });
  });
});

describe('decideAfterRead', () => {
  it('exchanges an assertion it has not spent', () => {
    const decision = decideAfterRead(fresh, { kind: 'assertion', assertion: assertion('b', 0, 600) }, context(T0 + 300 * S));
    expect(decision).toEqual({ action: 'exchange', state: fresh });
  });

  it('waits for the predicted kubelet rotation when the assertion is spent', () => {
    const decision = decideAfterRead(fresh, { kind: 'assertion', assertion: assertion('a', 0, 600) }, context(T0 + 470 * S));
    expect(decision).toEqual({ action: 'wait', reason: 'assertion-spent', state: { ...fresh, phase: 'awaiting-assertion', nextReadAtMs: T0 + 480 * S } });
  });

  it('polls every 30 s when the rotation is further away, or overdue', () => {
    const early = decideAfterRead(fresh, { kind: 'assertion', assertion: assertion('a', 0, 600) }, context(T0 + 300 * S));
    const overdue = decideAfterRead(fresh, { kind: 'assertion', assertion: assertion('a', 0, 600) }, context(T0 + 500 * S));
    expect([early.state.nextReadAtMs, overdue.state.nextReadAtMs]).toEqual([T0 + 330 * S, T0 + 530 * S]);
  });

  it('re-reads a command source with backoff when it returns a spent assertion', () => {
    const decision = decideAfterRead(fresh, { kind: 'assertion', assertion: assertion('a', 0, 600) }, context(T0, { rotatesOnItsOwn: false }));
    expect(decision.state).toEqual({ ...fresh, phase: 'awaiting-assertion', failures: 1, nextReadAtMs: T0 + 750 });
  });

  it('backs off when the source is unusable', () => {
    const decision = decideAfterRead({ ...fresh, failures: 2 }, { kind: 'unusable' }, context(T0));
    expect(decision).toEqual({ action: 'wait', reason: 'source-unusable', state: { ...fresh, phase: 'awaiting-assertion', failures: 3, nextReadAtMs: T0 + 3000 } });
  });
});

describe('decideAfterRead: spreading a rotation', () => {
  // Waiting since 1800 s for the rotation of a 3600 s projected token (at 2880 s); the token
  // held expires at 3600 s, so at 2880 s it has 720 s left: 540 s spare beyond the 180 s margin.
  const awaiting: RefreshState = {
    phase: 'awaiting-assertion',
    token: { obtainedAtMs: T0, expiresAtMs: T0 + 3600 * S },
    nextReadAtMs: T0 + 2880 * S,
    spentKeys: ['a'],
    failures: 0,
  };
  const rotated = { kind: 'assertion', assertion: assertion('b', 2880, 3600) } as const;

  it.each([
    // random → the exchange is put off by random × 0.5 × 540 s
    { random: 0.5, delayS: 135 },
    { random: 0.999_999, delayS: 270 },
    { random: 0.1, delayS: 27 },
  ])('puts the exchange of a waited-for rotation off by $delayS s (random $random), ignoring source changes meanwhile', ({ random, delayS }) => {
    const decision = decideAfterRead(awaiting, rotated, context(T0 + 2880 * S, { random: constantRandom(random) }));
    expect(decision).toEqual({ action: 'wait', reason: 'spreading-rotation', state: { ...awaiting, phase: 'fresh', nextReadAtMs: T0 + 2880 * S + delayS * S } });
    expect(onSourceChanged(decision.state, T0 + 2900 * S)).toBe(decision.state);
  });

  it('exchanges the put-off assertion at the next read, and a newer one at once', () => {
    const deferred = decideAfterRead(awaiting, rotated, context(T0 + 2880 * S)).state;
    expect(decideAfterRead(deferred, rotated, context(T0 + 3015 * S))).toEqual({ action: 'exchange', state: deferred });
    const newer = { kind: 'assertion', assertion: assertion('c', 3000, 3600) } as const;
    expect(decideAfterRead(deferred, newer, context(T0 + 3015 * S)).action).toBe('exchange');
  });

  it.each([
    { name: 'a command or URL source (each read mints a fresh token)', state: awaiting, overrides: { rotatesOnItsOwn: false } },
    { name: 'a refresh that is due with a fresh assertion at hand (already jittered)', state: { ...awaiting, phase: 'fresh' as const }, overrides: {} },
    { name: 'after a failure (the retry budget is not spent on spreading)', state: { ...awaiting, failures: 1 }, overrides: {} },
    { name: 'with no token held', state: { ...awaiting, token: undefined }, overrides: {} },
    { name: 'with no time to spare (≤ 180 s left)', state: { ...awaiting, token: { obtainedAtMs: T0, expiresAtMs: T0 + 3060 * S } }, overrides: {} },
    { name: 'when the delay would be under 1 s', state: awaiting, overrides: { random: constantRandom(0) } },
  ])('exchanges at once: $name', ({ state, overrides }) => {
    expect(decideAfterRead(state, rotated, context(T0 + 2880 * S, overrides))).toEqual({ action: 'exchange', state });
  });

  it('is fresh with the put-off assertion spent once it is minted', () => {
    const deferred = decideAfterRead(awaiting, rotated, context(T0 + 2880 * S)).state;
    const minted = decideAfterExchange(deferred, rotated.assertion, { kind: 'minted', token: { obtainedAtMs: T0 + 3015 * S, expiresAtMs: T0 + 6615 * S } }, context(T0 + 3015 * S));
    expect(minted).toEqual({ phase: 'fresh', token: { obtainedAtMs: T0 + 3015 * S, expiresAtMs: T0 + 6615 * S }, nextReadAtMs: T0 + 4815 * S, spentKeys: ['a', 'b'], failures: 0 });
  });
});

describe('decideAfterExchange', () => {
  const b = assertion('b', 0, 3600);
  it('schedules the next refresh after a mint and spends a jti', () => {
    const token = { obtainedAtMs: T0, expiresAtMs: T0 + 3600 * S };
    const state = decideAfterExchange({ ...fresh, failures: 3 }, b, { kind: 'minted', token }, context(T0));
    expect(state).toEqual({ phase: 'fresh', token, nextReadAtMs: T0 + 1800 * S, spentKeys: ['a', 'b'], failures: 0 });
  });

  it('does not spend an assertion without a jti', () => {
    const token = { obtainedAtMs: T0, expiresAtMs: T0 + 3600 * S };
    expect(decideAfterExchange(fresh, { ...b, hasJti: false }, { kind: 'minted', token }, context(T0)).spentKeys).toEqual(['a']);
  });

  it.each([
    { retryAfterMs: undefined, wait: 750 },
    { retryAfterMs: 7000, wait: 7000 },
    { retryAfterMs: 100, wait: 750 },
    { retryAfterMs: 3_600_000, wait: 300_000 },
  ])('retries a transient failure after $wait ms (Retry-After $retryAfterMs)', ({ retryAfterMs, wait }) => {
    const state = decideAfterExchange(fresh, b, { kind: 'transient', retryAfterMs }, context(T0));
    expect(state).toEqual({ ...fresh, phase: 'retrying', failures: 1, nextReadAtMs: T0 + wait });
  });

  it('spends a rejected assertion and waits for the next rotation', () => {
    const state = decideAfterExchange(fresh, b, { kind: 'rejected' }, context(T0 + 10 * S));
    expect(state).toEqual({ ...fresh, phase: 'awaiting-assertion', spentKeys: ['a', 'b'], failures: 1, nextReadAtMs: T0 + 40 * S });
  });

  it('retries a non-transient failure at the capped interval', () => {
    const state = decideAfterExchange(fresh, b, { kind: 'invalid' }, context(T0));
    expect(state).toEqual({ ...fresh, phase: 'retrying', failures: 1, nextReadAtMs: T0 + 22_500 });
  });

  it('remembers at most 16 spent keys', () => {
    let state: RefreshState = { ...fresh, spentKeys: [] };
    for (let i = 0; i < 20; i++) state = decideAfterExchange(state, assertion(`k${i}`, 0, 600), { kind: 'rejected' }, context(T0));
    expect(state.spentKeys).toEqual(Array.from({ length: 16 }, (_, i) => `k${i + 4}`));
  });
});

describe('expiry and source changes', () => {
  it('keeps the token one millisecond before expiry and drops it at expiry', () => {
    const before = expireToken(fresh, T0 + 600 * S - 1);
    const at = expireToken(fresh, T0 + 600 * S);
    expect([before.token, at.token]).toEqual([fresh.token, undefined]);
    expect(at.phase).toBe('awaiting-assertion');
  });

  it('wakes at the earlier of the next read and the expiry', () => {
    expect(nextWakeAt(fresh)).toBe(T0 + 300 * S);
    expect(nextWakeAt({ ...fresh, nextReadAtMs: T0 + 900 * S })).toBe(T0 + 600 * S);
  });

  it('lets a source change wake only a refresher that waits for a new assertion', () => {
    expect(onSourceChanged(fresh, T0 + 10 * S)).toBe(fresh);
    const waiting = { ...fresh, phase: 'awaiting-assertion' as const };
    expect(onSourceChanged(waiting, T0 + 10 * S).nextReadAtMs).toBe(T0 + 10 * S);
    expect(onSourceChanged({ ...fresh, phase: 'retrying' }, T0 + 10 * S).nextReadAtMs).toBe(T0 + 300 * S);
  });
});

describe('rotationGap', () => {
  it.each([
    { rule: 600, expiration: 3600, gap: { tokenLifetimeSeconds: 600, rotationIntervalSeconds: 2880, gapSeconds: 2280, maxTokenExpirationSeconds: 600, minRuleLifetimeSeconds: 3000 } },
    { rule: 60, expiration: 600, gap: { tokenLifetimeSeconds: 60, rotationIntervalSeconds: 480, gapSeconds: 420, maxTokenExpirationSeconds: undefined, minRuleLifetimeSeconds: 600 } },
    { rule: 1800, expiration: 86_400, gap: { tokenLifetimeSeconds: 1800, rotationIntervalSeconds: 69_120, gapSeconds: 67_320, maxTokenExpirationSeconds: 2100, minRuleLifetimeSeconds: 69_240 } },
    { rule: 600, expiration: 600, gap: undefined },
    { rule: 3600, expiration: 3600, gap: undefined },
  ])('rule $rule s with expiration $expiration s', ({ rule, expiration, gap }) => {
    const token = { obtainedAtMs: T0, expiresAtMs: T0 + rule * S };
    expect(rotationGap(token, assertion('k', 0, expiration), policy)).toEqual(gap);
  });
});
