/**
 * The agent's Prometheus metrics, rendered in the text exposition format (0.0.4) by hand.
 * They implement the refresher's RefreshEvents, so the refresher never sees a registry.
 * No label or value ever carries a token or an assertion.
 *
 * Why not prom-client, as the webhook uses: loading it (with the OpenTelemetry API it pulls
 * in) costs the sidecar about 9 MB of RSS, and its default process metrics sample the event
 * loop every 10 ms, about 0.4 s of CPU a minute in an agent that otherwise sleeps. The agent
 * has seven fixed series; the process series below are computed only when scraped.
 */
import { METRIC_PREFIX, Metric } from '../contract/index.ts';
import { nowSeconds, systemClock, type Clock } from '../runtime/clock.ts';
import type { RefreshEvents } from './refresh/refresher.ts';

export interface AgentMetrics extends Required<RefreshEvents> {
  /** The exposition text of every agent and process series. */
  render(): string;
}

/** `anthropic_wif_exchanges_total{result="success"} 3` → 3 (one sample of a text exposition; undefined when absent). */
export function metricSample(text: string, sample: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  const value = line === undefined ? Number.NaN : Number(line.slice(sample.length + 1));
  return Number.isFinite(value) ? value : undefined;
}

/** The `Content-Type` of `render()`'s text, as Prometheus expects it. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** An exchange is one HTTPS round trip, bounded at 30 s. */
const EXCHANGE_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The standard client-library process series, under the agent's prefix (as prom-client names them). */
const ProcessMetric = {
  cpuUserSecondsTotal: `${METRIC_PREFIX}process_cpu_user_seconds_total`,
  cpuSystemSecondsTotal: `${METRIC_PREFIX}process_cpu_system_seconds_total`,
  cpuSecondsTotal: `${METRIC_PREFIX}process_cpu_seconds_total`,
  startTimeSeconds: `${METRIC_PREFIX}process_start_time_seconds`,
  residentMemoryBytes: `${METRIC_PREFIX}process_resident_memory_bytes`,
  heapSizeTotalBytes: `${METRIC_PREFIX}nodejs_heap_size_total_bytes`,
  heapSizeUsedBytes: `${METRIC_PREFIX}nodejs_heap_size_used_bytes`,
  externalMemoryBytes: `${METRIC_PREFIX}nodejs_external_memory_bytes`,
} as const;

type MetricType = 'counter' | 'gauge' | 'histogram';

interface Sample {
  readonly suffix?: string;
  readonly labels?: string;
  readonly value: number;
}

