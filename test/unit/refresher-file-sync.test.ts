/**
 * The file-sync reducer (agent/refresh/file-sync.ts), table by table: each event on a given
 * state, the state after it and the actions the refresher must perform.
 */
import { describe, expect, it } from 'vitest';
import {
  INITIAL_FILE_SYNC,
  fileSyncWakeAt,
  filesDue,
  filesOutOfStep,
  reduceFileSync,
  type FileSyncAction,
  type FileSyncEvent,
  type FileSyncState,
  type HeldToken,
} from '../../agent/refresh/file-sync.ts';
import { DEFAULT_REFRESH_POLICY as policy } from '../../agent/refresh/refresh-schedule.ts';
import { constantRandom } from '../support/fake-clock.ts';

const T0 = Date.UTC(2026, 0, 1);
const S = 1000;
const context = { policy, random: constantRandom(0.5) };

function held(name: string, expiresInS: number): HeldToken {
  return { token: { accessToken: `sk-ant-oat01-${name}`, expiresAtMs: T0 + expiresInS * S }, obtainedAtMs: T0, assertion: { key: `k-${name}`, hasJti: true } };
}

const A = held('a', 600);
const B = held('b', 3600);
/** Tokens found on disk at start carry no assertion unless the state file accepted one. */
const ADOPTED: HeldToken = { ...held('adopted', 600), assertion: undefined };
const EXPIRED: HeldToken = { ...held('expired', -10), assertion: undefined };
const inStep: FileSyncState = { wanted: A, written: A, profileWritten: true, failures: 0, retryAtMs: 0 };

function step(state: FileSyncState, event: FileSyncEvent): { state: FileSyncState; actions: readonly FileSyncAction[] } {
  return reduceFileSync(state, event, context);
}

describe('reduceFileSync: tokens in', () => {
  it.each([
    { name: 'adopting a valid token on disk makes it wanted and written', state: INITIAL_FILE_SYNC, event: { type: 'adopted', held: ADOPTED, nowMs: T0 }, want: { wanted: ADOPTED, written: ADOPTED }, actions: [{ type: 'token-on-disk', expiresAtMs: T0 + 600 * S }] },
    { name: 'adopting an expired token: written but not wanted (to be removed)', state: INITIAL_FILE_SYNC, event: { type: 'adopted', held: EXPIRED, nowMs: T0 }, want: { wanted: undefined, written: EXPIRED }, actions: [{ type: 'token-on-disk', expiresAtMs: T0 - 10 * S }] },
    { name: 'a minted token is wanted and clears the retry delay', state: { ...inStep, retryAtMs: T0 + 5 * S, failures: 2 }, event: { type: 'minted', held: B }, want: { wanted: B, written: A, retryAtMs: 0, failures: 2 }, actions: [] },
    { name: 'time past the wanted token’s expiry drops it', state: inStep, event: { type: 'clock', nowMs: T0 + 600 * S }, want: { wanted: undefined, written: A }, actions: [] },
    { name: 'time before its expiry keeps it', state: inStep, event: { type: 'clock', nowMs: T0 + 600 * S - 1 }, want: { wanted: A, written: A }, actions: [] },
  ] as const)('$name', ({ state, event, want, actions }) => {
    const next = step(state, event);
    expect(next.state).toMatchObject(want);
    expect(next.actions).toEqual(actions);
  });
});

describe('reduceFileSync: what a sync writes', () => {
  it.each([
    { name: 'nothing when in step', state: inStep, actions: [] },
    { name: 'the profile first, at start', state: { ...INITIAL_FILE_SYNC }, actions: [{ type: 'write-profile' }] },
    { name: 'the profile and the token', state: { ...INITIAL_FILE_SYNC, wanted: A }, actions: [{ type: 'write-profile' }, { type: 'write-token', held: A }] },
    { name: 'a newer token', state: { ...inStep, wanted: B }, actions: [{ type: 'write-token', held: B }] },
    { name: 'removal when nothing valid is held', state: { ...inStep, wanted: undefined }, actions: [{ type: 'remove-token' }] },
  ] as const)('$name', ({ state, actions }) => {
    const next = step(state, { type: 'sync' });
    expect(next.state).toBe(state);
    expect(next.actions).toEqual(actions);
  });
});

