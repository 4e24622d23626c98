/**
 * The closed-loop load generator: wrk (C, epoll, OpenSSL), far cheaper per request than a
 * Node client, which matters on 2 cores shared with the server under test. One thread:
 * the server is one Node process, so one core for it and one for wrk.
 */
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const LOAD_SCRIPT = fileURLToPath(new URL('post-body.lua', import.meta.url));

export interface WrkLoad {
  readonly url: string;
  readonly bodyFile: string;
  readonly connections: number;
  readonly seconds: number;
  readonly threads?: number;
}

export interface WrkResult {
  readonly requests: number;
  readonly seconds: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  /** Connect, read, write and timeout errors plus non-2xx answers. */
  readonly errors: number;
}

interface WrkFigures {
  readonly requests: number;
  readonly durationMicros: number;
  readonly p50Micros: number;
  readonly p99Micros: number;
  readonly p999Micros: number;
  readonly maxMicros: number;
  readonly connectErrors: number;
  readonly readErrors: number;
  readonly writeErrors: number;
  readonly statusErrors: number;
  readonly timeouts: number;
}

export function wrkInstalled(): boolean {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (error) {
    // wrk --version prints its banner and exits 1; only a missing binary is ENOENT.
    return (error as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

function parseFigures(output: string): WrkResult {
  const line = output.split('\n').find((candidate) => candidate.startsWith('{"requests"'));
  if (line === undefined) throw new Error(`wrk printed no figures:\n${output}`);
  const f = JSON.parse(line) as WrkFigures;
  const seconds = f.durationMicros / 1e6;
  return {
    requests: f.requests,
    seconds,
    requestsPerSecond: f.requests / seconds,
    p50Ms: f.p50Micros / 1000,
    p99Ms: f.p99Micros / 1000,
    p999Ms: f.p999Micros / 1000,
    maxMs: f.maxMicros / 1000,
    errors: f.connectErrors + f.readErrors + f.writeErrors + f.statusErrors + f.timeouts,
  };
}

export function wrkArgs(load: WrkLoad): string[] {
  const threads = Math.min(load.threads ?? 1, load.connections);
  return [`-t${threads}`, `-c${load.connections}`, `-d${load.seconds}s`, '--timeout', '10s', '-s', LOAD_SCRIPT, load.url, '--', load.bodyFile];
}

export interface RunningWrk {
  /** Stops the load early (SIGINT: wrk still prints its figures). */
  stop(): void;
  readonly result: Promise<WrkResult>;
}

export function startWrk(load: WrkLoad): RunningWrk {
  const child = spawn('wrk', wrkArgs(load), { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const result = new Promise<WrkResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', () => {
      try {
        resolve(parseFigures(output));
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  });
  return { stop: () => child.kill('SIGINT'), result };
}

export function runWrk(load: WrkLoad): Promise<WrkResult> {
  return startWrk(load).result;
}
