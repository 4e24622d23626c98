/**
 * Section `identity-token`: the JWT the exchange sends (a projected token file, or the
 * literal variable): readable, a JWT, unexpired, for the right audience, and rotated by the
 * kubelet on time. Shown as claims, never as the token.
 */
import { decodeJwt } from 'jose';
import { Limit, SdkEnv } from '../../contract/index.ts';
import { formatRelative, formatRoughDuration, isoTime } from '../../runtime/time-format.ts';
import { readSdkEnv, type CredentialResolution } from '../credential-resolution.ts';
import type { IdentityTokenFacts } from '../types.ts';
import { checkReadable, noteRole, report, snapshot, type Context } from './context.ts';

interface IdentitySource {
  readonly label: string;
  readonly path?: string | undefined;
  readonly literal?: string | undefined;
}

/** The kubelet rewrites projected tokens on its periodic volume sync (about a minute), not the instant they reach 80 %. */
const KUBELET_SYNC_GRACE_SECONDS = 180;

function identitySource(context: Context, resolution: CredentialResolution): IdentitySource | undefined {
  const env = context.observation.env;
  const choice = resolution.choice;
  const fromChoice = choice.kind === 'profile' || choice.kind === 'federation-env' ? choice.identityTokenFile : undefined;
  const path = context.settings.identityTokenFile ?? fromChoice;
  if (path !== undefined) return { label: path, path };
  const literal = readSdkEnv(env, SdkEnv.identityToken);
  return literal === undefined ? undefined : { label: SdkEnv.identityToken, literal };
}

function readIdentityToken(context: Context, source: IdentitySource): string | undefined {
  if (source.literal !== undefined) return source.literal;
  const path = source.path ?? '';
  noteRole(context, path, 'identity token');
  const file = snapshot(context, path);
  if (file.kind === 'missing') {
    report(context, 'identity-token-missing', { path });
    return undefined;
  }
  return checkReadable(context, file, { code: 'identity-token-unreadable' }) ? file.content : undefined;
}

function decodeClaims(jwt: string): Record<string, unknown> | undefined {
  try {
    return decodeJwt(jwt);
  } catch {
    return undefined;
  }
}

function audiences(claims: Record<string, unknown>): readonly string[] {
  const aud = claims.aud;
  if (typeof aud === 'string') return [aud];
  return Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
}

function stringClaim(claims: Record<string, unknown>, name: string): string | undefined {
  const value = claims[name];
  return typeof value === 'string' ? value : undefined;
}

/** When the kubelet should have replaced this projected token: at 80 % of its lifetime, or after 24 h. */
function kubeletRotationDue(iat: number | undefined, exp: number | undefined): number | undefined {
  if (iat === undefined || exp === undefined || exp <= iat) return undefined;
  return iat + Math.min(Limit.kubeletRotationFraction * (exp - iat), Limit.kubeletMaxRotationSeconds);
}

function identityFacts(context: Context, source: IdentitySource, claims: Record<string, unknown>): IdentityTokenFacts {
  const aud = audiences(claims);
  const exp = typeof claims.exp === 'number' ? claims.exp : undefined;
  const due = source.path === undefined ? undefined : kubeletRotationDue(typeof claims.iat === 'number' ? claims.iat : undefined, exp);
  const secondsLeft = exp === undefined ? undefined : Math.floor(exp - context.observation.nowMs / 1000);
  return {
    source: source.label,
    iss: stringClaim(claims, 'iss'),
    sub: stringClaim(claims, 'sub'),
    aud,
    expiresAt: exp === undefined ? undefined : isoTime(exp * 1000),
    secondsLeft,
    hasJti: typeof claims.jti === 'string',
    audienceMatches: aud.includes(context.settings.expectedAudience),
    expired: secondsLeft !== undefined && secondsLeft <= 0,
    rotationDueAt: due === undefined ? undefined : isoTime(due * 1000),
    rotationOverdueSeconds: due === undefined ? undefined : Math.floor(context.observation.nowMs / 1000 - due),
  };
}

function checkKubeletRotation(context: Context, facts: IdentityTokenFacts): void {
  const overdue = facts.rotationOverdueSeconds;
  if (facts.expired || overdue === undefined || overdue <= KUBELET_SYNC_GRACE_SECONDS) return;
  report(context, 'identity-token-stale', { source: facts.source, dueAt: facts.rotationDueAt ?? '?', overdue: formatRoughDuration(overdue), expiresAt: facts.expiresAt ?? '?' });
}

function judgeIdentityToken(context: Context, facts: IdentityTokenFacts): void {
  const expected = context.settings.expectedAudience;
  if (facts.expired) {
    report(context, 'identity-token-expired', { source: facts.source, expiresAt: facts.expiresAt ?? '?', ago: formatRelative(facts.secondsLeft ?? 0) });
  }
  if (!facts.audienceMatches) {
    report(context, 'identity-token-audience', { audiences: facts.aud.length === 0 ? 'empty' : facts.aud.join(', '), expected });
  }
  checkKubeletRotation(context, facts);
  if (!facts.expired && facts.audienceMatches) {
    const left = facts.secondsLeft === undefined ? '' : ` (${formatRelative(facts.secondsLeft)})`;
    report(context, 'identity-token-valid', { iss: facts.iss ?? '?', sub: facts.sub ?? '?', expiresAt: facts.expiresAt ?? '?', left, expected });
  }
}

/** The identity token's facts, when there is one to read; findings for what is wrong with it. */
export function checkIdentityToken(context: Context, resolution: CredentialResolution): IdentityTokenFacts | undefined {
  const source = identitySource(context, resolution);
  if (source === undefined) return undefined;
  const jwt = readIdentityToken(context, source)?.trim();
  if (jwt === undefined) return undefined;
  const claims = jwt === '' ? undefined : decodeClaims(jwt);
  if (claims === undefined) {
    report(context, jwt === '' ? 'identity-token-empty' : 'identity-token-malformed', { source: source.label });
    return undefined;
  }
  const facts = identityFacts(context, source, claims);
  judgeIdentityToken(context, facts);
  return facts;
}

