/**
 * The proxy benchmark's client, a process of its own. Two modes, chosen by the JSON argument:
 *
 * - `latency`: small Messages requests one at a time on one keep-alive connection per
 *   target, in alternating blocks (direct, proxied, direct, …) so drift on a shared machine
 *   hits both alike; prints each target's latency percentiles.
 * - `stream`: streamed Messages requests read to the end, alternating targets, each timed
 *   from sending to the last byte; optionally read no faster than `readBytesPerSecond` (a
 *   slow reader, to show the proxy does not buffer what the client has not taken).
 *
 * `node bench/support/proxy-client.ts '<json ClientTask>'`
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { percentile } from './report.ts';

export interface Target {
  readonly name: string;
  readonly url: string;
}

export interface LatencyTask {
  readonly mode: 'latency';
  readonly targets: readonly Target[];
  readonly blocks: number;
  readonly perBlock: number;
  readonly warmup: number;
}

export interface StreamTask {
  readonly mode: 'stream';
  readonly targets: readonly Target[];
  readonly rounds: number;
  readonly readBytesPerSecond?: number;
}

export type ClientTask = LatencyTask | StreamTask;

export interface LatencyFigures {
  readonly requests: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
}

export interface StreamFigures {
  readonly bytes: number;
  /** Seconds of each stream, in the order run. */
  readonly seconds: readonly number[];
}

const HEADERS = { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': 'placeholder' };
const SMALL_BODY = JSON.stringify({ model: 'claude-bench', max_tokens: 64, messages: [{ role: 'user', content: 'Say hello.' }] });
const STREAM_BODY = JSON.stringify({ model: 'claude-bench', max_tokens: 4096, stream: true, messages: [{ role: 'user', content: 'Write a long story.' }] });
const MESSAGES_PATH = '/v1/messages';

function pools(targets: readonly Target[]): Map<string, Pool> {
  return new Map(targets.map((target) => [target.name, new Pool(target.url, { connections: 1, pipelining: 1, keepAliveTimeout: 60_000 })]));
}

async function timeOne(pool: Pool): Promise<number> {
  const started = performance.now();
  const answer = await pool.request({ path: MESSAGES_PATH, method: 'POST', headers: HEADERS, body: SMALL_BODY });
  await answer.body.text();
  if (answer.statusCode !== 200) throw new Error(`HTTP ${answer.statusCode}`);
  return performance.now() - started;
}

async function runLatency(task: LatencyTask): Promise<Record<string, LatencyFigures>> {
  const byName = pools(task.targets);
  const samples = new Map(task.targets.map((target) => [target.name, [] as number[]]));
  for (const pool of byName.values()) for (let i = 0; i < task.warmup; i++) await timeOne(pool);
  for (let block = 0; block < task.blocks; block++) {
    for (const target of task.targets) {
      const pool = byName.get(target.name) as Pool;
      const times = samples.get(target.name) as number[];
      for (let i = 0; i < task.perBlock; i++) times.push(await timeOne(pool));
    }
  }
  await Promise.all([...byName.values()].map((pool) => pool.close()));
  const figures: Record<string, LatencyFigures> = {};
  for (const [name, times] of samples) {
    const sorted = Float64Array.from(times).sort();
    figures[name] = { requests: times.length, p50Ms: percentile(sorted, 50), p90Ms: percentile(sorted, 90), p99Ms: percentile(sorted, 99), meanMs: times.reduce((a, b) => a + b, 0) / times.length };
  }
  return figures;
}

async function streamOne(pool: Pool, readBytesPerSecond: number | undefined): Promise<{ bytes: number; seconds: number }> {
  const started = performance.now();
  const answer = await pool.request({ path: MESSAGES_PATH, method: 'POST', headers: HEADERS, body: STREAM_BODY });
  if (answer.statusCode !== 200) throw new Error(`HTTP ${answer.statusCode}`);
  let bytes = 0;
  for await (const chunk of answer.body) {
    bytes += (chunk as Buffer).length;
    if (readBytesPerSecond !== undefined) {
      const due = started + (bytes / readBytesPerSecond) * 1000;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
    }
  }
  return { bytes, seconds: (performance.now() - started) / 1000 };
}

async function runStream(task: StreamTask): Promise<Record<string, StreamFigures>> {
  const byName = pools(task.targets);
  const figures = new Map(task.targets.map((target) => [target.name, { bytes: 0, seconds: [] as number[] }]));
  for (let round = 0; round < task.rounds; round++) {
    for (const target of task.targets) {
      const result = await streamOne(byName.get(target.name) as Pool, task.readBytesPerSecond);
      const entry = figures.get(target.name) as { bytes: number; seconds: number[] };
      entry.bytes = result.bytes;
      entry.seconds.push(result.seconds);
    }
  }
  await Promise.all([...byName.values()].map((pool) => pool.close()));
  return Object.fromEntries(figures);
}

if (import.meta.main) {
  const task = JSON.parse(process.argv[2] ?? '{}') as ClientTask;
  const result = task.mode === 'latency' ? await runLatency(task) : await runStream(task);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
