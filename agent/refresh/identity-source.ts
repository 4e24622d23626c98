/**
 * What every identity token source is: its configuration, the interface the refresher
 * reads through, and what a source may use.
 */
import type { Clock } from '../../runtime/clock.ts';
import type { EgressSettings } from '../egress.ts';
import { IdentityTokenError, IdentityTokenErrorCode, type IdentityToken } from './identity-token.ts';

export type IdentitySourceConfig =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'literal'; readonly token: string }
  | { readonly kind: 'command'; readonly command: string; readonly timeoutMs: number }
  | {
      readonly kind: 'url';
      readonly url: string;
      /** `Name: value` pairs; `${VAR}` is expanded from the environment. Values are secret. */
      readonly headers: readonly string[];
      /** JSON field of the answer that holds the JWT; the whole body when undefined. */
      readonly field: string | undefined;
      readonly timeoutMs: number;
    };

export interface IdentityTokenSource {
  readonly kind: IdentitySourceConfig['kind'];
  /** Safe to log: never contains a secret or an expanded variable. */
  readonly description: string;
  /**
   * True when a new token only appears on the source's own schedule (a kubelet-rotated
   * file, a literal); false when each read may fetch a fresh token (command, URL).
   */
  readonly rotatesOnItsOwn: boolean;
  /** Reads and shape-checks the current token (see parseIdentityToken). */
  read(signal?: AbortSignal): Promise<IdentityToken>;
  /** Calls `onChange` when the token may have changed (file sources); returns a stop function. */
  watch?(onChange: () => void): () => void;
}

export interface IdentitySourceDeps {
  readonly clock: Clock;
  /** For `${VAR}` expansion in URL headers; passed in, never read from process.env here. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** File sources: how often `watch` also polls, in case fs.watch misses a swap. Default 10 s. */
  readonly watchPollIntervalMs?: number | undefined;
  /** URL sources: extra trust (and proxy); direct with the system roots when omitted. */
  readonly egress?: EgressSettings | undefined;
}

/** Bytes read from any source at most; a JWT over 16 KiB is refused by parseIdentityToken anyway. */
export const SOURCE_MAX_BYTES = 64 * 1024;

/** An error of the source itself (not of the token's shape). */
export function sourceError(message: string, options: { retryable?: boolean; cause?: unknown; hint?: string } = {}): IdentityTokenError {
  return new IdentityTokenError(IdentityTokenErrorCode.source, message, options);
}
