/**
 * An in-memory world for driving the refresher on a FakeClock: a kubelet that rotates a
 * projected token at 80 % of its life, a token endpoint that applies the lifetime rule and
 * refuses a reused jti, and a token file store that records what a reader would have seen.
 * No sockets, no files: 48 simulated hours run in well under a second.
 */
import type { Clock } from '../../runtime/clock.ts';
import { silentLogger, type Logger } from '../../runtime/logger.ts';
import { ExchangeError, type MintedToken, type TokenExchanger } from '../../agent/refresh/exchange.ts';
import type { AgentState, ProfileSettings, StoredToken, TokenFileStore } from '../../agent/refresh/files.ts';
import type { IdentityTokenSource } from '../../agent/refresh/identity-sources.ts';
import type { IdentityClaims, IdentityToken } from '../../agent/refresh/identity-token.ts';
import { Refresher, type RefreshEvents, type RefresherOptions } from '../../agent/refresh/refresher.ts';
import type { FakeClock } from './fake-clock.ts';
import { mintedLifetimeSeconds } from './lifetime-rule.ts';
import { constantRandom } from './fake-clock.ts';

export const WORLD_AUDIENCE = 'https://api.anthropic.com';

/** Every identity token the world issued, by its compact form. */
export class IdentityTokenRegistry {
  readonly #claims = new Map<string, IdentityClaims>();
  #serial = 0;

  issue(nowMs: number, lifetimeSeconds: number, options: { readonly jti?: boolean; readonly audience?: string } = {}): IdentityToken {
    this.#serial += 1;
    const iat = Math.floor(nowMs / 1000);
    const jti = options.jti === false ? undefined : `jti-${this.#serial}`;
    const claims: IdentityClaims = { iss: 'https://issuer.test', sub: 'system:serviceaccount:ns:app', aud: [options.audience ?? WORLD_AUDIENCE], iat, exp: iat + lifetimeSeconds, jti };
    const jwt = `eyJfake.${this.#serial}.sig`;
    this.#claims.set(jwt, claims);
    return { jwt, claims, assertionKey: `key-${jti ?? jwt}`, hasJti: jti !== undefined, origin: 'fake' };
  }

  claimsOf(jwt: string): IdentityClaims | undefined {
    return this.#claims.get(jwt);
  }
}

/** When the kubelet replaces a projected token issued at `issuedAtMs`. */
export interface RotationSchedule {
  nextRotationAt(issuedAtMs: number): number;
}

/** The facts document's kubelet: at iat + min(0.8 × E, 24 h), to the millisecond. */
export function exactRotation(expirationSeconds: number): RotationSchedule {
  return { nextRotationAt: (issuedAtMs) => issuedAtMs + Math.min(expirationSeconds * 800, 86_400_000) };
}

/** A projected token file: replaced on `schedule` (exact by default), watchers told at once. */
export class FakeKubelet {
  readonly #clock: Clock;
  readonly #registry: IdentityTokenRegistry;
  readonly #expirationSeconds: number;
  readonly #schedule: RotationSchedule;
  readonly #watchers = new Set<() => void>();
  readonly #stop = new AbortController();
  current: IdentityToken;
  rotations = 0;

  constructor(clock: Clock, registry: IdentityTokenRegistry, expirationSeconds: number, schedule: RotationSchedule = exactRotation(expirationSeconds)) {
    this.#clock = clock;
    this.#registry = registry;
    this.#expirationSeconds = expirationSeconds;
    this.#schedule = schedule;
    this.current = registry.issue(clock.now(), expirationSeconds);
    void this.#rotateForever();
  }

  /** Replaces the token now (as the kubelet does), and tells the watchers. */
  rotate(): void {
    this.current = this.#registry.issue(this.#clock.now(), this.#expirationSeconds);
    this.rotations += 1;
    for (const watcher of this.#watchers) watcher();
  }

  stop(): void {
    this.#stop.abort();
  }

  source(): IdentityTokenSource {
    return {
      kind: 'file',
      description: 'file /fake/token',
      rotatesOnItsOwn: true,
      read: () => Promise.resolve(this.current),
      watch: (onChange) => {
        this.#watchers.add(onChange);
        return () => this.#watchers.delete(onChange);
      },
    };
  }

  async #rotateForever(): Promise<void> {
    for (;;) {
      const rotateAt = this.#schedule.nextRotationAt((this.current.claims.iat ?? 0) * 1000);
      try {
        await this.#clock.sleep(rotateAt - this.#clock.now(), this.#stop.signal);
      } catch {
        return;
      }
      this.rotate();
    }
  }
}

