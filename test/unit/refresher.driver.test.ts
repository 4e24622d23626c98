/**
 * The refresher's driver on a fake clock: failure handling, restart adoption, file writes,
 * `once`, shutdown, and the exact instants at which it acts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ExchangeError } from '../../agent/refresh/exchange.ts';
import { TokenFileError } from '../../agent/refresh/files.ts';
import { Limit, OutputFile } from '../../contract/index.ts';
import type { IdentityTokenSource } from '../../agent/refresh/identity-sources.ts';
import { RefreshFailedError, type Refresher, type RefresherOptions } from '../../agent/refresh/refresher.ts';
import { LIVENESS_STALE_MS, isLoopAlive, isTokenReady } from '../../agent/refresh/readiness.ts';
import { FakeClock } from '../support/fake-clock.ts';
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

const S = 1000;

const serverError = (): ExchangeError => new ExchangeError('server', 'token endpoint answered 503', { status: 503 });
const rateLimited = (seconds: number): ExchangeError => new ExchangeError('rate-limited', 'token endpoint answered 429', { status: 429, retryAfterSeconds: seconds });
const rejected = (): ExchangeError =>
  new ExchangeError('rejected', 'token exchange rejected (401 authentication_error)', { status: 401, hint: "check the rule's subject and audience" });
const invalid = (): ExchangeError => new ExchangeError('invalid-request', 'token endpoint answered 400 invalid_request_error: federation_rule_id', { status: 400 });

interface World {
  readonly clock: FakeClock;
  readonly t0: number;
  readonly registry: IdentityTokenRegistry;
  readonly kubelet: FakeKubelet | undefined;
  readonly source: IdentityTokenSource;
  readonly endpoint: FakeTokenEndpoint;
  readonly store: FakeTokenStore;
  readonly events: RecordedEvents;
  readonly lines: Record<string, unknown>[];
  readonly refresher: Refresher;
  readonly stop: AbortController;
  running?: Promise<void>;
}

const worlds: World[] = [];

function world(options: { rule: number; expiration?: number; source?: (w: Pick<World, 'clock' | 'registry'>) => IdentityTokenSource; refresher?: Partial<RefresherOptions> }): World {
  const clock = new FakeClock();
  const registry = new IdentityTokenRegistry();
  const kubelet = options.source === undefined ? new FakeKubelet(clock, registry, options.expiration ?? 600) : undefined;
  const source = options.source?.({ clock, registry }) ?? kubelet!.source();
  const endpoint = new FakeTokenEndpoint(clock, registry, options.rule);
  const store = new FakeTokenStore(clock);
  const events = new RecordedEvents();
  const { logger, lines } = capturingLogger();
  const refresher = refresherFor({ clock, source, endpoint, store }, { events, logger, ...options.refresher });
  const w: World = { clock, t0: clock.now(), registry, kubelet, source, endpoint, store, events, lines, refresher, stop: new AbortController() };
  worlds.push(w);
  return w;
}

function run(w: World): void {
  w.running = w.refresher.run(w.stop.signal);
}

/** Seconds after the start at which each exchange attempt was made. */
function attemptTimes(w: World): number[] {
  return w.endpoint.records.map((r) => (r.atMs - w.t0) / S);
}

afterEach(async () => {
  for (const w of worlds.splice(0)) {
    w.stop.abort();
    w.kubelet?.stop();
    await w.clock.advanceBy(1);
    await w.running;
  }
});

