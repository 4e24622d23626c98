/**
 * The real `anthropic-wif agent` (from source) against the token endpoint stand-in, an OIDC
 * issuer and a kubelet-style projected token directory, over real sockets and files.
 */
import { mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OutputFile } from '../../contract/index.ts';
import { metricSample } from '../../agent/metrics.ts';
import { runCli, stopAllClis, type CliProcess } from '../support/cli.ts';
import { TokenEndpointFault } from '../support/token-endpoint.ts';
import { decodeJwt } from 'jose';
import { eventually, httpGet, startAgent, startAgentWorld, type AgentWorld } from '../support/agent-world.ts';

const worlds: AgentWorld[] = [];

async function world(options: Parameters<typeof startAgentWorld>[0] = {}): Promise<AgentWorld> {
  const w = await startAgentWorld(options);
  worlds.push(w);
  return w;
}

afterEach(async () => {
  await stopAllClis();
  for (const w of worlds.splice(0)) await w.close();
});

interface Files {
  readonly token: string;
  readonly credentials: { version: string; type: string; access_token: string; expires_at: number };
  readonly profile: unknown;
  readonly state: Record<string, unknown>;
}

async function readFiles(outputDir: string): Promise<Files> {
  const read = (file: string): Promise<string> => readFile(join(outputDir, file), 'utf8');
  return {
    token: await read(OutputFile.token),
    credentials: JSON.parse(await read(OutputFile.credentials)) as Files['credentials'],
    profile: JSON.parse(await read(OutputFile.profile)),
    state: JSON.parse(await read(OutputFile.state)) as Record<string, unknown>,
  };
}

async function fileMode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

/**
 * `/readyz`'s status once the files are written: readiness follows the completed write (the
 * state file comes after the token file), so it may take a moment after the token file is there.
 */
async function readyzOnceWritten(port: number): Promise<number> {
  const ready = await eventually(async () => ((await httpGet(port, '/readyz')).status === 200 ? 200 : undefined), 5_000, '/readyz to answer 200').catch(() => undefined);
  return ready ?? (await httpGet(port, '/readyz')).status;
}

function tokenWritten(w: AgentWorld, count = 1): Promise<string> {
  return eventually(
    async () => {
      const issued = w.endpoint.issuedTokens[count - 1];
      if (issued === undefined) return undefined;
      const onDisk = await readFile(join(w.outputDir, OutputFile.token), 'utf8').catch(() => undefined);
      return onDisk === issued.accessToken ? onDisk : undefined;
    },
    60_000,
    `access token #${count} in the token file`,
  );
}

/** Every line the agent printed, and the metrics text: none may contain a token or an assertion. */
function expectNoSecrets(w: AgentWorld, texts: readonly string[]): void {
  const secrets = w.secrets();
  expect(secrets.length).toBeGreaterThan(0);
  for (const text of texts) {
    for (const secret of secrets) expect(text.includes(secret), `output contains a secret (${secret.slice(0, 12)}…)`).toBe(false);
  }
}

async function stopWithin5s(agent: CliProcess): Promise<void> {
  await expect(agent.stop(5_000)).resolves.toEqual({ code: 0, signal: null });
}

