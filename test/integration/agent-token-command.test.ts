/**
 * The real `anthropic-wif token` (for CI steps) against the token endpoint stand-in: printing
 * the token, writing the files, and the GitHub Actions preset against a local OIDC request
 * endpoint that behaves like GitHub's.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OutputFile } from '../../contract/index.ts';
import { runCli } from '../support/cli.ts';
import { TokenEndpointFault } from '../support/token-endpoint.ts';
import { startAgentWorld, type AgentWorld } from '../support/agent-world.ts';

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function world(): Promise<AgentWorld> {
  const w = await startAgentWorld();
  cleanups.push(() => w.close());
  return w;
}

/** The exchange variables only: `token` reads no sidecar variables. */
function exchangeEnv(w: AgentWorld): Record<string, string | undefined> {
  return { ANTHROPIC_FEDERATION_RULE_ID: w.env.ANTHROPIC_FEDERATION_RULE_ID, ANTHROPIC_ORGANIZATION_ID: w.env.ANTHROPIC_ORGANIZATION_ID, ANTHROPIC_BASE_URL: w.env.ANTHROPIC_BASE_URL };
}

function expectNoSecrets(text: string, secrets: readonly string[]): void {
  for (const secret of secrets) expect(text.includes(secret), `output contains a secret (${secret.slice(0, 12)}…)`).toBe(false);
}

describe('anthropic-wif token', () => {
  it('prints exactly the access token on stdout, no newline, and nothing secret on stderr', async () => {
    const w = await world();
    const result = await runCli(['token', '--identity-token-file', w.kubelet.tokenPath], { env: exchangeEnv(w) });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(w.endpoint.issuedTokens[0]?.accessToken);
    expectNoSecrets(result.stderr, w.secrets());
  });

  it('takes a literal token from ANTHROPIC_IDENTITY_TOKEN', async () => {
    const w = await world();
    const jwt = await w.mintJwt();
    const result = await runCli(['token'], { env: { ...exchangeEnv(w), ANTHROPIC_IDENTITY_TOKEN: jwt } });
    expect(result.code).toBe(0);
    expect(w.endpoint.issuedTokens.map((t) => t.accessToken)).toEqual([result.stdout]);
  });

  it('runs a command for the identity token', async () => {
    const w = await world();
    const file = join(w.dir, 'jwt-for-command');
    await writeFile(file, await w.mintJwt());
    const result = await runCli(['token', '--identity-token-command', `cat ${file}`], { env: exchangeEnv(w) });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(w.endpoint.issuedTokens[0]?.accessToken);
  });

  it('writes the files with --output-dir and prints nothing', async () => {
    const w = await world();
    const result = await runCli(['token', '--identity-token-file', w.kubelet.tokenPath, '--output-dir', w.outputDir], { env: exchangeEnv(w) });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('');
    expect(await readFile(join(w.outputDir, OutputFile.token), 'utf8')).toBe(w.endpoint.issuedTokens[0]?.accessToken);
    expect(JSON.parse(await readFile(join(w.outputDir, OutputFile.state), 'utf8'))).toMatchObject({ outcome: 'accepted' });
  });

  it('exits 1 with one line when the exchange is rejected', async () => {
    const w = await world();
    w.endpoint.script(TokenEndpointFault.rejected());
    const result = await runCli(['token', '--identity-token-file', w.kubelet.tokenPath], { env: exchangeEnv(w) });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderrLines.filter((l) => !l.startsWith('{')).length).toBe(1);
    expect(result.stderrLines.at(-1)).toMatch(/^anthropic-wif token: .*401/);
    expectNoSecrets(result.stderr, w.secrets());
  });

  it('gets the identity token from GitHub Actions with --github-actions --audience', async () => {
    const w = await world();
    const runtimeToken = 'ghs_runtime-request-token-secret';
    const seen: { authorization?: string; audience?: string | null; apiVersion?: string | null }[] = [];
    const actions: Server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      seen.push({ authorization: req.headers.authorization, audience: url.searchParams.get('audience'), apiVersion: url.searchParams.get('api-version') });
      void w.mintJwt({ sub: 'system:serviceaccount:default:app' }).then((jwt) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ count: 1, value: jwt }));
      });
    });
    await new Promise<void>((resolve) => actions.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => actions.close(() => { resolve(); })));
    const requestUrl = `http://127.0.0.1:${(actions.address() as AddressInfo).port}/_apis/token?api-version=2.0`;
    const result = await runCli(['token', '--github-actions', '--audience', 'https://api.anthropic.com'], {
      env: { ...exchangeEnv(w), ACTIONS_ID_TOKEN_REQUEST_URL: requestUrl, ACTIONS_ID_TOKEN_REQUEST_TOKEN: runtimeToken },
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(w.endpoint.issuedTokens[0]?.accessToken);
    expect(seen).toEqual([{ authorization: `Bearer ${runtimeToken}`, audience: 'https://api.anthropic.com', apiVersion: '2.0' }]);
    expectNoSecrets(result.stderr, [...w.secrets(), runtimeToken]);
  });

  it('exits 2 when --github-actions has no request variables', async () => {
    const w = await world();
    const result = await runCli(['token', '--github-actions'], { env: exchangeEnv(w) });
    expect(result.code).toBe(2);
    expect(result.stderrLines).toEqual(['anthropic-wif token: ACTIONS_ID_TOKEN_REQUEST_URL is not set: give the GitHub Actions job "permissions: id-token: write"']);
  });
});
