/**
 * Section `access-token`: the credentials file an SDK or the agent holds, whether the SDKs
 * accept it (mode, owner), and how long its access token has left.
 */
import { Limit } from '../../contract/index.ts';
import { formatRelative, isoTime } from '../../runtime/time-format.ts';
import type { FileSnapshot } from '../credential-resolution.ts';
import type { AccessTokenFacts } from '../types.ts';
import { checkReadable, noteRole, octal, report, snapshot, type Context } from './context.ts';

interface CredentialsDocument {
  readonly access_token?: unknown;
  readonly expires_at?: unknown;
}

function parseCredentials(text: string): { readonly accessToken: string; readonly expiresAt: number | undefined } | undefined {
  try {
    const parsed = JSON.parse(text) as CredentialsDocument | null;
    if (typeof parsed?.access_token !== 'string' || parsed.access_token === '') return undefined;
    return { accessToken: parsed.access_token, expiresAt: typeof parsed.expires_at === 'number' ? parsed.expires_at : undefined };
  } catch {
    return undefined;
  }
}

/** The SDK refuses credentials that others can read or write, and warns about a foreign owner. */
function checkSdkFileSafety(context: Context, file: FileSnapshot): void {
  const mode = file.mode ?? 0;
  if ((mode & 0o077) !== 0) {
    const what = (mode & 0o022) !== 0 ? 'group/world-writable' : 'group/world-readable';
    report(context, 'credentials-mode', { path: file.path, what, mode: octal(mode) ?? '?' });
  }
  const uid = context.observation.identity.uid;
  if (file.uid !== undefined && file.uid !== uid) {
    report(context, 'credentials-owner', { path: file.path, owner: file.uid, uid });
  }
}

function accessTokenExpiry(context: Context, path: string, expiresAt: number): AccessTokenFacts {
  const secondsLeft = Math.floor(expiresAt - context.observation.nowMs / 1000);
  const facts = { path, expiresAt: isoTime(expiresAt * 1000), secondsLeft };
  const when = `${facts.expiresAt} (${formatRelative(secondsLeft)})`;
  if (secondsLeft <= Limit.sdkForegroundRefreshSeconds) {
    report(context, 'access-token-expired', { path, when, expired: secondsLeft <= 0 });
  } else if (secondsLeft < Limit.sdkBlockingWindowSeconds) {
    report(context, 'access-token-expiring', { path, when });
  } else {
    report(context, 'access-token-valid', { path, when });
  }
  return facts;
}

/** A credentials file: present, readable, safe for the SDK when it reads it, and its token's expiry. */
export function checkCredentialsFile(context: Context, path: string, options: { readonly sdkReads: boolean }): AccessTokenFacts | undefined {
  noteRole(context, path, 'credentials');
  const file = snapshot(context, path);
  if (file.kind === 'missing') {
    report(context, 'access-token-missing', { path });
    return undefined;
  }
  if (!checkReadable(context, file, { code: 'file-unreadable', fix: 'same-uid' })) return undefined;
  if (options.sdkReads) checkSdkFileSafety(context, file);
  const parsed = parseCredentials(file.content ?? '');
  if (parsed === undefined) {
    report(context, 'credentials-invalid', { path });
    return undefined;
  }
  if (parsed.expiresAt === undefined) return undefined;
  return accessTokenExpiry(context, path, parsed.expiresAt);
}