describe('anthropic-wif agent', () => {
  it('writes the contract files, serves health and metrics, and exits 0 on SIGTERM', async () => {
    const w = await world();
    const agent = startAgent(w);
    const { port } = await agent.waitForListening();
    const token = await tokenWritten(w);
    const issued = w.endpoint.issuedTokens[0]!;
    // `accepted` is recorded right after the token files are written.
    const files = await eventually(async () => {
      const read = await readFiles(w.outputDir);
      return read.state.outcome === 'accepted' ? read : undefined;
    }, 5_000, 'the state file to record the accepted assertion');
    expect(files.token).toBe(token);
    // The agent counts the lifetime from when it sent the request, so it never overstates it.
    expect(files.credentials).toMatchObject({ version: '1.0', type: 'oauth_token', access_token: token });
    expect(Math.floor(issued.expiresAtMs / 1000) - files.credentials.expires_at).toBeGreaterThanOrEqual(0);
    expect(Math.floor(issued.expiresAtMs / 1000) - files.credentials.expires_at).toBeLessThanOrEqual(2);
    expect(files.profile).toEqual({
      version: '1.0',
      authentication: { type: 'user_oauth', credentials_path: join(w.outputDir, OutputFile.credentials) },
      organization_id: '00000000-0000-4000-8000-000000000000',
    });
    expect(files.state).toMatchObject({ version: 1, outcome: 'accepted', hasJti: true });
    expect(JSON.stringify(files.state)).not.toContain(token);
    expect(await fileMode(join(w.outputDir, OutputFile.token))).toBe(0o600);
    expect(await fileMode(join(w.outputDir, OutputFile.credentials))).toBe(0o600);
    expect(await fileMode(join(w.outputDir, OutputFile.profile))).toBe(0o644);
    // min(rule 3600 s, 2 × the projected token's remaining ~600 s)
    expect(issued.expiresIn).toBeGreaterThan(1190);

    expect(await httpGet(port, '/healthz')).toEqual({ status: 200, body: 'ok\n' });
    expect(await httpGet(port, '/readyz')).toEqual({ status: 200, body: 'ok\n' });
    const metrics = (await httpGet(port, '/metrics')).body;
    expect(metricSample(metrics, 'anthropic_wif_exchanges_total{result="success"}')).toBe(1);
    expect(metricSample(metrics, 'anthropic_wif_exchanges_total{result="failure"}')).toBe(0);
    expect(metricSample(metrics, 'anthropic_wif_exchange_duration_seconds_count')).toBe(1);
    // Stamped when the answer was read: the second the endpoint issued the token, or the next.
    const lastSuccess = metricSample(metrics, 'anthropic_wif_last_exchange_timestamp_seconds{result="success"}')! - Math.floor(issued.issuedAtMs / 1000);
    expect([0, 1]).toContain(lastSuccess);
    expect(metricSample(metrics, 'anthropic_wif_last_exchange_timestamp_seconds{result="failure"}')).toBe(0);
    expect(metricSample(metrics, 'anthropic_wif_access_token_expiry_timestamp_seconds')).toBe(files.credentials.expires_at);
    expect(metricSample(metrics, 'anthropic_wif_identity_token_expiry_timestamp_seconds')).toBe(decodeJwt(w.secrets()[0]!).exp);
    expect(metricSample(metrics, 'anthropic_wif_rotation_gap_seconds')).toBe(0);
    expect(metricSample(metrics, 'anthropic_wif_file_write_failures_total')).toBe(0);
    expect((await httpGet(port, '/nope')).status).toBe(404);

    await stopWithin5s(agent);
    expect(agent.jsonLines().at(-1)).toMatchObject({ msg: 'stopped', level: 'info' });
    expectNoSecrets(w, [agent.stdout(), agent.stderr(), metrics]);
  });

  it('is not ready until the first token is on disk', async () => {
    const w = await world();
    w.endpoint.script(TokenEndpointFault.serverError(503), TokenEndpointFault.serverError(503));
    const agent = startAgent(w);
    const { port } = await agent.waitForListening();
    expect(await httpGet(port, '/readyz')).toEqual({ status: 503, body: 'no access token valid for at least 30 s is on disk yet\n' });
    expect((await httpGet(port, '/healthz')).status).toBe(200);
    await tokenWritten(w);
    expect(await readyzOnceWritten(port)).toBe(200);
    await stopWithin5s(agent);
  });

  it('logs a clear error and writes nothing through a credentials directory planted as a link outside', async () => {
    const w = await world();
    const outside = join(w.dir, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'victim'), 'untouched');
    await mkdir(w.outputDir);
    await symlink(outside, join(w.outputDir, dirname(OutputFile.credentials)));
    const agent = startAgent(w);
    const { port } = await agent.waitForListening();
    const failure = await agent.waitForJson((l) => l.level === 'error' && l.msg === 'could not update the token files; the previous files are left as they were');
    expect(failure.error).toMatchObject({
      code: 'token-file-symlink',
      message: `refusing to write ${join(w.outputDir, OutputFile.credentials)}: ${join(w.outputDir, dirname(OutputFile.credentials))} is a symbolic link, which the agent never follows or replaces`,
    });
    expect(await readdir(outside)).toEqual(['victim']);
    expect(await readFile(join(outside, 'victim'), 'utf8')).toBe('untouched');
    await expect(stat(join(w.outputDir, OutputFile.token))).rejects.toThrow(/ENOENT/);
    expect((await httpGet(port, '/readyz')).status).toBe(503);
    await stopWithin5s(agent);
  });

  it('rides out a 503/429 storm, retrying the same assertion and honouring Retry-After', async () => {
    const w = await world();
    w.endpoint.script(TokenEndpointFault.serverError(503), TokenEndpointFault.rateLimited(2), TokenEndpointFault.serverError(500));
    const agent = startAgent(w);
    const { port } = await agent.waitForListening();
    await tokenWritten(w);
    const requests = w.endpoint.requests;
    expect(requests.map((r) => r.status)).toEqual([503, 429, 500, 200]);
    expect(new Set(requests.map((r) => r.assertionSha256)).size).toBe(1);
    expect(requests[2]!.atMs - requests[1]!.atMs).toBeGreaterThanOrEqual(2000);
    const warnings = agent.jsonLines().filter((l) => l.msg === 'token exchange failed (transient); retrying');
    expect(warnings.map((l) => (l.error as { status: number }).status)).toEqual([503, 429, 500]);
    const metrics = (await httpGet(port, '/metrics')).body;
    expect(metricSample(metrics, 'anthropic_wif_exchanges_total{result="failure"}')).toBe(3);
    expect(metricSample(metrics, 'anthropic_wif_exchanges_total{result="success"}')).toBe(1);
    // The last failure (the 500) and the success after it, each within a second of its answer.
    const lastFailure = metricSample(metrics, 'anthropic_wif_last_exchange_timestamp_seconds{result="failure"}')! - Math.floor(requests[2]!.atMs / 1000);
    const lastSuccess = metricSample(metrics, 'anthropic_wif_last_exchange_timestamp_seconds{result="success"}')! - Math.floor(requests[3]!.atMs / 1000);
    expect([0, 1]).toContain(lastFailure);
    expect([0, 1]).toContain(lastSuccess);
    await stopWithin5s(agent);
    expectNoSecrets(w, [agent.stdout(), agent.stderr(), metrics]);
  });

  it('waits out slow answers that stay within the timeout', async () => {
    const w = await world();
    w.endpoint.script(TokenEndpointFault.slowHeaders(1500));
    const agent = startAgent(w);
    await tokenWritten(w);
    expect(w.endpoint.requests.length).toBe(1);
    await stopWithin5s(agent);
  });

  it.each([
    { name: 'a redirect', fault: (w: AgentWorld) => TokenEndpointFault.redirect(`${w.endpoint.url}/v1/oauth/token`) },
    { name: 'an oversized answer', fault: () => TokenEndpointFault.oversized() },
    { name: 'a garbage answer', fault: () => TokenEndpointFault.garbage() },
    { name: 'a wrong token type', fault: () => TokenEndpointFault.wrongTokenType() },
  ])('refuses $name, stays not ready and keeps running', async ({ fault }) => {
    const w = await world();
    w.endpoint.script(fault(w));
    const agent = startAgent(w);
    const { port } = await agent.waitForListening();
    const failure = await agent.waitForJson((l) => l.level === 'error' && String(l.msg).startsWith('token exchange failed and retrying will not help'));
    expect(failure.nextAttemptAt).toBeTypeOf('string');
    expect(w.endpoint.requests.length).toBe(1);
    expect((await httpGet(port, '/readyz')).status).toBe(503);
    expect((await httpGet(port, '/healthz')).status).toBe(200);
    await expect(stat(join(w.outputDir, OutputFile.token))).rejects.toMatchObject({ code: 'ENOENT' });
    const metrics = (await httpGet(port, '/metrics')).body;
    expect(metricSample(metrics, 'anthropic_wif_exchanges_total{result="failure"}')).toBe(1);
    await stopWithin5s(agent);
    expectNoSecrets(w, [agent.stdout(), agent.stderr(), metrics]);
  });

  it('exits 0 within 5 s on SIGTERM during a slow exchange', async () => {
    const w = await world();
    w.endpoint.script(TokenEndpointFault.slowHeaders(20_000));
    const agent = startAgent(w);
    await eventually(() => (w.endpoint.requests.length === 1 ? true : undefined), 10_000, 'the exchange to start');
    await stopWithin5s(agent);
  });

  it(
    'follows a kubelet ..data rotation with short lifetimes while a reader never sees a bad file',
    async () => {
      // Rule lifetime 60 s against a 600 s projected token: the agent refreshes after 24–36 s
      // and finds the rotated token; it also reports the 420 s rotation gap once.
      const w = await world({ ruleLifetimeSeconds: 60 });
      const agent = startAgent(w);
      const { port } = await agent.waitForListening();
      const first = await tokenWritten(w);
      const reader = startReader(w.outputDir);
      const rotated = await w.rotate();
      const second = await tokenWritten(w, 2);
      const problems = await reader.stop();

      expect(second).not.toBe(first);
      expect(w.endpoint.issuedTokens.map((t) => t.jti)).toEqual([decodeJwt(w.secrets()[0]!).jti, decodeJwt(rotated).jti]);
      expect(problems.bad).toEqual([]);
      expect(problems.reads).toBeGreaterThan(100);
      const gap = agent.jsonLines().filter((l) => l.level === 'error' && String(l.msg).startsWith('access tokens live'));
      expect(gap.length).toBe(1);
      expect(String(gap[0]!.msg)).toMatch(
        /^access tokens live 60 s but a new identity token only arrives every 480 s: for 420 s of each rotation there is no valid token and the token files are removed\. Fix: raise the federation rule's token lifetime to 600 s or more\.$/,
      );
      const metrics = (await httpGet(port, '/metrics')).body;
      expect(metricSample(metrics, 'anthropic_wif_rotation_gap_seconds')).toBe(420);
      await stopWithin5s(agent);
      expectNoSecrets(w, [agent.stdout(), agent.stderr(), metrics]);
    },
    90_000,
  );

  it('starts the proxy on a loopback --proxy-addr and is ready once both are up', async () => {
    const w = await world();
    const agent = startAgent(w, ['--proxy-addr', '127.0.0.1:0']);
    await agent.waitForJson((l) => l.msg === 'proxy: listening');
    const { port } = await agent.waitForListening();
    await tokenWritten(w);
    expect(await readyzOnceWritten(port)).toBe(200);
    await stopWithin5s(agent);
  });
});

