/** What the runner (bench/run.ts) hands every benchmark's `run(options)`. */
import { readFileSync } from 'node:fs';

export interface BenchOptions {
  /** `--name=value` flags given after the benchmark names (`npm run bench -- webhook --seconds=5`). */
  readonly flags: Readonly<Record<string, string>>;
  /** A progress line for the console; the report is the returned Markdown. */
  readonly progress: (line: string) => void;
}

/** A positive number flag, or its default; anything else is a usage error. */
export function numberFlag(options: BenchOptions, name: string, defaultValue: number): number {
  const raw = options.flags[name];
  if (raw === undefined) return defaultValue;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name}=${raw}: expected a positive number`);
  return value;
}

/** A git revision flag, or its default; `none` turns the comparison off (undefined). */
export function revisionFlag(options: BenchOptions, name: string, defaultRevision: string): string | undefined {
  const raw = options.flags[name] ?? defaultRevision;
  return raw === 'none' ? undefined : raw;
}

/** One-minute load average, to show what else the machine was doing. */
export function loadAverage(): number {
  return Number(/^([\d.]+)/.exec(readFileSync('/proc/loadavg', 'utf8'))?.[1] ?? Number.NaN);
}
