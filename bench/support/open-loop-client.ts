/**
 * An open-loop load generator: sends POSTs at a fixed rate whether or not earlier answers
 * have come back (as the API server does when pods are created at that rate), over a pool
 * of HTTPS keep-alive connections. Latency is measured from each request's scheduled send
 * time, so a slow answer that delays later sends is counted against them too (no
 * coordinated omission). Run as its own process; prints one JSON line of figures.
 *
 * `node bench/support/open-loop-client.ts '<json OpenLoopLoad>'`
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { percentile } from './report.ts';

export interface OpenLoopLoad {
  readonly url: string;
  readonly bodyFile: string;
  /** PEM of the CA that signed the server's certificate. */
  readonly caFile: string;
  readonly ratePerSecond: number;
  readonly seconds: number;
  /** Sent at the same rate first and not counted (connections and JIT warm up). */
  readonly warmupSeconds: number;
  readonly connections: number;
  /** Extra request headers (e.g. a placeholder credential for the proxy). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly method?: 'GET' | 'POST';
}

export interface LatencySummary {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
}

export interface OpenLoopResult {
  readonly scheduled: number;
  readonly completed: number;
  readonly errors: number;
  readonly achievedPerSecond: number;
  /** From the scheduled send time (includes up to ~1 ms of this client's timer granularity). */
  readonly scheduledLatency: LatencySummary;
  /** From the moment the request was handed to the connection pool. */
  readonly serviceLatency: LatencySummary;
}

function summarize(samples: Float64Array): LatencySummary {
  const sorted = samples.filter((value) => !Number.isNaN(value)).sort();
  return { p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), p999Ms: percentile(sorted, 99.9), maxMs: sorted.at(-1) ?? Number.NaN };
}

interface Phase {
  readonly count: number;
  readonly scheduledSamples: Float64Array;
  readonly serviceSamples: Float64Array;
  errors: number;
  completed: number;
}

async function runPhase(load: OpenLoopLoad, pool: Pool, seconds: number): Promise<Phase> {
  const count = Math.round(load.ratePerSecond * seconds);
  const phase: Phase = { count, scheduledSamples: new Float64Array(count).fill(Number.NaN), serviceSamples: new Float64Array(count).fill(Number.NaN), errors: 0, completed: 0 };
  const url = new URL(load.url);
  const body = load.method === 'GET' ? undefined : readFileSync(load.bodyFile);
  const headers = { 'content-type': 'application/json', ...load.headers };
  const interval = 1000 / load.ratePerSecond;
  const pending: Promise<void>[] = [];
  const fire = async (i: number, scheduledAt: number): Promise<void> => {
    const sentAt = performance.now();
    try {
      const answer = await pool.request({ path: url.pathname + url.search, method: load.method ?? 'POST', headers, body });
      await answer.body.dump({ limit: Number.MAX_SAFE_INTEGER });
      const now = performance.now();
      if (answer.statusCode === 200) {
        phase.scheduledSamples[i] = now - scheduledAt;
        phase.serviceSamples[i] = now - sentAt;
        phase.completed += 1;
      } else {
        phase.errors += 1;
      }
    } catch {
      phase.errors += 1;
    }
  };
  const start = performance.now();
  let next = 0;
  while (next < count) {
    const now = performance.now();
    while (next < count && start + next * interval <= now) {
      pending.push(fire(next, start + next * interval));
      next += 1;
    }
    await sleep(Math.max(0, start + next * interval - performance.now()));
  }
  await Promise.all(pending);
  return phase;
}

export async function runOpenLoop(load: OpenLoopLoad): Promise<OpenLoopResult> {
  const url = new URL(load.url);
  const pool = new Pool(url.origin, { connections: load.connections, pipelining: 1, connect: { ca: readFileSync(load.caFile, 'utf8') }, keepAliveTimeout: 60_000 });
  try {
    if (load.warmupSeconds > 0) await runPhase(load, pool, load.warmupSeconds);
    const started = performance.now();
    const phase = await runPhase(load, pool, load.seconds);
    const elapsed = (performance.now() - started) / 1000;
    return {
      scheduled: phase.count,
      completed: phase.completed,
      errors: phase.errors,
      achievedPerSecond: phase.completed / elapsed,
      scheduledLatency: summarize(phase.scheduledSamples),
      serviceLatency: summarize(phase.serviceSamples),
    };
  } finally {
    await pool.destroy();
  }
}

if (import.meta.main) {
  const load = JSON.parse(process.argv[2] ?? '{}') as OpenLoopLoad;
  process.stdout.write(`${JSON.stringify(await runOpenLoop(load))}\n`);
}
