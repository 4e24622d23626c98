/**
 * Section `credential`: which credential an SDK in this container picks, and whether a
 * static key or token shadows workload identity.
 */
import type { Env } from '../../runtime/config.ts';
import { SdkEnv, isLoopbackHost } from '../../contract/index.ts';
import { readSdkEnv, type CredentialResolution } from '../credential-resolution.ts';
import { report, snapshot, withoutTrailingSlash, type Context } from './context.ts';

function baseUrlIsLoopback(env: Env): boolean {
  const raw = readSdkEnv(env, SdkEnv.baseUrl);
  if (raw === undefined) return false;
  try {
    return isLoopbackHost(new URL(raw).hostname);
  } catch {
    return false;
  }
}

/** One line on what the SDK uses, for the report's header and the `sdk-credential` finding. */
export function summarize(resolution: CredentialResolution, env: Env): string {
  const choice = resolution.choice;
  switch (choice.kind) {
    case 'api-key':
      return `ANTHROPIC_API_KEY (a static API key${choice.authTokenAlsoSet ? '; ANTHROPIC_AUTH_TOKEN is set too and ignored' : ''})`;
    case 'auth-token':
      return choice.value === 'placeholder'
        ? `ANTHROPIC_AUTH_TOKEN, the proxy-mode placeholder, sent to ${readSdkEnv(env, SdkEnv.baseUrl) ?? 'https://api.anthropic.com'}`
        : 'ANTHROPIC_AUTH_TOKEN (a static bearer token)';
    case 'profile':
      return choice.authType === 'user_oauth'
        ? `profile "${choice.profile}" (${choice.configPath}): the access token in ${choice.credentialsPath}`
        : `profile "${choice.profile}" (${choice.configPath}): the SDK exchanges the identity token itself`;
    case 'federation-env':
      return 'the federation variables: the SDK exchanges the identity token itself';
    case 'none':
      return `nothing: ${choice.reason}`;
    case 'error':
      return `nothing: the SDK fails with "${choice.message}"`;
  }
}

function checkShadowing(context: Context, resolution: CredentialResolution): void {
  const env = context.observation.env;
  const choice = resolution.choice;
  if (choice.kind === 'api-key') {
    report(context, 'shadowed-by-api-key');
    return;
  }
  if (choice.kind !== 'auth-token') return;
  if (choice.value === 'placeholder' && baseUrlIsLoopback(env)) {
    report(context, 'proxy-mode', { baseUrl: readSdkEnv(env, SdkEnv.baseUrl) ?? '' });
    return;
  }
  if (choice.value === 'placeholder') {
    report(context, 'placeholder-without-proxy', { baseUrl: readSdkEnv(env, SdkEnv.baseUrl) ?? 'unset' });
    return;
  }
  report(context, 'shadowed-by-auth-token');
}

function checkConfigRoot(context: Context, resolution: CredentialResolution): void {
  const root = resolution.configRoot;
  if (root?.from !== SdkEnv.configDir) return;
  const dir = snapshot(context, root.path);
  if (dir.kind === 'missing') {
    context.missingConfigDir = withoutTrailingSlash(root.path);
    report(context, 'config-dir-missing', { path: root.path });
  }
}

function checkOutcome(context: Context, resolution: CredentialResolution): void {
  const choice = resolution.choice;
  if (choice.kind === 'none') {
    report(context, 'no-credential', { reason: choice.reason });
  } else if (choice.kind === 'error') {
    report(context, 'sdk-config-error', { error: choice.message });
  } else if (choice.kind === 'profile' || choice.kind === 'federation-env') {
    report(context, 'sdk-credential', { summary: summarize(resolution, context.observation.env) });
  }
  if (choice.kind === 'federation-env' || (choice.kind === 'profile' && choice.authType === 'oidc_federation')) {
    report(context, 'sdk-exchanges-itself');
  }
}

/** What an app container's SDK would do; the sidecar only notes that it is the sidecar. */
export function checkCredential(context: Context, resolution: CredentialResolution, role: 'sidecar' | 'app'): void {
  if (role === 'sidecar') {
    report(context, 'sidecar');
    return;
  }
  checkShadowing(context, resolution);
  checkConfigRoot(context, resolution);
  checkOutcome(context, resolution);
}
