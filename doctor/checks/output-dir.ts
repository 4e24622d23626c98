/**
 * The agent's output directory: that it is mounted and can be entered, and the token file
 * and SDK profile the agent keeps in it next to the credentials.
 */
import type { Env } from '../../runtime/config.ts';
import { FileMode, OutputFile, SdkEnv } from '../../contract/index.ts';
import { readSdkEnv, type CredentialResolution } from '../credential-resolution.ts';
import type { AccessTokenFacts, DoctorSettings } from '../types.ts';
import { checkCredentialsFile } from './access-token.ts';
import { blockingDirectory, checkReadable, describeOwner, dirname, join, noteRole, octal, report, searchableBy, snapshot, withoutTrailingSlash, type Context } from './context.ts';

/** `--output-dir` / ANTHROPIC_WIF_OUTPUT_DIR, else the directory of ANTHROPIC_ACCESS_TOKEN_FILE (file-mode apps). */
export function effectiveOutputDir(settings: DoctorSettings, env: Env): string | undefined {
  if (settings.outputDir !== undefined) return settings.outputDir;
  const tokenFile = readSdkEnv(env, SdkEnv.accessTokenFile);
  return tokenFile === undefined ? undefined : dirname(tokenFile);
}

/** True when the output directory exists and this process can enter it. */
export function checkOutputDir(context: Context, outputDir: string): boolean {
  noteRole(context, outputDir, 'output directory');
  const dir = snapshot(context, outputDir);
  if (dir.kind !== 'directory' && context.missingConfigDir === withoutTrailingSlash(outputDir)) return false;
  if (dir.kind !== 'directory') {
    report(context, 'output-dir-missing', { path: outputDir, kind: dir.kind });
    return false;
  }
  const blocked = [dir, blockingDirectory(context, outputDir)].find((d) => d !== undefined && !searchableBy(d, context.observation.identity));
  if (blocked === undefined) return true;
  report(context, 'file-unreadable', { directory: blocked.path, owner: describeOwner(blocked), uid: context.observation.identity.uid, fix: 'same-uid' });
  return false;
}

function checkTokenFile(context: Context, path: string, credentialsToken: AccessTokenFacts | undefined): void {
  noteRole(context, path, 'token');
  const file = snapshot(context, path);
  if (file.kind === 'missing') {
    if (credentialsToken !== undefined) report(context, 'token-file-missing', { path });
    return;
  }
  if (!checkReadable(context, file, { code: 'file-unreadable', fix: 'same-uid' })) return;
  if (file.mode !== undefined && (file.mode & 0o777) !== FileMode.token) {
    report(context, 'token-file-mode', { path, mode: octal(file.mode) ?? '?' });
  }
  if ((file.content ?? '').trim() === '') report(context, 'token-file-empty', { path });
}

interface ProfileDocument {
  readonly authentication?: { readonly type?: unknown; readonly credentials_path?: unknown };
}

function checkProfileFile(context: Context, outputDir: string): void {
  const path = join(outputDir, OutputFile.profile);
  noteRole(context, path, 'profile');
  const file = snapshot(context, path);
  const expected = join(outputDir, OutputFile.credentials);
  if (file.kind === 'missing') {
    report(context, 'profile-missing', { path });
    return;
  }
  if (!checkReadable(context, file, { code: 'file-unreadable', fix: 'profile' })) return;
  let pointsAt: unknown;
  try {
    pointsAt = (JSON.parse(file.content ?? '') as ProfileDocument | null)?.authentication?.credentials_path;
  } catch {
    pointsAt = undefined;
  }
  if (pointsAt !== expected) {
    report(context, 'profile-path-mismatch', { path, pointsAt: typeof pointsAt === 'string' ? pointsAt : 'no credentials_path', expected });
  }
}

function userOAuthCredentialsPath(resolution: CredentialResolution): string | undefined {
  const choice = resolution.choice;
  return choice.kind === 'profile' && choice.authType === 'user_oauth' ? choice.credentialsPath : undefined;
}

/** The access token files: the one the SDK reads (if any) and the agent's output directory. */
export function checkAccessToken(context: Context, resolution: CredentialResolution, outputDir: string | undefined): AccessTokenFacts | undefined {
  const sdkPath = userOAuthCredentialsPath(resolution);
  let facts = sdkPath === undefined ? undefined : checkCredentialsFile(context, sdkPath, { sdkReads: true });
  if (outputDir === undefined) return facts;
  const agentPath = join(outputDir, OutputFile.credentials);
  if (agentPath !== sdkPath) facts = checkCredentialsFile(context, agentPath, { sdkReads: false }) ?? facts;
  checkTokenFile(context, readSdkEnv(context.observation.env, SdkEnv.accessTokenFile) ?? join(outputDir, OutputFile.token), facts);
  checkProfileFile(context, outputDir);
  return facts;
}
