/**
 * Proxy mode end to end: the real `anthropic-wif agent --proxy-addr` exchanges a projected
 * token at the token endpoint stand-in, and the official SDK (environment exactly as the
 * webhook injects it in proxy mode) calls the Messages stand-in through the proxy.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { PROXY_PLACEHOLDER_AUTH_TOKEN } from '../../contract/index.ts';
import { eventually, startAgent, startAgentWorld, type AgentWorld } from '../support/agent-world.ts';
import { stopAllClis } from '../support/cli.ts';
import { startMessagesEndpoint, type MessagesEndpoint } from '../support/messages-endpoint.ts';

const execFileAsync = promisify(execFile);
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await stopAllClis();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function world(): Promise<{ w: AgentWorld; messages: MessagesEndpoint }> {
  const w = await startAgentWorld();
  cleanups.push(() => w.close());
  const messages = await startMessagesEndpoint({ responseText: 'proxied', stream: { deltas: 3, deltaText: 'ok ' } });
  cleanups.push(() => messages.close());
  return { w, messages };
}

async function sdkThroughProxy(proxyUrl: string): Promise<{ plain: string; streamed: string }> {
  const script = `
    import Anthropic from '@anthropic-ai/sdk';
    const client = new Anthropic({ maxRetries: 0 });
    const params = { model: 'claude-test', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] };
    const plain = await client.messages.create(params);
    const streamed = await client.messages.stream(params).finalMessage();
    process.stdout.write(JSON.stringify({ plain: plain.content[0].text, streamed: streamed.content[0].text }));
  `;
  const env = { PATH: process.env.PATH ?? '', HOME: '/nonexistent', ANTHROPIC_BASE_URL: proxyUrl, ANTHROPIC_AUTH_TOKEN: PROXY_PLACEHOLDER_AUTH_TOKEN };
  const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', script], { env, cwd: process.cwd(), timeout: 15_000 });
  return JSON.parse(stdout) as { plain: string; streamed: string };
}

describe('proxy mode with the real agent', () => {
  it('the SDK with the placeholder reaches the API with the minted token; no secret in the agent output', async () => {
    const { w, messages } = await world();
    const agent = startAgent(w, ['--proxy-addr', '127.0.0.1:0', '--upstream-url', messages.url]);
    const listening = await agent.waitForJson((l) => l.msg === 'proxy: listening');
    const proxyUrl = `http://${String(listening.listen)}`;
    const minted = await eventually(() => w.endpoint.issuedTokens[0]?.accessToken, 10_000, 'the first exchange');
    await eventually(async () => ((await fetch(`${proxyUrl}/v1/models`)).status === 503 ? undefined : true), 10_000, 'the proxy to have a token');

    const result = await sdkThroughProxy(proxyUrl);

    expect(result).toEqual({ plain: 'proxied', streamed: 'ok ok ok ' });
    const calls = messages.requests.filter((r) => r.path === '/v1/messages');
    expect(calls.map((r) => r.stream)).toEqual([false, true]);
    for (const call of calls) {
      expect(call.authorization).toBe(`Bearer ${minted}`);
      expect(call.anthropicBeta).toBe('oauth-2025-04-20');
      expect(JSON.stringify(call.headers)).not.toContain(PROXY_PLACEHOLDER_AUTH_TOKEN);
    }
    await agent.stop();
    const output = agent.stdout() + agent.stderr();
    for (const secret of w.secrets()) expect(output).not.toContain(secret);
  });
});
