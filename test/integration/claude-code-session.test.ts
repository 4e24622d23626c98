/**
 * One long Claude Code session (`claude -p` taking turns on stdin) in file mode, across a
 * rotation: it keeps the token it read while that is fresh, and reads the profile again
 * shortly before the token expires, so it picks up the token the agent wrote meanwhile. A
 * file of its own: it spends half a minute waiting for the first token to near its expiry,
 * which runs beside the other files rather than after claude-code.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { AUDIENCE, SUBJECT, eventually } from '../support/agent-world.ts';
import { CLAUDE_CODE_VERSION, startClaudeCodeSession } from '../support/claude-code.ts';
import { ANSWER, PROMPT, expectOAuthCall, fileModeEnv, startAgentFor, startClaudeCodeWorld, tokenOnDisk, useClaudeCode } from '../support/claude-code-world.ts';
import { TEST_FEDERATION_RULE_ID } from '../support/injection-defaults.ts';

/**
 * Left on a token when a long session is asked for another turn and must have re-read the
 * profile: Claude Code 2.1.328 holds on to a token until it has less than about 36 s left.
 */
const LONG_SESSION_REREAD_MS = 25_000;

const binary = useClaudeCode();

describe(`the real Claude Code ${CLAUDE_CODE_VERSION}, one long session`, { timeout: 90_000 }, () => {
  it('file mode: keeps the token it read while it is fresh, then reads the rotated one from the profile before it expires', async (ctx) => {
    // Token #1 lives 60 s (the shortest rule); token #2, after the rule is lengthened, 20 minutes.
    const s = await startClaudeCodeWorld(ctx, binary(), { ruleLifetimeSeconds: 60 });
    const { token: first } = await startAgentFor(s);
    const session = startClaudeCodeSession({ binary: binary(), home: s.home, egressProxyUrl: s.trap.url, env: fileModeEnv(s) });
    ctx.onTestFinished(async () => {
      await session.close();
    });

    expect(await session.turn(PROMPT)).toEqual({ subtype: 'success', isError: false, result: ANSWER });
    s.w.endpoint.setRules([{ id: TEST_FEDERATION_RULE_ID, subjectPrefix: SUBJECT, audience: AUDIENCE, lifetimeSeconds: 3600 }]);
    await s.w.rotate();
    const second = await tokenOnDisk(s.w, 2);
    expect(await session.turn(PROMPT)).toEqual({ subtype: 'success', isError: false, result: ANSWER });
    const firstExpiresAtMs = s.w.endpoint.findToken(first)!.expiresAtMs;
    await eventually(() => (Date.now() >= firstExpiresAtMs - LONG_SESSION_REREAD_MS ? true : undefined), 60_000, 'token #1 to be about to expire');
    expect(await session.turn(PROMPT)).toEqual({ subtype: 'success', isError: false, result: ANSWER });

    expect(await session.close()).toBe(0);
    expect(s.api.requests).toHaveLength(3);
    expectOAuthCall(s.api.requests[0], first);
    expectOAuthCall(s.api.requests[1], first);
    expectOAuthCall(s.api.requests[2], second);
    expect(s.trap.attempts).toEqual([]);
  });
});
