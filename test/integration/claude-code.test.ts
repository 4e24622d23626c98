/**
 * The real Claude Code CLI (`claude -p`, installed from npm into the cache outside the
 * repository) in each way the README's Claude Code section describes, against the real agent
 * and a Messages stand-in that treats OAuth tokens as the real API does: Bearer only, with
 * the `oauth-2025-04-20` beta, and never as `X-Api-Key`. Each way the README recommends is run
 * again after a rotation, with the old token revoked at the stand-in; the last test shows that
 * the egress trap behind every run does catch traffic beyond loopback. A long session is in
 * claude-code-session.test.ts.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ClaudeCodeEnv, ClaudeCodeSetting, OutputFile, PROXY_PLACEHOLDER_AUTH_TOKEN, SdkEnv, TokenExchange } from '../../contract/index.ts';
import { writeFirstToken, type AgentWorld } from '../support/agent-world.ts';
import { CLAUDE_CODE_VERSION, type ClaudeCodeRun } from '../support/claude-code.ts';
import {
  ANSWER,
  CLAUDE_CODE_PATH,
  CLAUDE_CODE_USER_AGENT,
  betas,
  claude,
  expectOAuthCall,
  fileModeEnv,
  startAgentFor,
  startClaudeCodeWorld,
  tokenOnDisk,
  useClaudeCode,
} from '../support/claude-code-world.ts';
import { OAuthRefusal, type RecordedMessagesRequest } from '../support/messages-endpoint.ts';

/** Where Claude Code's nonessential traffic goes, as a CONNECT target. */
const ANTHROPIC_API_ORIGIN = 'api.anthropic.com:443';
/** How often one `claude -p` runs apiKeyHelper and calls the API before it gives up on a 401. */
const HELPER_ATTEMPTS = 3;
/** What Claude Code prints when the API refuses the key its apiKeyHelper gave. */
const CLAUDE_CODE_INVALID_KEY = 'Invalid API key · Fix external API key';

const binary = useClaudeCode();

/** The kubelet rotates the JWT; the agent writes token #2; the stand-in revokes token #1. */
async function rotate(w: AgentWorld, previous: string): Promise<string> {
  await w.rotate();
  const next = await tokenOnDisk(w, 2);
  w.endpoint.revokeToken(previous);
  expect(w.endpoint.isValidToken(previous)).toBe(false);
  return next;
}

function expectAnswered(run: ClaudeCodeRun): void {
  expect({ code: run.code, stdout: run.stdout.trim() }).toEqual({ code: 0, stdout: ANSWER });
}

