/**
 * The refresher's pure planner. Given what the refresher knows (the token it holds, the
 * assertions it must never send again, its consecutive failures) and what it just observed,
 * it decides what to do next and when. No I/O, no logger, no secrets: the driver in
 * refresher.ts performs the actions, and a fleet simulation can replay thousands of pods
 * through these same functions.
 *
 * The policy, and why:
 * - Refresh at about half the minted lifetime (jittered 0.4–0.6 so a fleet spreads out), and
 *   at the latest `refreshMarginMs` before expiry. Half the lifetime stays in reserve for
 *   retries against a failing token endpoint.
 * - Never refresh before 40 % of the lifetime: a 60 s rule with a command source would
 *   otherwise mint in a tight loop.
 * - An assertion with a `jti` is sent once. When the one at hand is spent, a kubelet-rotated
 *   source is re-read at its predicted rotation (iat + 80 % of its life, at most 24 h) or on
 *   a file change, with a slow poll as a fallback; a command or URL source is re-read with
 *   backoff, since each read may mint a fresh token.
 * - A rotation that finds the token with time to spare is exchanged after a random delay
 *   within up to half of that spare time (what is left beyond `refreshMarginMs`): pods the
 *   kubelet rotates together (a synchronized start) then spread their exchanges instead of
 *   all arriving at the token endpoint in the same minute at every rotation.
 * - Transient failures back off (about 1 s, doubling, jittered, capped at 30 s; Retry-After
 *   honoured); 401 spends the assertion; 400 and malformed answers retry at the cap.
 */
import { Limit } from '../../contract/index.ts';
import type { Random } from '../../runtime/clock.ts';

export interface RefreshPolicy {
  /** Fraction of the minted lifetime after which a refresh is due (before jitter). */
  readonly refreshFraction: number;
  /** The fraction is jittered by ± this much. */
  readonly refreshJitter: number;
  /** A refresh is due at the latest this long before expiry ... */
  readonly refreshMarginMs: number;
  /** ... but never before this fraction of the lifetime (short lifetimes). */
  readonly minRefreshFraction: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  /** Retry-After values above this are clamped (a misbehaving server cannot park us for a day). */
  readonly retryAfterMaxMs: number;
  /** While waiting for a self-rotating source, re-read it at least this often (the watch may miss). */
  readonly sourcePollMs: number;
  /** Kubelet rotation: at this fraction of the projected token's life, at most `maxRotationMs`. */
  readonly rotationFraction: number;
  readonly maxRotationMs: number;
  /** How many spent assertion keys are remembered. */
  readonly spentKeysKept: number;
  /** The SDKs' background-refresh window: a token with less left is not "comfortably" valid. */
  readonly sdkWindowMs: number;
  /**
   * A waited-for rotation is exchanged after a random delay of up to this fraction of the
   * spare time (the token's remaining life beyond `refreshMarginMs`); 0 exchanges at once.
   */
  readonly rotationSpreadFraction: number;
}

export const DEFAULT_REFRESH_POLICY: RefreshPolicy = Object.freeze({
  refreshFraction: 0.5,
  refreshJitter: 0.1,
  refreshMarginMs: 180_000,
  minRefreshFraction: 0.4,
  backoffInitialMs: Limit.backoffInitialMs,
  backoffMaxMs: Limit.backoffMaxMs,
  retryAfterMaxMs: 300_000,
  sourcePollMs: 30_000,
  rotationFraction: Limit.kubeletRotationFraction,
  maxRotationMs: Limit.kubeletMaxRotationSeconds * 1000,
  spentKeysKept: 16,
  sdkWindowMs: Limit.sdkBlockingWindowSeconds * 1000,
  rotationSpreadFraction: 0.5,
});

/** When a minted token was obtained and when it expires (Unix ms). */
export interface TokenTimes {
  readonly obtainedAtMs: number;
  readonly expiresAtMs: number;
}

/** What the planner needs to know about an assertion (never the JWT itself). */
export interface AssertionFacts {
  readonly key: string;
  readonly hasJti: boolean;
  readonly issuedAtMs: number | undefined;
  readonly expiresAtMs: number | undefined;
}

export type SourceObservation =
  | { readonly kind: 'assertion'; readonly assertion: AssertionFacts }
  /** The source could not be read, or its token failed the checks (expired, wrong audience…). */
  | { readonly kind: 'unusable' };

