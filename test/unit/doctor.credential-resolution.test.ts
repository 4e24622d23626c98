/**
 * The SDK credential chain as doctor restates it (from @anthropic-ai/sdk 1.12's client
 * constructor and core/credentials.ts).
 */
import { describe, expect, it } from 'vitest';
import { resolveSdkCredential, sdkConfigRoot, type FileSnapshot, type SdkCredentialChoice } from '../../doctor/credential-resolution.ts';
import type { Env } from '../../runtime/config.ts';

function files(entries: Record<string, string>): (path: string) => FileSnapshot | undefined {
  return (path) => {
    const content = entries[path];
    return content === undefined ? { path, kind: 'missing' } : { path, kind: 'file', mode: 0o600, uid: 0, gid: 0, content };
  };
}

const FEDERATION = { ANTHROPIC_FEDERATION_RULE_ID: 'fdrl_1', ANTHROPIC_ORGANIZATION_ID: '00000000-0000-4000-8000-000000000000' };
const USER_OAUTH = JSON.stringify({ authentication: { type: 'user_oauth', credentials_path: '/run/creds.json' } });

describe('sdkConfigRoot', () => {
  it.each([
    { env: { ANTHROPIC_CONFIG_DIR: '/cfg', XDG_CONFIG_HOME: '/xdg', HOME: '/home/u' }, want: { path: '/cfg', from: 'ANTHROPIC_CONFIG_DIR' } },
    { env: { ANTHROPIC_CONFIG_DIR: ' ', XDG_CONFIG_HOME: '/xdg', HOME: '/home/u' }, want: { path: '/xdg/anthropic', from: 'XDG_CONFIG_HOME' } },
    { env: { HOME: '/home/u/' }, want: { path: '/home/u/.config/anthropic', from: 'HOME' } },
    { env: {}, want: undefined },
  ])('$env → $want', ({ env, want }) => {
    expect(sdkConfigRoot(env)).toEqual(want);
  });
});

