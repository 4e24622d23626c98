/**
 * Runs the real `anthropic-wif` CLI from source (`process.execPath` + cli/anthropic-wif.ts,
 * no build step), captures stdout and stderr line by line, and waits for log lines, a
 * bound port or the exit. Shared by every integration test that spawns the CLI.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI_ENTRY = fileURLToPath(new URL('../../cli/anthropic-wif.ts', import.meta.url));
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export type Env = Record<string, string | undefined>;

export interface CliOptions {
  /** Variables for the child, on top of PATH (and everything else when `inheritEnv`). */
  readonly env?: Env;
  /** Pass the test process's whole environment through (default: only PATH and HOME). */
  readonly inheritEnv?: boolean;
  readonly cwd?: string;
  /** Written to stdin, which is then closed. */
  readonly input?: string;
}

export interface CliExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface CliResult extends CliExit {
  readonly stdout: string;
  readonly stderr: string;
  readonly stdoutLines: readonly string[];
  readonly stderrLines: readonly string[];
}

export type LineMatcher = RegExp | string | ((line: string) => boolean);
export type JsonLine = Record<string, unknown>;

export interface CliProcess {
  readonly child: ChildProcess;
  readonly stdoutLines: readonly string[];
  readonly stderrLines: readonly string[];
  /** Everything printed so far, exactly. */
  stdout(): string;
  stderr(): string;
  /** stdout lines that are JSON objects (log records), in order. */
  jsonLines(): JsonLine[];
  /** Resolves with the first line (already seen or future) that matches; rejects on timeout or exit. */
  waitForLine(match: LineMatcher, options?: { readonly stream?: 'stdout' | 'stderr'; readonly timeoutMs?: number }): Promise<string>;
  /** Resolves with the first JSON log record on stdout that matches. */
  waitForJson(match: (record: JsonLine) => boolean, timeoutMs?: number): Promise<JsonLine>;
  /** Waits for the `{"msg":"listening","address":…,"port":N}` log line and returns the port. */
  waitForListening(timeoutMs?: number): Promise<{ readonly address: string; readonly port: number }>;
  signal(name: NodeJS.Signals): void;
  readonly exited: Promise<CliExit>;
  /** SIGTERM, then SIGKILL if it has not exited after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<CliExit>;
}

const DEFAULT_TIMEOUT_MS = 15_000;
const started = new Set<CliProcess>();

function childEnv(options: CliOptions): NodeJS.ProcessEnv {
  const base: Env = options.inheritEnv === true ? { ...process.env } : { PATH: process.env.PATH, HOME: process.env.HOME };
  const merged: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries({ ...base, ...options.env })) {
    if (value !== undefined) merged[key] = value;
  }
  return merged;
}

function toMatcher(match: LineMatcher): (line: string) => boolean {
  if (typeof match === 'function') return match;
  if (typeof match === 'string') return (line) => line.includes(match);
  return (line) => match.test(line);
}

function parseJsonLine(line: string): JsonLine | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value = JSON.parse(line) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as JsonLine) : undefined;
  } catch {
    return undefined;
  }
}

/** Splits a stream into lines, calling `onLine` for each complete one. */
function collectLines(stream: NodeJS.ReadableStream | null, lines: string[], raw: { text: string }, onLine: () => void): void {
  let pending = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    raw.text += chunk;
    pending += chunk;
    let newline = pending.indexOf('\n');
    while (newline !== -1) {
      lines.push(pending.slice(0, newline));
      pending = pending.slice(newline + 1);
      newline = pending.indexOf('\n');
    }
    onLine();
  });
  stream?.on('end', () => {
    if (pending !== '') lines.push(pending);
    pending = '';
    onLine();
  });
}

export function startCli(args: readonly string[], options: CliOptions = {}): CliProcess {
  const child = spawn(process.execPath, [CLI_ENTRY, ...args], { cwd: options.cwd ?? REPO_ROOT, env: childEnv(options), stdio: ['pipe', 'pipe', 'pipe'] });
  const stdoutLines: string[] = [];
  const stderrLines: string[] = [];
  const waiters = new Set<() => void>();
  const notify = (): void => {
    for (const waiter of [...waiters]) waiter();
  };
  const stdoutRaw = { text: '' };
  const stderrRaw = { text: '' };
  collectLines(child.stdout, stdoutLines, stdoutRaw, notify);
  collectLines(child.stderr, stderrLines, stderrRaw, notify);
  if (options.input !== undefined) child.stdin.end(options.input);
  else child.stdin.end();
  let hasExited = false;
  const exited = new Promise<CliExit>((resolve) => {
    child.on('close', (code, signal) => {
      hasExited = true;
      notify();
      resolve({ code, signal });
    });
  });

  const describe = (): string => `\n--- stderr ---\n${stderrLines.slice(-20).join('\n')}\n--- stdout (last lines) ---\n${stdoutLines.slice(-10).join('\n')}`;

  const waitForLine: CliProcess['waitForLine'] = (match, waitOptions = {}) => {
    const lines = waitOptions.stream === 'stderr' ? stderrLines : stdoutLines;
    const matches = toMatcher(match);
    return new Promise((resolve, reject) => {
      let index = 0;
      const check = (): void => {
        for (; index < lines.length; index++) {
          const line = lines[index] ?? '';
          if (matches(line)) {
            finish();
            resolve(line);
            return;
          }
        }
        if (hasExited) {
          finish();
          reject(new Error(`the CLI exited before printing a line matching ${String(match)}${describe()}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`no line matching ${String(match)} within ${waitOptions.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms${describe()}`));
      }, waitOptions.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      const finish = (): void => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  };

  const waitForJson: CliProcess['waitForJson'] = async (match, timeoutMs) => {
    const line = await waitForLine(
      (candidate) => {
        const record = parseJsonLine(candidate);
        return record !== undefined && match(record);
      },
      { timeoutMs },
    );
    return parseJsonLine(line) ?? {};
  };

  const cli: CliProcess = {
    child,
    stdoutLines,
    stderrLines,
    stdout: () => stdoutRaw.text,
    stderr: () => stderrRaw.text,
    jsonLines: () => stdoutLines.map(parseJsonLine).filter((record): record is JsonLine => record !== undefined),
    waitForLine,
    waitForJson,
    waitForListening: async (timeoutMs) => {
      const record = await waitForJson((r) => r.msg === 'listening' && typeof r.port === 'number', timeoutMs);
      return { address: String(record.address), port: Number(record.port) };
    },
    signal: (name) => {
      if (!hasExited) child.kill(name);
    },
    exited,
    stop: async (timeoutMs = DEFAULT_TIMEOUT_MS) => {
      if (!hasExited) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const exit = await exited;
      clearTimeout(timer);
      return exit;
    },
  };
  started.add(cli);
  void exited.then(() => started.delete(cli));
  return cli;
}

/** Runs the CLI to completion. */
export async function runCli(args: readonly string[], options: CliOptions & { readonly timeoutMs?: number } = {}): Promise<CliResult> {
  const cli = startCli(args, options);
  const timer = setTimeout(() => cli.child.kill('SIGKILL'), options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const exit = await cli.exited;
  clearTimeout(timer);
  return {
    ...exit,
    stdout: cli.stdout(),
    stderr: cli.stderr(),
    stdoutLines: cli.stdoutLines,
    stderrLines: cli.stderrLines,
  };
}

/** For afterAll/afterEach: kills every CLI this test file started that is still running. */
export async function stopAllClis(): Promise<void> {
  await Promise.all([...started].map((cli) => cli.stop(2_000)));
}
