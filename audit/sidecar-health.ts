/**
 * Finding 5: per binding (namespace, ServiceAccount, federation rule), is it working? Each
 * sidecar's `/metrics` (read through the API server's pod proxy by the shell) is reduced to a
 * few numbers here; a binding whose sidecars all fail is a finding, as is one whose tokens
 * are under the SDKs' refresh window. The metrics carry no secret, and only numbers are kept.
 */
import { ContainerName, Limit, Metric } from '../contract/index.ts';
import { formatRelative } from '../runtime/time-format.ts';
import type { FindingDraft } from './model.ts';

export interface SidecarMetrics {
  readonly exchangesSucceeded: number;
  readonly exchangesFailed: number;
  /** Unix seconds; 0 when the sidecar holds no token. */
  readonly accessTokenExpiry: number;
  readonly identityTokenExpiry: number;
  readonly rotationGapSeconds: number;
  /** Unix seconds of the last successful and failed exchange; 0 when none (or an agent too old to say). */
  readonly lastSuccessAt: number;
  readonly lastFailureAt: number;
}

/** One sample (`name{labels} value`) of a Prometheus text exposition; undefined when absent. */
export function sampleValue(text: string, sample: string): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${sample} `)) continue;
    const value = Number(line.slice(sample.length + 1).trim().split(' ')[0]);
    return Number.isFinite(value) ? value : undefined;
  }
  return undefined;
}

/** The agent's series audit needs, or undefined when the text is not the agent's metrics. */
export function parseSidecarMetrics(text: string): SidecarMetrics | undefined {
  const succeeded = sampleValue(text, `${Metric.exchangesTotal}{result="success"}`);
  const failed = sampleValue(text, `${Metric.exchangesTotal}{result="failure"}`);
  if (succeeded === undefined || failed === undefined) return undefined;
  return {
    exchangesSucceeded: succeeded,
    exchangesFailed: failed,
    accessTokenExpiry: sampleValue(text, Metric.accessTokenExpiryTimestampSeconds) ?? 0,
    identityTokenExpiry: sampleValue(text, Metric.identityTokenExpiryTimestampSeconds) ?? 0,
    rotationGapSeconds: sampleValue(text, Metric.rotationGapSeconds) ?? 0,
    lastSuccessAt: sampleValue(text, `${Metric.lastExchangeTimestampSeconds}{result="success"}`) ?? 0,
    lastFailureAt: sampleValue(text, `${Metric.lastExchangeTimestampSeconds}{result="failure"}`) ?? 0,
  };
}

export type SidecarState = 'ok' | 'low' | 'failing' | 'unreadable';

export interface SidecarReading {
  readonly pod: string;
  /** Undefined when the metrics could not be read (`error` says why). */
  readonly metrics: SidecarMetrics | undefined;
  readonly error?: string;
}

/** ok; low: a token under the SDKs' 120 s window; failing: no valid token, or no exchange ever succeeded. */
export function sidecarState(reading: SidecarReading, nowSeconds: number): SidecarState {
  const { metrics } = reading;
  if (metrics === undefined) return 'unreadable';
  const remaining = metrics.accessTokenExpiry - nowSeconds;
  if (metrics.accessTokenExpiry === 0 || remaining <= 0) return 'failing';
  if (metrics.exchangesSucceeded === 0 && metrics.exchangesFailed > 0) return 'failing';
  return remaining < Limit.sdkBlockingWindowSeconds ? 'low' : 'ok';
}

export interface BindingKey {
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly federationRuleId: string;
}

export interface BindingSummary extends BindingKey {
  readonly sidecars: number;
  readonly ok: number;
  readonly low: number;
  readonly failing: number;
  readonly unreadable: number;
  readonly exchangesSucceeded: number;
  readonly exchangesFailed: number;
  /** The shortest remaining token lifetime among readable sidecars, in seconds (undefined when none). */
  readonly minRemainingSeconds: number | undefined;
  /** The longest rotation gap any sidecar reports. */
  readonly maxRotationGapSeconds: number;
  /** Unix seconds of the newest successful and failed exchange among its sidecars; undefined when none reported one. */
  readonly lastSuccessAt: number | undefined;
  readonly lastFailureAt: number | undefined;
  readonly failingPods: readonly string[];
}

const EXAMPLES = 3;

/** The later of two Unix times, where 0 means none. */
function newest(current: number | undefined, reported: number): number | undefined {
  return reported > 0 ? Math.max(current ?? 0, reported) : current;
}

/** `last success 2h 3m ago`, `no success reported` (the agent's last-exchange metric). */
function lastSuccessText(binding: Pick<BindingSummary, 'lastSuccessAt'>, nowSeconds: number): string {
  return binding.lastSuccessAt === undefined ? 'no success reported' : `last success ${formatRelative(binding.lastSuccessAt - nowSeconds)}`;
}

class BindingTally {
  sidecars = 0;
  ok = 0;
  low = 0;
  failing = 0;
  unreadable = 0;
  exchangesSucceeded = 0;
  exchangesFailed = 0;
  minRemainingSeconds: number | undefined = undefined;
  maxRotationGapSeconds = 0;
  lastSuccessAt: number | undefined = undefined;
  lastFailureAt: number | undefined = undefined;
  readonly failingPods: string[] = [];

  readonly key: BindingKey;

  constructor(key: BindingKey) {
    this.key = key;
  }

  add(reading: SidecarReading, nowSeconds: number): void {
    const state = sidecarState(reading, nowSeconds);
    this.sidecars += 1;
    this[state] += 1;
    if (state === 'failing' && this.failingPods.length < EXAMPLES) this.failingPods.push(reading.pod);
    const { metrics } = reading;
    if (metrics === undefined) return;
    this.exchangesSucceeded += metrics.exchangesSucceeded;
    this.exchangesFailed += metrics.exchangesFailed;
    const remaining = Math.max(0, Math.round(metrics.accessTokenExpiry - nowSeconds));
    this.minRemainingSeconds = Math.min(this.minRemainingSeconds ?? remaining, remaining);
    this.maxRotationGapSeconds = Math.max(this.maxRotationGapSeconds, metrics.rotationGapSeconds);
    this.lastSuccessAt = newest(this.lastSuccessAt, metrics.lastSuccessAt);
    this.lastFailureAt = newest(this.lastFailureAt, metrics.lastFailureAt);
  }

  summary(): BindingSummary {
    const { key, failingPods, ...counts } = this;
    return { ...key, ...counts, failingPods: [...failingPods] };
  }
}

/** Collects sidecar readings by binding; memory grows with bindings, not pods. */
export class BindingHealth {
  readonly #tallies = new Map<string, BindingTally>();

  add(key: BindingKey, reading: SidecarReading, nowSeconds: number): void {
    const id = [key.namespace, key.serviceAccount, key.federationRuleId].join('\u0000');
    let tally = this.#tallies.get(id);
    if (tally === undefined) {
      tally = new BindingTally(key);
      this.#tallies.set(id, tally);
    }
    tally.add(reading, nowSeconds);
  }

  summaries(): BindingSummary[] {
    return [...this.#tallies.values()].map((tally) => tally.summary());
  }
}

/** A binding is failing when every readable sidecar fails; low tokens and some failures are medium. */
export function bindingDraft(binding: BindingSummary, nowSeconds: number): FindingDraft | undefined {
  const readable = binding.sidecars - binding.unreadable;
  const subject = `binding ServiceAccount ${JSON.stringify(binding.serviceAccount)} → rule ${binding.federationRuleId}`;
  const fix = `kubectl logs -n ${binding.namespace} ${binding.failingPods[0] ?? '<pod>'} -c ${ContainerName.agent}; check the federation rule's subject, audience and issuer in the Console (README: Troubleshooting)`;
  if (readable > 0 && binding.failing === readable) {
    return {
      kind: 'binding-failing',
      severity: 'high',
      message: `${subject}: all ${String(readable)} sidecars fail (no valid token; ${String(binding.exchangesFailed)} failed and ${String(binding.exchangesSucceeded)} successful exchanges; ${lastSuccessText(binding, nowSeconds)})`,
      fix,
    };
  }
  if (binding.failing > 0 || binding.low > 0) {
    return {
      kind: 'binding-failing',
      severity: 'medium',
      message: `${subject}: ${String(binding.failing)} of ${String(readable)} sidecars fail, ${String(binding.low)} hold a token under the SDKs' ${String(Limit.sdkBlockingWindowSeconds)} s window`,
      fix,
    };
  }
  return undefined;
}
