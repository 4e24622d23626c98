/**
 * `npm run demo` end to end, shortened to one cycle: the real webhook, agent and official SDK
 * against the local stand-ins. Checks what a newcomer is promised: the patch as a diff with the
 * sidecar, a token exchanged and used by the SDK, a clean exit, the stand-in disclaimer, and
 * no token or assertion anywhere in the output.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/cli.ts';

const DEMO_ENTRY = join(REPO_ROOT, 'demo/run.ts');

interface DemoResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runDemo(args: readonly string[]): Promise<DemoResult> {
  // Only PATH and HOME: a stray ANTHROPIC_* variable of the test runner must not matter.
  const child = spawn(process.execPath, [DEMO_ENTRY, ...args], { cwd: REPO_ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({ code, stdout, stderr });
    });
  });
}

/** The text after each line's `[+12.3s]` stamp, which is padded to 8 characters plus a space. */
function messages(stdout: string): string[] {
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const stamp = /^\[\+\d+\.\ds\]/.exec(line)?.[0] ?? '';
      return line.slice(Math.max(stamp.length, 8) + 1);
    });
}

describe('npm run demo', () => {
  it('admits the example pod, exchanges a token the SDK then sends, and stops cleanly', async () => {
    const result = await runDemo(['--cycles', '1', '--no-color']);
    expect([result.code, result.stderr]).toEqual([0, '']);
    const lines = messages(result.stdout);

    expect(lines).toContain('allowed, with a JSONPatch of 6 operations and no warnings:');
    expect(lines).toContain('    +    - name: anthropic-wif-agent');
    expect(lines).toContain('    +      restartPolicy: Always');
    expect(lines).toContain('    added native sidecar (init container, restartPolicy: Always) anthropic-wif-agent: ghcr.io/anthropic-workload-identity/anthropic-wif:0.1.0 agent');

    const exchanged = lines.filter((line) => line.startsWith('agent: exchanged token #'));
    expect(exchanged).toHaveLength(1);
    const match = /^agent: exchanged token #1 (sha256:[0-9a-f]{4}…[0-9a-f]{4}), expires in 60 s, next refresh in 24 s$/.exec(exchanged[0] ?? '');
    expect(match).not.toBeNull();
    const tokenFingerprint = match?.[1] ?? '';
    expect(lines).toContain(`SDK call #1: HTTP 200 "Hello from the local Messages stand-in (not Claude).", sent Bearer ${tokenFingerprint} = token #1`);
    expect(lines).toContain(`token files updated atomically: token (0600) and credentials/default.json (0600) now hold ${tokenFingerprint}`);

    expect(lines).toContain('agent: SIGTERM -> exit 0');
    expect(lines).toContain('webhook: SIGTERM -> exit 0');
    expect(lines.at(-2)).toBe('The Anthropic endpoints in this demo were LOCAL STAND-INS on 127.0.0.1 (test/support/): nothing was sent to Anthropic,');

    // Access tokens from the stand-in start with sk-ant-oat01-; JWTs with a base64url `{"` header.
    expect(result.stdout).not.toMatch(/sk-ant-oat01-/);
    expect(result.stdout).not.toMatch(/eyJ[A-Za-z0-9_-]{8,}\.eyJ/);
  }, 60_000);

  it('refuses a bad flag with exit 2 and one line on stderr', async () => {
    const result = await runDemo(['--cycles', '0']);
    expect([result.code, result.stdout, result.stderr]).toEqual([2, '', 'demo: --cycles: expected a whole number from 1 to 20, got "0"\n']);
  });

  it('prints its usage for --help and exits 0', async () => {
    const result = await runDemo(['--help']);
    expect([result.code, result.stderr]).toEqual([0, '']);
    expect(result.stdout.split('\n')[0]).toBe('Usage: npm run demo -- [flags]');
    expect(result.stdout).toContain('  --keep-running    Keep refreshing and calling after that, until Ctrl-C.\n');
  });
});
