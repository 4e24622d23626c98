/**
 * The refresher: a thin async driver around the pure planner (refresh-schedule.ts). It reads
 * the identity token source, exchanges new assertions, keeps the token files in step with the
 * newest valid token, and records each assertion in the state file before it is sent, so a
 * restart never replays one.
 *
 * Every wait goes through the injected Clock, every jitter through the injected Random.
 */
import type { Clock, Random } from '../../runtime/clock.ts';
import { WifError, describeError, errorFields } from '../../runtime/errors.ts';
import { isoTime as iso } from '../../runtime/time-format.ts';
import type { Logger } from '../../runtime/logger.ts';
import { OutputFile } from '../../contract/index.ts';
import type { MintedToken, TokenExchanger } from './exchange.ts';
import type { AgentState, ProfileSettings, StoredToken, TokenFileStore } from './files.ts';
import type { IdentityTokenSource } from './identity-sources.ts';
import { describeRotationGap, failureOutcome, savedAssertion } from './planner-facts.ts';
import { SourceReader, type SourceRead } from './source-reader.ts';
import type { RefresherStatus } from './readiness.ts';
import { INITIAL_FILE_SYNC, fileSyncWakeAt, filesDue, reduceFileSync, type FileSyncAction, type FileSyncEvent, type FileSyncState, type HeldToken } from './file-sync.ts';
import {
  DEFAULT_REFRESH_POLICY,
  decideAfterExchange,
  decideAfterRead,
  expireToken,
  initialState,
  nextWakeAt,
  onSourceChanged,
  rotationGap,
  type AssertionFacts,
  type ExchangeOutcome,
  type PlanContext,
  type ReadDecision,
  type RefreshPolicy,
  type RefreshState,
} from './refresh-schedule.ts';

/** What the refresher reports as it goes (metrics implement this; every member optional). */
export interface RefreshEvents {
  exchangeFinished?(result: 'success' | 'failure', durationMs: number): void;
  /** The token in the files changed; undefined when they were removed. */
  accessTokenOnDisk?(expiresAtMs: number | undefined): void;
  identityTokenRead?(expiresAtMs: number | undefined): void;
  /** Seconds without a valid token per rotation (0 when the lifetimes fit). */
  rotationGap?(gapSeconds: number): void;
  fileWriteFailed?(): void;
}

export interface RefresherOptions {
  readonly source: IdentityTokenSource;
  readonly exchanger: TokenExchanger;
  readonly store: TokenFileStore;
  readonly profile: ProfileSettings;
  /** The audience the identity token must carry; undefined skips the check. */
  readonly expectedAudience: string | undefined;
  readonly clock: Clock;
  readonly random: Random;
  readonly logger: Logger;
  readonly events?: RefreshEvents | undefined;
  readonly policy?: RefreshPolicy | undefined;
  /** The loop wakes at least this often, so /healthz can tell it is alive. */
  readonly heartbeatMs?: number | undefined;
}

export type OnceResult = { readonly kind: 'minted' | 'adopted'; readonly expiresAtMs: number };

/** Why `--once` / `token` could not produce a token. */
export class RefreshFailedError extends WifError {}

export const DEFAULT_HEARTBEAT_MS = 60_000;
/** `--once` gives up after this many transient failures in a row. */
export const ONCE_MAX_ATTEMPTS = 5;
const ONCE_MAX_FILE_ATTEMPTS = 3;

interface ExchangeAttempt {
  readonly outcome: ExchangeOutcome;
  readonly error: unknown;
}

export class Refresher {
  readonly #deps: RefresherOptions;
  readonly #policy: RefreshPolicy;
  readonly #events: RefreshEvents;
  #plan: RefreshState;
  /** The newest valid token and what the files hold: the pure reducer's state (file-sync.ts). */
  #files: FileSyncState = INITIAL_FILE_SYNC;
  #sourceChanged = false;
  #wake: AbortController | undefined;
  #lastTickMs: number;
  #gapReported = false;
  /** What the state file holds, as last written by this process (a retry need not write it again). */
  #recorded: { readonly key: string; readonly outcome: AgentState['outcome'] } | undefined;
  readonly #reader: SourceReader;
  #started = false;
  #stopWatching: (() => void) | undefined;