/**
 * `fresh`: holding a token, waiting for the refresh time (source changes are ignored).
 * `awaiting-assertion`: a refresh is due but the source has nothing new; a change wakes us.
 * `retrying`: the last exchange failed; the next attempt waits for its backoff.
 */
export type RefreshPhase = 'fresh' | 'awaiting-assertion' | 'retrying';

export interface RefreshState {
  readonly phase: RefreshPhase;
  /** The newest valid minted token, or undefined. */
  readonly token: TokenTimes | undefined;
  /** When the source is next read. */
  readonly nextReadAtMs: number;
  /** Assertion keys never to send again, oldest first, at most `spentKeysKept`. */
  readonly spentKeys: readonly string[];
  /** Consecutive failures (source or exchange), the backoff exponent. */
  readonly failures: number;
}

export interface PlanContext {
  readonly nowMs: number;
  /** True for a kubelet-rotated file or a literal: a new token appears only on its own schedule. */
  readonly rotatesOnItsOwn: boolean;
  readonly policy: RefreshPolicy;
  readonly random: Random;
}

// ---------------------------------------------------------------------------------------
// Timing

/** When a token obtained at `obtainedAtMs` should be refreshed (the jitter comes from `random`). */
export function nextRefreshAt(token: TokenTimes, policy: RefreshPolicy, random: Random): number {
  const lifetime = Math.max(0, token.expiresAtMs - token.obtainedAtMs);
  const fraction = policy.refreshFraction + policy.refreshJitter * (2 * random() - 1);
  const latest = Math.max(lifetime - policy.refreshMarginMs, lifetime * policy.minRefreshFraction);
  return token.obtainedAtMs + Math.round(Math.min(lifetime * fraction, latest));
}

/** Delay before retry number `failures` (1 = first retry): about 1 s doubling to 30 s, jittered down by up to half. */
export function backoffDelayMs(failures: number, policy: RefreshPolicy, random: Random): number {
  const exponent = Math.min(Math.max(failures, 1) - 1, 30);
  const base = Math.min(policy.backoffMaxMs, policy.backoffInitialMs * 2 ** exponent);
  return Math.round(base / 2 + (random() * base) / 2);
}

/** When the kubelet will replace this projected token: iat + 80 % of its life, at most 24 h. */
export function predictedRotationAt(assertion: AssertionFacts, policy: RefreshPolicy): number | undefined {
  const { issuedAtMs, expiresAtMs } = assertion;
  if (issuedAtMs === undefined || expiresAtMs === undefined || expiresAtMs <= issuedAtMs) return undefined;
  return issuedAtMs + Math.min((expiresAtMs - issuedAtMs) * policy.rotationFraction, policy.maxRotationMs);
}

/** The next moment the driver must act: read the source, or drop an expiring token. */
export function nextWakeAt(state: RefreshState): number {
  return Math.min(state.nextReadAtMs, state.token?.expiresAtMs ?? Number.POSITIVE_INFINITY);
}

export function isSpent(state: RefreshState, key: string): boolean {
  return state.spentKeys.includes(key);
}

// ---------------------------------------------------------------------------------------
// Start

export interface SavedAssertion {
  readonly assertionKey: string;
  readonly hasJti: boolean;
  readonly outcome: 'sent' | 'accepted' | 'rejected';
  readonly atMs: number;
}

export interface StartInput {
  /** A token found on disk (left by the init container or an earlier run). */
  readonly adopted: { readonly expiresAtMs: number } | undefined;
  /** The state file's record of the last assertion sent. */
  readonly saved: SavedAssertion | undefined;
}

/**
 * The first plan: adopt a still-valid token on disk and never re-exchange the assertion the
 * state file records (a `sent` one counts as spent too when the token on disk is comfortably
 * valid, since that token most likely came from it).
 */
export function initialState(input: StartInput, context: PlanContext): RefreshState {
  const { nowMs, policy, random } = context;
  const { adopted, saved } = input;
  const valid = adopted !== undefined && adopted.expiresAtMs > nowMs ? adopted : undefined;
  const token = valid === undefined ? undefined : { obtainedAtMs: adoptedObtainedAt(valid.expiresAtMs, saved, nowMs), expiresAtMs: valid.expiresAtMs };
  const comfortable = valid !== undefined && valid.expiresAtMs - nowMs > policy.sdkWindowMs;
  const spent = saved !== undefined && (saved.outcome === 'rejected' || (saved.hasJti && (saved.outcome === 'accepted' || comfortable)));
  return {
    phase: token === undefined ? 'awaiting-assertion' : 'fresh',
    token,
    nextReadAtMs: token === undefined ? nowMs : Math.max(nowMs, nextRefreshAt(token, policy, random)),
    spentKeys: spent ? [saved.assertionKey] : [],
    failures: 0,
  };
}

