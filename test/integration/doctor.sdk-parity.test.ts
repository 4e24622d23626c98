/**
 * doctor restates the SDK's credential chain; this checks the restatement against the real
 * `@anthropic-ai/sdk` (its client constructor and core/credentials' loadConfigWithSource)
 * on the same environments and files, in a child process with a controlled environment.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { observeFiles } from '../../doctor/doctor.ts';
import { resolveSdkCredential } from '../../doctor/credential-resolution.ts';

const execFileAsync = promisify(execFile);

interface Scenario {
  readonly name: string;
  readonly env: Record<string, string>;
  /** Files relative to the scenario's root directory. */
  readonly files: Record<string, string>;
}

const USER_OAUTH = (root: string): string => JSON.stringify({ version: '1.0', authentication: { type: 'user_oauth', credentials_path: `${root}/creds.json` } });
const OIDC = JSON.stringify({ version: '1.0', authentication: { type: 'oidc_federation', federation_rule_id: 'fdrl_1' }, organization_id: '00000000-0000-4000-8000-000000000000' });
const FED = { ANTHROPIC_FEDERATION_RULE_ID: 'fdrl_1', ANTHROPIC_ORGANIZATION_ID: '00000000-0000-4000-8000-000000000000' };

/** `{root}` in env values and file contents is replaced by the scenario's directory. */
const SCENARIOS: readonly Scenario[] = [
  { name: 'api key beats everything', env: { ANTHROPIC_API_KEY: 'k', ANTHROPIC_AUTH_TOKEN: 't', ANTHROPIC_CONFIG_DIR: '{root}' }, files: {} },
  { name: 'auth token (placeholder)', env: { ANTHROPIC_AUTH_TOKEN: 'managed-by-anthropic-wif', ANTHROPIC_BASE_URL: 'http://127.0.0.1:8423' }, files: {} },
  { name: 'empty api key is unset', env: { ANTHROPIC_API_KEY: '', ANTHROPIC_CONFIG_DIR: '{root}' }, files: { 'configs/default.json': 'USER_OAUTH' } },
  { name: 'file-mode profile', env: { ANTHROPIC_CONFIG_DIR: '{root}' }, files: { 'configs/default.json': 'USER_OAUTH' } },
  { name: 'active_config', env: { ANTHROPIC_CONFIG_DIR: '{root}' }, files: { active_config: 'work\n', 'configs/work.json': 'USER_OAUTH' } },
  { name: 'XDG config home', env: { XDG_CONFIG_HOME: '{root}' }, files: { 'anthropic/configs/default.json': 'USER_OAUTH' } },
  { name: 'federation variables with a file', env: { ...FED, ANTHROPIC_IDENTITY_TOKEN_FILE: '/t', ANTHROPIC_CONFIG_DIR: '{root}' }, files: { 'configs/default.json': 'USER_OAUTH' } },
  { name: 'federation variables with a literal', env: { ...FED, ANTHROPIC_IDENTITY_TOKEN: 'x.y.z', HOME: '{root}' }, files: {} },
  { name: 'federation without a token, no profile', env: { ...FED, ANTHROPIC_CONFIG_DIR: '{root}' }, files: {} },
  { name: 'federation without a token, with a profile', env: { ...FED, ANTHROPIC_CONFIG_DIR: '{root}' }, files: { 'configs/default.json': 'USER_OAUTH' } },
  { name: 'ANTHROPIC_PROFILE beats federation', env: { ...FED, ANTHROPIC_IDENTITY_TOKEN_FILE: '/t', ANTHROPIC_PROFILE: 'p', ANTHROPIC_CONFIG_DIR: '{root}' }, files: { 'configs/p.json': 'USER_OAUTH' } },
  { name: 'ANTHROPIC_PROFILE missing', env: { ANTHROPIC_PROFILE: 'nope', ANTHROPIC_CONFIG_DIR: '{root}' }, files: {} },
  { name: 'oidc_federation profile (sdk mode)', env: { ANTHROPIC_IDENTITY_TOKEN_FILE: '/t', ANTHROPIC_CONFIG_DIR: '{root}' }, files: { 'configs/default.json': 'OIDC' } },
  { name: 'unknown profile type', env: { ANTHROPIC_CONFIG_DIR: '{root}' }, files: { 'configs/default.json': '{"authentication":{"type":"magic"}}' } },
  { name: 'nothing at all', env: { HOME: '{root}' }, files: {} },
  { name: 'no config root', env: {}, files: {} },
];

/** Runs in the child: for each scenario, set process.env and ask the SDK what it would use. */
const SDK_PROBE = `
import Anthropic from '@anthropic-ai/sdk';
import { loadConfigWithSource } from '@anthropic-ai/sdk/core/credentials';
const scenarios = JSON.parse(process.argv[1]);
const out = [];
const keep = { PATH: process.env.PATH };
for (const s of scenarios) {
  for (const k of Object.keys(process.env)) delete process.env[k];
  Object.assign(process.env, keep, s.env);
  const client = new Anthropic({ maxRetries: 0 });
  if (client.apiKey) { out.push('api-key'); continue; }
  if (client.authToken) { out.push('auth-token'); continue; }
  try {
    const loaded = await loadConfigWithSource();
    if (loaded === null) out.push('none');
    else if (loaded.fromFile) out.push('profile:' + loaded.config.authentication.type);
    else if (loaded.config.authentication.identity_token || process.env.ANTHROPIC_IDENTITY_TOKEN) out.push('federation-env');
    else out.push('error');
  } catch { out.push('error'); }
}
process.stdout.write(JSON.stringify(out));
`;

let base: string;
beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'sdk-parity-'));
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

async function materialize(scenario: Scenario, index: number): Promise<Record<string, string>> {
  const root = join(base, String(index));
  await mkdir(root, { recursive: true });
  for (const [relative, content] of Object.entries(scenario.files)) {
    const path = join(root, relative);
    await mkdir(dirname(path), { recursive: true });
    const text = content === 'USER_OAUTH' ? USER_OAUTH(root) : content === 'OIDC' ? OIDC : content;
    await writeFile(path, text);
  }
  return Object.fromEntries(Object.entries(scenario.env).map(([k, v]) => [k, v.replaceAll('{root}', root)]));
}

describe('credential resolution parity with @anthropic-ai/sdk', () => {
  it('picks the same kind of credential as the SDK in every scenario', async () => {
    const envs = await Promise.all(SCENARIOS.map(materialize));
    const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', SDK_PROBE, JSON.stringify(envs.map((env) => ({ env })))], {
      env: { PATH: process.env.PATH ?? '' },
      cwd: process.cwd(),
      timeout: 15_000,
    });
    const sdk = JSON.parse(stdout) as string[];

    const ours = await Promise.all(
      envs.map(async (env) => {
        const files = await observeFiles({ expectedAudience: 'x' }, env);
        const choice = resolveSdkCredential(env, (path) => files.get(path)).choice;
        return choice.kind === 'profile' ? `profile:${choice.authType}` : choice.kind;
      }),
    );

    expect(Object.fromEntries(SCENARIOS.map((s, i) => [s.name, ours[i]]))).toEqual(Object.fromEntries(SCENARIOS.map((s, i) => [s.name, sdk[i]])));
  });
});
