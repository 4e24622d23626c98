/**
 * The real Claude Code CLI (`claude -p`, installed from npm into the cache outside the
 * repository) in each way the README's Claude Code section describes, against the real agent
 * and a Messages stand-in that treats OAuth tokens as the real API does: Bearer only, with
 * the `oauth-2025-04-20` beta, and never as `X-Api-Key`. Each way that works is run again
 * after a rotation, with the old token revoked at the stand-in.
 */
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ClaudeCodeEnv, ClaudeCodeSetting, OutputFile, PROXY_PLACEHOLDER_AUTH_TOKEN, SdkEnv, TokenExchange } from '../../agent/contract.ts';
import { eventually, startAgentAwaitingRotation, startAgentWorld, type AgentWorld } from '../support/agent-world.ts';
import { CLAUDE_CODE_VERSION, createClaudeCodeHome, installClaudeCode, runClaudeCode, type ClaudeCodeHome, type ClaudeCodeRun } from '../support/claude-code.ts';
import { stopAllClis, type Env } from '../support/cli.ts';
import { startEgressTrap, type EgressTrap } from '../support/egress-trap.ts';
import { MESSAGES_PATH, OAuthRefusal, oauthTokenRules, startMessagesEndpoint, type MessagesEndpoint, type RecordedMessagesRequest } from '../support/messages-endpoint.ts';

/** What Claude Code adds to every Messages call: the beta query and its own User-Agent. */
const CLAUDE_CODE_PATH = `${MESSAGES_PATH}?beta=true`;
const CLAUDE_CODE_USER_AGENT = `claude-cli/${CLAUDE_CODE_VERSION} (external, sdk-cli)`;
/** A beta Claude Code always sends: the proxy must keep the client's betas. */
const CLAUDE_CODE_BETA = 'claude-code-20250219';
/** The stand-in streams this answer in three deltas; Claude Code prints it. */
const STREAM = { deltas: 3, deltaText: 'ok-' } as const;
const ANSWER = 'ok-ok-ok-';
const PROMPT = 'Say ok.';
/** What Claude Code prints when the API refuses the key its apiKeyHelper gave. */
const CLAUDE_CODE_INVALID_KEY = 'Invalid API key · Fix external API key';

let binary: string;
beforeAll(async () => {
  binary = await installClaudeCode();
}, 300_000);

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await stopAllClis();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Setup {
  readonly w: AgentWorld;
  readonly api: MessagesEndpoint;
  readonly trap: EgressTrap;
  readonly home: ClaudeCodeHome;
}

/** An agent world with a 180 s rule (see startAgentAwaitingRotation); the stand-in accepts only live minted tokens. */
async function setUp(settings?: (w: AgentWorld) => Readonly<Record<string, unknown>>): Promise<Setup> {
  const w = await startAgentWorld({ ruleLifetimeSeconds: 180 });
  cleanups.push(() => w.close());
  const api = await startMessagesEndpoint({ authorize: oauthTokenRules((token) => w.endpoint.isValidToken(token)), stream: STREAM });
  cleanups.push(() => api.close());
  const trap = await startEgressTrap();
  cleanups.push(() => trap.close());
  const home = await createClaudeCodeHome(settings?.(w));
  cleanups.push(() => rm(home.home, { recursive: true, force: true }));
  return { w, api, trap, home };
}

/** Resolves with access token #n once the agent has written it to the token file. */
function tokenOnDisk(w: AgentWorld, n: number): Promise<string> {
  return eventually(
    async () => {
      const issued = w.endpoint.issuedTokens[n - 1]?.accessToken;
      const onDisk = await readFile(join(w.outputDir, OutputFile.token), 'utf8').catch(() => undefined);
      return issued !== undefined && onDisk === issued ? issued : undefined;
    },
    15_000,
    `access token #${String(n)} in the token file`,
  );
}

/** The kubelet rotates the JWT; the agent writes token #2; the stand-in revokes token #1. */
async function rotate(w: AgentWorld, previous: string): Promise<string> {
  await w.rotate();
  const next = await tokenOnDisk(w, 2);
  w.endpoint.revokeToken(previous);
  expect(w.endpoint.isValidToken(previous)).toBe(false);
  return next;
}

function claude(s: Setup, env: Env): Promise<ClaudeCodeRun> {
  return runClaudeCode({ binary, home: s.home, egressProxyUrl: s.trap.url, env, prompt: PROMPT });
}

