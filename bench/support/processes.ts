/**
 * The benchmark's separate processes: servers and load generators each get their own
 * process (and event loop). stdout is a pipe that this process drains, as a container
 * runtime drains a container's stdout (the webhook logs one line per admission there);
 * only its first 256 KiB are kept, to find lines such as the listening address. stderr
 * goes to a file. RSS and CPU time come from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface StartOptions {
  readonly command: string;
  readonly args: readonly string[];
  /** Where stderr goes. */
  readonly stderrFile: string;
  readonly env?: Readonly<Record<string, string>>;
}

export interface BenchProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  /** The first stdout line (already written or to come) that matches, within `timeoutMs`. */
  waitForLine(match: RegExp, timeoutMs?: number): Promise<string>;
  /** The first 256 KiB of stdout. */
  stdout(): string;
  /** Bytes written to stdout so far. */
  stdoutBytes(): number;
  stderr(): string;
  /** Resident set size now (VmRSS), bytes. */
  rssBytes(): number;
  /** User + system CPU time consumed so far, seconds. */
  cpuSeconds(): number;
  /** SIGTERM (or `signal`), then SIGKILL after `timeoutMs`. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

/** VmRSS of a process, in bytes. */
export function readRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kib === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kib) * 1024;
}

const CLOCK_TICKS_PER_SECOND = 100;

/** utime + stime of a process, in seconds. */
export function readCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat(5); the slice starts at field 3.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

const KEPT_STDOUT_BYTES = 256 * 1024;

export function startProcess(options: StartOptions): BenchProcess {
  const err = openSync(options.stderrFile, 'w');
  const child = spawn(options.command, [...options.args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...options.env },
    stdio: ['ignore', 'pipe', err],
  });
  closeSync(err);
  if (child.pid === undefined) throw new Error(`could not start ${options.command}`);
  const pid = child.pid;
  let kept = '';
  let bytes = 0;
  child.stdout?.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    if (kept.length < KEPT_STDOUT_BYTES) kept += chunk.toString('utf8');
  });
  let running = true;
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => {
      running = false;
      resolve(code);
    });
  });
  const stderr = (): string => readText(options.stderrFile);
  return {
    pid,
    child,
    exited,
    stdout: () => kept,
    stdoutBytes: () => bytes,
    stderr,
    waitForLine: async (match, timeoutMs = 15_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const line = kept.split('\n').find((candidate) => match.test(candidate));
        if (line !== undefined) return line;
        if (!running || Date.now() > deadline) {
          throw new Error(`${options.command} ${options.args.join(' ')}: no output line matching ${String(match)}${running ? ' in time' : ' before it exited'}\n${stderr().slice(-2000)}`);
        }
        await sleep(25);
      }
    },
    rssBytes: () => readRssBytes(pid),
    cpuSeconds: () => readCpuSeconds(pid),
    stop: async (signal = 'SIGTERM', timeoutMs = 10_000) => {
      if (!running) return exited;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Waits for a `{"port":N}` JSON line, as every benchmark server prints once it listens. */
export async function waitForPort(child: BenchProcess, timeoutMs?: number): Promise<number> {
  const line = await child.waitForLine(/"port":\d+/, timeoutMs);
  const port = (JSON.parse(line) as { port?: unknown }).port;
  if (typeof port !== 'number') throw new Error(`no port in ${line}`);
  return port;
}
