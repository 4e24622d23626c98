/**
 * The extra CA bundle (`--ca-bundle-file`, `ANTHROPIC_WIF_CA_BUNDLE_FILE`) with the real CLI:
 * https stand-ins for the token endpoint, an identity-token URL and the proxy's upstream, all
 * signed by a CA generated for the test. Without the bundle each is refused with a clear
 * error; with it each is accepted.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startAgent, startAgentWorld, type AgentWorld } from '../support/agent-world.ts';
import { runCli, stopAllClis } from '../support/cli.ts';
import { listenStandIn } from '../support/listen.ts';
import { startMessagesEndpoint } from '../support/messages-endpoint.ts';
import { createTestCa, issueServingCertificate } from '../support/tls.ts';

let pki: string;
let caFile: string;
let tls: { cert: string; key: string };
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  pki = await mkdtemp(join(tmpdir(), 'wif-ca-bundle-'));
  const ca = await createTestCa(join(pki, 'ca'));
  const serving = await issueServingCertificate(ca, { serial: 0x5eedn });
  tls = { cert: serving.certPem, key: serving.keyPem };
  caFile = join(pki, 'bundle.pem');
  await writeFile(caFile, ca.certPem);
});

afterAll(async () => {
  await rm(pki, { recursive: true, force: true });
});

afterEach(async () => {
  await stopAllClis();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function httpsWorld(): Promise<AgentWorld> {
  const w = await startAgentWorld({ endpointListen: { tls } });
  cleanups.push(() => w.close());
  expect(w.endpoint.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  return w;
}

function exchangeEnv(w: AgentWorld): Record<string, string | undefined> {
  return { ANTHROPIC_FEDERATION_RULE_ID: w.env.ANTHROPIC_FEDERATION_RULE_ID, ANTHROPIC_ORGANIZATION_ID: w.env.ANTHROPIC_ORGANIZATION_ID, ANTHROPIC_BASE_URL: w.env.ANTHROPIC_BASE_URL };
}

const UNTRUSTED_HINT = '(if a private CA or a TLS-intercepting proxy signs it, give that CA in ANTHROPIC_WIF_CA_BUNDLE_FILE (--ca-bundle-file))';

describe('the extra CA bundle', () => {
  it('token: an endpoint signed by a private CA is refused without the bundle, with one clear line, and no request reaches it', async () => {
    const w = await httpsWorld();
    const result = await runCli(['token', '--identity-token-file', w.kubelet.tokenPath], { env: exchangeEnv(w) });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    const line = result.stderrLines.at(-1) ?? '';
    expect(line.startsWith(`anthropic-wif token: the token endpoint ${w.endpoint.url}/v1/oauth/token presented a certificate that is not trusted: `)).toBe(true);
    expect(line).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to verify the first certificate/);
    expect(line.endsWith(UNTRUSTED_HINT)).toBe(true);
    expect(w.endpoint.requests).toEqual([]);
  });

  it('token: the same endpoint is accepted with --ca-bundle-file, and with the variable', async () => {
    const w = await httpsWorld();
    const byFlag = await runCli(['token', '--identity-token-file', w.kubelet.tokenPath, '--ca-bundle-file', caFile], { env: exchangeEnv(w) });
    expect(byFlag.code).toBe(0);
    expect(byFlag.stdout).toBe(w.endpoint.issuedTokens[0]?.accessToken);
    await w.rotate();
    const byVariable = await runCli(['token', '--identity-token-file', w.kubelet.tokenPath], { env: { ...exchangeEnv(w), ANTHROPIC_WIF_CA_BUNDLE_FILE: caFile } });
    expect(byVariable.code).toBe(0);
    expect(byVariable.stdout).toBe(w.endpoint.issuedTokens[1]?.accessToken);
    expect(w.endpoint.requests.map((r) => r.assertionSha256 !== undefined)).toEqual([true, true]);
  });

  it('agent: the sidecar, as the webhook injects the variable, writes a token from that endpoint', async () => {
    const w = await httpsWorld();
    const agent = startAgent(w, ['--once'], { ANTHROPIC_WIF_CA_BUNDLE_FILE: caFile });
    expect(await agent.exited).toEqual({ code: 0, signal: null });
    expect(w.endpoint.issuedTokens.length).toBe(1);
  });

  it('agent: exit 2 naming the variable when the bundle is missing', async () => {
    const w = await httpsWorld();
    const missing = join(pki, 'nope.pem');
    const agent = startAgent(w, ['--once'], { ANTHROPIC_WIF_CA_BUNDLE_FILE: missing });
    expect(await agent.exited).toEqual({ code: 2, signal: null });
    expect(agent.stderrLines).toEqual([`anthropic-wif agent: invalid ANTHROPIC_WIF_CA_BUNDLE_FILE "${missing}": expected a readable file of PEM CA certificates (the file does not exist)`]);
  });

  it('the url identity source trusts the bundle too', async () => {
    const w = await startAgentWorld();
    cleanups.push(() => w.close());
    const jwt = await w.mintJwt();
    const idp = await listenStandIn((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ value: jwt }));
    }, { tls });
    cleanups.push(() => new Promise<void>((resolve) => idp.server.close(() => { resolve(); })));
    const args = ['token', '--identity-token-url', `${idp.url}/token`, '--identity-token-url-field', 'value'];
    const refused = await runCli(args, { env: exchangeEnv(w) });
    expect(refused.code).toBe(1);
    expect(refused.stderrLines.at(-1)).toMatch(new RegExp(`^anthropic-wif token: .*identity token URL ${idp.url.replaceAll('.', '\\.')}/token presented a certificate that is not trusted: .*\\(if a private CA`));
    expect(w.endpoint.requests).toEqual([]);
    const accepted = await runCli([...args, '--ca-bundle-file', caFile], { env: exchangeEnv(w) });
    expect(accepted.code).toBe(0);
    expect(accepted.stdout).toBe(w.endpoint.issuedTokens[0]?.accessToken);
  });

  it('proxy mode: the upstream is refused (502) without the bundle and reached with it', async () => {
    const messages = await startMessagesEndpoint({ responseText: 'over private TLS' }, { tls });
    cleanups.push(() => messages.close());
    const body = JSON.stringify({ model: 'claude-test', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] });
    const callThrough = async (extraEnv: Record<string, string>): Promise<{ status: number; text: string }> => {
      const w = await startAgentWorld();
      cleanups.push(() => w.close());
      const agent = startAgent(w, ['--proxy-addr', '127.0.0.1:0', '--upstream-url', messages.url], extraEnv);
      const listening = await agent.waitForJson((l) => l.msg === 'proxy: listening');
      const proxyUrl = `http://${String(listening.listen)}`;
      await eventually(() => w.endpoint.issuedTokens[0], 10_000, 'the first exchange');
      const answer = await eventually(async () => {
        const response = await fetch(`${proxyUrl}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        return response.status === 503 ? undefined : { status: response.status, text: await response.text() };
      }, 10_000, 'the proxy to have a token');
      await agent.stop();
      return answer;
    };
    const refused = await callThrough({});
    expect(refused.status).toBe(502);
    expect(JSON.parse(refused.text)).toMatchObject({ type: 'error', error: { type: 'api_error', message: expect.stringContaining("the upstream API's certificate is not trusted (UNABLE_TO_VERIFY_LEAF_SIGNATURE)") as unknown } });
    expect(messages.requests).toEqual([]);
    const accepted = await callThrough({ ANTHROPIC_WIF_CA_BUNDLE_FILE: caFile });
    expect(accepted.status).toBe(200);
    expect(JSON.parse(accepted.text)).toMatchObject({ content: [{ type: 'text', text: 'over private TLS' }] });
    expect(messages.requests.length).toBe(1);
  });
});