/** Each read mints a fresh identity token (a command or URL source). */
export function freshTokenSource(clock: Clock, registry: IdentityTokenRegistry, lifetimeSeconds: number): IdentityTokenSource & { reads: number } {
  const source = {
    kind: 'command' as const,
    description: 'command fake',
    rotatesOnItsOwn: false,
    reads: 0,
    read: () => {
      source.reads += 1;
      return Promise.resolve(registry.issue(clock.now(), lifetimeSeconds));
    },
  };
  return source;
}

export interface ExchangeRecord {
  readonly atMs: number;
  readonly jwt: string;
  readonly jti: string | undefined;
  readonly result: 'minted' | 'failed';
  readonly lifetimeSeconds?: number;
}

/** The token endpoint's rules: single-use jti, L = max(60, min(R, 2 × JWT remaining)). */
export class FakeTokenEndpoint implements TokenExchanger {
  readonly #clock: FakeClock;
  readonly #registry: IdentityTokenRegistry;
  readonly #usedJtis = new Set<string>();
  readonly #failures: ExchangeError[] = [];
  ruleLifetimeSeconds: number;
  latencyMs = 0;
  readonly records: ExchangeRecord[] = [];
  /** A jti presented after it was accepted or rejected: must never happen. */
  readonly replays: string[] = [];
  #serial = 0;

  constructor(clock: FakeClock, registry: IdentityTokenRegistry, ruleLifetimeSeconds: number) {
    this.#clock = clock;
    this.#registry = registry;
    this.ruleLifetimeSeconds = ruleLifetimeSeconds;
  }

  /** The next exchanges fail with these errors, in order (the assertion is not consumed unless rejected). */
  failNext(...errors: ExchangeError[]): void {
    this.#failures.push(...errors);
  }

  get minted(): readonly ExchangeRecord[] {
    return this.records.filter((r) => r.result === 'minted');
  }