describe('transient failures', () => {
  it('retries the same assertion after 0.75, 1.5, 3, 6, 12, 22.5, 22.5 s (random 0.5)', async () => {
    const w = world({ rule: 3600, expiration: 3600 });
    w.endpoint.failNext(...Array.from({ length: 7 }, serverError));
    run(w);
    await w.clock.advanceBy(100 * S);
    expect(attemptTimes(w)).toEqual([0, 0.75, 2.25, 5.25, 11.25, 23.25, 45.75, 68.25]);
    expect(new Set(w.endpoint.records.map((r) => r.jti))).toEqual(new Set(['jti-1']));
    expect(w.store.token?.expiresAtMs).toBe(w.t0 + (68.25 + 3600) * S);
    expect(w.events.exchanges).toEqual([...Array.from({ length: 7 }, () => 'failure'), 'success']);
  });

  it('records the retried assertion as sent once, not once per attempt', async () => {
    const w = world({ rule: 3600, expiration: 3600 });
    w.endpoint.failNext(serverError(), serverError(), serverError());
    run(w);
    await w.clock.advanceBy(10 * S);
    expect(w.endpoint.records.length).toBe(4);
    expect(w.store.states.map((s) => [s.assertionKey, s.outcome])).toEqual([
      ['key-jti-1', 'sent'],
      ['key-jti-1', 'accepted'],
    ]);
  });

  it('honours Retry-After on a 429', async () => {
    const w = world({ rule: 3600, expiration: 3600 });
    w.endpoint.failNext(rateLimited(7), rateLimited(1));
    run(w);
    await w.clock.advanceBy(60 * S);
    // 7 s as asked; then the 1.5 s backoff beats the 1 s Retry-After.
    expect(attemptTimes(w)).toEqual([0, 7, 8.5]);
  });

  it('switches to the newer assertion when the kubelet rotates during an outage', async () => {
    const w = world({ rule: 600, expiration: 600 });
    w.endpoint.failNext(...Array.from({ length: 40 }, serverError));
    run(w);
    await w.clock.advanceBy(560 * S);
    const jtis = w.endpoint.records.map((r) => ({ t: (r.atMs - w.t0) / S, jti: r.jti }));
    const firstNew = jtis.findIndex((r) => r.jti === 'jti-2');
    expect(jtis[firstNew - 1]).toEqual({ t: 473.25, jti: 'jti-1' });
    expect(jtis[firstNew]).toEqual({ t: 495.75, jti: 'jti-2' });
    expect(jtis.slice(firstNew).every((r) => r.jti === 'jti-2')).toBe(true);
  });

  it('stops sending an assertion once it has expired, and says so once', async () => {
    const w = world({
      rule: 3600,
      source: ({ clock, registry }) => {
        const token = registry.issue(clock.now(), 120);
        return { kind: 'literal', description: 'ANTHROPIC_IDENTITY_TOKEN', rotatesOnItsOwn: true, read: () => Promise.resolve(token) };
      },
    });
    w.endpoint.failNext(...Array.from({ length: 100 }, serverError));
    run(w);
    await w.clock.advanceBy(600 * S);
    expect(Math.max(...attemptTimes(w))).toBe(113.25);
    expect(w.store.token).toBeUndefined();
    const warnings = w.lines.filter((l) => l.level === 'warn' && String(l.msg).startsWith('identity token unusable'));
    expect(warnings.map((l) => l.msg)).toEqual(['identity token unusable: identity token fake expired 15s ago (exp 2026-01-01T00:02:00Z) (the issuer should have rotated it: check that the projected token is still mounted and refreshed)']);
  });
});

describe('non-transient failures', () => {
  it('never resends a rejected (401) assertion and exchanges the next one at its rotation', async () => {
    const w = world({ rule: 600, expiration: 600 });
    w.endpoint.failNext(rejected());
    run(w);
    await w.clock.advanceBy(500 * S);
    expect(w.endpoint.records.map((r) => [(r.atMs - w.t0) / S, r.jti, r.result])).toEqual([
      [0, 'jti-1', 'failed'],
      [480, 'jti-2', 'minted'],
    ]);
    expect(w.store.states.map((s) => [s.assertionKey, s.outcome])).toEqual([
      ['key-jti-1', 'sent'],
      ['key-jti-1', 'rejected'],
      ['key-jti-2', 'sent'],
      ['key-jti-2', 'accepted'],
    ]);
    const error = w.lines.find((l) => l.level === 'error');
    expect(error?.msg).toBe('token exchange rejected (401); this identity token will not be sent again, waiting for a new one');
    expect(error?.error).toMatchObject({ status: 401, hint: "check the rule's subject and audience" });
  });

  it('keeps retrying a 400 at the capped interval, not ready, without ending', async () => {
    const w = world({ rule: 3600, expiration: 3600 });
    w.endpoint.failNext(invalid(), invalid(), invalid());
    run(w);
    let settled = false;
    void w.running?.then(() => (settled = true));
    await w.clock.advanceBy(60 * S);
    expect(attemptTimes(w)).toEqual([0, 22.5, 45]);
    expect(isTokenReady(w.refresher.status(), w.clock.now())).toBe(false);
    expect(settled).toBe(false);
    await w.clock.advanceBy(10 * S);
    expect(attemptTimes(w)).toEqual([0, 22.5, 45, 67.5]);
    expect(isTokenReady(w.refresher.status(), w.clock.now())).toBe(true);
  });
});

