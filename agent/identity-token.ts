/**
 * Parsing and checking identity tokens (the JWT assertion) before they are sent.
 * OWNER: agent-io. Signatures here are what the refresher codes against.
 */
import { WifError } from '../runtime/errors.ts';

export interface IdentityClaims {
  readonly iss?: string | undefined;
  readonly sub?: string | undefined;
  /** Always an array, even when the JWT carries a single string. */
  readonly aud: readonly string[];
  /** Unix seconds. */
  readonly exp?: number | undefined;
  readonly iat?: number | undefined;
  readonly nbf?: number | undefined;
  readonly jti?: string | undefined;
}

/** An identity token as read from a source. `jwt` is a secret: never log or echo it. */
export interface IdentityToken {
  readonly jwt: string;
  readonly claims: IdentityClaims;
  /** sha256 hex of the `jti` when present, else of the whole JWT: what the state file records. */
  readonly assertionKey: string;
  readonly hasJti: boolean;
}

/** A classic mistake with the identity token: empty, not a JWT, too big, expired, wrong audience. */
export class IdentityTokenError extends WifError {}

/** Shape checks only (empty, not a JWT, over 16 KiB, unreadable claims). `origin` names the source. */
export function parseIdentityToken(_raw: string, _origin: string): IdentityToken {
  throw new Error('not implemented');
}

/** Expiry and audience checks, done right before an exchange. */
export function checkIdentityToken(_token: IdentityToken, _options: { readonly expectedAudience: string | undefined; readonly nowSeconds: number }): void {
  throw new Error('not implemented');
}
