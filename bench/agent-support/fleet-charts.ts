/**
 * The fleet benchmark's two figures, from what the simulation already counts: the token
 * endpoint's exchanges per minute over the day (a panel per kubelet, a line per E, R), and
 * the lifetime left in a pod's files each time its token was replaced (a histogram per
 * scenario, on one x axis, with the SDKs' 30 s and 120 s thresholds marked).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bin } from 'd3-array';
import { chartGridSvg, type Bar, type Panel } from '../support/svg-chart.ts';
import type { KubeletKind } from './fleet-model.ts';
import type { FleetResult } from './fleet-sim.ts';

export const EXCHANGE_RATE_FILE = 'fleet-exchange-rate.svg';
export const TOKEN_LIFE_FILE = 'fleet-token-life.svg';
export const LIFE_BIN_SECONDS = 10;
const HOURS = [0, 3, 6, 9, 12, 15, 18, 21, 24];

function label(r: FleetResult): string {
  return `E=${r.scenario.expirationSeconds}, R=${r.scenario.ruleLifetimeSeconds}`;
}

function kubeletName(r: FleetResult): string {
  return r.scenario.kubelet === 'kubelet' ? 'real kubelet' : 'exact kubelet';
}

/** Panels in rows by E then R, the real kubelet on the left and the exact one on the right. */
function ordered(results: readonly FleetResult[]): FleetResult[] {
  const kubeletFirst = (kind: KubeletKind): number => (kind === 'kubelet' ? 0 : 1);
  return [...results].sort(
    (a, b) => a.scenario.expirationSeconds - b.scenario.expirationSeconds || a.scenario.ruleLifetimeSeconds - b.scenario.ruleLifetimeSeconds || kubeletFirst(a.scenario.kubelet) - kubeletFirst(b.scenario.kubelet),
  );
}

/** Exchanges in each whole minute of the day, as [hour, count] points. */
export function perMinute(exchangesPerSecond: Uint32Array, durationMs: number): [number, number][] {
  const minutes = Math.floor(durationMs / 60_000);
  return Array.from({ length: minutes }, (_, m) => {
    let total = 0;
    for (let s = m * 60; s < (m + 1) * 60; s++) total += exchangesPerSecond[s] ?? 0;
    return [m / 60, total];
  });
}

export function exchangeRateSvg(results: readonly FleetResult[]): string {
  const series = ordered(results).map((r) => ({ result: r, points: perMinute(r.exchangesPerSecond, r.scenario.durationMs) }));
  const peak = Math.max(1, ...series.flatMap((s) => s.points.map((p) => p[1])));
  const panels: Panel[] = series.map(({ result: r, points }) => ({
    kind: 'line',
    title: `${label(r)}, ${kubeletName(r)}: ${r.exchanges.toLocaleString('en-US')} exchanges`,
    x: { label: 'simulated time (hours)', domain: [0, 24], tickValues: HOURS },
    y: { label: 'exchanges per minute', domain: [0, peak] },
    series: [{ name: label(r), points }],
  }));
  return chartGridSvg({ title: `Token endpoint: exchanges per minute, ${(results[0]?.scenario.pods.length ?? 0).toLocaleString('en-US')} pods started within one minute`, columns: 2, panelWidth: 520, panelHeight: 220, panels });
}

/** The share of replacements (%) whose lifetime left fell in each `width`-second bin of [0, maxS). */
export function lifeBars(remainingSeconds: ArrayLike<number>, maxS: number, width: number): Bar[] {
  const thresholds = Array.from({ length: Math.ceil(maxS / width) - 1 }, (_, i) => (i + 1) * width);
  const bins = bin().domain([0, maxS]).thresholds(thresholds)(Array.from(remainingSeconds));
  const total = remainingSeconds.length;
  return bins.map((b) => ({ x0: b.x0 ?? 0, x1: b.x1 ?? 0, value: total === 0 ? 0 : (b.length / total) * 100 }));
}

export function tokenLifeSvg(results: readonly FleetResult[]): string {
  const longest = Math.max(60, ...results.map((r) => r.remainingSeconds.at(-1) ?? 0));
  const maxS = Math.ceil(longest / 60) * 60;
  const tickValues = Array.from({ length: Math.floor(maxS / 120) + 1 }, (_, i) => i * 120);
  const panels: Panel[] = ordered(results).map((r) => ({
    kind: 'histogram',
    title: `${label(r)}, ${kubeletName(r)}: ${r.replacements.toLocaleString('en-US')} replacements`,
    x: { label: 'lifetime left when the token was replaced (s)', domain: [0, maxS], tickValues },
    y: { label: `% of replacements per ${LIFE_BIN_SECONDS} s` },
    bars: lifeBars(r.remainingSeconds, maxS, LIFE_BIN_SECONDS),
    markers: [
      { at: 30, label: '30 s' },
      { at: 120, label: '120 s' },
    ],
    ...(r.replacements === 0 ? { note: `no token was ever replaced: each expired first (${r.emptySpans.toLocaleString('en-US')} spans with no token)` } : {}),
  }));
  return chartGridSvg({ title: 'Lifetime left in the token files at each replacement, every pod, 24 h', columns: 2, panelWidth: 520, panelHeight: 240, panels });
}

/** Markdown image links to the two figures, relative to the folder they are written to. */
export interface FleetChartLinks {
  readonly exchangeRate: string;
  readonly tokenLife: string;
}

/** Writes both figures into `dir` (docs/, beside benchmarks.md) and returns the links that show them. */
export function writeFleetCharts(results: readonly FleetResult[], dir: string): FleetChartLinks {
  writeFileSync(join(dir, EXCHANGE_RATE_FILE), exchangeRateSvg(results));
  writeFileSync(join(dir, TOKEN_LIFE_FILE), tokenLifeSvg(results));
  return {
    exchangeRate: `![Exchanges per minute at the token endpoint over the 24 simulated hours, a panel per scenario](${EXCHANGE_RATE_FILE})`,
    tokenLife: `![Lifetime left in the token files at each replacement, a histogram per scenario](${TOKEN_LIFE_FILE})`,
  };
}
