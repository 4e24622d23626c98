/**
 * Egress through a real forward proxy (Debian's tinyproxy on 127.0.0.1), with the real CLI.
 *
 * The agent never proxies loopback targets, so the stand-ins listen on a non-loopback address
 * that exists only on this machine (hostAddress: a port-less bridge the test creates), over https with a test CA (the agent sends a JWT only over https
 * off loopback). tinyproxy binds its outgoing side to 127.0.0.1: a stand-in that accepts only
 * connections from 127.0.0.1 is reachable only through the proxy, and one that accepts only
 * connections from the host address is reachable only directly.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startAgent, startAgentWorld, type AgentWorld } from '../support/agent-world.ts';
import { runCli, stopAllClis, type Env } from '../support/cli.ts';
import { listenStandIn } from '../support/listen.ts';
import { startMessagesEndpoint } from '../support/messages-endpoint.ts';
import { createTestCa, issueServingCertificate } from '../support/tls.ts';
import { freePort, hostAddress, requireTinyproxy, startTinyproxy, type Tinyproxy } from '../support/tinyproxy.ts';

const PROXY_USER = 'wif-proxy-user';
const PROXY_PASSWORD = 'hunter2-proxy-secret';
/** Every form a proxy credential could leak in. */
const PROXY_SECRETS = [PROXY_PASSWORD, Buffer.from(`${PROXY_USER}:${PROXY_PASSWORD}`).toString('base64'), `${PROXY_USER}:`];

let dir: string;
let caFile: string;
let tls: { cert: string; key: string };
let host: string;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  requireTinyproxy();
  host = hostAddress();
  dir = await mkdtemp(join(tmpdir(), 'wif-egress-proxy-'));
  const ca = await createTestCa(join(dir, 'ca'));
  const serving = await issueServingCertificate(ca, { serial: 0xe9e55n, ipAddresses: [host], dnsNames: [] });
  tls = { cert: serving.certPem, key: serving.keyPem };
  caFile = join(dir, 'bundle.pem');
  await writeFile(caFile, ca.certPem);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  await stopAllClis();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function world(acceptOnlyFrom: string): Promise<AgentWorld> {
  const w = await startAgentWorld({ endpointListen: { host, tls, acceptOnlyFrom } });
  cleanups.push(() => w.close());
  return w;
}