/** The state file's `accepted` time is when the token was obtained; without it, assume now. */
function adoptedObtainedAt(expiresAtMs: number, saved: SavedAssertion | undefined, nowMs: number): number {
  if (saved?.outcome === 'accepted' && saved.atMs <= nowMs && saved.atMs < expiresAtMs) return saved.atMs;
  return nowMs;
}

// ---------------------------------------------------------------------------------------
// Transitions

export type ReadDecision =
  | { readonly action: 'exchange'; readonly state: RefreshState }
  | { readonly action: 'wait'; readonly reason: 'assertion-spent' | 'source-unusable' | 'spreading-rotation'; readonly state: RefreshState };

/** After reading the source at a due refresh: exchange a new assertion, or wait for one. */
export function decideAfterRead(state: RefreshState, observation: SourceObservation, context: PlanContext): ReadDecision {
  const { nowMs, policy, random } = context;
  if (observation.kind === 'unusable') {
    const failures = state.failures + 1;
    const nextReadAtMs = nowMs + backoffDelayMs(failures, policy, random);
    return { action: 'wait', reason: 'source-unusable', state: { ...state, phase: 'awaiting-assertion', failures, nextReadAtMs } };
  }
  if (isSpent(state, observation.assertion.key)) {
    return { action: 'wait', reason: 'assertion-spent', state: waitForNewAssertion(state, observation.assertion, context) };
  }
  const deferUntilMs = spreadRotationUntil(state, context);
  if (deferUntilMs !== undefined) {
    return { action: 'wait', reason: 'spreading-rotation', state: { ...state, phase: 'fresh', nextReadAtMs: deferUntilMs } };
  }
  return { action: 'exchange', state };
}

/** Delays shorter than this are not worth a wake-up. */
const MIN_SPREAD_DELAY_MS = 1_000;

/**
 * When a new projected token arrives while a refresh was waiting for it and the token held
 * still has spare time, the moment to exchange it: now plus a random part of that spare
 * time. Undefined: exchange now (not a waited-for rotation, or no spare time). A put-off
 * exchange waits in the `fresh` phase, so the read that ends the wait exchanges at once.
 */
function spreadRotationUntil(state: RefreshState, context: PlanContext): number | undefined {
  const { nowMs, policy, random } = context;
  if (!context.rotatesOnItsOwn || state.phase !== 'awaiting-assertion' || state.failures > 0 || state.token === undefined) return undefined;
  const spareMs = state.token.expiresAtMs - nowMs - policy.refreshMarginMs;
  const delayMs = Math.round(random() * spareMs * policy.rotationSpreadFraction);
  return delayMs >= MIN_SPREAD_DELAY_MS ? nowMs + delayMs : undefined;
}

/** A spent assertion: wait for the next rotation (self-rotating source) or re-read with backoff. */
function waitForNewAssertion(state: RefreshState, assertion: AssertionFacts, context: PlanContext): RefreshState {
  const { nowMs, policy, random } = context;
  if (!context.rotatesOnItsOwn) {
    const failures = state.failures + 1;
    return { ...state, phase: 'awaiting-assertion', failures, nextReadAtMs: nowMs + backoffDelayMs(failures, policy, random) };
  }
  const rotation = predictedRotationAt(assertion, policy);
  const poll = nowMs + policy.sourcePollMs;
  const nextReadAtMs = rotation !== undefined && rotation > nowMs ? Math.min(rotation, poll) : poll;
  return { ...state, phase: 'awaiting-assertion', nextReadAtMs };
}

export type ExchangeOutcome =
  | { readonly kind: 'minted'; readonly token: TokenTimes }
  /** Network, timeout, 429, 5xx: the same assertion may be retried. */
  | { readonly kind: 'transient'; readonly retryAfterMs: number | undefined }
  /** 401: never resend this assertion. */
  | { readonly kind: 'rejected' }
  /** 400 or a malformed success: not transient, retried at the capped interval. */
  | { readonly kind: 'invalid' };