describe('anthropic-wif agent --once', () => {
  it('writes the files and exits 0; a rerun adopts them instead of replaying the assertion', async () => {
    const w = await world();
    const first = await runCli(['agent', '--once'], { env: w.env });
    expect(first.code).toBe(0);
    const files = await readFiles(w.outputDir);
    expect(files.token).toBe(w.endpoint.issuedTokens[0]?.accessToken);
    const again = await runCli(['agent', '--once'], { env: w.env });
    expect(again.code).toBe(0);
    expect(w.endpoint.requests.length).toBe(1);
    expect(again.stdoutLines.some((l) => l.includes('a valid access token is already on disk; exiting (--once)'))).toBe(true);
    expectNoSecrets(w, [first.stdout, first.stderr, again.stdout, again.stderr]);
  });

  it('exits 1 with a clear message rather than replay a spent assertion', async () => {
    const w = await world();
    expect((await runCli(['agent', '--once'], { env: w.env })).code).toBe(0);
    await rm(join(w.outputDir, OutputFile.token));
    await rm(join(w.outputDir, OutputFile.credentials));
    const result = await runCli(['agent', '--once'], { env: w.env });
    expect(result.code).toBe(1);
    expect(result.stderrLines).toEqual([
      `anthropic-wif agent: the identity token from file ${w.kubelet.tokenPath} was already exchanged and no valid access token is on disk (assertions are single-use and a restart must not replay one: wait for a new identity token (the kubelet rotates it at 80 % of its lifetime), or delete ${OutputFile.state} in the output directory if it is stale)`,
    ]);
    expect(w.endpoint.requests.length).toBe(1);
  });

  it('exits 1 naming the failure when the endpoint rejects the token', async () => {
    const w = await world();
    w.endpoint.script(TokenEndpointFault.rejected());
    const result = await runCli(['agent', '--once'], { env: w.env });
    expect(result.code).toBe(1);
    expect(result.stderrLines.length).toBe(1);
    expect(result.stderrLines[0]).toMatch(/^anthropic-wif agent: .*401/);
    expectNoSecrets(w, [result.stdout, result.stderr]);
  });
});

