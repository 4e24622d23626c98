/**
 * The real `anthropic-wif doctor` against temporary directories laid out like the sidecar's
 * volumes (the test runs as root, so real files are owned by uid 0; other uids are covered
 * by the unit tests' modelled observations).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/cli.ts';

const ACCESS_TOKEN = 'sk-ant-oat01-doctor-must-not-print-this';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function jwt(claims: Record<string, unknown>): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256', kid: 'k1' })}.${part(claims)}.c2lnbmF0dXJl`;
}

interface Layout {
  readonly root: string;
  readonly out: string;
  readonly tokenFile: string;
}

async function layout(options: { identityExp?: number; credentialsMode?: number; withOutput?: boolean } = {}): Promise<Layout> {
  const root = await mkdtemp(join(tmpdir(), 'doctor-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  const nowS = Math.floor(Date.now() / 1000);
  const tokenDir = join(root, 'secrets');
  await mkdir(tokenDir);
  const tokenFile = join(tokenDir, 'token');
  const claims = { iss: 'https://issuer.example.com', sub: 'system:serviceaccount:ns:app', aud: ['https://api.anthropic.com'], exp: options.identityExp ?? nowS + 500, jti: 'j1' };
  await writeFile(tokenFile, jwt(claims), { mode: 0o644 });
  const out = join(root, 'anthropic');
  if (options.withOutput !== false) {
    await mkdir(join(out, 'credentials'), { recursive: true });
    await mkdir(join(out, 'configs'), { recursive: true });
    await writeFile(join(out, 'token'), ACCESS_TOKEN, { mode: 0o600 });
    const credentialsPath = join(out, 'credentials', 'default.json');
    await writeFile(credentialsPath, JSON.stringify({ version: '1.0', type: 'oauth_token', access_token: ACCESS_TOKEN, expires_at: nowS + 3000 }));
    await chmod(credentialsPath, options.credentialsMode ?? 0o600);
    await writeFile(
      join(out, 'configs', 'default.json'),
      JSON.stringify({ version: '1.0', authentication: { type: 'user_oauth', credentials_path: credentialsPath }, organization_id: '00000000-0000-4000-8000-000000000000' }),
      { mode: 0o644 },
    );
    await writeFile(join(out, '.anthropic-wif-state.json'), JSON.stringify({ version: 1, assertionKey: 'x', hasJti: true, outcome: 'accepted', atMs: Date.now() - 30_000 }), { mode: 0o600 });
  }
  return { root, out, tokenFile };
}

function sidecarEnv(l: Layout): Record<string, string> {
  return {
    HOME: l.root,
    ANTHROPIC_FEDERATION_RULE_ID: 'fdrl_01abc',
    ANTHROPIC_ORGANIZATION_ID: '00000000-0000-4000-8000-000000000000',
    ANTHROPIC_IDENTITY_TOKEN_FILE: l.tokenFile,
    ANTHROPIC_WIF_OUTPUT_DIR: l.out,
  };
}

function appEnv(l: Layout): Record<string, string> {
  return { HOME: l.root, ANTHROPIC_CONFIG_DIR: l.out, ANTHROPIC_ACCESS_TOKEN_FILE: join(l.out, 'token') };
}

interface JsonReport {
  readonly healthy: boolean;
  readonly role: string;
  readonly findings: readonly { readonly code: string; readonly severity: string; readonly message: string }[];
}

function problems(stdout: string): string[] {
  return (JSON.parse(stdout) as JsonReport).findings.filter((f) => f.severity === 'problem').map((f) => f.code);
}

describe('anthropic-wif doctor (real command)', () => {
  it('a healthy sidecar: exit 0, and no token in the output', async () => {
    const l = await layout();
    const result = await runCli(['doctor'], { env: sidecarEnv(l) });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdoutLines[0]).toMatch(/^anthropic-wif doctor \(sidecar container\) at \S+, uid 0: healthy$/);
    expect(result.stdout).toContain('  sub  system:serviceaccount:ns:app');
    expect(result.stdout).not.toContain(ACCESS_TOKEN);
    expect(result.stdout).not.toContain('.c2lnbmF0dXJl');
  });

  it('a healthy file-mode app container, as JSON', async () => {
    const l = await layout();
    const result = await runCli(['doctor', '--json'], { env: appEnv(l) });
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as JsonReport;
    expect(report).toMatchObject({ healthy: true, role: 'app' });
    expect(report.findings.map((f) => f.code)).toEqual(['sdk-credential', 'access-token-valid', 'last-exchange-accepted']);
  });

  it.each([
    { name: 'a shadowing ANTHROPIC_API_KEY', setup: {}, env: (l: Layout) => ({ ...appEnv(l), ANTHROPIC_API_KEY: 'sk-ant-api03-stray' }), want: ['shadowed-by-api-key'] },
    { name: 'a world-readable credentials file', setup: { credentialsMode: 0o644 }, env: appEnv, want: ['credentials-mode'] },
    { name: 'an expired identity token', setup: { identityExp: Math.floor(Date.now() / 1000) - 60 }, env: sidecarEnv, want: ['identity-token-expired'] },
    { name: 'a missing output directory', setup: { withOutput: false }, env: sidecarEnv, want: ['output-dir-missing'] },
  ])('$name: exit 1 with $want', async ({ setup, env, want }) => {
    const l = await layout(setup);
    const result = await runCli(['doctor', '--json'], { env: env(l) });
    expect(result.code).toBe(1);
    expect(problems(result.stdout)).toEqual(want);
    expect(result.stdout).not.toContain(ACCESS_TOKEN);
    expect(result.stdout).not.toContain('sk-ant-api03-stray');
  });

  it('--identity-token-file and --output-dir beat the variables', async () => {
    const good = await layout();
    const bad = await layout({ identityExp: 1 });
    const result = await runCli(['doctor', '--json', '--identity-token-file', good.tokenFile, '--output-dir', good.out], { env: sidecarEnv(bad) });
    expect(result.code).toBe(0);
  });

  it("asks the agent's health listener when --health-addr is given", async () => {
    const l = await layout();
    const server = createServer((req, res) => {
      if (req.url === '/readyz') res.end('ok');
      else res.end('# HELP x\nanthropic_wif_exchanges_total{result="success"} 4\nanthropic_wif_exchanges_total{result="failure"} 2\n');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => new Promise((resolve) => server.close(() => { resolve(); })));
    const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;

    const result = await runCli(['doctor', '--health-addr', address], { env: sidecarEnv(l) });

    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`  ok       the agent at ${address} reports ready; exchanges so far: 4 succeeded, 2 failed\n`);
  });

  it('--help exits 0; an unknown flag is a usage error (exit 2, one line on stderr)', async () => {
    const help = await runCli(['doctor', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--identity-token-file <file>');
    expect(help.stdout).toContain('(env ANTHROPIC_WIF_OUTPUT_DIR)');
    const bad = await runCli(['doctor', '--verbose']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('anthropic-wif doctor: unknown flag --verbose (see anthropic-wif doctor --help)\n');
  });

  it('a --health-addr that is not host:port is a usage error, not a probe of some other address', async () => {
    const bad = await runCli(['doctor', '--health-addr', '8424']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('anthropic-wif doctor: invalid --health-addr "8424": expected host:port, [ipv6]:port or :port with a port from 0 to 65535\n');
  });
});