describe('restart adoption', () => {
  function seeded(outcome: 'accepted' | 'sent', token: boolean): World {
    const w = world({ rule: 3600, expiration: 600 });
    if (token) w.store.token = { accessToken: 'sk-ant-oat01-left-by-init', expiresAtMs: w.t0 + 1000 * S };
    w.store.state = { version: 1, assertionKey: 'key-jti-1', hasJti: true, outcome, atMs: w.t0 - 200 * S };
    return w;
  }

  it('adopts a valid token and never replays the accepted assertion', async () => {
    const w = seeded('accepted', true);
    run(w);
    await w.clock.advanceBy(479_999);
    expect(w.endpoint.records).toEqual([]);
    expect(w.store.token?.accessToken).toBe('sk-ant-oat01-left-by-init');
    expect(isTokenReady(w.refresher.status(), w.clock.now())).toBe(true);
    // jti-2 appears at 480 s with 520 s left on the adopted token: the exchange is put off by
    // random (0.5) × 0.5 × (520 − 180) s = 85 s, to spread a fleet the kubelet rotates together.
    await w.clock.advanceBy(1);
    expect(w.endpoint.records).toEqual([]);
    await w.clock.advanceTo(w.t0 + 565 * S - 1);
    expect(w.endpoint.records).toEqual([]);
    await w.clock.advanceBy(1);
    expect(w.endpoint.records.map((r) => [(r.atMs - w.t0) / S, r.jti])).toEqual([[565, 'jti-2']]);
  });

  it('treats a sent assertion as spent when a comfortable token is on disk', async () => {
    const w = seeded('sent', true);
    run(w);
    // Without an accepted record the token counts as obtained now (1000 s left): refresh at 500 s.
    await w.clock.advanceBy(500 * S);
    expect(w.endpoint.records.map((r) => [(r.atMs - w.t0) / S, r.jti])).toEqual([[500, 'jti-2']]);
  });

  it('retries a sent assertion when no valid token is on disk', async () => {
    const w = seeded('sent', false);
    run(w);
    await w.clock.advanceBy(1);
    expect(w.endpoint.records.map((r) => [r.atMs - w.t0, r.jti, r.result])).toEqual([[0, 'jti-1', 'minted']]);
  });

  it('warns about a state file it cannot read and exchanges as on a first start', async () => {
    const w = world({ rule: 3600, expiration: 600 });
    w.store.readState = () => Promise.reject(new TokenFileError('token-file-io', 'cannot read /out/.anthropic-wif-state.json (EACCES, permission denied)', { path: '/out/.anthropic-wif-state.json', errno: 'EACCES' }));
    run(w);
    await w.clock.advanceBy(1);
    expect(w.lines.filter((l) => l.level === 'warn').map((l) => [l.msg, l.file])).toEqual([['could not read a file left by an earlier run; ignoring it', OutputFile.state]]);
    expect(w.endpoint.records.map((r) => [r.atMs - w.t0, r.jti, r.result])).toEqual([[0, 'jti-1', 'minted']]);
  });

  it('removes an expired token left on disk', async () => {
    const w = seeded('accepted', false);
    w.store.token = { accessToken: 'sk-ant-oat01-stale', expiresAtMs: w.t0 - 1 };
    run(w);
    await w.clock.advanceBy(1);
    expect(w.store.events).toEqual([{ atMs: w.t0, kind: 'remove' }]);
    expect(w.endpoint.records).toEqual([]);
  });
});

