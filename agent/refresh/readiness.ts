/**
 * What `/readyz` and `/healthz` judge from the refresher's status: a token on disk that is
 * still valid for a while, and a loop that woke recently. Pure.
 */
import { Limit } from '../../contract/index.ts';

export interface RefresherStatus {
  /** When the loop last woke up (Unix ms). */
  readonly lastTickMs: number;
  /** Expiry of the token in the files, or undefined when there is none. */
  readonly tokenOnDiskExpiresAtMs: number | undefined;
}

/** `/healthz` fails when the loop has not woken for this long: longer than the slowest step (`Limit.identityTokenCommandMaxTimeoutSeconds` + `Limit.exchangeTimeoutMs`). */
export const LIVENESS_STALE_MS = 180_000;
/** `/readyz`: a token valid for at least another 30 s is on disk. */
export function isTokenReady(status: RefresherStatus, nowMs: number): boolean {
  const expiresAt = status.tokenOnDiskExpiresAtMs;
  return expiresAt !== undefined && expiresAt - nowMs >= Limit.readyMinValiditySeconds * 1000;
}

/** `/healthz`: the refresh loop woke recently. */
export function isLoopAlive(status: RefresherStatus, nowMs: number): boolean {
  return nowMs - status.lastTickMs <= LIVENESS_STALE_MS;
}