describe('resolveSdkCredential', () => {
  it.each<{ name: string; env: Env; files: Record<string, string>; want: SdkCredentialChoice }>([
    { name: 'API key first, even with an auth token', env: { ANTHROPIC_API_KEY: 'k', ANTHROPIC_AUTH_TOKEN: 't', HOME: '/h' }, files: {}, want: { kind: 'api-key', authTokenAlsoSet: true } },
    { name: 'the proxy placeholder', env: { ANTHROPIC_AUTH_TOKEN: ' managed-by-anthropic-wif ' }, files: {}, want: { kind: 'auth-token', value: 'placeholder' } },
    { name: 'another auth token', env: { ANTHROPIC_AUTH_TOKEN: 'sk-ant-oat01-x', ...FEDERATION }, files: {}, want: { kind: 'auth-token', value: 'other' } },
    {
      name: 'federation variables with a token file, before any profile',
      env: { ...FEDERATION, ANTHROPIC_IDENTITY_TOKEN_FILE: '/t', ANTHROPIC_CONFIG_DIR: '/cfg' },
      files: { '/cfg/configs/default.json': USER_OAUTH },
      want: { kind: 'federation-env', identityTokenFile: '/t', identityTokenLiteral: false },
    },
    {
      name: 'federation variables with a literal token',
      env: { ...FEDERATION, ANTHROPIC_IDENTITY_TOKEN: 'eyJ', HOME: '/h' },
      files: {},
      want: { kind: 'federation-env', identityTokenFile: undefined, identityTokenLiteral: true },
    },
    {
      name: 'ANTHROPIC_PROFILE skips the federation variables',
      env: { ...FEDERATION, ANTHROPIC_IDENTITY_TOKEN_FILE: '/t', ANTHROPIC_PROFILE: 'work', ANTHROPIC_CONFIG_DIR: '/cfg' },
      files: { '/cfg/configs/work.json': USER_OAUTH },
      want: {
        kind: 'profile',
        profile: 'work',
        selectedBy: 'ANTHROPIC_PROFILE',
        configPath: '/cfg/configs/work.json',
        authType: 'user_oauth',
        credentialsPath: '/run/creds.json',
        clientId: undefined,
      },
    },
    {
      name: 'active_config selects the profile; credentials default to credentials/<profile>.json',
      env: { ANTHROPIC_CONFIG_DIR: '/cfg' },
      files: { '/cfg/active_config': 'ci\n', '/cfg/configs/ci.json': JSON.stringify({ authentication: { type: 'user_oauth', client_id: 'cli' } }) },
      want: {
        kind: 'profile',
        profile: 'ci',
        selectedBy: 'active_config',
        configPath: '/cfg/configs/ci.json',
        authType: 'user_oauth',
        credentialsPath: '/cfg/credentials/ci.json',
        clientId: 'cli',
      },
    },
    {
      name: 'an oidc_federation profile takes the token file from the variables',
      env: { ANTHROPIC_CONFIG_DIR: '/cfg', ANTHROPIC_IDENTITY_TOKEN_FILE: '/t' },
      files: { '/cfg/configs/default.json': JSON.stringify({ authentication: { type: 'oidc_federation', federation_rule_id: 'fdrl_1' } }) },
      want: {
        kind: 'profile',
        profile: 'default',
        selectedBy: 'default',
        configPath: '/cfg/configs/default.json',
        authType: 'oidc_federation',
        credentialsPath: '/cfg/credentials/default.json',
        identityTokenFile: '/t',
        identityTokenLiteral: false,
      },
    },
    {
      name: 'federation variables without a token and no profile',
      env: { ...FEDERATION, ANTHROPIC_CONFIG_DIR: '/cfg' },
      files: {},
      want: { kind: 'error', message: 'oidc_federation config requires an identity token (set ANTHROPIC_IDENTITY_TOKEN_FILE or ANTHROPIC_IDENTITY_TOKEN)' },
    },
    {
      name: 'a named profile that does not exist',
      env: { ANTHROPIC_PROFILE: 'nope', ANTHROPIC_CONFIG_DIR: '/cfg' },
      files: {},
      want: { kind: 'error', message: 'ANTHROPIC_PROFILE names the profile "nope", but /cfg/configs/nope.json does not exist' },
    },
    {
      name: 'a profile name with a path separator',
      env: { ANTHROPIC_CONFIG_DIR: '/cfg' },
      files: { '/cfg/active_config': '../etc' },
      want: { kind: 'error', message: 'profile name "../etc" must not contain path separators' },
    },
    {
      name: 'a profile of an unknown type',
      env: { ANTHROPIC_CONFIG_DIR: '/cfg' },
      files: { '/cfg/configs/default.json': JSON.stringify({ authentication: { type: 'api_key' } }) },
      want: { kind: 'error', message: 'authentication.type "api_key" is not a known authentication type' },
    },
    {
      name: 'a profile without authentication',
      env: { ANTHROPIC_CONFIG_DIR: '/cfg' },
      files: { '/cfg/configs/default.json': '{}' },
      want: { kind: 'error', message: 'config file /cfg/configs/default.json is missing "authentication"' },
    },
    {
      name: 'no profile at all',
      env: { HOME: '/h' },
      files: {},
      want: { kind: 'none', reason: 'no API key, no auth token, no federation variables, and no profile at /h/.config/anthropic/configs/default.json' },
    },
  ])('$name', ({ env, files: entries, want }) => {
    expect(resolveSdkCredential(env, files(entries)).choice).toEqual(want);
  });

  it('reports a profile that cannot be parsed as the SDK error', () => {
    const choice = resolveSdkCredential({ ANTHROPIC_CONFIG_DIR: '/cfg' }, files({ '/cfg/configs/default.json': '{nope' })).choice;
    expect(choice.kind).toBe('error');
    expect(choice.kind === 'error' ? choice.message : '').toMatch(/^failed to parse config file \/cfg\/configs\/default\.json: /);
  });
});