  constructor(options: RefresherOptions) {
    this.#deps = options;
    this.#policy = options.policy ?? DEFAULT_REFRESH_POLICY;
    this.#events = options.events ?? {};
    this.#reader = new SourceReader({ ...options, identityTokenRead: (expiresAtMs) => this.#events.identityTokenRead?.(expiresAtMs) });
    this.#lastTickMs = options.clock.now();
    this.#plan = { phase: 'awaiting-assertion', token: undefined, nextReadAtMs: this.#lastTickMs, spentKeys: [], failures: 0 };
  }

  /** Adopts a valid token and the state file from disk, and writes the profile. Idempotent. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const { store, clock } = this.#deps;
    const [disk, saved] = await Promise.all([this.#readOrWarn(() => store.readToken(), OutputFile.credentials), this.#readOrWarn(() => store.readState(), OutputFile.state)]);
    const nowMs = clock.now();
    this.#plan = initialState({ adopted: disk, saved: savedAssertion(saved) }, this.#context(nowMs));
    if (disk !== undefined) {
      const assertion = saved?.outcome === 'accepted' ? { key: saved.assertionKey, hasJti: saved.hasJti } : undefined;
      const held: HeldToken = { token: disk, obtainedAtMs: this.#plan.token?.obtainedAtMs ?? nowMs, assertion };
      await this.#performAll(this.#fileSync({ type: 'adopted', held, nowMs }));
      this.#deps.logger.info(
        { expiresAt: iso(disk.expiresAtMs), assertionSpent: this.#plan.spentKeys.length > 0, nextRefreshAt: iso(this.#plan.nextReadAtMs) },
        disk.expiresAtMs > nowMs ? 'adopted the access token already on disk' : 'found an expired access token on disk; removing it',
      );
    }
    await this.#syncFiles(nowMs);
  }

  /** Keeps the files fresh until `signal` aborts. Never throws for a refresh failure. */
  async run(signal: AbortSignal): Promise<void> {
    await this.start();
    try {
      while (!signal.aborted) {
        this.#watchSourceWhileWanted();
        await this.#stepSafely(signal);
      }
    } finally {
      this.#stopWatching?.();
      this.#stopWatching = undefined;
    }
  }

