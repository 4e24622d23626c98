/**
 * Keeping the token files in step with the newest valid token, as a pure reducer: the
 * refresher feeds it what happened (a token adopted or minted, time passing, a write done or
 * failed) and performs the actions it returns (write the profile, write or remove the token,
 * report, log, record). No I/O and no clock here; jitter comes through the injected Random.
 *
 * Tokens are compared by identity: the files are in step when they hold the very token the
 * refresher holds.
 */
import type { Random } from '../../runtime/clock.ts';
import type { StoredToken } from './files.ts';
import { backoffDelayMs, type AssertionFacts, type RefreshPolicy } from './refresh-schedule.ts';

/** A token the refresher holds, with the assertion it came from. `token` is secret. */
export interface HeldToken {
  readonly token: StoredToken;
  readonly obtainedAtMs: number;
  readonly assertion: Pick<AssertionFacts, 'key' | 'hasJti'> | undefined;
}

export interface FileSyncState {
  /** The newest valid token: what the files should hold. */
  readonly wanted: HeldToken | undefined;
  /** What the files hold now. */
  readonly written: HeldToken | undefined;
  readonly profileWritten: boolean;
  /** Failed syncs in a row (reset when the token files are brought in step). */
  readonly failures: number;
  /** No sync before this time (Unix ms) after a failure. */
  readonly retryAtMs: number;
}

export type FileSyncEvent =
  /** At start: a token found on disk (the files hold it; it is wanted while unexpired). */
  | { readonly type: 'adopted'; readonly held: HeldToken; readonly nowMs: number }
  /** A new token was minted: wanted now, and written at once (no retry delay). */
  | { readonly type: 'minted'; readonly held: HeldToken }
  /** Time passed: an expired token is no longer wanted. */
  | { readonly type: 'clock'; readonly nowMs: number }
  /** The driver is about to sync: which writes are needed. */
  | { readonly type: 'sync' }
  | { readonly type: 'profile-written' }
  /** The token files now hold `held` (undefined: removed). */
  | { readonly type: 'token-synced'; readonly held: HeldToken | undefined }
  | { readonly type: 'write-failed'; readonly nowMs: number };

export type FileSyncAction =
  | { readonly type: 'write-profile' }
  | { readonly type: 'write-token'; readonly held: HeldToken }
  | { readonly type: 'remove-token' }
  /** The token in the files changed (metrics); undefined when they were removed. */
  | { readonly type: 'token-on-disk'; readonly expiresAtMs: number | undefined }
  | { readonly type: 'wrote-token'; readonly expiresAtMs: number }
  | { readonly type: 'removed-expired'; readonly expiredAtMs: number | undefined }
  /** The state file should say this assertion was accepted. */
  | { readonly type: 'record-accepted'; readonly assertion: Pick<AssertionFacts, 'key' | 'hasJti'>; readonly atMs: number }
  | { readonly type: 'sync-failed'; readonly retryAtMs: number };

export interface FileSyncContext {
  readonly policy: RefreshPolicy;
  readonly random: Random;
}

export interface FileSyncStep {
  readonly state: FileSyncState;
  readonly actions: readonly FileSyncAction[];
}

export const INITIAL_FILE_SYNC: FileSyncState = { wanted: undefined, written: undefined, profileWritten: false, failures: 0, retryAtMs: 0 };

function unchanged(state: FileSyncState): FileSyncStep {
  return { state, actions: [] };
}

function writes(state: FileSyncState): FileSyncAction[] {
  const actions: FileSyncAction[] = state.profileWritten ? [] : [{ type: 'write-profile' }];
  if (state.wanted === state.written) return actions;
  actions.push(state.wanted === undefined ? { type: 'remove-token' } : { type: 'write-token', held: state.wanted });
  return actions;
}

function synced(state: FileSyncState, held: HeldToken | undefined): FileSyncStep {
  const next = { ...state, written: held, failures: 0 };
  const onDisk: FileSyncAction = { type: 'token-on-disk', expiresAtMs: held?.token.expiresAtMs };
  if (held === undefined) return { state: next, actions: [onDisk, { type: 'removed-expired', expiredAtMs: state.written?.token.expiresAtMs }] };
  const actions: FileSyncAction[] = [onDisk, { type: 'wrote-token', expiresAtMs: held.token.expiresAtMs }];
  if (held.assertion !== undefined) actions.push({ type: 'record-accepted', assertion: held.assertion, atMs: held.obtainedAtMs });
  return { state: next, actions };
}

/** The file-sync state after `event`, and what the driver should do about it. */
export function reduceFileSync(state: FileSyncState, event: FileSyncEvent, context: FileSyncContext): FileSyncStep {
  switch (event.type) {
    case 'adopted': {
      const wanted = event.held.token.expiresAtMs > event.nowMs ? event.held : state.wanted;
      return { state: { ...state, written: event.held, wanted }, actions: [{ type: 'token-on-disk', expiresAtMs: event.held.token.expiresAtMs }] };
    }
    case 'minted':
      return unchanged({ ...state, wanted: event.held, retryAtMs: 0 });
    case 'clock':
      return state.wanted !== undefined && state.wanted.token.expiresAtMs <= event.nowMs ? unchanged({ ...state, wanted: undefined }) : unchanged(state);
    case 'sync':
      return { state, actions: writes(state) };
    case 'profile-written':
      return unchanged({ ...state, profileWritten: true });
    case 'token-synced':
      return synced(state, event.held);
    case 'write-failed': {
      const failures = state.failures + 1;
      const retryAtMs = event.nowMs + backoffDelayMs(failures, context.policy, context.random);
      return { state: { ...state, failures, retryAtMs }, actions: [{ type: 'sync-failed', retryAtMs }] };
    }
  }
}

/** The files do not hold what they should (or the profile is not written yet). */
export function filesOutOfStep(state: FileSyncState): boolean {
  return !state.profileWritten || state.wanted !== state.written;
}

/** A sync is needed and no failure's backoff holds it back. */
export function filesDue(state: FileSyncState, nowMs: number): boolean {
  return filesOutOfStep(state) && nowMs >= state.retryAtMs;
}

/** When the files next need attention: the retry time when out of step, or the written token's expiry. */
export function fileSyncWakeAt(state: FileSyncState): number {
  const retryAt = filesOutOfStep(state) ? state.retryAtMs : Number.POSITIVE_INFINITY;
  return Math.min(retryAt, state.written?.token.expiresAtMs ?? Number.POSITIVE_INFINITY);
}
