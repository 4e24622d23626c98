/**
 * The real Claude Code CLI for tests: `@anthropic-ai/claude-code` from npm, installed once
 * per version into the cache outside the repository (`<cache>/claude-code/<version>`), never
 * a dependency of the project.
 *
 * The npm package is a wrapper: its postinstall copies a native binary from the one platform
 * package npm picked among its optionalDependencies (`@anthropic-ai/claude-code-linux-x64`…).
 * The install skips scripts and runs that platform package's `claude` directly.
 *
 * Each run gets a fresh HOME (so no user's settings or login is read) that also holds its
 * TMPDIR, a clean environment, no nonessential traffic, no retries (a refused call fails at
 * once instead of backing off for minutes), and an egress trap as its proxy: loopback is
 * reached directly, anything else is refused and recorded.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { ClaudeCodeEnv, ProxyEnv } from '../../contract/index.ts';
import type { Env } from './cli.ts';
import { cacheRoot } from './k8s-tools.ts';

const execFileAsync = promisify(execFile);

export const CLAUDE_CODE_PACKAGE = '@anthropic-ai/claude-code';
export const CLAUDE_CODE_VERSION = '2.1.328';

/** Name of the executable inside each platform package (install.cjs's PLATFORMS table). */
const NATIVE_BINARY = 'claude';
const INSTALL_TIMEOUT_MS = 240_000;

/** `<cache>/claude-code/<version>`: an npm prefix holding the wrapper and one platform package. */
export function claudeCodeDir(version = CLAUDE_CODE_VERSION): string {
  return join(cacheRoot(), 'claude-code', version);
}

function packageDir(prefix: string, name: string): string {
  return join(prefix, 'node_modules', ...name.split('/'));
}

/** The native binary of the platform package npm installed, or undefined when there is none. */
export function findNativeBinary(prefix: string): string | undefined {
  const manifestPath = join(packageDir(prefix, CLAUDE_CODE_PACKAGE), 'package.json');
  if (!existsSync(manifestPath)) return undefined;
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { optionalDependencies?: Record<string, string> };
  const platforms = Object.keys(manifest.optionalDependencies ?? {});
  const binaries = platforms.map((name) => join(packageDir(prefix, name), NATIVE_BINARY)).filter((path) => existsSync(path));
  return binaries.length === 1 ? binaries[0] : undefined;
}

async function versionOf(binary: string): Promise<string> {
  const { stdout } = await execFileAsync(binary, ['--version'], { env: { PATH: process.env.PATH }, timeout: 30_000 });
  return stdout.trim();
}