  /**
   * A source change matters only while a new assertion is wanted: a refresh is due or the
   * plan awaits one (onSourceChanged ignores it otherwise). So the source is watched only
   * then, from before the read that may find the assertion spent; a fresh agent, most of its
   * life, has no watch poll waking it (each wake-up costs CPU in every pod of the fleet).
   */
  #watchSourceWhileWanted(): void {
    const wanted = this.#plan.phase === 'awaiting-assertion' || this.#deps.clock.now() >= this.#plan.nextReadAtMs;
    if (wanted && this.#stopWatching === undefined) {
      this.#stopWatching = this.#deps.source.watch?.(() => {
        this.#sourceChanged = true;
        if (this.#plan.phase === 'awaiting-assertion') this.#wake?.abort();
      });
    } else if (!wanted && this.#stopWatching !== undefined) {
      this.#stopWatching();
      this.#stopWatching = undefined;
    }
  }

  /**
   * One token for `--once` and `token`: adopts a comfortably valid token on disk, else
   * exchanges the current assertion (retrying transient failures a few times) and writes
   * the files. Throws RefreshFailedError (or the exchange's own error) when it cannot.
   */
  async once(signal: AbortSignal): Promise<OnceResult> {
    await this.start();
    const adopted = this.#files.written;
    if (adopted !== undefined && adopted.token.expiresAtMs - this.#deps.clock.now() > this.#policy.sdkWindowMs) {
      this.#deps.logger.info({ expiresAt: iso(adopted.token.expiresAtMs) }, 'a valid access token is already on disk; not exchanging again');
      return { kind: 'adopted', expiresAtMs: adopted.token.expiresAtMs };
    }
    for (;;) {
      const attempt = await this.#attemptOnce(signal);
      if (attempt.outcome.kind === 'minted') return { kind: 'minted', expiresAtMs: await this.#writeOnce(signal) };
      if (attempt.outcome.kind !== 'transient' || this.#plan.failures >= ONCE_MAX_ATTEMPTS) throw onceFailure(attempt.error);
      await this.#deps.clock.sleep(Math.max(0, this.#plan.nextReadAtMs - this.#deps.clock.now()), signal);
    }
  }

  /** The newest valid token, for the proxy. Secret: never log it. */
  currentToken(): StoredToken | undefined {
    const held = this.#files.wanted;
    return held !== undefined && held.token.expiresAtMs > this.#deps.clock.now() ? held.token : undefined;
  }

  status(): RefresherStatus {
    return { lastTickMs: this.#lastTickMs, tokenOnDiskExpiresAtMs: this.#files.written?.token.expiresAtMs };
  }

  /** The planner's view, for tests and the fleet simulation. */
  plan(): RefreshState {
    return this.#plan;
  }

  // -------------------------------------------------------------------------------------
  // The loop

  async #stepSafely(signal: AbortSignal): Promise<void> {
    try {
      await this.#step(signal);
    } catch (error) {
      if (signal.aborted) return;
      // A bug, not a refresh failure (those are handled in #step): keep the loop alive.
      this.#deps.logger.error({ error: errorFields(error) }, 'refresh loop error; continuing');
      await this.#deps.clock.sleep(this.#policy.backoffMaxMs, signal).catch(() => undefined);
    }
  }

  async #step(signal: AbortSignal): Promise<void> {
    const nowMs = this.#deps.clock.now();
    this.#lastTickMs = nowMs;
    this.#dropExpired(nowMs);
    if (this.#sourceChanged) {
      this.#sourceChanged = false;
      this.#plan = onSourceChanged(this.#plan, nowMs);
    }
    if (filesDue(this.#files, nowMs)) {
      await this.#syncFiles(nowMs);
      return;
    }
    if (nowMs >= this.#plan.nextReadAtMs) {
      await this.#refresh(signal);
      return;
    }
    await this.#sleepUntil(this.#wakeAt(), signal);
  }

  #dropExpired(nowMs: number): void {
    this.#plan = expireToken(this.#plan, nowMs);
    this.#fileSync({ type: 'clock', nowMs });
  }

  #wakeAt(): number {
    return Math.min(nextWakeAt(this.#plan), fileSyncWakeAt(this.#files));
  }

  async #sleepUntil(atMs: number, signal: AbortSignal): Promise<void> {
    const { clock } = this.#deps;
    const ms = Math.min(Math.max(0, atMs - clock.now()), this.#deps.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
    const wake = new AbortController();
    this.#wake = wake;
    try {
      await clock.sleep(ms, AbortSignal.any([signal, wake.signal]));
    } catch {
      // Woken by a source change, or stopping: the loop re-plans or ends.
    } finally {
      this.#wake = undefined;
    }
  }

  async #refresh(signal: AbortSignal): Promise<void> {
    const read = await this.#reader.read(signal);
    const decision = decideAfterRead(this.#plan, read, this.#context(this.#deps.clock.now()));
    this.#plan = decision.state;
    if (decision.action === 'wait') {
      this.#logWait(decision);
      return;
    }
    if (read.kind === 'assertion') await this.#exchange(read, signal);
  }

  #logWait(decision: Extract<ReadDecision, { action: 'wait' }>): void {
    if (decision.reason === 'assertion-spent') {
      this.#deps.logger.debug({ nextReadAt: iso(decision.state.nextReadAtMs) }, 'identity token already exchanged; waiting for a new one');
    } else if (decision.reason === 'spreading-rotation') {
      this.#deps.logger.debug({ exchangeAt: iso(decision.state.nextReadAtMs) }, 'new identity token; the access token has time to spare, so it is exchanged after a random delay');
    }
  }

  // -------------------------------------------------------------------------------------
  // Reading and exchanging

  async #exchange(read: Extract<SourceRead, { kind: 'assertion' }>, signal: AbortSignal): Promise<ExchangeAttempt> {
    const { clock, exchanger, logger } = this.#deps;
    const { assertion } = read;
    await this.#recordState(assertion, 'sent', clock.now());
    const startedMs = clock.now();
    let minted: MintedToken | undefined;
    let attempt: ExchangeAttempt;
    try {
      minted = await exchanger.exchange(read.identity.jwt, signal);
      attempt = { outcome: { kind: 'minted', token: { obtainedAtMs: minted.obtainedAtMs, expiresAtMs: minted.expiresAtMs } }, error: undefined };
    } catch (error) {
      if (signal.aborted) throw error;
      attempt = { outcome: failureOutcome(error), error };
    }
    this.#events.exchangeFinished?.(minted === undefined ? 'failure' : 'success', clock.now() - startedMs);
    this.#plan = decideAfterExchange(this.#plan, assertion, attempt.outcome, this.#context(clock.now()));
    if (minted === undefined) {
      this.#logFailure(attempt);
      if (attempt.outcome.kind === 'rejected') await this.#recordState(assertion, 'rejected', clock.now());
      return attempt;
    }
    this.#fileSync({ type: 'minted', held: { token: { accessToken: minted.accessToken, expiresAtMs: minted.expiresAtMs }, obtainedAtMs: minted.obtainedAtMs, assertion } });
    logger.info(
      { expiresAt: iso(minted.expiresAtMs), lifetimeSeconds: Math.round((minted.expiresAtMs - minted.obtainedAtMs) / 1000), requestId: minted.requestId, nextRefreshAt: iso(this.#plan.nextReadAtMs) },
      'obtained a new access token',
    );
    this.#checkRotationGap(minted, assertion);
    return attempt;
  }

  #logFailure(attempt: ExchangeAttempt): void {
    const fields = { error: errorFields(attempt.error), failures: this.#plan.failures, nextAttemptAt: iso(this.#plan.nextReadAtMs) };
    const messages: Record<ExchangeOutcome['kind'], string> = {
      minted: '',
      transient: 'token exchange failed (transient); retrying',
      rejected: 'token exchange rejected (401); this identity token will not be sent again, waiting for a new one',
      invalid: 'token exchange failed and retrying will not help until the configuration changes; retrying at the capped interval',
    };
    this.#deps.logger[attempt.outcome.kind === 'transient' ? 'warn' : 'error'](fields, messages[attempt.outcome.kind]);
  }

  #checkRotationGap(token: { obtainedAtMs: number; expiresAtMs: number }, assertion: AssertionFacts): void {
    if (this.#deps.source.kind !== 'file') return;
    const gap = rotationGap(token, assertion, this.#policy);
    this.#events.rotationGap?.(gap?.gapSeconds ?? 0);
    if (gap === undefined || this.#gapReported) return;
    this.#gapReported = true;
    this.#deps.logger.error({ ...gap }, describeRotationGap(gap));
  }

  async #recordState(assertion: Pick<AssertionFacts, 'key' | 'hasJti'>, outcome: AgentState['outcome'], atMs: number): Promise<void> {
    if (this.#recorded?.key === assertion.key && this.#recorded.outcome === outcome) return;
    try {
      await this.#deps.store.writeState({ version: 1, assertionKey: assertion.key, hasJti: assertion.hasJti, outcome, atMs });
      this.#recorded = { key: assertion.key, outcome };
    } catch (error) {
      // Not fatal: the in-memory record still prevents a replay until the next restart.
      this.#events.fileWriteFailed?.();
      this.#deps.logger.warn({ error: errorFields(error), outcome }, 'could not record the assertion in the state file');
    }
  }

  // -------------------------------------------------------------------------------------
  // Files

  /** Brings the files in step with the newest valid token: write it, or remove an expired one. */
  async #syncFiles(nowMs: number): Promise<void> {
    let done: readonly FileSyncAction[] = [];
    try {
      for (const action of this.#fileSync({ type: 'sync' })) done = await this.#write(action, nowMs);
    } catch (error) {
      for (const action of this.#fileSync({ type: 'write-failed', nowMs })) this.#reportFailure(action, error);
      return;
    }
    await this.#performAll(done);
  }

  /** One write the reducer asked for; returns what to do once it is done. */
  async #write(action: FileSyncAction, nowMs: number): Promise<readonly FileSyncAction[]> {
    const { store } = this.#deps;
    if (action.type === 'write-profile') {
      await store.writeProfile(this.#deps.profile);
      return this.#fileSync({ type: 'profile-written' });
    }
    if (action.type === 'remove-token') await store.removeToken();
    else if (action.type === 'write-token') await store.writeToken(action.held.token, nowMs);
    else return [];
    return this.#fileSync({ type: 'token-synced', held: action.type === 'write-token' ? action.held : undefined });
  }

  #reportFailure(action: FileSyncAction, error: unknown): void {
    if (action.type !== 'sync-failed') return;
    this.#events.fileWriteFailed?.();
    this.#deps.logger.error(
      { error: errorFields(error), outputDir: this.#deps.store.outputDir, retryAt: iso(action.retryAtMs) },
      'could not update the token files; the previous files are left as they were',
    );
  }

  /** What follows a sync: metrics, logs, and the state file's record of the accepted assertion. */
  async #performAll(actions: readonly FileSyncAction[]): Promise<void> {
    const { logger } = this.#deps;
    for (const action of actions) {
      if (action.type === 'token-on-disk') this.#events.accessTokenOnDisk?.(action.expiresAtMs);
      else if (action.type === 'removed-expired') {
        logger.warn({ expiredAt: action.expiredAtMs === undefined ? undefined : iso(action.expiredAtMs) }, 'the access token expired and no new one could be minted yet; removed the token files');
      } else if (action.type === 'wrote-token') logger.debug({ expiresAt: iso(action.expiresAtMs) }, 'wrote the token files');
      else if (action.type === 'record-accepted') await this.#recordState(action.assertion, 'accepted', action.atMs);
    }
  }

  #fileSync(event: FileSyncEvent): readonly FileSyncAction[] {
    const step = reduceFileSync(this.#files, event, { policy: this.#policy, random: this.#deps.random });
    this.#files = step.state;
    return step.actions;
  }

  async #attemptOnce(signal: AbortSignal): Promise<ExchangeAttempt> {
    const read = await this.#reader.read(signal);
    if (read.kind === 'unusable') throw new RefreshFailedError('identity-token-unusable', read.message);
    const decision = decideAfterRead(this.#plan, read, this.#context(this.#deps.clock.now()));
    this.#plan = decision.state;
    // Never 'spreading-rotation': that needs a held token while awaiting a rotation, and a
    // one-shot run starts either with no token or in the 'fresh' phase.
    if (decision.action === 'wait') {
      throw new RefreshFailedError('assertion-spent', `the identity token from ${this.#deps.source.description} was already exchanged and no valid access token is on disk`, {
        hint: `assertions are single-use and a restart must not replay one: wait for a new identity token (the kubelet rotates it at 80 % of its lifetime), or delete ${OutputFile.state} in the output directory if it is stale`,
      });
    }
    return this.#exchange(read, signal);
  }

  /** Writes the freshly minted token, retrying a failing disk a few times. */
  async #writeOnce(signal: AbortSignal): Promise<number> {
    const { clock } = this.#deps;
    for (let attempt = 1; ; attempt++) {
      await this.#syncFiles(clock.now());
      const { written, wanted } = this.#files;
      if (written !== undefined && written === wanted) return written.token.expiresAtMs;
      if (attempt >= ONCE_MAX_FILE_ATTEMPTS) {
        throw new RefreshFailedError('files-not-written', `obtained an access token but could not write the token files in ${this.#deps.store.outputDir}`);
      }
      await clock.sleep(Math.max(0, this.#files.retryAtMs - clock.now()), signal);
    }
  }

  async #readOrWarn<T>(read: () => Promise<T | undefined>, what: string): Promise<T | undefined> {
    try {
      return await read();
    } catch (error) {
      this.#deps.logger.warn({ error: errorFields(error), file: what }, 'could not read a file left by an earlier run; ignoring it');
      return undefined;
    }
  }

  #context(nowMs: number): PlanContext {
    return { nowMs, rotatesOnItsOwn: this.#deps.source.rotatesOnItsOwn, policy: this.#policy, random: this.#deps.random };
  }
}

function onceFailure(error: unknown): Error {
  if (error instanceof WifError) return error;
  return new RefreshFailedError('exchange-failed', `token exchange failed: ${describeError(error)}`);
}
