/**
 * Parsing and checking identity tokens (the JWT assertion) before they are sent.
 * OWNER: agent-io. Signatures here are what the refresher codes against.
 *
 * Every message names where the token came from and what is wrong with it, never the JWT:
 * a claim value (audience, times) is safe to print, the compact serialization is not.
 */
import { createHash } from 'node:crypto';
import type { JWTPayload } from 'jose';
// jose's own entry points for these two functions: its main entry loads all of JWS/JWE/JWK
// and WebCrypto, about 10 MB of RSS the sidecar never uses.
import { decodeJwt } from 'jose/jwt/decode';
import { decodeProtectedHeader } from 'jose/decode/protected_header';
import { AgentEnv, Limit } from '../../contract/index.ts';
import { WifError } from '../../runtime/errors.ts';
import { formatDuration, isoSeconds } from '../../runtime/time-format.ts';

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
  /** Where it came from, e.g. `file /var/run/secrets/anthropic.com/token` (safe to log). */
  readonly origin?: string | undefined;
}

/** Machine-readable reasons carried in `IdentityTokenError.code`. */
export const IdentityTokenErrorCode = {
  empty: 'identity-token-empty',
  tooLarge: 'identity-token-too-large',
  notJwt: 'identity-token-not-jwt',
  expired: 'identity-token-expired',
  notYetValid: 'identity-token-not-yet-valid',
  wrongAudience: 'identity-token-wrong-audience',
  /** The source itself failed: unreadable file, failed command, URL error. */
  source: 'identity-token-source',
} as const;
export type IdentityTokenErrorCode = (typeof IdentityTokenErrorCode)[keyof typeof IdentityTokenErrorCode];

/** A classic mistake with the identity token: empty, not a JWT, too big, expired, wrong audience. */
export class IdentityTokenError extends WifError {}

/** A token whose `nbf` is at most this far in the future is accepted (clock skew between issuer and us). */
export const NOT_BEFORE_LEEWAY_SECONDS = 60;

const BASE64URL_PART = /^[A-Za-z0-9_-]+$/;

/** Shape checks only (empty, not a JWT, over 16 KiB, unreadable claims). `origin` names the source. */
export function parseIdentityToken(raw: string, origin: string): IdentityToken {
  const jwt = raw.trim();
  if (jwt === '') {
    throw new IdentityTokenError(IdentityTokenErrorCode.empty, `identity token ${origin} is empty`);
  }
  const bytes = Buffer.byteLength(jwt, 'utf8');
  if (bytes > Limit.assertionMaxBytes) {
    throw new IdentityTokenError(
      IdentityTokenErrorCode.tooLarge,
      `identity token ${origin} is ${bytes} bytes, over the ${Limit.assertionMaxBytes / 1024} KiB assertion limit`,
    );
  }
  const claims = decodeClaims(jwt, origin);
  const jti = claims.jti;
  return {
    jwt,
    claims,
    assertionKey: sha256Hex(jti ?? jwt),
    hasJti: jti !== undefined,
    origin,
  };
}

function decodeClaims(jwt: string, origin: string): IdentityClaims {
  const parts = jwt.split('.');
  const [header, payload, signature] = parts;
  const shaped =
    parts.length === 3 && header !== undefined && payload !== undefined && signature !== undefined &&
    BASE64URL_PART.test(header) && BASE64URL_PART.test(payload) && (signature === '' || BASE64URL_PART.test(signature));
  if (!shaped) {
    throw new IdentityTokenError(
      IdentityTokenErrorCode.notJwt,
      `identity token ${origin} is not a JWT (expected three base64url parts separated by dots)`,
    );
  }
  let decoded: JWTPayload;
  try {
    decodeProtectedHeader(jwt);
    decoded = decodeJwt(jwt);
  } catch {
    throw new IdentityTokenError(
      IdentityTokenErrorCode.notJwt,
      `identity token ${origin} is not a JWT (its header or claims are not base64url-encoded JSON)`,
    );
  }
  return normalizeClaims(decoded);
}

function normalizeClaims(payload: JWTPayload): IdentityClaims {
  const aud = payload.aud;
  return {
    iss: stringOrUndefined(payload.iss),
    sub: stringOrUndefined(payload.sub),
    aud: typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a) => typeof a === 'string') : [],
    exp: numberOrUndefined(payload.exp),
    iat: numberOrUndefined(payload.iat),
    nbf: numberOrUndefined(payload.nbf),
    jti: stringOrUndefined(payload.jti),
  };
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function numberOrUndefined(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Expiry and audience checks, done right before an exchange. */
export function checkIdentityToken(token: IdentityToken, options: { readonly expectedAudience: string | undefined; readonly nowSeconds: number }): void {
  const origin = token.origin ?? 'in use';
  const { exp, nbf, aud } = token.claims;
  const now = options.nowSeconds;
  if (exp !== undefined && exp <= now) {
    throw new IdentityTokenError(
      IdentityTokenErrorCode.expired,
      `identity token ${origin} expired ${formatDuration(now - exp)} ago (exp ${isoSeconds(exp)})`,
      { hint: 'the issuer should have rotated it: check that the projected token is still mounted and refreshed' },
    );
  }
  if (nbf !== undefined && nbf > now + NOT_BEFORE_LEEWAY_SECONDS) {
    throw new IdentityTokenError(
      IdentityTokenErrorCode.notYetValid,
      `identity token ${origin} is not valid yet: nbf ${isoSeconds(nbf)} is ${formatDuration(nbf - now)} in the future (check the clocks)`,
    );
  }
  const expected = options.expectedAudience;
  if (expected !== undefined && !aud.includes(expected)) {
    throw new IdentityTokenError(
      IdentityTokenErrorCode.wrongAudience,
      `identity token ${origin} has audience ${JSON.stringify(aud)}, not the expected "${expected}"`,
      {
        hint:
          `make the projected token's audience, the federation rule's audience and ${AgentEnv.audience} (--audience) agree: ` +
          `either issue the token for "${expected}" or set ${AgentEnv.audience} / --audience to the audience the rule matches`,
      },
    );
  }
}
