/**
 * The agent's Prometheus metrics on a private registry (never prom-client's global one).
 * They implement the refresher's RefreshEvents, so the refresher never imports prom-client.
 * No label or value ever carries a token or an assertion.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { METRIC_PREFIX, Metric } from './contract.ts';
import type { RefreshEvents } from './refresher.ts';

export interface AgentMetrics extends Required<RefreshEvents> {
  /** Shared with the proxy, so one /metrics shows both. */
  readonly registry: Registry;
}

/** An exchange is one HTTPS round trip, bounded at 30 s. */
const EXCHANGE_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function createAgentMetrics(options: { readonly processMetrics?: boolean } = {}): AgentMetrics {
  const registry = new Registry();
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  const registers = [registry];
  const exchanges = new Counter({
    name: Metric.exchangesTotal,
    help: 'Token exchanges at the token endpoint, by result (success, failure).',
    labelNames: ['result'] as const,
    registers,
  });
  exchanges.inc({ result: 'success' }, 0);
  exchanges.inc({ result: 'failure' }, 0);
  const duration = new Histogram({
    name: Metric.exchangeDurationSeconds,
    help: 'Duration of token exchange attempts, successful or not.',
    buckets: EXCHANGE_BUCKETS,
    registers,
  });
  const accessExpiry = new Gauge({
    name: Metric.accessTokenExpiryTimestampSeconds,
    help: 'Expiry (Unix seconds) of the access token in the token files; 0 when there is none.',
    registers,
  });
  const identityExpiry = new Gauge({
    name: Metric.identityTokenExpiryTimestampSeconds,
    help: 'Expiry (Unix seconds) of the identity token last read from its source; 0 when unknown.',
    registers,
  });
  const gap = new Gauge({
    name: Metric.rotationGapSeconds,
    help: 'Seconds per rotation with no valid token, because the next identity token arrives after the access token expires; 0 when the lifetimes fit.',
    registers,
  });
  const writeFailures = new Counter({
    name: Metric.fileWriteFailuresTotal,
    help: 'Failed writes or removals of the token, credentials, profile or state files.',
    registers,
  });
  return {
    registry,
    exchangeFinished(result, durationMs) {
      exchanges.inc({ result });
      duration.observe(durationMs / 1000);
    },
    accessTokenOnDisk(expiresAtMs) {
      accessExpiry.set(expiresAtMs === undefined ? 0 : Math.floor(expiresAtMs / 1000));
    },
    identityTokenRead(expiresAtMs) {
      identityExpiry.set(expiresAtMs === undefined ? 0 : Math.floor(expiresAtMs / 1000));
    },
    rotationGap(gapSeconds) {
      gap.set(gapSeconds);
    },
    fileWriteFailed() {
      writeFailures.inc();
    },
  };
}
