/**
 * Where the identity token comes from: a file (default; re-read for every exchange,
 * symlink swaps followed), a literal, a command, or a URL.
 * OWNER: agent-io. Signatures here are what the refresher codes against.
 */
import type { Clock } from '../runtime/clock.ts';
import type { IdentityToken } from './identity-token.ts';

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
}

export function createIdentityTokenSource(_config: IdentitySourceConfig, _deps: IdentitySourceDeps): IdentityTokenSource {
  throw new Error('not implemented');
}
