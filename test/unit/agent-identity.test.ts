import { beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { systemClock, type Clock } from '../../runtime/clock.ts';
import { describeError } from '../../runtime/errors.ts';
import { IdentityTokenError, checkIdentityToken, parseIdentityToken, type IdentityToken } from '../../agent/refresh/identity-token.ts';
import { formatDuration } from '../../runtime/time-format.ts';
import { createOidcIssuer, type OidcIssuer } from '../support/oidc-issuer.ts';

const NOW_MS = 1_750_000_000_000;
const NOW_S = NOW_MS / 1000;
const clock: Clock = { now: () => NOW_MS, sleep: (ms, signal) => systemClock.sleep(ms, signal) };
const ORIGIN = 'file /var/run/secrets/anthropic.com/token';

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function b64(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

let issuer: OidcIssuer;
beforeAll(async () => {
  issuer = await createOidcIssuer({ clock });
});

function parseError(raw: string): IdentityTokenError {
  try {
    parseIdentityToken(raw, ORIGIN);
  } catch (error) {
    expect(error).toBeInstanceOf(IdentityTokenError);
    const e = error as IdentityTokenError;
    if (raw.trim() !== '') expect(describeError(e)).not.toContain(raw.trim());
    return e;
  }
  throw new Error('expected parseIdentityToken to throw');
}

describe('parseIdentityToken', () => {
  const notJwt = `identity token ${ORIGIN} is not a JWT (expected three base64url parts separated by dots)`;
  const notJson = `identity token ${ORIGIN} is not a JWT (its header or claims are not base64url-encoded JSON)`;
  it.each([
    { name: 'empty', raw: '', code: 'identity-token-empty', message: `identity token ${ORIGIN} is empty` },
    { name: 'whitespace only', raw: ' \n\t\n', code: 'identity-token-empty', message: `identity token ${ORIGIN} is empty` },
    { name: 'one part', raw: 'hello-world-token', code: 'identity-token-not-jwt', message: notJwt },
    { name: 'two parts', raw: `${b64({ alg: 'RS256' })}.${b64({ sub: 'x' })}`, code: 'identity-token-not-jwt', message: notJwt },
    { name: 'four parts', raw: `${b64({ alg: 'RS256' })}.${b64({ sub: 'x' })}.c2ln.c2ln`, code: 'identity-token-not-jwt', message: notJwt },
    { name: 'a space inside', raw: `${b64({ alg: 'RS256' })}.${b64({ sub: 'x' })} .c2ln`, code: 'identity-token-not-jwt', message: notJwt },
    { name: 'claims not JSON', raw: `${b64({ alg: 'RS256' })}.${b64('not json at all')}.c2lnbmF0dXJl`, code: 'identity-token-not-jwt', message: notJson },
    { name: 'claims an array', raw: `${b64({ alg: 'RS256' })}.${b64([1, 2])}.c2lnbmF0dXJl`, code: 'identity-token-not-jwt', message: notJson },
    { name: 'header not JSON', raw: `${b64('nope')}.${b64({ sub: 'x' })}.c2lnbmF0dXJl`, code: 'identity-token-not-jwt', message: notJson },
    {
      name: 'over 16 KiB',
      raw: `${b64({ alg: 'RS256' })}.${b64({ sub: 'x' })}.`.padEnd(16 * 1024 + 1, 'A'),
      code: 'identity-token-too-large',
      message: `identity token ${ORIGIN} is 16385 bytes, over the 16 KiB assertion limit`,
    },
  ])('$name', ({ raw, code, message }) => {
    const error = parseError(raw);
    expect(error.code).toBe(code);
    expect(error.message).toBe(message);
  });

  it('trims a trailing newline and normalizes the claims', async () => {
    const jwt = await issuer.mintProjectedToken({ jti: 'jti-1', aud: 'https://api.anthropic.com', lifetimeSeconds: 600 });
    const token = parseIdentityToken(`${jwt}\n`, ORIGIN);
    expect(token).toEqual({
      jwt,
      origin: ORIGIN,
      hasJti: true,
      assertionKey: sha256('jti-1'),
      claims: {
        iss: issuer.issuer,
        sub: 'system:serviceaccount:default:app',
        aud: ['https://api.anthropic.com'],
        exp: NOW_S + 600,
        iat: NOW_S,
        nbf: NOW_S,
        jti: 'jti-1',
      },
    });
  });

  it('accepts exactly 16 KiB', () => {
    const raw = `${b64({ alg: 'RS256' })}.${b64({ sub: 'x' })}.`.padEnd(16 * 1024, 'A');
    expect(parseIdentityToken(raw, ORIGIN).jwt).toHaveLength(16 * 1024);
  });

  it('keys a token without jti by the hash of the whole JWT', async () => {
    const jwt = await issuer.mintProjectedToken({ jti: null });
    const token = parseIdentityToken(jwt, ORIGIN);
    expect(token.hasJti).toBe(false);
    expect(token.claims.jti).toBeUndefined();
    expect(token.assertionKey).toBe(sha256(jwt));
  });

  it('accepts a single string audience and ignores non-string claim types', () => {
    const jwt = `${b64({ alg: 'RS256' })}.${b64({ aud: 'a', exp: 'soon', sub: 5, jti: '' })}.c2ln`;
    const token = parseIdentityToken(jwt, ORIGIN);
    expect(token.claims).toEqual({ iss: undefined, sub: undefined, aud: ['a'], exp: undefined, iat: undefined, nbf: undefined, jti: undefined });
    expect(token.hasJti).toBe(false);
  });
});

describe('checkIdentityToken', () => {
  function token(claims: Partial<IdentityToken['claims']>): IdentityToken {
    return { jwt: 'h.p.s', origin: ORIGIN, hasJti: false, assertionKey: 'k', claims: { aud: ['https://api.anthropic.com'], ...claims } };
  }

  it.each([
    { name: 'valid', claims: { exp: NOW_S + 1 }, audience: 'https://api.anthropic.com', message: undefined },
    { name: 'no audience expected', claims: { aud: ['other'] }, audience: undefined, message: undefined },
    { name: 'nbf 60 s ahead (skew allowed)', claims: { nbf: NOW_S + 60 }, audience: undefined, message: undefined },
    {
      name: 'expired',
      claims: { exp: NOW_S - 303 },
      audience: undefined,
      code: 'identity-token-expired',
      message: `identity token ${ORIGIN} expired 5m 3s ago (exp 2025-06-15T15:01:37Z)`,
    },
    {
      name: 'expiring this very second',
      claims: { exp: NOW_S },
      audience: undefined,
      code: 'identity-token-expired',
      message: `identity token ${ORIGIN} expired 0s ago (exp 2025-06-15T15:06:40Z)`,
    },
    {
      name: 'not yet valid',
      claims: { nbf: NOW_S + 3700 },
      audience: undefined,
      code: 'identity-token-not-yet-valid',
      message: `identity token ${ORIGIN} is not valid yet: nbf 2025-06-15T16:08:20Z is 1h 1m 40s in the future (check the clocks)`,
    },
    {
      name: 'wrong audience',
      claims: { aud: ['https://kubernetes.default.svc'] },
      audience: 'https://api.anthropic.com',
      code: 'identity-token-wrong-audience',
      message: `identity token ${ORIGIN} has audience ["https://kubernetes.default.svc"], not the expected "https://api.anthropic.com"`,
    },
  ])('$name', ({ claims, audience, message, ...rest }) => {
    const check = (): void => {
      checkIdentityToken(token(claims), { expectedAudience: audience, nowSeconds: NOW_S });
    };
    if (message === undefined) {
      expect(check).not.toThrow();
      return;
    }
    expect(check).toThrow(IdentityTokenError);
    expect(check).toThrow(message);
    try {
      check();
    } catch (error) {
      expect((error as IdentityTokenError).code).toBe('code' in rest ? rest.code : '');
    }
  });

  it('names the fix for a wrong audience', () => {
    try {
      checkIdentityToken(token({ aud: ['sts.amazonaws.com'] }), { expectedAudience: 'https://api.anthropic.com', nowSeconds: NOW_S });
      throw new Error('expected a throw');
    } catch (error) {
      expect((error as IdentityTokenError).hint).toBe(
        'make the projected token\'s audience, the federation rule\'s audience and ANTHROPIC_WIF_AUDIENCE (--audience) agree: ' +
          'either issue the token for "https://api.anthropic.com" or set ANTHROPIC_WIF_AUDIENCE / --audience to the audience the rule matches',
      );
    }
  });

  it.each([
    { seconds: 0, want: '0s' },
    { seconds: 59, want: '59s' },
    { seconds: 60, want: '1m 0s' },
    { seconds: 3599, want: '59m 59s' },
    { seconds: 90061, want: '25h 1m 1s' },
  ])('formatDuration($seconds) = $want', ({ seconds, want }) => {
    expect(formatDuration(seconds)).toBe(want);
  });
});