describe('files', () => {
  it('removes the token files exactly when the last token expires, keeping the profile', async () => {
    const w = world({ rule: 600, expiration: 3600 });
    run(w);
    await w.clock.advanceTo(w.t0 + 600 * S - 1);
    expect(w.store.token?.expiresAtMs).toBe(w.t0 + 600 * S);
    await w.clock.advanceTo(w.t0 + 600 * S);
    expect(w.store.token).toBeUndefined();
    expect(w.store.profile).toEqual({ organizationId: '00000000-0000-4000-8000-000000000000' });
    expect(w.events.onDisk).toEqual([w.t0 + 600 * S, undefined]);
    expect(w.refresher.currentToken()).toBeUndefined();
  });

  it('retries a failed write with backoff and leaves the old files intact', async () => {
    const w = world({ rule: 3600, expiration: 600 });
    run(w);
    await w.clock.advanceTo(w.t0 + 599 * S);
    const first = w.store.token;
    w.store.failWrites = true;
    await w.clock.advanceTo(w.t0 + 610 * S);
    expect(w.store.token).toBe(first);
    expect(w.refresher.currentToken()?.accessToken).toBe('sk-ant-oat01-fake-2');
    // state "sent" fails, then the write at 600, 600.75, 602.25, 605.25
    expect(w.events.fileWriteFailures).toBe(5);
    w.store.failWrites = false;
    await w.clock.advanceTo(w.t0 + 611.25 * S - 1);
    expect(w.store.token).toBe(first);
    await w.clock.advanceTo(w.t0 + 611.25 * S);
    expect(w.store.token?.accessToken).toBe('sk-ant-oat01-fake-2');
    expect(w.endpoint.minted.length).toBe(2);
    expect(w.store.state).toMatchObject({ assertionKey: 'key-jti-2', outcome: 'accepted', atMs: w.t0 + 600 * S });
  });
});

describe('timing boundaries', () => {
  it('refreshes exactly at refreshAt, not one millisecond before', async () => {
    const w = world({ rule: 3600, source: ({ clock, registry }) => freshTokenSource(clock, registry, 3600) });
    run(w);
    await w.clock.advanceTo(w.t0 + 1800 * S - 1);
    expect(w.endpoint.minted.length).toBe(1);
    await w.clock.advanceTo(w.t0 + 1800 * S);
    expect(w.endpoint.minted.length).toBe(2);
  });

  it('exchanges a rotated token exactly when the kubelet swaps it in', async () => {
    const w = world({ rule: 600, expiration: 600 });
    run(w);
    await w.clock.advanceTo(w.t0 + 480 * S - 1);
    expect(w.endpoint.minted.map((r) => r.jti)).toEqual(['jti-1']);
    await w.clock.advanceTo(w.t0 + 480 * S);
    expect(w.endpoint.minted.map((r) => r.jti)).toEqual(['jti-1', 'jti-2']);
  });

  it('ignores a rotation while its token is comfortably fresh', async () => {
    const w = world({ rule: 3600, expiration: 600 });
    run(w);
    // L = 1200 s, refresh at 600 s: the rotation at 480 s is skipped until then.
    await w.clock.advanceTo(w.t0 + 600 * S - 1);
    expect(w.endpoint.minted.map((r) => r.jti)).toEqual(['jti-1']);
    await w.clock.advanceTo(w.t0 + 600 * S);
    expect(w.endpoint.minted.map((r) => [r.jti, r.lifetimeSeconds])).toEqual([
      ['jti-1', 1200],
      ['jti-2', 960],
    ]);
  });
});

