/**
 * The webhook's Prometheus metrics on a private registry (never prom-client's global one,
 * so tests and other commands in the same process do not collide). Every name, the
 * process metrics included, starts with `anthropic_wif_`.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { METRIC_PREFIX, Metric } from '../contract/index.ts';

export type AdmissionResult = 'injected' | 'skipped' | 'denied' | 'error';

/** hit: from the watch cache; miss: a live read found it; not_found / unavailable: the live read's answer. */
export type ServiceAccountCacheResult = 'hit' | 'miss' | 'not_found' | 'unavailable';

/** The mode label when no mode applies (bad requests, skipped pods). */
export const NO_MODE = 'none';

export interface WebhookMetrics {
  readonly registry: Registry;
  /** `durationSeconds` is undefined when the request never reached the handler (e.g. 413). */
  recordAdmission(result: AdmissionResult, mode: string, durationSeconds: number | undefined): void;
  recordServiceAccountLookup(result: ServiceAccountCacheResult): void;
}

/** Admission latency is mostly sub-millisecond; a live ServiceAccount read takes up to seconds. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export function createWebhookMetrics(options: { readonly processMetrics?: boolean } = {}): WebhookMetrics {
  const registry = new Registry();
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  const admissions = new Counter({
    name: Metric.admissionRequestsTotal,
    help: 'Admission requests answered, by result (injected, skipped, denied, error) and mode.',
    labelNames: ['result', 'mode'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: Metric.admissionDurationSeconds,
    help: 'Time to answer an admission request, from the body read to the answer written.',
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const cache = new Counter({
    name: Metric.serviceAccountCacheTotal,
    help: 'ServiceAccount lookups by result: hit (watch cache), miss (live read found it), not_found, unavailable.',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  // One child per label pair, looked up once: prom-client hashes the labels on every inc otherwise.
  const admissionCounters = new Map<string, { inc(): void }>();
  const admissionCounter = (result: AdmissionResult, mode: string): { inc(): void } => {
    const key = `${result}/${mode}`;
    let counter = admissionCounters.get(key);
    if (counter === undefined) {
      counter = admissions.labels(result, mode);
      admissionCounters.set(key, counter);
    }
    return counter;
  };
  return {
    registry,
    recordAdmission(result, mode, durationSeconds) {
      admissionCounter(result, mode).inc();
      if (durationSeconds !== undefined) duration.observe(durationSeconds);
    },
    recordServiceAccountLookup(result) {
      cache.inc({ result });
    },
  };
}
