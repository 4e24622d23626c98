/**
 * The official @anthropic-ai/sdk, configured only by ANTHROPIC_CONFIG_DIR (the agent's output
 * directory) and ANTHROPIC_BASE_URL (a local Messages stand-in), sends the agent's current
 * token before and after a rotation. The SDK runs in a child process with a clean
 * environment, so no stray ANTHROPIC_* variable of the test runner can shadow the profile.
 */
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { OutputFile } from '../../contract/index.ts';
import { REPO_ROOT, stopAllClis } from '../support/cli.ts';
import { startMessagesEndpoint, type MessagesEndpoint } from '../support/messages-endpoint.ts';
import { eventually, startAgentAwaitingRotation, startAgentWorld, type AgentWorld } from '../support/agent-world.ts';

const SDK_ENTRY = pathToFileURL(join(REPO_ROOT, 'node_modules/@anthropic-ai/sdk/index.mjs')).href;

/** One Messages call with a client built from nothing but the environment. */
const SDK_CALL = `
const { default: Anthropic } = await import(process.argv[2]);
const client = new Anthropic({ maxRetries: 0 });
try {
  const message = await client.messages.create({ model: 'claude-test', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
  process.stdout.write(JSON.stringify({ ok: true, text: message.content[0]?.text }));
} catch (error) {
  process.stdout.write(JSON.stringify({ ok: false, error: String(error) }));
}
`;

interface SdkOutcome {
  readonly ok: boolean;
  readonly text?: string;
  readonly error?: string;
}

async function callWithSdk(dir: string, env: Record<string, string>): Promise<SdkOutcome> {
  const script = join(dir, 'sdk-call.mjs');
  await writeFile(script, SDK_CALL);
  const child = spawn(process.execPath, [script, SDK_ENTRY], { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`SDK child exited ${String(code)}: ${stderr}`);
  return JSON.parse(stdout) as SdkOutcome;
}

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  await stopAllClis();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('the official SDK reading the agent files', () => {
  it('sends the current token before and after a rotation', async () => {
    const w: AgentWorld = await startAgentWorld({ ruleLifetimeSeconds: 180 });
    cleanups.push(() => w.close());
    const messages: MessagesEndpoint = await startMessagesEndpoint({
      authorize: ({ authorization }) => authorization !== undefined && w.endpoint.isValidToken(authorization.replace(/^Bearer /, '')),
    });
    cleanups.push(() => messages.close());
    const sdkEnv = { ANTHROPIC_CONFIG_DIR: w.outputDir, ANTHROPIC_BASE_URL: messages.url };

    const { agent, token: tokenA } = await startAgentAwaitingRotation(w);

    expect(await callWithSdk(w.dir, sdkEnv)).toEqual({ ok: true, text: 'Hello from the Messages stand-in.' });
    expect(messages.requests.at(-1)?.authorization).toBe(`Bearer ${tokenA}`);

    await w.rotate();
    const tokenB = await eventually(
      async () => {
        const issued = w.endpoint.issuedTokens[1]?.accessToken;
        const onDisk = await readFile(join(w.outputDir, OutputFile.token), 'utf8');
        return issued !== undefined && onDisk === issued ? issued : undefined;
      },
      15_000,
      'the rotated token in the files',
    );
    expect(tokenB).not.toBe(tokenA);

    expect(await callWithSdk(w.dir, sdkEnv)).toEqual({ ok: true, text: 'Hello from the Messages stand-in.' });
    expect(messages.requests.map((r) => r.authorization)).toEqual([`Bearer ${tokenA}`, `Bearer ${tokenB}`]);
    expect(messages.requests.every((r) => r.anthropicBeta?.split(',').includes('oauth-2025-04-20') === true)).toBe(true);
    expect(w.endpoint.requests.length).toBe(2);
    await expect(agent.stop(5_000)).resolves.toEqual({ code: 0, signal: null });
  });
});
