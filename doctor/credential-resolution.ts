/**
 * Which credential the official SDKs would pick in an environment, and why: a pure
 * re-statement of `@anthropic-ai/sdk` 1.12's client constructor and
 * `src/core/credentials.ts` (`loadConfigWithSource`), from the environment and the files
 * it would read. `doctor` uses it; it never performs an exchange.
 */
import type { Env } from '../runtime/config.ts';
import { PROXY_PLACEHOLDER_AUTH_TOKEN, SdkEnv } from '../contract/index.ts';

/** What a file looked like; `content` is set only for a readable small file. */
export interface FileSnapshot {
  readonly path: string;
  readonly kind: 'file' | 'directory' | 'missing' | 'other' | 'inaccessible';
  /** Permission bits (0o7777) of the target (symlinks followed). */
  readonly mode?: number | undefined;
  readonly uid?: number | undefined;
  readonly gid?: number | undefined;
  readonly realPath?: string | undefined;
  readonly content?: string | undefined;
  /** errno code when stat worked but reading did not (EACCES, …). */
  readonly readError?: string | undefined;
}

/** Snapshots by path; undefined when the path was not observed. */
export type FileLookup = (path: string) => FileSnapshot | undefined;

export type ProfileSelection = 'ANTHROPIC_PROFILE' | 'active_config' | 'default';

export type SdkCredentialChoice =
  | { readonly kind: 'api-key'; readonly authTokenAlsoSet: boolean }
  | { readonly kind: 'auth-token'; readonly value: 'placeholder' | 'other' }
  | {
      readonly kind: 'profile';
      readonly profile: string;
      readonly selectedBy: ProfileSelection;
      readonly configPath: string;
      readonly authType: 'user_oauth' | 'oidc_federation';
      readonly credentialsPath: string;
      /** user_oauth: a refresh client; without one the SDK treats the token as static. */
      readonly clientId?: string | undefined;
      /** oidc_federation: where the identity token comes from. */
      readonly identityTokenFile?: string | undefined;
      readonly identityTokenLiteral?: boolean | undefined;
    }
  | { readonly kind: 'federation-env'; readonly identityTokenFile?: string | undefined; readonly identityTokenLiteral: boolean }
  | { readonly kind: 'none'; readonly reason: string }
  /** The SDK would throw this (a missing named profile, a broken config file, …). */
  | { readonly kind: 'error'; readonly message: string };

export interface CredentialResolution {
  readonly choice: SdkCredentialChoice;
  /** Each step the SDK took, in order, for a human reading the report. */
  readonly why: readonly string[];
  /** `<config_dir>` and where it came from, or undefined when there is none. */
  readonly configRoot?: { readonly path: string; readonly from: string } | undefined;
}