  async exchange(assertion: string, signal?: AbortSignal): Promise<MintedToken> {
    const obtainedAtMs = this.#clock.now();
    if (this.latencyMs > 0) await this.#clock.sleep(this.latencyMs, signal);
    const claims = this.#registry.claimsOf(assertion);
    const jti = claims?.jti;
    const injected = this.#failures.shift();
    if (injected !== undefined) {
      if (injected.kind === 'rejected' && jti !== undefined) this.#usedJtis.add(jti);
      this.records.push({ atMs: obtainedAtMs, jwt: assertion, jti, result: 'failed' });
      throw injected;
    }
    const nowSeconds = Math.floor(this.#clock.now() / 1000);
    if (claims === undefined || (claims.exp ?? 0) <= nowSeconds || (jti !== undefined && this.#usedJtis.has(jti))) {
      if (jti !== undefined && this.#usedJtis.has(jti)) this.replays.push(jti);
      if (jti !== undefined) this.#usedJtis.add(jti);
      this.records.push({ atMs: obtainedAtMs, jwt: assertion, jti, result: 'failed' });
      throw new ExchangeError('rejected', 'token exchange rejected (401 authentication_error)', { status: 401 });
    }
    if (jti !== undefined) this.#usedJtis.add(jti);
    const lifetimeSeconds = mintedLifetimeSeconds(this.ruleLifetimeSeconds, claims.exp ?? 0, this.#clock.now());
    this.#serial += 1;
    this.records.push({ atMs: obtainedAtMs, jwt: assertion, jti, result: 'minted', lifetimeSeconds });
    return { accessToken: `sk-ant-oat01-fake-${this.#serial}`, obtainedAtMs, expiresAtMs: obtainedAtMs + lifetimeSeconds * 1000 };
  }
}

export interface DiskEvent {
  readonly atMs: number;
  readonly kind: 'write' | 'remove';
  readonly expiresAtMs?: number;
  /** What the replaced token still had left (ms), when there was one. */
  readonly previousRemainingMs?: number;
}

/** The output directory as a reader sees it, with a log of every change. */
export class FakeTokenStore implements TokenFileStore {
  readonly outputDir = '/fake/output';
  readonly #clock: Clock;
  token: StoredToken | undefined;
  state: AgentState | undefined;
  profile: ProfileSettings | undefined;
  readonly events: DiskEvent[] = [];
  readonly states: AgentState[] = [];
  /** While true, every write and removal fails (a read-only or full disk). */
  failWrites = false;
  /** Writes that were asked to store an already expired token (must stay empty). */
  readonly expiredWrites: number[] = [];

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  writeProfile(settings: ProfileSettings): Promise<void> {
    if (this.failWrites) return Promise.reject(new Error('EROFS: read-only file system'));
    this.profile = settings;
    return Promise.resolve();
  }

  writeToken(token: StoredToken, nowMs: number): Promise<void> {
    if (token.expiresAtMs <= nowMs) this.expiredWrites.push(nowMs);
    if (this.failWrites) return Promise.reject(new Error('EROFS: read-only file system'));
    const previous = this.token;
    const atMs = this.#clock.now();
    this.events.push({ atMs, kind: 'write', expiresAtMs: token.expiresAtMs, ...(previous === undefined ? {} : { previousRemainingMs: previous.expiresAtMs - atMs }) });
    this.token = token;
    return Promise.resolve();
  }

  removeToken(): Promise<void> {
    if (this.failWrites) return Promise.reject(new Error('EROFS: read-only file system'));
    this.events.push({ atMs: this.#clock.now(), kind: 'remove' });
    this.token = undefined;
    return Promise.resolve();
  }

  readToken(): Promise<StoredToken | undefined> {
    return Promise.resolve(this.token);
  }

  readState(): Promise<AgentState | undefined> {
    return Promise.resolve(this.state);
  }

  writeState(state: AgentState): Promise<void> {
    if (this.failWrites) return Promise.reject(new Error('EROFS: read-only file system'));
    this.state = state;
    this.states.push(state);
    return Promise.resolve();
  }
}

/** Records the refresher's events, for assertions on metrics-facing behaviour. */
export class RecordedEvents implements RefreshEvents {
  readonly exchanges: ('success' | 'failure')[] = [];
  readonly gaps: number[] = [];
  fileWriteFailures = 0;
  onDisk: (number | undefined)[] = [];

  exchangeFinished(result: 'success' | 'failure'): void {
    this.exchanges.push(result);
  }

  accessTokenOnDisk(expiresAtMs: number | undefined): void {
    this.onDisk.push(expiresAtMs);
  }

  rotationGap(gapSeconds: number): void {
    this.gaps.push(gapSeconds);
  }

  fileWriteFailed(): void {
    this.fileWriteFailures += 1;
  }
}

/** A logger whose lines the test can read (pino JSON objects). */
export function capturingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = silentLogger();
  const capture = (level: string) => (objOrMsg: unknown, msg?: string): void => {
    const fields = typeof objOrMsg === 'object' && objOrMsg !== null ? (objOrMsg as Record<string, unknown>) : {};
    lines.push({ level, msg: typeof objOrMsg === 'string' ? objOrMsg : msg, ...fields });
  };
  const levels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
  for (const level of levels) Object.assign(logger, { [level]: capture(level) });
  return { logger, lines };
}

export function refresherFor(
  world: { clock: FakeClock; source: IdentityTokenSource; endpoint: TokenExchanger; store: TokenFileStore },
  overrides: Partial<RefresherOptions> = {},
): Refresher {
  return new Refresher({
    source: world.source,
    exchanger: world.endpoint,
    store: world.store,
    profile: { organizationId: '00000000-0000-4000-8000-000000000000' },
    expectedAudience: WORLD_AUDIENCE,
    clock: world.clock,
    random: constantRandom(0.5),
    logger: silentLogger(),
    ...overrides,
  });
}