/** A rename onto an existing non-empty directory fails: then another installer won the race. */
function renameIntoPlace(staging: string, target: string): void {
  try {
    renameSync(staging, target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if ((code === 'ENOTEMPTY' || code === 'EEXIST') && findNativeBinary(target) !== undefined) return;
    throw error;
  }
}

/**
 * Absolute path of the Claude Code binary of `version`, installed from npm on first use.
 * Throws (never skips) when it cannot be installed or does not report its version.
 */
export async function installClaudeCode(version = CLAUDE_CODE_VERSION): Promise<string> {
  const target = claudeCodeDir(version);
  if (findNativeBinary(target) === undefined) {
    mkdirSync(dirname(target), { recursive: true });
    const staging = mkdtempSync(`${target}.tmp-`);
    try {
      const args = ['install', '--prefix', staging, '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error', `${CLAUDE_CODE_PACKAGE}@${version}`];
      await execFileAsync('npm', args, { cwd: staging, timeout: INSTALL_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 }).catch((error: unknown) => {
        throw new Error(`npm ${args.join(' ')} failed: ${error instanceof Error ? error.message : String(error)}`);
      });
      if (findNativeBinary(staging) === undefined) {
        throw new Error(`${CLAUDE_CODE_PACKAGE}@${version} installed no native binary for ${process.platform}-${process.arch}`);
      }
      renameIntoPlace(staging, target);
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  const binary = findNativeBinary(target);
  if (binary === undefined) throw new Error(`no Claude Code binary in ${target}`);
  const reported = await versionOf(binary);
  if (!reported.startsWith(`${version} `)) throw new Error(`${binary} --version printed "${reported}", expected ${version}`);
  return binary;
}

export interface ClaudeCodeHome {
  /** The HOME Claude Code runs with. */
  readonly home: string;
  /** The working directory of each run, inside `home`. */
  readonly workspace: string;
  /** Its TMPDIR, inside `home` (it leaves probe directories in the temporary directory). */
  readonly tmp: string;
}

/** A fresh HOME with a workspace and a temporary directory, and Claude Code's user settings when given. */
export async function createClaudeCodeHome(settings?: Readonly<Record<string, unknown>>): Promise<ClaudeCodeHome> {
  const home = await mkdtemp(join(tmpdir(), 'wif-claude-home-'));
  const workspace = join(home, 'workspace');
  const tmp = join(home, 'tmp');
  await mkdir(workspace);
  await mkdir(tmp);
  if (settings !== undefined) {
    await mkdir(join(home, '.claude'));
    await writeFile(join(home, '.claude', 'settings.json'), JSON.stringify(settings));
  }
  return { home, workspace, tmp };
}

export interface ClaudeCodeRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ClaudeCodeRunOptions {
  readonly binary: string;
  readonly home: ClaudeCodeHome;
  /** The egress trap's URL, given as the proxy for everything but loopback. */
  readonly egressProxyUrl: string;
  /** What the pod would set (ANTHROPIC_BASE_URL, ANTHROPIC_CONFIG_DIR…); undefined unsets a default. */
  readonly env: Env;
  readonly prompt: string;
  readonly timeoutMs?: number;
}

function claudeCodeEnv(options: ClaudeCodeRunOptions | ClaudeCodeSessionOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: options.home.home,
    TMPDIR: options.home.tmp,
    [ClaudeCodeEnv.disableNonessentialTraffic]: '1',
    [ClaudeCodeEnv.maxRetries]: '0',
    [ProxyEnv.httpsProxy[1]]: options.egressProxyUrl,
    [ProxyEnv.httpProxy[1]]: options.egressProxyUrl,
    [ProxyEnv.noProxy[1]]: '127.0.0.1,localhost',
  };
  for (const [name, value] of Object.entries(options.env)) {
    if (value === undefined) Reflect.deleteProperty(env, name);
    else env[name] = value;
  }
  return env;
}

/** `claude -p <prompt>` headless, with nothing of the test runner's environment but PATH. */
export function runClaudeCode(options: ClaudeCodeRunOptions): Promise<ClaudeCodeRun> {
  const child = spawn(options.binary, ['-p', options.prompt], { cwd: options.home.workspace, env: claudeCodeEnv(options), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export type ClaudeCodeSessionOptions = Omit<ClaudeCodeRunOptions, 'prompt'>;

/** The `result` line Claude Code prints at the end of each turn (`--output-format stream-json`). */
export interface ClaudeCodeTurnResult {
  readonly subtype: string;
  readonly isError: boolean;
  readonly result: string;
}

export interface ClaudeCodeSession {
  /** Sends one user turn and resolves with its result. */
  turn(prompt: string): Promise<ClaudeCodeTurnResult>;
  /** Closes stdin and resolves with the exit code. */
  close(): Promise<number | null>;
}

/**
 * One long-lived `claude -p` process taking user turns on stdin (`--input-format
 * stream-json`), as an agent session that outlives a token would.
 */
export function startClaudeCodeSession(options: ClaudeCodeSessionOptions): ClaudeCodeSession {
  const args = ['-p', '--input-format', 'stream-json', '--output-format', 'stream-json', '--verbose'];
  const child = spawn(options.binary, args, { cwd: options.home.workspace, env: claudeCodeEnv(options), stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  const waiting: ((result: ClaudeCodeTurnResult) => void)[] = [];
  let pending = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    pending += chunk;
    for (let newline = pending.indexOf('\n'); newline !== -1; newline = pending.indexOf('\n')) {
      const line = JSON.parse(pending.slice(0, newline)) as { type?: string; subtype?: string; is_error?: boolean; result?: string };
      pending = pending.slice(newline + 1);
      if (line.type === 'result') waiting.shift()?.({ subtype: line.subtype ?? '', isError: line.is_error === true, result: line.result ?? '' });
    }
  });
  child.stderr.resume();
  return {
    turn: (prompt) =>
      new Promise((resolve, reject) => {
        waiting.push(resolve);
        exited.then(
          (code) => {
            reject(new Error(`claude exited ${String(code)} before the turn ended`));
          },
          reject,
        );
        child.stdin.write(`${JSON.stringify({ type: 'user', message: { role: 'user', content: prompt } })}\n`);
      }),
    close: async () => {
      child.stdin.end();
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