describe('agent configuration errors', () => {
  it.each([
    { args: ['--nope'], env: {}, line: 'anthropic-wif agent: unknown flag --nope (see anthropic-wif agent --help)' },
    { args: ['--proxy-addr', '0.0.0.0:8423'], env: {}, line: expect.stringMatching(/^anthropic-wif agent: invalid --proxy-addr "0\.0\.0\.0:8423": expected a loopback address/) as unknown },
    { args: ['--federation-rule-id', 'rule'], env: {}, line: 'anthropic-wif agent: invalid --federation-rule-id "rule": expected fdrl_ followed by letters, digits, "_" or "-"' },
    { args: [], env: { ANTHROPIC_IDENTITY_TOKEN: 'eyJsecret.literal.token' }, line: 'anthropic-wif agent: conflicting identity token sources: ANTHROPIC_IDENTITY_TOKEN_FILE, ANTHROPIC_IDENTITY_TOKEN; set only one' },
    { args: ['--identity-token-command', 'cat /token'], env: {}, line: 'anthropic-wif agent: conflicting identity token sources: ANTHROPIC_IDENTITY_TOKEN_FILE, --identity-token-command; set only one' },
    { args: ['--base-url', 'http://api.example.com'], env: {}, line: 'anthropic-wif agent: invalid --base-url "http://api.example.com": expected an https:// URL (plain http:// only to localhost, 127.0.0.0/8 or [::1]) without user:password' },
    { args: [], env: { ANTHROPIC_ORGANIZATION_ID: '' }, line: 'anthropic-wif agent: missing --organization-id (or ANTHROPIC_ORGANIZATION_ID): expected a UUID such as 00000000-0000-4000-8000-000000000000' },
  ])('$args $env → exit 2 with one line', async ({ args, env, line }) => {
    const w = await world();
    const result = await runCli(['agent', ...args], { env: { ...w.env, ...env } });
    expect(result.code).toBe(2);
    expect(result.stderrLines).toEqual([line]);
    expect(result.stdout).toBe('');
    expect(result.stderr).not.toContain('eyJsecret');
  });

  it('prints help and exits 0', async () => {
    const result = await runCli(['agent', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Usage: anthropic-wif agent [flags]');
    expect(result.stdout).toContain('--identity-token-url-header <header>');
    expect(result.stdout).toContain('(env ANTHROPIC_WIF_HEALTH_ADDR; default :8424)');
  });
});

/** Reads both token files as fast as it can and records anything a consumer would choke on. */
function startReader(outputDir: string): { stop(): Promise<{ reads: number; bad: string[] }> } {
  const state = { running: true };
  let reads = 0;
  const bad: string[] = [];
  const readOrError = (file: string): Promise<string> =>
    readFile(join(outputDir, file), 'utf8').catch((e: unknown) => `error ${(e as NodeJS.ErrnoException).code ?? ''}`);
  const loop = (async () => {
    while (state.running) {
      const token = await readOrError(OutputFile.token);
      const credentials = await readOrError(OutputFile.credentials);
      reads += 1;
      if (!/^sk-ant-oat01-[A-Za-z0-9_-]+$/.test(token)) bad.push(`token: ${token.slice(0, 20)}`);
      try {
        const parsed = JSON.parse(credentials) as { access_token?: unknown; expires_at?: unknown };
        if (typeof parsed.access_token !== 'string' || typeof parsed.expires_at !== 'number' || parsed.expires_at * 1000 <= Date.now()) bad.push('credentials: invalid content');
      } catch {
        bad.push(`credentials: ${credentials.slice(0, 20)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  })();
  return {
    stop: async () => {
      state.running = false;
      await loop;
      return { reads, bad };
    },
  };
}