/** Every file under `dir` (Claude Code's HOME), read as text. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return Promise.all(entries.filter((entry) => entry.isFile()).map((entry) => readFile(join(entry.parentPath, entry.name), 'utf8')));
}

// Each test takes 5–10 s on an idle machine; a busy one (two cores, other builds) may triple that.
describe(`the real Claude Code ${CLAUDE_CODE_VERSION}`, { timeout: 60_000 }, () => {
  it('file mode: reads the SDK profile through ANTHROPIC_CONFIG_DIR alone and sends the current token, before and after a rotation', async (ctx) => {
    const s = await startClaudeCodeWorld(ctx, binary());
    const { token: first } = await startAgentFor(s);

    expectAnswered(await claude(s, fileModeEnv(s)));
    const second = await rotate(s.w, first);
    expectAnswered(await claude(s, fileModeEnv(s)));

    expect(s.api.requests).toHaveLength(2);
    expectOAuthCall(s.api.requests[0], first);
    expectOAuthCall(s.api.requests[1], second);
    expect(s.trap.attempts).toEqual([]);
  });

  it('proxy mode: Claude Code holds only the placeholder; its streamed ?beta=true call reaches the API with the minted token, before and after a rotation', async (ctx) => {
    const s = await startClaudeCodeWorld(ctx, binary());
    const { agent, token: first } = await startAgentFor(s, ['--proxy-addr', '127.0.0.1:0', '--upstream-url', s.api.url]);
    const listening = await agent.waitForJson((line) => line.msg === 'proxy: listening');
    const proxyEnv = { [SdkEnv.baseUrl]: `http://${String(listening.listen)}`, [SdkEnv.authToken]: PROXY_PLACEHOLDER_AUTH_TOKEN };

    expectAnswered(await claude(s, proxyEnv));
    const second = await rotate(s.w, first);
    expectAnswered(await claude(s, proxyEnv));

    expect(s.api.requests).toHaveLength(2);
    expectOAuthCall(s.api.requests[0], first);
    expectOAuthCall(s.api.requests[1], second);
    for (const request of s.api.requests) expect(JSON.stringify(request.headers)).not.toContain(PROXY_PLACEHOLDER_AUTH_TOKEN);
    const stored = (await filesUnder(s.home.home)).join('\n');
    for (const token of [first, second]) expect(stored).not.toContain(token);
    expect(s.trap.attempts).toEqual([]);
    await agent.stop();
    for (const secret of s.w.secrets()) expect(agent.stdout() + agent.stderr()).not.toContain(secret);
  });

  it('CLAUDE_CODE_OAUTH_TOKEN, set from the token file for one run: Bearer with the OAuth beta', async (ctx) => {
    const s = await startClaudeCodeWorld(ctx, binary());
    const token = await writeFirstToken(s.w);

    expectAnswered(await claude(s, { [SdkEnv.baseUrl]: s.api.url, [ClaudeCodeEnv.oauthToken]: await readFile(join(s.w.outputDir, OutputFile.token), 'utf8') }));

    expect(s.api.requests).toHaveLength(1);
    expectOAuthCall(s.api.requests[0], token);
    expect(s.trap.attempts).toEqual([]);
  });

  it('apiKeyHelper (the recipe the README used to give): the token goes out as X-Api-Key, also with the OAuth beta added, and is refused', async (ctx) => {
    // The README's command, plus a line per run in a log, to count how often Claude Code runs it.
    const helperLog = (w: AgentWorld): string => join(w.dir, 'api-key-helper.log');
    const s = await startClaudeCodeWorld(ctx, binary(), { settings: (w) => ({ [ClaudeCodeSetting.apiKeyHelper]: `echo run >> ${helperLog(w)}; cat ${join(w.outputDir, OutputFile.token)}` }) });
    const token = await writeFirstToken(s.w);

    // As the README said: file mode's variables, and the helper re-run every minute.
    const asDocumented = await claude(s, { ...fileModeEnv(s), [ClaudeCodeEnv.apiKeyHelperTtlMs]: '60000' });
    const refusedAsDocumented = s.api.requests.slice();
    const withBeta = await claude(s, { ...fileModeEnv(s), [ClaudeCodeEnv.betas]: TokenExchange.oauthBeta });
    const refusedWithBeta = s.api.requests.slice(refusedAsDocumented.length);

    for (const run of [asDocumented, withBeta]) expect({ code: run.code, stdout: run.stdout.trim() }).toEqual({ code: 1, stdout: CLAUDE_CODE_INVALID_KEY });
    // Each run: the helper, the call, and after each 401 the helper again and one more call, twice.
    expect([refusedAsDocumented.length, refusedWithBeta.length]).toEqual([HELPER_ATTEMPTS, HELPER_ATTEMPTS]);
    expect((await readFile(helperLog(s.w), 'utf8')).split('\n').filter((line) => line !== '')).toHaveLength(2 * HELPER_ATTEMPTS);
    for (const request of s.api.requests) {
      expect(request).toMatchObject({ path: CLAUDE_CODE_PATH, userAgent: CLAUDE_CODE_USER_AGENT, apiKey: token, authorization: `Bearer ${token}`, status: 401, refusal: OAuthRefusal.apiKey });
    }
    const withOAuthBeta = (requests: readonly RecordedMessagesRequest[]): boolean[] => requests.map((request) => betas(request).includes(TokenExchange.oauthBeta));
    expect(withOAuthBeta(refusedAsDocumented)).toEqual([false, false, false]);
    expect(withOAuthBeta(refusedWithBeta)).toEqual([true, true, true]);
    expect(s.trap.attempts).toEqual([]);
  });

  it('the egress trap catches what Claude Code sends beyond loopback: with nonessential traffic allowed, it tries api.anthropic.com', async (ctx) => {
    const s = await startClaudeCodeWorld(ctx, binary());
    const token = await writeFirstToken(s.w);

    expectAnswered(await claude(s, { ...fileModeEnv(s), [ClaudeCodeEnv.disableNonessentialTraffic]: undefined }));

    // It also asks the base URL for its bootstrap settings (404 here), with the same token.
    expectOAuthCall(
      s.api.requests.find((request) => request.path === CLAUDE_CODE_PATH),
      token,
    );
    expect(s.trap.attempts.length).toBeGreaterThan(0);
    expect(new Set(s.trap.attempts)).toEqual(new Set([ANTHROPIC_API_ORIGIN]));
  });
});