describe('reduceFileSync: writes done or failed', () => {
  it.each([
    {
      name: 'a written token: in step, failures reset, reported, logged and its assertion recorded as accepted',
      state: { ...inStep, wanted: B, failures: 3 },
      event: { type: 'token-synced', held: B },
      want: { written: B, failures: 0 },
      actions: [{ type: 'token-on-disk', expiresAtMs: T0 + 3600 * S }, { type: 'wrote-token', expiresAtMs: T0 + 3600 * S }, { type: 'record-accepted', assertion: B.assertion, atMs: T0 }],
    },
    {
      name: 'an adopted token has no assertion to record',
      state: { ...INITIAL_FILE_SYNC, wanted: ADOPTED, profileWritten: true },
      event: { type: 'token-synced', held: ADOPTED },
      want: { written: ADOPTED },
      actions: [{ type: 'token-on-disk', expiresAtMs: T0 + 600 * S }, { type: 'wrote-token', expiresAtMs: T0 + 600 * S }],
    },
    {
      name: 'removed files name the expiry of the token they held',
      state: { ...inStep, wanted: undefined },
      event: { type: 'token-synced', held: undefined },
      want: { written: undefined, failures: 0 },
      actions: [{ type: 'token-on-disk', expiresAtMs: undefined }, { type: 'removed-expired', expiredAtMs: T0 + 600 * S }],
    },
    { name: 'the profile written: only that', state: { ...INITIAL_FILE_SYNC, failures: 1 }, event: { type: 'profile-written' }, want: { profileWritten: true, failures: 1 }, actions: [] },
    {
      name: 'a first failure waits the first backoff (750 ms at random 0.5)',
      state: { ...inStep, wanted: B },
      event: { type: 'write-failed', nowMs: T0 },
      want: { failures: 1, retryAtMs: T0 + 750 },
      actions: [{ type: 'sync-failed', retryAtMs: T0 + 750 }],
    },
    {
      name: 'a fourth failure waits 6 s',
      state: { ...inStep, wanted: B, failures: 3 },
      event: { type: 'write-failed', nowMs: T0 },
      want: { failures: 4, retryAtMs: T0 + 6000 },
      actions: [{ type: 'sync-failed', retryAtMs: T0 + 6000 }],
    },
  ] as const)('$name', ({ state, event, want, actions }) => {
    const next = step(state, event);
    expect(next.state).toMatchObject(want);
    expect(next.actions).toEqual(actions);
  });
});

describe('file-sync queries', () => {
  it.each([
    { name: 'in step', state: inStep, nowMs: T0, outOfStep: false, due: false, wakeAt: T0 + 600 * S },
    { name: 'profile not written', state: { ...inStep, profileWritten: false }, nowMs: T0, outOfStep: true, due: true, wakeAt: 0 },
    { name: 'a newer token, no failure', state: { ...inStep, wanted: B }, nowMs: T0, outOfStep: true, due: true, wakeAt: 0 },
    { name: 'a newer token, backing off', state: { ...inStep, wanted: B, retryAtMs: T0 + 5 * S }, nowMs: T0, outOfStep: true, due: false, wakeAt: T0 + 5 * S },
    { name: 'backoff over (1 ms before and at the retry time)', state: { ...inStep, wanted: B, retryAtMs: T0 + 5 * S }, nowMs: T0 + 5 * S, outOfStep: true, due: true, wakeAt: T0 + 5 * S },
    { name: 'nothing held or written', state: { ...INITIAL_FILE_SYNC, profileWritten: true }, nowMs: T0, outOfStep: false, due: false, wakeAt: Number.POSITIVE_INFINITY },
  ] as const)('$name', ({ state, nowMs, outOfStep, due, wakeAt }) => {
    expect(filesOutOfStep(state)).toBe(outOfStep);
    expect(filesDue(state, nowMs)).toBe(due);
    expect(filesDue(state, nowMs - 1)).toBe(due && nowMs - 1 >= state.retryAtMs);
    expect(fileSyncWakeAt(state)).toBe(wakeAt);
  });

  it('compares tokens by identity: an equal copy is not the token the files hold', () => {
    expect(filesOutOfStep({ ...inStep, wanted: { ...A } })).toBe(true);
  });
});