/** What the webhook gives an app container in file mode, plus the stand-in as the API. */
function fileModeEnv(s: Setup): Env {
  return { [SdkEnv.configDir]: s.w.outputDir, [SdkEnv.accessTokenFile]: join(s.w.outputDir, OutputFile.token), [SdkEnv.baseUrl]: s.api.url };
}

function betas(request: RecordedMessagesRequest): string[] {
  return (request.anthropicBeta ?? '').split(',');
}

/** A streamed Messages call from Claude Code, answered 200, with exactly this credential. */
function expectOAuthCall(request: RecordedMessagesRequest | undefined, token: string): void {
  expect(request).toMatchObject({
    method: 'POST',
    path: CLAUDE_CODE_PATH,
    userAgent: CLAUDE_CODE_USER_AGENT,
    authorization: `Bearer ${token}`,
    apiKey: undefined,
    stream: true,
    status: 200,
    completed: true,
  });
  expect(betas(request!)).toContain(TokenExchange.oauthBeta);
}

function expectAnswered(run: ClaudeCodeRun): void {
  expect({ code: run.code, stdout: run.stdout.trim() }).toEqual({ code: 0, stdout: ANSWER });
}

/** Every file under `dir` (Claude Code's HOME), read as text. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return Promise.all(entries.filter((entry) => entry.isFile()).map((entry) => readFile(join(entry.parentPath, entry.name), 'utf8')));
}

describe(`the real Claude Code ${CLAUDE_CODE_VERSION}`, () => {
  it('file mode: reads the SDK profile through ANTHROPIC_CONFIG_DIR alone and sends the current token, before and after a rotation', async () => {
    const s = await setUp();
    const { token: first } = await startAgentAwaitingRotation(s.w);

    expectAnswered(await claude(s, fileModeEnv(s)));
    const second = await rotate(s.w, first);
    expectAnswered(await claude(s, fileModeEnv(s)));

    expect(s.api.requests).toHaveLength(2);
    expectOAuthCall(s.api.requests[0], first);
    expectOAuthCall(s.api.requests[1], second);
    expect(s.trap.attempts).toEqual([]);
  });

  it('proxy mode: Claude Code holds only the placeholder; its streamed ?beta=true call reaches the API with the minted token, before and after a rotation', async () => {
    const s = await setUp();
    const { agent, token: first } = await startAgentAwaitingRotation(s.w, ['--proxy-addr', '127.0.0.1:0', '--upstream-url', s.api.url]);
    const listening = await agent.waitForJson((line) => line.msg === 'proxy: listening');
    const proxyEnv = { [SdkEnv.baseUrl]: `http://${String(listening.listen)}`, [SdkEnv.authToken]: PROXY_PLACEHOLDER_AUTH_TOKEN };

    expectAnswered(await claude(s, proxyEnv));
    const second = await rotate(s.w, first);
    expectAnswered(await claude(s, proxyEnv));

    expect(s.api.requests).toHaveLength(2);
    expectOAuthCall(s.api.requests[0], first);
    expectOAuthCall(s.api.requests[1], second);
    for (const request of s.api.requests) {
      expect(betas(request)).toContain(CLAUDE_CODE_BETA);
      expect(JSON.stringify(request.headers)).not.toContain(PROXY_PLACEHOLDER_AUTH_TOKEN);
    }
    const stored = (await filesUnder(s.home.home)).join('\n');
    for (const token of [first, second]) expect(stored).not.toContain(token);
    expect(s.trap.attempts).toEqual([]);
  });

  it('apiKeyHelper (the recipe the README used to give): the token goes out as X-Api-Key and Bearer without the OAuth beta, and is refused', async () => {
    const s = await setUp((w) => ({ [ClaudeCodeSetting.apiKeyHelper]: `cat ${join(w.outputDir, OutputFile.token)}` }));
    const { token } = await startAgentAwaitingRotation(s.w);

    const run = await claude(s, { ...fileModeEnv(s), [ClaudeCodeEnv.apiKeyHelperTtlMs]: '60000' });

    expect({ code: run.code, stdout: run.stdout.trim() }).toEqual({ code: 1, stdout: CLAUDE_CODE_INVALID_KEY });
    expect(s.api.requests.length).toBeGreaterThan(0);
    for (const request of s.api.requests) {
      expect(request).toMatchObject({ path: CLAUDE_CODE_PATH, userAgent: CLAUDE_CODE_USER_AGENT, apiKey: token, authorization: `Bearer ${token}`, status: 401 });
      expect(request.refusal).toBe(OAuthRefusal.apiKey);
      expect(betas(request)).not.toContain(TokenExchange.oauthBeta);
    }
    expect(s.trap.attempts).toEqual([]);
  });
});