function family(name: string, type: MetricType, help: string, samples: readonly Sample[]): string {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
  for (const sample of samples) lines.push(`${name}${sample.suffix ?? ''}${sample.labels ?? ''} ${formatValue(sample.value)}`);
  return lines.join('\n');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

/** A histogram with fixed upper bounds; `render` gives the cumulative buckets, sum and count. */
class FixedHistogram {
  readonly #bounds: readonly number[];
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  constructor(bounds: readonly number[]) {
    this.#bounds = bounds;
    this.#counts = bounds.map(() => 0);
  }

  observe(value: number): void {
    const index = this.#bounds.findIndex((bound) => value <= bound);
    if (index >= 0) this.#counts[index] = (this.#counts[index] ?? 0) + 1;
    this.#sum += value;
    this.#count += 1;
  }

  samples(): Sample[] {
    let cumulative = 0;
    const buckets = this.#bounds.map((bound, i) => {
      cumulative += this.#counts[i] ?? 0;
      return { suffix: '_bucket', labels: `{le="${formatValue(bound)}"}`, value: cumulative };
    });
    return [...buckets, { suffix: '_bucket', labels: '{le="+Inf"}', value: this.#count }, { suffix: '_sum', value: this.#sum }, { suffix: '_count', value: this.#count }];
  }
}

export function createAgentMetrics(options: { readonly processMetrics?: boolean; readonly clock?: Clock } = {}): AgentMetrics {
  const clock = options.clock ?? systemClock;
  const exchanges = { success: 0, failure: 0 };
  const lastExchange = { success: 0, failure: 0 };
  const duration = new FixedHistogram(EXCHANGE_BUCKETS);
  const gauges = { accessExpiry: 0, identityExpiry: 0, gap: 0 };
  let writeFailures = 0;
  const agentFamilies = (): string[] => [
    family(Metric.exchangesTotal, 'counter', 'Token exchanges at the token endpoint, by result (success, failure).', [
      { labels: '{result="success"}', value: exchanges.success },
      { labels: '{result="failure"}', value: exchanges.failure },
    ]),
    family(Metric.exchangeDurationSeconds, 'histogram', 'Duration of token exchange attempts, successful or not.', duration.samples()),
    family(Metric.lastExchangeTimestampSeconds, 'gauge', 'When the last exchange of each result finished (Unix seconds); 0 when there was none.', [
      { labels: '{result="success"}', value: lastExchange.success },
      { labels: '{result="failure"}', value: lastExchange.failure },
    ]),
    family(Metric.accessTokenExpiryTimestampSeconds, 'gauge', 'Expiry (Unix seconds) of the access token in the token files; 0 when there is none.', [{ value: gauges.accessExpiry }]),
    family(Metric.identityTokenExpiryTimestampSeconds, 'gauge', 'Expiry (Unix seconds) of the identity token last read from its source; 0 when unknown.', [{ value: gauges.identityExpiry }]),
    family(
      Metric.rotationGapSeconds,
      'gauge',
      'Seconds per rotation with no valid token, because the next identity token arrives after the access token expires; 0 when the lifetimes fit.',
      [{ value: gauges.gap }],
    ),
    family(Metric.fileWriteFailuresTotal, 'counter', 'Failed writes or removals of the token, credentials, profile or state files.', [{ value: writeFailures }]),
  ];
  return {
    render: () => `${[...agentFamilies(), ...(options.processMetrics === false ? [] : processFamilies())].join('\n')}\n`,
    exchangeFinished(result, durationMs) {
      exchanges[result] += 1;
      lastExchange[result] = nowSeconds(clock);
      duration.observe(durationMs / 1000);
    },
    accessTokenOnDisk(expiresAtMs) {
      gauges.accessExpiry = expiresAtMs === undefined ? 0 : Math.floor(expiresAtMs / 1000);
    },
    identityTokenRead(expiresAtMs) {
      gauges.identityExpiry = expiresAtMs === undefined ? 0 : Math.floor(expiresAtMs / 1000);
    },
    rotationGap(gapSeconds) {
      gauges.gap = gapSeconds;
    },
    fileWriteFailed() {
      writeFailures += 1;
    },
  };
}

const START_TIME_SECONDS = Math.round(Date.now() / 1000 - process.uptime());

/** Read at scrape time only: no timer, no observer, nothing running between scrapes. */
function processFamilies(): string[] {
  const cpu = process.cpuUsage();
  const memory = process.memoryUsage();
  return [
    family(ProcessMetric.cpuUserSecondsTotal, 'counter', 'Total user CPU time spent in seconds.', [{ value: cpu.user / 1e6 }]),
    family(ProcessMetric.cpuSystemSecondsTotal, 'counter', 'Total system CPU time spent in seconds.', [{ value: cpu.system / 1e6 }]),
    family(ProcessMetric.cpuSecondsTotal, 'counter', 'Total user and system CPU time spent in seconds.', [{ value: (cpu.user + cpu.system) / 1e6 }]),
    family(ProcessMetric.startTimeSeconds, 'gauge', 'Start time of the process since unix epoch in seconds.', [{ value: START_TIME_SECONDS }]),
    family(ProcessMetric.residentMemoryBytes, 'gauge', 'Resident memory size in bytes.', [{ value: memory.rss }]),
    family(ProcessMetric.heapSizeTotalBytes, 'gauge', 'Process heap size from Node.js in bytes.', [{ value: memory.heapTotal }]),
    family(ProcessMetric.heapSizeUsedBytes, 'gauge', 'Process heap size used from Node.js in bytes.', [{ value: memory.heapUsed }]),
    family(ProcessMetric.externalMemoryBytes, 'gauge', 'Node.js external memory size in bytes.', [{ value: memory.external }]),
  ];
}