/** The SDKs trim values and count an empty one as unset. */
export function readSdkEnv(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function joinPath(...parts: string[]): string {
  return parts.join('/').replace(/\/{2,}/g, '/');
}

/** `<config_dir>`: ANTHROPIC_CONFIG_DIR, else $XDG_CONFIG_HOME/anthropic, else $HOME/.config/anthropic. */
export function sdkConfigRoot(env: Env): { readonly path: string; readonly from: string } | undefined {
  const configDir = readSdkEnv(env, SdkEnv.configDir);
  if (configDir !== undefined) return { path: configDir, from: SdkEnv.configDir };
  const xdg = readSdkEnv(env, 'XDG_CONFIG_HOME');
  if (xdg !== undefined) return { path: joinPath(xdg, 'anthropic'), from: 'XDG_CONFIG_HOME' };
  const home = readSdkEnv(env, 'HOME');
  if (home !== undefined) return { path: joinPath(home, '.config', 'anthropic'), from: 'HOME' };
  return undefined;
}

const PROFILE_NAME = /^[A-Za-z0-9_.-]+$/;

function profileNameProblem(name: string): string | undefined {
  if (name === '.' || name === '..') return `profile name "${name}" is not allowed`;
  if (name.includes('/') || name.includes('\\')) return `profile name "${name}" must not contain path separators`;
  if (!PROFILE_NAME.test(name)) return `profile name "${name}" contains disallowed characters (allowed: letters, digits, '_', '.', '-')`;
  return undefined;
}

interface ActiveProfile {
  readonly name: string;
  readonly selectedBy: ProfileSelection;
  readonly why: string;
}

function activeProfile(env: Env, root: string, files: FileLookup): ActiveProfile | { readonly error: string } {
  const named = readSdkEnv(env, SdkEnv.profile);
  if (named !== undefined) return { name: named, selectedBy: 'ANTHROPIC_PROFILE', why: `${SdkEnv.profile} selects profile "${named}"` };
  const path = joinPath(root, 'active_config');
  const file = files(path);
  if (file === undefined || file.kind === 'missing') {
    return { name: 'default', selectedBy: 'default', why: `${path} does not exist, so the profile is "default"` };
  }
  if (file.content === undefined) return { error: `failed to read ${path}: ${file.readError ?? file.kind}` };
  const content = file.content.trim();
  if (content === '') return { name: 'default', selectedBy: 'default', why: `${path} is empty, so the profile is "default"` };
  return { name: content, selectedBy: 'active_config', why: `${path} selects profile "${content}"` };
}

/** The SDK's in-process federation from variables (no profile file read). */
function federationFromEnv(env: Env): { readonly ready: boolean; readonly file?: string | undefined; readonly literal: boolean } | undefined {
  if (readSdkEnv(env, SdkEnv.federationRuleId) === undefined || readSdkEnv(env, SdkEnv.organizationId) === undefined) return undefined;
  const file = readSdkEnv(env, SdkEnv.identityTokenFile);
  const literal = readSdkEnv(env, SdkEnv.identityToken) !== undefined;
  return { ready: file !== undefined || literal, file, literal };
}

interface ProfileDocument {
  readonly authentication?: {
    readonly type?: unknown;
    readonly credentials_path?: unknown;
    readonly client_id?: unknown;
    readonly identity_token?: { readonly path?: unknown } | undefined;
  };
}

function stringField(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function parseProfile(
  text: string,
  context: { readonly env: Env; readonly root: string; readonly profile: ActiveProfile; readonly configPath: string },
): SdkCredentialChoice {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    return { kind: 'error', message: `failed to parse config file ${context.configPath}: ${(error as Error).message}` };
  }
  const auth = typeof document === 'object' && document !== null ? (document as ProfileDocument).authentication : undefined;
  if (auth === undefined) return { kind: 'error', message: `config file ${context.configPath} is missing "authentication"` };
  if (auth.type !== 'user_oauth' && auth.type !== 'oidc_federation') {
    return { kind: 'error', message: `authentication.type "${String(auth.type)}" is not a known authentication type` };
  }
  const credentialsPath = stringField(auth.credentials_path) ?? joinPath(context.root, 'credentials', `${context.profile.name}.json`);
  const base = {
    kind: 'profile',
    profile: context.profile.name,
    selectedBy: context.profile.selectedBy,
    configPath: context.configPath,
    credentialsPath,
  } as const;
  if (auth.type === 'user_oauth') return { ...base, authType: 'user_oauth', clientId: stringField(auth.client_id) };
  const identityTokenFile = stringField(auth.identity_token?.path) ?? readSdkEnv(context.env, SdkEnv.identityTokenFile);
  return {
    ...base,
    authType: 'oidc_federation',
    identityTokenFile,
    identityTokenLiteral: identityTokenFile === undefined && readSdkEnv(context.env, SdkEnv.identityToken) !== undefined,
  };
}

function describeChoice(choice: SdkCredentialChoice): string | undefined {
  if (choice.kind !== 'profile') return undefined;
  return choice.authType === 'user_oauth'
    ? `${choice.configPath} is a user_oauth profile reading the access token from ${choice.credentialsPath}`
    : `${choice.configPath} is an oidc_federation profile: the SDK exchanges the identity token itself`;
}

function missingProfile(
  what: { readonly namedInEnv: boolean; readonly federationSet: boolean; readonly profile: string; readonly configPath: string },
  why: string[],
): SdkCredentialChoice {
  if (what.namedInEnv) {
    return { kind: 'error', message: `${SdkEnv.profile} names the profile "${what.profile}", but ${what.configPath} does not exist` };
  }
  why.push(`${what.configPath} does not exist`);
  if (what.federationSet) {
    return { kind: 'error', message: 'oidc_federation config requires an identity token (set ANTHROPIC_IDENTITY_TOKEN_FILE or ANTHROPIC_IDENTITY_TOKEN)' };
  }
  return { kind: 'none', reason: `no API key, no auth token, no federation variables, and no profile at ${what.configPath}` };
}

function resolveFromFiles(env: Env, root: { readonly path: string; readonly from: string }, files: FileLookup, why: string[]): SdkCredentialChoice {
  const namedInEnv = readSdkEnv(env, SdkEnv.profile) !== undefined;
  const federation = namedInEnv ? undefined : federationFromEnv(env);
  if (federation?.ready === true) {
    why.push(`${SdkEnv.federationRuleId}, ${SdkEnv.organizationId} and an identity token are set: the SDK exchanges the identity token itself`);
    return { kind: 'federation-env', identityTokenFile: federation.file, identityTokenLiteral: federation.file === undefined && federation.literal };
  }
  if (!namedInEnv) why.push(`${SdkEnv.profile} is unset and the federation variables are not all set`);
  const profile = activeProfile(env, root.path, files);
  if ('error' in profile) return { kind: 'error', message: profile.error };
  why.push(profile.why);
  const nameProblem = profileNameProblem(profile.name);
  if (nameProblem !== undefined) return { kind: 'error', message: nameProblem };
  const configPath = joinPath(root.path, 'configs', `${profile.name}.json`);
  const file = files(configPath);
  if (file === undefined || file.kind === 'missing') return missingProfile({ namedInEnv, federationSet: federation !== undefined, profile: profile.name, configPath }, why);
  return readProfile(file, { env, root: root.path, profile, configPath }, why);
}

function readProfile(
  file: FileSnapshot,
  context: { readonly env: Env; readonly root: string; readonly profile: ActiveProfile; readonly configPath: string },
  why: string[],
): SdkCredentialChoice {
  if (file.content === undefined) return { kind: 'error', message: `failed to read config file ${context.configPath}: ${file.readError ?? file.kind}` };
  const choice = parseProfile(file.content, context);
  const described = describeChoice(choice);
  if (described !== undefined) why.push(described);
  return choice;
}

/** The credential an SDK client built with no arguments would use here, and the steps that led to it. */
export function resolveSdkCredential(env: Env, files: FileLookup): CredentialResolution {
  const why: string[] = [];
  const apiKey = readSdkEnv(env, SdkEnv.apiKey) !== undefined;
  const authToken = readSdkEnv(env, SdkEnv.authToken);
  if (apiKey) {
    why.push(`${SdkEnv.apiKey} is set, and it comes before everything else`);
    return { choice: { kind: 'api-key', authTokenAlsoSet: authToken !== undefined }, why };
  }
  why.push(`${SdkEnv.apiKey} is unset`);
  if (authToken !== undefined) {
    why.push(`${SdkEnv.authToken} is set, and it comes before profiles and federation`);
    return { choice: { kind: 'auth-token', value: authToken === PROXY_PLACEHOLDER_AUTH_TOKEN ? 'placeholder' : 'other' }, why };
  }
  why.push(`${SdkEnv.authToken} is unset`);
  const root = sdkConfigRoot(env);
  if (root === undefined) {
    why.push(`${SdkEnv.configDir}, XDG_CONFIG_HOME and HOME are unset`);
    return { choice: { kind: 'none', reason: 'there is no config directory, so the SDK reads no profile and no federation variables' }, why };
  }
  why.push(`the config directory is ${root.path} (from ${root.from})`);
  return { choice: resolveFromFiles(env, root, files, why), why, configRoot: root };
}

/** Paths the resolution reads, given what is known so far; the shell observes them until none are new. */
export function credentialPathsToObserve(env: Env, files: FileLookup): readonly string[] {
  const root = sdkConfigRoot(env);
  if (root === undefined) return [];
  const paths = [root.path, joinPath(root.path, 'active_config')];
  const profile = activeProfile(env, root.path, files);
  if ('error' in profile || profileNameProblem(profile.name) !== undefined) return paths;
  const configPath = joinPath(root.path, 'configs', `${profile.name}.json`);
  paths.push(configPath);
  const resolution = resolveSdkCredential(env, files);
  if (resolution.choice.kind === 'profile') {
    paths.push(resolution.choice.credentialsPath);
    if (resolution.choice.identityTokenFile !== undefined) paths.push(resolution.choice.identityTokenFile);
  }
  return paths;
}
