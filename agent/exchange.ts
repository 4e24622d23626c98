/**
 * The RFC 7523 jwt-bearer exchange at POST {base}/v1/oauth/token, exactly as the SDKs do it.
 * OWNER: agent-io. Signatures here are what the refresher codes against.
 */
import type { Clock } from '../runtime/clock.ts';
import { WifError } from '../runtime/errors.ts';

export interface ExchangeParameters {
  readonly baseUrl: string;
  readonly federationRuleId: string;
  readonly organizationId: string;
  readonly serviceAccountId?: string | undefined;
  readonly workspaceId?: string | undefined;
}

/** A minted access token. `accessToken` is a secret: never log or echo it. */
export interface MintedToken {
  readonly accessToken: string;
  /** Unix milliseconds (obtainedAtMs + expires_in). */
  readonly expiresAtMs: number;
  readonly obtainedAtMs: number;
  readonly scope?: string | undefined;
  readonly requestId?: string | undefined;
}

export type ExchangeFailureKind =
  /** Connection refused/reset, DNS: transient. */
  | 'network'
  /** Connect, headers or body timeout: transient. */
  | 'timeout'
  /** 429: transient, honours Retry-After. */
  | 'rate-limited'
  /** 5xx: transient. */
  | 'server'
  /** 401: never resend this assertion. */
  | 'rejected'
  /** 400 and other 4xx: not transient. */
  | 'invalid-request'
  /** 2xx with a body that is not a valid token answer, a redirect, or an oversized body. */
  | 'malformed';

export class ExchangeError extends WifError {
  readonly kind: ExchangeFailureKind;
  constructor(kind: ExchangeFailureKind, message: string, context: ConstructorParameters<typeof WifError>[2] = {}) {
    super(`exchange-${kind}`, message, context);
    this.kind = kind;
  }
}

export interface TokenExchanger {
  /** One attempt, bounded by the exchange timeout (≤ 30 s). Throws ExchangeError. */
  exchange(assertion: string, signal?: AbortSignal): Promise<MintedToken>;
}

export interface ExchangeDeps {
  readonly clock: Clock;
  /** Overall attempt timeout; defaults to the contract's 30 s. */
  readonly timeoutMs?: number | undefined;
}

export function createTokenExchanger(_params: ExchangeParameters, _deps: ExchangeDeps): TokenExchanger {
  throw new Error('not implemented');
}
