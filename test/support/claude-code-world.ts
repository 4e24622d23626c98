/**
 * What the Claude Code integration tests share: an agent world with a Messages stand-in that
 * enforces the API's OAuth rules, an egress trap and a fresh HOME, all torn down when the
 * test ends; the agent started to exchange the next rotated JWT at once; and what every
 * successful Claude Code call must look like at the stand-in.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, type TestContext } from 'vitest';
import { OutputFile, SdkEnv, TokenExchange } from '../../contract/index.ts';
import { eventually, startAgentAwaitingRotation, startAgentWorld, type AgentAwaitingRotation, type AgentWorld } from './agent-world.ts';
import { CLAUDE_CODE_VERSION, createClaudeCodeHome, installClaudeCode, runClaudeCode, type ClaudeCodeHome, type ClaudeCodeRun } from './claude-code.ts';
import { stopAllClis, type Env } from './cli.ts';
import { startEgressTrap, type EgressTrap } from './egress-trap.ts';
import { MESSAGES_PATH, oauthTokenRules, startMessagesEndpoint, type MessagesEndpoint, type RecordedMessagesRequest } from './messages-endpoint.ts';

/** What Claude Code adds to every Messages call: the beta query and its own User-Agent. */
export const CLAUDE_CODE_PATH = `${MESSAGES_PATH}?beta=true`;
export const CLAUDE_CODE_USER_AGENT = `claude-cli/${CLAUDE_CODE_VERSION} (external, sdk-cli)`;
/** A beta Claude Code always sends: the proxy must keep the client's betas. */
export const CLAUDE_CODE_BETA = 'claude-code-20250219';
/** The stand-in streams this answer in three deltas; Claude Code prints it. */
const STREAM = { deltas: 3, deltaText: 'ok-' } as const;
export const ANSWER = 'ok-ok-ok-';
export const PROMPT = 'Say ok.';

/** An install from npm on a cold cache takes 10–60 s; the hook allows for a slow registry. */
const INSTALL_TIMEOUT_MS = 300_000;

/**
 * For a test file: installs Claude Code before its tests (an install that fails fails them,
 * never skips them) and stops every CLI the file started after them. Returns the binary's path.
 */
export function useClaudeCode(): () => string {
  let binary: string | undefined;
  beforeAll(async () => {
    binary = await installClaudeCode();
  }, INSTALL_TIMEOUT_MS);
  afterAll(async () => {
    await stopAllClis();
  });
  return () => {
    if (binary === undefined) throw new Error('Claude Code is not installed (see the beforeAll hook failure)');
    return binary;
  };
}

export interface ClaudeCodeWorld {
  readonly ctx: TestContext;
  readonly binary: string;
  readonly w: AgentWorld;
  readonly api: MessagesEndpoint;
  readonly trap: EgressTrap;
  readonly home: ClaudeCodeHome;
}

export interface ClaudeCodeWorldOptions {
  /** Claude Code's user settings, given the world. */
  readonly settings?: (w: AgentWorld) => Readonly<Record<string, unknown>>;
  /** Default 180 (see startAgentAwaitingRotation). */
  readonly ruleLifetimeSeconds?: number;
}

/** An agent world, and a stand-in that accepts only live minted tokens; torn down when the test ends. */
export async function startClaudeCodeWorld(ctx: TestContext, binary: string, options: ClaudeCodeWorldOptions = {}): Promise<ClaudeCodeWorld> {
  const w = await startAgentWorld({ ruleLifetimeSeconds: options.ruleLifetimeSeconds ?? 180 });
  ctx.onTestFinished(() => w.close());
  const api = await startMessagesEndpoint({ authorize: oauthTokenRules((token) => w.endpoint.isValidToken(token)), stream: STREAM });
  ctx.onTestFinished(() => api.close());
  const trap = await startEgressTrap();
  ctx.onTestFinished(() => trap.close());
  const home = await createClaudeCodeHome(options.settings?.(w));
  ctx.onTestFinished(() => rm(home.home, { recursive: true, force: true, maxRetries: 3 }));
  return { ctx, binary, w, api, trap, home };
}

/** startAgentAwaitingRotation, with the agent stopped when the test ends (before the world closes). */
export async function startAgentFor(s: ClaudeCodeWorld, args: readonly string[] = []): Promise<AgentAwaitingRotation> {
  const started = await startAgentAwaitingRotation(s.w, args);
  s.ctx.onTestFinished(async () => {
    await started.agent.stop();
  });
  return started;
}

/** Resolves with access token #n once the agent has written it to the token file. */
export function tokenOnDisk(w: AgentWorld, n: number): Promise<string> {
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

/** `claude -p PROMPT` in the world's HOME, behind its egress trap. */
export function claude(s: ClaudeCodeWorld, env: Env): Promise<ClaudeCodeRun> {
  return runClaudeCode({ binary: s.binary, home: s.home, egressProxyUrl: s.trap.url, env, prompt: PROMPT });
}

/** What the webhook gives an app container in file mode, plus the stand-in as the API. */
export function fileModeEnv(s: ClaudeCodeWorld): Env {
  return { [SdkEnv.configDir]: s.w.outputDir, [SdkEnv.accessTokenFile]: join(s.w.outputDir, OutputFile.token), [SdkEnv.baseUrl]: s.api.url };
}

export function betas(request: RecordedMessagesRequest): string[] {
  return (request.anthropicBeta ?? '').split(',');
}

/** A streamed Messages call from Claude Code, answered 200, with exactly this credential and Claude Code's betas. */
export function expectOAuthCall(request: RecordedMessagesRequest | undefined, token: string): void {
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
  expect(betas(request!)).toEqual(expect.arrayContaining([TokenExchange.oauthBeta, CLAUDE_CODE_BETA]));
}