/** After an exchange attempt with `assertion`. */
export function decideAfterExchange(state: RefreshState, assertion: AssertionFacts, outcome: ExchangeOutcome, context: PlanContext): RefreshState {
  const { nowMs, policy, random } = context;
  switch (outcome.kind) {
    case 'minted': {
      const spentKeys = assertion.hasJti ? spend(state.spentKeys, assertion.key, policy) : state.spentKeys;
      const nextReadAtMs = Math.max(nowMs, nextRefreshAt(outcome.token, policy, random));
      return { phase: 'fresh', token: outcome.token, nextReadAtMs, spentKeys, failures: 0 };
    }
    case 'transient': {
      const failures = state.failures + 1;
      const delay = Math.max(backoffDelayMs(failures, policy, random), Math.min(outcome.retryAfterMs ?? 0, policy.retryAfterMaxMs));
      return { ...state, phase: 'retrying', failures, nextReadAtMs: nowMs + delay };
    }
    case 'rejected': {
      const spent = { ...state, spentKeys: spend(state.spentKeys, assertion.key, policy), failures: state.failures + 1 };
      return waitForNewAssertion(spent, assertion, context);
    }
    case 'invalid': {
      const failures = state.failures + 1;
      return { ...state, phase: 'retrying', failures, nextReadAtMs: nowMs + backoffDelayMs(Number.MAX_SAFE_INTEGER, policy, random) };
    }
  }
}

function spend(keys: readonly string[], key: string, policy: RefreshPolicy): readonly string[] {
  return [...keys.filter((k) => k !== key), key].slice(-policy.spentKeysKept);
}

/** Drops the token once it has expired (the driver then removes the files). */
export function expireToken(state: RefreshState, nowMs: number): RefreshState {
  if (state.token === undefined || state.token.expiresAtMs > nowMs) return state;
  return { ...state, token: undefined, phase: state.phase === 'fresh' ? 'awaiting-assertion' : state.phase, nextReadAtMs: Math.min(state.nextReadAtMs, nowMs) };
}

/** A source change wakes a refresher that is waiting for a new assertion, and no other. */
export function onSourceChanged(state: RefreshState, nowMs: number): RefreshState {
  return state.phase === 'awaiting-assertion' && state.nextReadAtMs > nowMs ? { ...state, nextReadAtMs: nowMs } : state;
}

// ---------------------------------------------------------------------------------------
// The too-short case

export interface RotationGap {
  /** The minted token's lifetime. */
  readonly tokenLifetimeSeconds: number;
  /** How long the projected token lives before the kubelet replaces it. */
  readonly rotationIntervalSeconds: number;
  /** How long, per rotation, there is no valid token: rotation interval − token lifetime. */
  readonly gapSeconds: number;
  /** The largest `token-expiration` that closes the gap with the SDK window to spare, or undefined when none ≥ 600 does. */
  readonly maxTokenExpirationSeconds: number | undefined;
  /** The smallest rule token lifetime that closes the gap with the SDK window to spare. */
  readonly minRuleLifetimeSeconds: number;
}

/**
 * Whether the next projected token arrives after `token` expires: then nothing valid can be
 * minted in between, whatever the refresher does. Only meaningful for kubelet-rotated files.
 */
export function rotationGap(token: TokenTimes, assertion: AssertionFacts, policy: RefreshPolicy): RotationGap | undefined {
  const rotation = predictedRotationAt(assertion, policy);
  if (rotation === undefined || assertion.issuedAtMs === undefined || rotation <= token.expiresAtMs) return undefined;
  const lifetimeSeconds = Math.round((token.expiresAtMs - token.obtainedAtMs) / 1000);
  const intervalSeconds = Math.round((rotation - assertion.issuedAtMs) / 1000);
  const windowSeconds = policy.sdkWindowMs / 1000;
  const maxExpiration = Math.floor((lifetimeSeconds - windowSeconds) / policy.rotationFraction);
  return {
    tokenLifetimeSeconds: lifetimeSeconds,
    rotationIntervalSeconds: intervalSeconds,
    // The gap that recurs at every rotation (exchanging right when the new token appears).
    gapSeconds: intervalSeconds - lifetimeSeconds,
    maxTokenExpirationSeconds: maxExpiration >= Limit.tokenExpirationSeconds.min ? Math.min(maxExpiration, Limit.tokenExpirationSeconds.max) : undefined,
    minRuleLifetimeSeconds: intervalSeconds + windowSeconds,
  };
}