async function proxy(connectPorts: readonly number[]): Promise<Tinyproxy> {
  const p = await startTinyproxy(dir, { connectPorts, basicAuth: { user: PROXY_USER, password: PROXY_PASSWORD } });
  cleanups.push(() => p.close());
  return p;
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

/** `http://user:password@127.0.0.1:port`. */
function withCredentials(proxyUrl: string, password = PROXY_PASSWORD): string {
  const url = new URL(proxyUrl);
  url.username = PROXY_USER;
  url.password = password;
  return url.toString();
}

function tokenEnv(w: AgentWorld, env: Env): Env {
  return {
    ANTHROPIC_FEDERATION_RULE_ID: w.env.ANTHROPIC_FEDERATION_RULE_ID,
    ANTHROPIC_ORGANIZATION_ID: w.env.ANTHROPIC_ORGANIZATION_ID,
    ANTHROPIC_BASE_URL: w.env.ANTHROPIC_BASE_URL,
    ANTHROPIC_WIF_CA_BUNDLE_FILE: caFile,
    ...env,
  };
}

function expectNoProxySecrets(text: string): void {
  for (const secret of PROXY_SECRETS) expect(text.includes(secret), `output contains a proxy credential (${secret.slice(0, 6)}…)`).toBe(false);
}

describe('egress through an HTTP forward proxy (tinyproxy)', () => {
  it('exchanges through the proxy when the endpoint is reachable only through it, sending the credentials and never showing them', async () => {
    const w = await world('127.0.0.1');
    const p = await proxy([portOf(w.endpoint.url)]);
    const args = ['token', '--identity-token-file', w.kubelet.tokenPath];

    // Direct, the endpoint drops the connection: it is reachable only through the proxy.
    const direct = startAgent(w, [], { ANTHROPIC_WIF_CA_BUNDLE_FILE: caFile });
    const refused = await direct.waitForJson((l) => l.msg === 'token exchange failed (transient); retrying', 15_000);
    expect((refused.error as { message: string }).message).toMatch(new RegExp(`^could not reach the token endpoint ${w.endpoint.tokenUrl.replaceAll('.', '\\.')}: `));
    await direct.stop();
    expect(w.endpoint.requests).toEqual([]);

    await w.rotate();
    const proxied = await runCli(args, { env: tokenEnv(w, { HTTPS_PROXY: withCredentials(p.url), NO_PROXY: 'localhost,.svc' }) });
    expect(proxied.code).toBe(0);
    expect(proxied.stdout).toBe(w.endpoint.issuedTokens[0]?.accessToken);
    expect(p.connects()).toEqual([`${host}:${portOf(w.endpoint.url)}`]);
    expectNoProxySecrets(proxied.stdout + proxied.stderr);
  });

  it('the url identity source and the proxy mode upstream go through the proxy too', async () => {
    const w = await world('127.0.0.1');
    const jwt = await w.mintJwt();
    const idp = await listenStandIn((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ value: jwt }));
    }, { host, tls, acceptOnlyFrom: '127.0.0.1' });
    cleanups.push(() => new Promise<void>((resolve) => idp.server.close(() => { resolve(); })));
    const messages = await startMessagesEndpoint({ responseText: 'through the proxy' }, { host, tls, acceptOnlyFrom: '127.0.0.1' });
    cleanups.push(() => messages.close());
    const p = await proxy([portOf(w.endpoint.url), portOf(idp.url), portOf(messages.url)]);

    const agent = startAgent(w, ['--identity-token-url', `${idp.url}/token`, '--identity-token-url-field', 'value', '--proxy-addr', '127.0.0.1:0', '--upstream-url', messages.url], {
      ANTHROPIC_IDENTITY_TOKEN_FILE: undefined,
      ANTHROPIC_WIF_CA_BUNDLE_FILE: caFile,
      https_proxy: withCredentials(p.url),
    });
    const listening = await agent.waitForJson((l) => l.msg === 'proxy: listening');
    const minted = await eventually(() => w.endpoint.issuedTokens[0]?.accessToken, 15_000, 'the first exchange');
    const answer = await eventually(async () => {
      const response = await fetch(`http://${String(listening.listen)}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'claude-test', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }),
      });
      return response.status === 503 ? undefined : { status: response.status, body: await response.json() };
    }, 10_000, 'the proxy to have a token');
    expect(answer).toMatchObject({ status: 200, body: { content: [{ type: 'text', text: 'through the proxy' }] } });
    expect(messages.requests.map((r) => r.authorization)).toEqual([`Bearer ${minted}`]);
    expect(new Set(p.connects())).toEqual(new Set([`${host}:${portOf(idp.url)}`, `${host}:${portOf(w.endpoint.url)}`, `${host}:${portOf(messages.url)}`]));
    await agent.stop();
    expectNoProxySecrets(agent.stdout() + agent.stderr());
    expect(agent.jsonLines().find((l) => l.msg === 'starting')).toMatchObject({ egress: { httpsProxy: p.url, extraCaCertificates: 1 } });
  });

  it('NO_PROXY sends the exchange directly: the proxy sees nothing', async () => {
    const w = await world(host);
    const p = await proxy([portOf(w.endpoint.url)]);
    const result = await runCli(['token', '--identity-token-file', w.kubelet.tokenPath], {
      env: tokenEnv(w, { HTTPS_PROXY: withCredentials(p.url), NO_PROXY: `example.invalid,${host}` }),
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(w.endpoint.issuedTokens[0]?.accessToken);
    expect(p.connects()).toEqual([]);
    expect(p.log()).not.toMatch(/Connect \(file descriptor/);
  });

  it('a proxy that is down is a clear, retried error naming it by origin only', async () => {
    const w = await world('127.0.0.1');
    const downPort = await freePort();
    const agent = startAgent(w, [], { ANTHROPIC_WIF_CA_BUNDLE_FILE: caFile, HTTPS_PROXY: withCredentials(`http://127.0.0.1:${downPort}`) });
    const failures = await eventually(() => {
      const lines = agent.jsonLines().filter((l) => l.msg === 'token exchange failed (transient); retrying');
      return lines.length >= 2 ? lines : undefined;
    }, 15_000, 'two failed, retried attempts');
    for (const line of failures) {
      expect(line).toMatchObject({ level: 'warn', error: { type: 'ExchangeError', code: 'exchange-network', retryable: true } });
      expect((line.error as { message: string }).message).toBe(
        `could not reach the token endpoint ${w.endpoint.tokenUrl}: could not connect to the proxy http://127.0.0.1:${downPort} (HTTPS_PROXY): connect ECONNREFUSED 127.0.0.1:${downPort}`,
      );
    }
    expect(failures.map((l) => l.failures)).toEqual([1, 2]);
    await agent.stop();
    expect(w.endpoint.requests).toEqual([]);
    expectNoProxySecrets(agent.stdout() + agent.stderr());
  });

  // tinyproxy answers a CONNECT with bad credentials 401 (other proxies say 407).
  it('a CONNECT the proxy refuses (wrong password) is a clear, retryable error without the credentials', async () => {
    const w = await world('127.0.0.1');
    const p = await proxy([portOf(w.endpoint.url)]);
    const wrong = 'wrong-password-never-shown';
    const agent = startAgent(w, [], { ANTHROPIC_WIF_CA_BUNDLE_FILE: caFile, HTTPS_PROXY: withCredentials(p.url, wrong) });
    const failure = await agent.waitForJson((l) => l.msg === 'token exchange failed (transient); retrying', 15_000);
    expect(failure).toMatchObject({ error: { code: 'exchange-network', retryable: true } });
    expect((failure.error as { message: string }).message).toBe(
      `could not reach the token endpoint ${w.endpoint.tokenUrl}: the proxy ${p.url} (HTTPS_PROXY) answered CONNECT ${host}:${portOf(w.endpoint.url)} with HTTP 401 Unauthorized`,
    );
    await agent.stop();
    const output = agent.stdout() + agent.stderr();
    expect(output).not.toContain(wrong);
    expect(output).not.toContain(Buffer.from(`${PROXY_USER}:${wrong}`).toString('base64'));
    expectNoProxySecrets(output);
  });
});