describe('liveness and shutdown', () => {
  it('counts the loop alive through the slowest allowed step (command, then exchange)', () => {
    const slowestStepMs = Limit.identityTokenCommandMaxTimeoutSeconds * 1000 + Limit.exchangeTimeoutMs;
    expect(isLoopAlive({ lastTickMs: 0, tokenOnDiskExpiresAtMs: undefined }, slowestStepMs)).toBe(true);
    expect(isLoopAlive({ lastTickMs: 0, tokenOnDiskExpiresAtMs: undefined }, LIVENESS_STALE_MS + 1)).toBe(false);
  });

  it('ticks at least every 60 s and reports a stalled loop', async () => {
    const w = world({ rule: 86_400, expiration: 86_400 });
    run(w);
    await w.clock.advanceBy(3600 * S + 59 * S);
    expect(w.clock.now() - w.refresher.status().lastTickMs).toBeLessThanOrEqual(60 * S);
    expect(isLoopAlive(w.refresher.status(), w.clock.now())).toBe(true);
    w.stop.abort();
    await w.clock.advanceBy(181 * S);
    expect(isLoopAlive(w.refresher.status(), w.clock.now())).toBe(false);
  });

  it('stops at once when aborted during an exchange, sending nothing more', async () => {
    const w = world({ rule: 3600, expiration: 3600 });
    w.endpoint.latencyMs = 10 * S;
    run(w);
    await w.clock.advanceBy(1 * S);
    w.stop.abort();
    await w.clock.advanceBy(0);
    await expect(w.running).resolves.toBeUndefined();
    expect(w.endpoint.records).toEqual([]);
    expect(w.store.token).toBeUndefined();
  });
});

describe('once', () => {
  it('mints and writes, then adopts on a second run without exchanging again', async () => {
    const w = world({ rule: 3600, expiration: 3600 });
    await expect(w.refresher.once(w.stop.signal)).resolves.toEqual({ kind: 'minted', expiresAtMs: w.t0 + 3600 * S });
    const again = refresherFor({ clock: w.clock, source: w.source, endpoint: w.endpoint, store: w.store });
    await expect(again.once(w.stop.signal)).resolves.toEqual({ kind: 'adopted', expiresAtMs: w.t0 + 3600 * S });
    expect(w.endpoint.records.length).toBe(1);
    expect(w.store.state).toMatchObject({ assertionKey: 'key-jti-1', outcome: 'accepted' });
  });

  it('refuses to replay a spent assertion when nothing valid is on disk', async () => {
    const w = world({ rule: 3600, expiration: 3600 });
    w.store.state = { version: 1, assertionKey: 'key-jti-1', hasJti: true, outcome: 'accepted', atMs: w.t0 - S };
    const error = await w.refresher.once(w.stop.signal).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RefreshFailedError);
    expect(error).toMatchObject({ code: 'assertion-spent', message: 'the identity token from file /fake/token was already exchanged and no valid access token is on disk' });
    expect(w.endpoint.records).toEqual([]);
  });

  it('retries transient failures a few times', async () => {
    const w = world({ rule: 3600, expiration: 3600 });
    w.endpoint.failNext(serverError(), serverError());
    const result = w.refresher.once(w.stop.signal);
    await w.clock.advanceBy(10 * S);
    await expect(result).resolves.toMatchObject({ kind: 'minted' });
    expect(attemptTimes(w)).toEqual([0, 0.75, 2.25]);
  });

  it('gives up after five transient failures, with the last error', async () => {
    const w = world({ rule: 3600, expiration: 3600 });
    w.endpoint.failNext(...Array.from({ length: 5 }, serverError));
    const result = w.refresher.once(w.stop.signal).catch((e: unknown) => e);
    await w.clock.advanceBy(60 * S);
    expect(await result).toMatchObject({ kind: 'server', message: 'token endpoint answered 503' });
    expect(attemptTimes(w)).toEqual([0, 0.75, 2.25, 5.25, 11.25]);
  });

  it('fails at once on a 401', async () => {
    const w = world({ rule: 3600, expiration: 3600 });
    w.endpoint.failNext(rejected());
    await expect(w.refresher.once(w.stop.signal)).rejects.toMatchObject({ kind: 'rejected', status: 401 });
    expect(w.endpoint.records.length).toBe(1);
  });
});

describe('secrets', () => {
  it('never logs a token or an assertion', async () => {
    const w = world({ rule: 600, expiration: 600 });
    w.endpoint.failNext(serverError(), rejected(), rateLimited(3), invalid());
    run(w);
    await w.clock.advanceBy(4 * 3600 * S);
    const text = JSON.stringify(w.lines);
    expect(w.endpoint.minted.length).toBeGreaterThan(20);
    expect(text).not.toMatch(/sk-ant-oat01|eyJfake/);
  });
});
