/**
 * A process whose stdout and stderr are pipes this process drains, as a container runtime
 * drains a container's (the agent logs a handful of JSON lines), keeping the first 256 KiB
 * to find lines in; with a way to wait for a line and to stop it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

const KEPT_BYTES = 256 * 1024;

export interface LoggedProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  output(): string;
  waitForLine(match: RegExp, timeoutMs: number): Promise<string>;
  /** SIGTERM, then SIGKILL after 10 s. */
  stop(): Promise<void>;
}

export function startLoggedProcess(options: { readonly command: string; readonly args: readonly string[]; readonly env: Readonly<Record<string, string>> }): LoggedProcess {
  const child = spawn(options.command, [...options.args], { env: { PATH: process.env.PATH ?? '', ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${options.command}`);
  let kept = '';
  const keep = (chunk: Buffer): void => {
    if (kept.length < KEPT_BYTES) kept += chunk.toString('utf8');
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let running = true;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      running = false;
      resolve();
    });
  });
  return {
    pid,
    child,
    output: () => kept,
    waitForLine: async (match, timeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const line = kept.split('\n').find((candidate) => match.test(candidate));
        if (line !== undefined) return line;
        if (!running || Date.now() > deadline) {
          throw new Error(`${options.args.join(' ')}: no line matching ${String(match)}${running ? ' in time' : ' before it exited'}:\n${kept.slice(-2000)}`);
        }
        await sleep(20);
      }
    },
    stop: async () => {
      if (!running) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
