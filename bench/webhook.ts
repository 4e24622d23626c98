/**
 * Webhook admission over HTTPS keep-alive: the real `anthropic-wif webhook` from dist/
 * (no cluster: --service-account-lookup=false), loaded by wrk from a separate process at
 * concurrency 1, 8 and 64 with a ~5 KB opted-in Deployment pod, next to a bare node:https
 * server that only parses the review and returns a fixed patch. Then a fixed 1,000 req/s
 * from an open-loop client, a CPU profile of the handler, and RSS sampled every 100k
 * admissions up to a million. The build before the optimisation (`--compare=<commit>`) runs
 * beside the current one through the closed-loop, fixed-rate and in-process measurements.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestCa, issueServingCertificate } from '../test/support/tls.ts';
import { loadAverage, numberFlag, revisionFlag, type BenchOptions } from './support/bench-options.ts';
import { inclusiveMs, topSelfFrames } from './support/cpu-profile.ts';
import { buildEarlierCommit, type EarlierBuild } from './support/earlier-build.ts';
import type { OpenLoopLoad, OpenLoopResult } from './support/open-loop-client.ts';
import { BENCH_ORGANIZATION_ID, benchAdmissionReview, benchPod } from './support/pod.ts';
import { REPO_ROOT, startProcess, waitForPort, type BenchProcess } from './support/processes.ts';
import { integer, markdownTable, mib, ms, percent } from './support/report.ts';
import { metricSum, requestOnce } from './support/request.ts';
import { runWrk, startWrk, type WrkResult } from './support/wrk.ts';
import { METRIC_PREFIX, Metric } from '../contract/index.ts';
import { renderWorstCase, runWorstCase, spliceWorstCase } from './webhook-worst-case.ts';

const WEBHOOK_CLI = join(REPO_ROOT, 'dist', 'cli', 'anthropic-wif.js');
const CONCURRENCY = [1, 8, 64] as const;
const THROUGHPUT_TARGET = 0.75;
const P99_TARGET_MS = 5;
const RSS_SAMPLE_EVERY = 100_000;

/** The last commit before the hot-path optimisation. */
const DEFAULT_COMPARE = '7cf8fd6';

interface Settings {
  /** The commit measured beside this tree (`--compare=none` for none). */
  readonly compare: string | undefined;
  readonly seconds: number;
  readonly rate: number;
  readonly rateSeconds: number;
  readonly admissions: number;
  readonly profileSeconds: number;
  /** `--worst-case-only`: run only the hostile worst case and keep the rest of the stored section. */
  readonly worstCaseOnly: boolean;
  readonly alongsideSeconds: number;
}

function settingsFrom(options: BenchOptions): Settings {
  return {
    compare: revisionFlag(options, 'compare', DEFAULT_COMPARE),
    seconds: numberFlag(options, 'seconds', 10),
    rate: numberFlag(options, 'rate', 1000),
    rateSeconds: numberFlag(options, 'rate-seconds', 30),
    admissions: numberFlag(options, 'admissions', 1_000_000),
    profileSeconds: numberFlag(options, 'profile-seconds', 10),
    worstCaseOnly: options.flags['worst-case-only'] === 'true',
    alongsideSeconds: numberFlag(options, 'alongside-seconds', 20),
  };
}

interface Fixture {
  readonly work: string;
  readonly caPem: string;
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly bodyFile: string;
  readonly podBytes: number;
  readonly reviewBytes: number;
}

async function createFixture(): Promise<Fixture> {
  const work = await mkdtemp(join(tmpdir(), 'anthropic-wif-bench-webhook-'));
  const ca = await createTestCa(join(work, 'ca'));
  const serving = await issueServingCertificate(ca, { serial: 0xb0n });
  const certFile = join(work, 'tls.crt');
  const keyFile = join(work, 'tls.key');
  await writeFile(certFile, serving.certPem);
  await writeFile(keyFile, serving.keyPem);
  const review = benchAdmissionReview();
  const bodyFile = join(work, 'review.json');
  await writeFile(bodyFile, review);
  return { work, caPem: ca.certPem, caFile: ca.certFile, certFile, keyFile, bodyFile, podBytes: Buffer.byteLength(JSON.stringify(benchPod())), reviewBytes: Buffer.byteLength(review) };
}

interface Server {
  readonly process: BenchProcess;
  readonly url: string;
}

async function startWebhook(fixture: Fixture, name: string, how: { readonly cli?: string; readonly nodeArgs?: readonly string[] } = {}): Promise<Server> {
  const child = startProcess({
    command: process.execPath,
    args: [
      ...(how.nodeArgs ?? []),
      how.cli ?? WEBHOOK_CLI,
      'webhook',
      '--listen', '127.0.0.1:0',
      '--service-account-lookup=false',
      '--native-sidecar=true',
      '--organization-id', BENCH_ORGANIZATION_ID,
      '--tls-cert-file', fixture.certFile,
      '--tls-key-file', fixture.keyFile,
    ],
    stderrFile: join(fixture.work, `${name}.stderr`),
  });
  const line = await child.waitForLine(/"msg":"listening"/);
  const port = (JSON.parse(line) as { port: number }).port;
  return { process: child, url: `https://127.0.0.1:${port}/mutate` };
}

async function startBareServer(fixture: Fixture, patchFile: string): Promise<Server> {
  const child = startProcess({
    command: process.execPath,
    args: [join(REPO_ROOT, 'bench', 'support', 'bare-admission-server.ts'), fixture.certFile, fixture.keyFile, patchFile],
    stderrFile: join(fixture.work, 'bare.stderr'),
  });
  return { process: child, url: `https://127.0.0.1:${await waitForPort(child)}/mutate` };
}

interface Probe {
  readonly patchBase64: string;
  readonly patchOperations: number;
  readonly answerBytes: number;
}

interface AdmissionAnswer {
  readonly response?: { readonly allowed?: boolean; readonly patchType?: string; readonly patch?: string };
}

/** One admission before the load: the pod must be injected (allowed, with a patch). */
async function probeWebhook(server: Server, fixture: Fixture): Promise<Probe> {
  const answer = await requestOnce({ url: server.url, method: 'POST', body: await readFile(fixture.bodyFile), ca: fixture.caPem });
  const response = (JSON.parse(answer.text) as AdmissionAnswer).response;
  if (answer.status !== 200 || response?.allowed !== true || response.patchType !== 'JSONPatch' || response.patch === undefined) {
    throw new Error(`the webhook did not inject the benchmark pod: HTTP ${answer.status} ${answer.text.slice(0, 500)}`);
  }
  const operations = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as unknown[];
  return { patchBase64: response.patch, patchOperations: operations.length, answerBytes: Buffer.byteLength(answer.text) };
}

interface LoadResult extends WrkResult {
  /** The server's own CPU time (user + system) per request, microseconds. */
  readonly cpuMicrosPerRequest: number;
}

interface MatrixRow {
  readonly concurrency: number;
  readonly webhook: LoadResult;
  /** The compared earlier build, when there is one. */
  readonly before: LoadResult | undefined;
  readonly bare: LoadResult;
}

interface Servers {
  readonly webhook: Server;
  readonly before: Server | undefined;
  readonly bare: Server;
}

/** wrk against one server, with the server's CPU time per request (unaffected by what else runs). */
async function loadServer(server: Server, fixture: Fixture, load: { connections: number; seconds: number }): Promise<LoadResult> {
  const cpuBefore = server.process.cpuSeconds();
  const result = await runWrk({ url: server.url, bodyFile: fixture.bodyFile, ...load });
  return { ...result, cpuMicrosPerRequest: ((server.process.cpuSeconds() - cpuBefore) * 1e6) / result.requests };
}

async function runMatrix(servers: Servers, fixture: Fixture, settings: Settings, options: BenchOptions): Promise<MatrixRow[]> {
  const load = (server: Server, connections: number, seconds: number): Promise<LoadResult> => loadServer(server, fixture, { connections, seconds });
  const loadBefore = (connections: number, seconds: number): Promise<LoadResult | undefined> =>
    servers.before === undefined ? Promise.resolve(undefined) : load(servers.before, connections, seconds);
  options.progress('warming up every server (5 s each at concurrency 8)');
  await load(servers.webhook, 8, 5);
  await loadBefore(8, 5);
  await load(servers.bare, 8, 5);
  const rows: MatrixRow[] = [];
  for (const concurrency of CONCURRENCY) {
    options.progress(`concurrency ${concurrency}: ${settings.seconds} s against each server in turn`);
    const webhook = await load(servers.webhook, concurrency, settings.seconds);
    const before = await loadBefore(concurrency, settings.seconds);
    const bare = await load(servers.bare, concurrency, settings.seconds);
    rows.push({ concurrency, webhook, before, bare });
  }
  return rows;
}

async function runOpenLoop(load: OpenLoopLoad, fixture: Fixture, name: string): Promise<OpenLoopResult> {
  const child = startProcess({
    command: process.execPath,
    args: [join(REPO_ROOT, 'bench', 'support', 'open-loop-client.ts'), JSON.stringify(load)],
    stderrFile: join(fixture.work, `${name}.stderr`),
  });
  const code = await child.exited;
  const line = child.stdout().trim().split('\n').at(-1) ?? '';
  if (code !== 0 || !line.startsWith('{')) throw new Error(`open-loop client failed (exit ${String(code)}): ${child.stderr().slice(-2000)}`);
  return JSON.parse(line) as OpenLoopResult;
}

interface FixedRate {
  readonly webhook: OpenLoopResult;
  readonly before: OpenLoopResult | undefined;
  readonly bare: OpenLoopResult;
}

async function runFixedRate(servers: Servers, fixture: Fixture, settings: Settings, options: BenchOptions): Promise<FixedRate> {
  const load = (server: Server): OpenLoopLoad => ({
    url: server.url,
    bodyFile: fixture.bodyFile,
    caFile: fixture.caFile,
    ratePerSecond: settings.rate,
    seconds: settings.rateSeconds,
    warmupSeconds: 5,
    connections: 16,
  });
  options.progress(`fixed ${settings.rate} req/s for ${settings.rateSeconds} s (after 5 s of warm-up) against each server in turn`);
  const webhook = await runOpenLoop(load(servers.webhook), fixture, 'open-loop-webhook');
  const before = servers.before === undefined ? undefined : await runOpenLoop(load(servers.before), fixture, 'open-loop-before');
  const bare = await runOpenLoop(load(servers.bare), fixture, 'open-loop-bare');
  return { webhook, before, bare };
}

type StageMicros = Readonly<Record<string, number>>;

/** The in-process cost of each stage (bench/support/admission-stages.ts), without HTTP or TLS. */
async function runStages(fixture: Fixture, script: string, name: string): Promise<StageMicros> {
  const child = startProcess({ command: process.execPath, args: [script, '20000', '--json'], stderrFile: join(fixture.work, `${name}.stderr`) });
  const code = await child.exited;
  const line = child.stdout().trim().split('\n').at(-1) ?? '';
  if (code !== 0 || !line.startsWith('{')) throw new Error(`admission-stages failed (exit ${String(code)}): ${child.stderr().slice(-2000)}`);
  return JSON.parse(line) as StageMicros;
}

/** The lower of two runs per stage, the builds taking turns: a disturbed run only ever reads higher. */
async function runAllStages(fixture: Fixture, earlier: EarlierBuild | undefined): Promise<Stages> {
  const nowScript = join(REPO_ROOT, 'bench', 'support', 'admission-stages.ts');
  const lower = (a: StageMicros, b: StageMicros): StageMicros => Object.fromEntries(Object.entries(a).map(([stage, micros]) => [stage, Math.min(micros, b[stage] ?? micros)]));
  const now1 = await runStages(fixture, nowScript, 'stages-1');
  const before1 = earlier === undefined ? undefined : await runStages(fixture, earlier.stagesScript, 'stages-before-1');
  const now2 = await runStages(fixture, nowScript, 'stages-2');
  const before2 = earlier === undefined ? undefined : await runStages(fixture, earlier.stagesScript, 'stages-before-2');
  return { now: lower(now1, now2), before: before1 === undefined || before2 === undefined ? undefined : lower(before1, before2) };
}

interface ProfileFigures {
  readonly requests: number;
  readonly top: readonly { frame: string; selfMs: number; share: number }[];
  readonly stages: readonly { name: string; microsPerRequest: number }[];
}

/** Pipeline stages whose inclusive time the profile reports per admission. */
const PROFILED_STAGES = ['decodeAdmissionReview', 'reviewPod', 'decideInjection', 'applyInjection', 'createPatch', 'encodeAdmissionResponse', 'recordAdmission', 'LOG'] as const;

async function runProfile(fixture: Fixture, settings: Settings, options: BenchOptions): Promise<ProfileFigures> {
  const dir = join(fixture.work, 'profile');
  await mkdir(dir);
  options.progress(`CPU profile: ${settings.profileSeconds} s at concurrency 8 against a webhook started with --cpu-prof`);
  const server = await startWebhook(fixture, 'webhook-profiled', { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', dir] });
  await runWrk({ url: server.url, bodyFile: fixture.bodyFile, connections: 8, seconds: settings.profileSeconds });
  // The profile covers the whole process, so the per-admission figures divide by every admission it served.
  const requests = (await readMetrics(server, fixture)).admissions;
  await server.process.stop();
  const file = (await readdir(dir)).find((name) => name.endsWith('.cpuprofile'));
  if (file === undefined) throw new Error('the profiled webhook wrote no .cpuprofile');
  const profile = JSON.parse(await readFile(join(dir, file), 'utf8')) as Parameters<typeof topSelfFrames>[0];
  return {
    requests,
    top: topSelfFrames(profile, 15),
    stages: PROFILED_STAGES.map((name) => ({ name, microsPerRequest: (inclusiveMs(profile, name) * 1000) / requests })),
  };
}

interface WebhookMetricsReading {
  readonly admissions: number;
  readonly heapUsedBytes: number;
  readonly heapTotalBytes: number;
}

async function readMetrics(server: Server, fixture: Fixture): Promise<WebhookMetricsReading> {
  const answer = await requestOnce({ url: server.url.replace(/\/mutate$/, '/metrics'), ca: fixture.caPem });
  return {
    admissions: metricSum(answer.text, Metric.admissionRequestsTotal),
    heapUsedBytes: metricSum(answer.text, `${METRIC_PREFIX}nodejs_heap_size_used_bytes`),
    heapTotalBytes: metricSum(answer.text, `${METRIC_PREFIX}nodejs_heap_size_total_bytes`),
  };
}

interface RssSample {
  readonly admissions: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly heapTotalBytes: number;
}

interface RssRun {
  readonly samples: readonly RssSample[];
  readonly seconds: number;
  readonly cpuSeconds: number;
  readonly errors: number;
}

/** A fresh webhook, loaded at concurrency 8 until it has answered `admissions`; RSS sampled at every 100k. */
async function runRss(fixture: Fixture, settings: Settings, expectedRate: number, options: BenchOptions): Promise<RssRun> {
  const server = await startWebhook(fixture, 'webhook-rss');
  const first = await readMetrics(server, fixture);
  const samples: RssSample[] = [{ ...first, rssBytes: server.process.rssBytes() }];
  options.progress(`RSS: ${integer(settings.admissions)} admissions at concurrency 8 (about ${Math.round(settings.admissions / expectedRate)} s)`);
  const cpuBefore = server.process.cpuSeconds();
  const started = Date.now();
  const wrk = startWrk({ url: server.url, bodyFile: fixture.bodyFile, connections: 8, seconds: Math.ceil((settings.admissions / expectedRate) * 3) + 60 });
  let next = Math.min(RSS_SAMPLE_EVERY, settings.admissions);
  while (next <= settings.admissions) {
    await sleep(250);
    const reading = await readMetrics(server, fixture);
    if (reading.admissions < next) continue;
    samples.push({ ...reading, rssBytes: server.process.rssBytes() });
    options.progress(`RSS: ${integer(reading.admissions)} admissions, ${mib(samples.at(-1)?.rssBytes ?? 0)} MiB`);
    next = next === settings.admissions ? Number.POSITIVE_INFINITY : Math.min(next + RSS_SAMPLE_EVERY, settings.admissions);
  }
  wrk.stop();
  const result = await wrk.result;
  const seconds = (Date.now() - started) / 1000;
  const cpuSeconds = server.process.cpuSeconds() - cpuBefore;
  await server.process.stop();
  return { samples, seconds, cpuSeconds, errors: result.errors };
}

// ---------------------------------------------------------------------------------------
// Report

function latencyCells(result: { p50Ms: number; p99Ms: number; p999Ms: number }): string[] {
  return [ms(result.p50Ms), ms(result.p99Ms), ms(result.p999Ms)];
}

function matrixTable(rows: readonly MatrixRow[], compare: string | undefined): string {
  const cells = (result: LoadResult): string[] => [integer(result.requestsPerSecond), ...latencyCells(result), integer(result.cpuMicrosPerRequest), integer(result.errors)];
  const body = rows.flatMap((row) => [
    [`${row.concurrency}`, 'webhook', ...cells(row.webhook), percent(row.webhook.requestsPerSecond / row.bare.requestsPerSecond)],
    ...(row.before === undefined ? [] : [[`${row.concurrency}`, `webhook before (${compare ?? ''})`, ...cells(row.before), percent(row.before.requestsPerSecond / row.bare.requestsPerSecond)]]),
    [`${row.concurrency}`, 'bare node:https', ...cells(row.bare), ''],
  ]);
  return markdownTable(['concurrency', 'server', 'req/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'server CPU µs/req', 'errors', '/ bare'], body);
}

function fixedRateTable(fixed: FixedRate, compare: string | undefined): string {
  const row = (name: string, result: OpenLoopResult): string[] => [
    name,
    integer(result.achievedPerSecond),
    ...latencyCells(result.scheduledLatency),
    ms(result.scheduledLatency.maxMs),
    ...latencyCells(result.serviceLatency),
    integer(result.errors),
  ];
  return markdownTable(
    ['server', 'req/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'service p50 ms', 'service p99 ms', 'service p99.9 ms', 'errors'],
    [row('webhook', fixed.webhook), ...(fixed.before === undefined ? [] : [row(`webhook before (${compare ?? ''})`, fixed.before)]), row('bare node:https', fixed.bare)],
  );
}

function profileTables(profile: ProfileFigures): string {
  const stages = markdownTable(
    ['stage (inclusive)', 'µs per admission'],
    profile.stages.map((stage) => [`\`${stage.name}\``, stage.microsPerRequest.toFixed(1)]),
  );
  const top = markdownTable(
    ['frame (self time)', 'share'],
    profile.top.map((row) => [`\`${row.frame}\``, `${(row.share * 100).toFixed(1)} %`]),
  );
  return `${stages}\n\n${top}`;
}

/** Least-squares slope of a sample field against admissions, in MiB per million admissions. */
function trendMibPerMillion(samples: readonly RssSample[], field: (sample: RssSample) => number): number {
  const n = samples.length;
  const meanX = samples.reduce((sum, s) => sum + s.admissions, 0) / n;
  const meanY = samples.reduce((sum, s) => sum + field(s), 0) / n;
  const covariance = samples.reduce((sum, s) => sum + (s.admissions - meanX) * (field(s) - meanY), 0);
  const variance = samples.reduce((sum, s) => sum + (s.admissions - meanX) ** 2, 0);
  return variance === 0 ? 0 : ((covariance / variance) * 1_000_000) / 1024 / 1024;
}

function rssTable(run: RssRun): string {
  return markdownTable(
    ['admissions', 'RSS MiB', 'V8 heap committed MiB', 'V8 heap in use MiB'],
    run.samples.map((sample) => [integer(sample.admissions), mib(sample.rssBytes), mib(sample.heapTotalBytes), mib(sample.heapUsedBytes)]),
  );
}

const STAGE_ORDER = ['decodeAdmissionReview', 'decideInjection', 'applyInjection', 'createPatch', 'reviewPod', 'encodeAdmissionResponse', 'logger.info (to /dev/null)', 'recordAdmission', 'whole handler'] as const;

function stagesTable(stages: Stages, compare: string | undefined): string {
  const micros = (values: StageMicros | undefined, stage: string): string => (values?.[stage] ?? Number.NaN).toFixed(1);
  const header = ['stage (in-process, µs per admission)', ...(stages.before === undefined ? [] : [`before (${compare ?? ''})`]), 'now'];
  return markdownTable(
    header,
    STAGE_ORDER.map((stage) => [`\`${stage}\``, ...(stages.before === undefined ? [] : [micros(stages.before, stage)]), micros(stages.now, stage)]),
  );
}

const OPTIMISATIONS = `Profiling the handler (\`node --cpu-prof\`, then \`bench/support/cpu-profile.ts\` on the profile) showed, in order:
\`structuredClone\` (deep copies of the whole pod and of every patch value), pino's wildcard redaction
(about 40 µs per log line), the diff comparing every subtree deeply before descending, express's router,
body parser and \`res.send\`, a SHA-256 per admission, and the answer serialized twice. Changes, with
behaviour and tests unchanged:

- \`applyInjection\` copies only the objects on the way to a change and shares the rest with the input;
  the diff skips shared subtrees by identity instead of comparing every subtree deeply before descending;
  \`cloneJson\` is a plain walk instead of \`structuredClone\` (the patch still gets its own copies).
- The API server's plain admission requests (\`POST /mutate\`, declared length, no content encoding) first
  skipped express; since issue #14 express is gone and one small router on \`node:https\` answers every
  request (\`webhook/server.ts\`, body reading in \`webhook/request-body.ts\`): same answers, one path.
- The answer envelope is written around the base64 patch instead of serializing it twice; the settings
  hash is memoized by its JSON; metric children are looked up once per label pair.
- The logger censors secret keys in one walk (\`censorSecrets\` in \`runtime/logger.ts\`, pino's log and
  bindings formatter, and child bindings) instead of pino's path-based \`redact\`, with the same keys,
  four levels deep instead of three.`;

function optimisation(figures: Figures): string {
  const { matrix, fixed, settings } = figures;
  const compare = settings.compare;
  const beforeRows = matrix.filter((row) => row.before !== undefined);
  if (compare === undefined || beforeRows.length === 0 || fixed.before === undefined) return `### What was optimised\n\n${OPTIMISATIONS}\n\n${stagesTable(figures.stages, compare)}`;
  const bestBefore = Math.max(...beforeRows.map((row) => row.before?.requestsPerSecond ?? 0));
  const cpu = (select: (row: MatrixRow) => LoadResult | undefined): string => beforeRows.map((row) => integer(select(row)?.cpuMicrosPerRequest ?? Number.NaN)).join(' / ');
  return `### What was optimised

${OPTIMISATIONS}

${stagesTable(figures.stages, compare)}

Side by side in this run (the tables above), commit ${compare} against this tree: the best saturated rate went
from ${integer(bestBefore)} to ${integer(best(matrix, 'webhook').rate)} req/s, server CPU per admission at concurrency 1 / 8 / 64 from
${cpu((row) => row.before)} µs to ${cpu((row) => row.webhook)} µs, and p99 at a fixed ${integer(settings.rate)} req/s from
${ms(fixed.before.scheduledLatency.p99Ms)} ms to ${ms(fixed.webhook.scheduledLatency.p99Ms)} ms.`;
}

interface Stages {
  readonly now: StageMicros;
  readonly before: StageMicros | undefined;
}

interface Figures {
  readonly stages: Stages;
  readonly settings: Settings;
  readonly fixture: Fixture;
  readonly probe: Probe;
  readonly loadAtStart: number;
  readonly matrix: readonly MatrixRow[];
  readonly fixed: FixedRate;
  readonly profile: ProfileFigures;
  readonly rss: RssRun;
}

function best(rows: readonly MatrixRow[], server: 'webhook' | 'bare'): { rate: number; concurrency: number } {
  const top = rows.reduce((a, b) => (b[server].requestsPerSecond > a[server].requestsPerSecond ? b : a));
  return { rate: top[server].requestsPerSecond, concurrency: top.concurrency };
}

function verdict(met: boolean): string {
  return met ? '**met**' : '**missed**';
}

function throughputSummary(figures: Figures): string {
  const webhook = best(figures.matrix, 'webhook');
  const bare = best(figures.matrix, 'bare');
  const ratio = webhook.rate / bare.rate;
  const by = ratio >= THROUGHPUT_TARGET ? '' : ` by ${((THROUGHPUT_TARGET - ratio) * 100).toFixed(0)} percentage points`;
  const at = figures.matrix.find((row) => row.concurrency === webhook.concurrency);
  const webhookCpu = at?.webhook.cpuMicrosPerRequest ?? Number.NaN;
  const bareCpu = at?.bare.cpuMicrosPerRequest ?? Number.NaN;
  const handler = figures.stages.now['whole handler'] ?? Number.NaN;
  const parse = figures.stages.now.decodeAdmissionReview ?? Number.NaN;
  return (
    `Saturated throughput: the webhook's best is ${integer(webhook.rate)} req/s (concurrency ${webhook.concurrency}), ` +
    `the bare server's ${integer(bare.rate)} req/s (concurrency ${bare.concurrency}): ${percent(ratio)} of the bare server. ` +
    `Target ≥ ${percent(THROUGHPUT_TARGET)}: ${verdict(ratio >= THROUGHPUT_TARGET)}${by}.\n\n` +
    `What bounds it: at concurrency ${webhook.concurrency} the bare server spends ${integer(bareCpu)} µs of CPU per request (TLS, HTTP, one parse) ` +
    `and the webhook ${integer(webhookCpu)} µs. ${percent(THROUGHPUT_TARGET)} would leave the webhook ${integer(bareCpu / 3)} µs on top of the bare server's work ` +
    `for everything else it does per admission: in process (the stage table below) its handler takes ${handler.toFixed(0)} µs, ` +
    `${(handler - parse).toFixed(0)} µs of it past the parse both servers share (decide, apply, diff, encode the patch, the log line, ` +
    `the metrics), and in the live process each of those costs more (a larger heap: more GC work, a slower parse). ` +
    `Every admission decides, injects and diffs the pod afresh; nothing is cached between admissions.`
  );
}

function fixedRateSummary(figures: Figures): string {
  const p99 = figures.fixed.webhook.scheduledLatency.p99Ms;
  const bareP99 = figures.fixed.bare.scheduledLatency.p99Ms;
  const by = p99 <= P99_TARGET_MS ? ` (${ms(P99_TARGET_MS - p99)} ms to spare)` : ` by ${ms(p99 - P99_TARGET_MS)} ms`;
  const floor =
    p99 <= P99_TARGET_MS
      ? ''
      : ` What bounds it: the bare server's p99 in the same run is ${ms(bareP99)} ms. At this rate both servers are mostly idle and the tail is set by scheduling on 2 cores shared by the server, the client, the runner draining the log pipe and whatever else runs on the machine, not by the handler (the webhook's p50 is ${ms(figures.fixed.webhook.scheduledLatency.p50Ms - figures.fixed.bare.scheduledLatency.p50Ms)} ms above the bare server's).`;
  return `p99 at a fixed ${integer(figures.settings.rate)} req/s: ${ms(p99)} ms, measured from each request's scheduled send time. Target ≤ ${P99_TARGET_MS} ms: ${verdict(p99 <= P99_TARGET_MS)}${by}.${floor}`;
}

/** A leak grows with admissions; a heap that V8 enlarges once does not. Judged on the second half of the run. */
function rssSummary(run: RssRun): string {
  const last = run.samples.at(-1);
  const admissions = last?.admissions ?? 0;
  const head = `${integer(admissions)} admissions in ${run.seconds.toFixed(0)} s (${integer(admissions / run.seconds)} req/s, ${integer(run.errors)} errors), ${((run.cpuSeconds / Math.max(1, admissions)) * 1e6).toFixed(0)} µs of webhook CPU per admission (user + system, TLS included).`;
  const secondHalf = run.samples.filter((sample) => sample.admissions >= admissions / 2);
  if (secondHalf.length < 3) return `${head} Too few samples for a trend: run the full --admissions.`;
  const rss = trendMibPerMillion(secondHalf, (sample) => sample.rssBytes);
  const committed = trendMibPerMillion(secondHalf, (sample) => sample.heapTotalBytes);
  const inUse = trendMibPerMillion(secondHalf, (sample) => sample.heapUsedBytes);
  const perAdmission = (rss * 1024 * 1024) / 1_000_000;
  return (
    `${head} RSS rises while V8 sizes its heap for this load, then levels off: over the second half of the run ` +
    `(${integer(secondHalf[0]?.admissions ?? 0)} to ${integer(admissions)} admissions) its least-squares trend is ${rss.toFixed(1)} MiB per million admissions ` +
    `(${perAdmission.toFixed(1)} bytes per admission), V8's committed heap ${committed.toFixed(1)} and its heap in use ${inUse.toFixed(1)} MiB per million ` +
    `(in use swings with wherever in the GC cycle the scrape lands). ` +
    (Math.abs(rss) < 16 && Math.abs(committed) < 16
      ? 'Flat: no leak (a leak of even 16 bytes per admission would add 15 MiB per million).'
      : 'That is a trend: see the series.')
  );
}

function render(figures: Figures): string {
  const { settings, fixture, probe } = figures;
  return `## Webhook admission

Measured ${new Date().toISOString().slice(0, 10)} (1-minute load average ${figures.loadAtStart.toFixed(2)} at the start).

**What**: \`anthropic-wif webhook\` as the image runs it (\`node dist/cli/anthropic-wif.js webhook\`, logging
one JSON line per admission at info level to its stdout, a pipe the runner drains as a container
runtime does, Prometheus metrics on), with
\`--service-account-lookup=false\` (no cluster: the ServiceAccount lookup is a cache read in production)
and \`--native-sidecar=true\`, answering \`POST /mutate\` over HTTPS (TLS 1.3, P-256 certificate) on
keep-alive connections. The request is the AdmissionReview of an opted-in Deployment pod
(\`bench/support/pod.ts\`: three containers with env from literals, fields and Secrets, probes,
resources, five volumes): ${integer(fixture.podBytes)} bytes of pod in a ${integer(fixture.reviewBytes)}-byte review.
Every answer injects it: ${probe.patchOperations} JSON Patch operations, a ${integer(probe.answerBytes)}-byte answer.

**Reference**: a bare \`node:https\` server (\`bench/support/bare-admission-server.ts\`) that reads the body,
\`JSON.parse\`s it and answers the same patch bytes with the request's uid: the limit of one Node
process on this machine for TLS + HTTP + one parse.

**How**: each server is its own process; the load comes from \`wrk\` (one thread, a separate
process, \`bench/support/post-body.lua\`), ${settings.seconds} s per cell after 5 s of warm-up, the servers
taking turns${settings.compare === undefined ? '' : ` (this tree's build, the build of commit ${settings.compare} from before the
optimisation below, and the bare server)`}. The server's CPU time per request comes from \`/proc/<pid>/stat\`
and does not count time it waited for a core. wrk is closed-loop (each connection sends its next request when the answer
arrives), so its latency at concurrency 64 is mostly queueing. The fixed-rate figures come from an
open-loop Node client (\`bench/support/open-loop-client.ts\`, undici, 16 keep-alive connections) that
sends on schedule whether or not answers came back and measures from the scheduled time.

### Throughput and latency, closed loop

${matrixTable(figures.matrix, settings.compare)}

${throughputSummary(figures)}

### Fixed rate, open loop

${fixedRateTable(figures.fixed, settings.compare)}

${fixedRateSummary(figures)} The service columns are measured from the moment the request was
handed to a connection; the others include up to about 1 ms of the client's timer granularity.

### Where the time goes

A separate webhook started with \`node --cpu-prof\`, ${settings.profileSeconds} s at concurrency 8
(${integer(figures.profile.requests)} admissions; time per admission is the profile's inclusive time divided by them;
\`LOG\` is pino writing the admission line). The sampler charges a system call with the time the process
spent preempted in it, so the socket and pipe writes (\`writeUtf8String\`) look dearer here than they are;
the in-process table under "What was optimised" has each stage without HTTP, TLS or I/O:

${profileTables(figures.profile)}

### Memory over ${integer(settings.admissions)} admissions

A fresh webhook, loaded by wrk at concurrency 8; RSS (\`/proc/<pid>/status\` VmRSS) and V8's heap
(from \`/metrics\`) sampled each time another ${integer(RSS_SAMPLE_EVERY)} admissions were answered (the first row is
right after start).

${rssTable(figures.rss)}

${rssSummary(figures.rss)}

${optimisation(figures)}

Flags: \`--compare=${settings.compare ?? 'none'}\`, \`--seconds=${settings.seconds}\` (per closed-loop cell), \`--rate=${settings.rate}\`, \`--rate-seconds=${settings.rateSeconds}\`,
\`--admissions=${settings.admissions}\`, \`--profile-seconds=${settings.profileSeconds}\`, \`--alongside-seconds=${settings.alongsideSeconds}\`
(\`--worst-case-only\` runs only the hostile worst case below).
`;
}

async function startServers(fixture: Fixture, earlier: EarlierBuild | undefined): Promise<Servers & { readonly probe: Probe }> {
  const webhook = await startWebhook(fixture, 'webhook');
  const probe = await probeWebhook(webhook, fixture);
  const before = earlier === undefined ? undefined : await startWebhook(fixture, 'webhook-before', { cli: earlier.cli });
  if (before !== undefined) await probeWebhook(before, fixture);
  const patchFile = join(fixture.work, 'patch.b64');
  await writeFile(patchFile, probe.patchBase64);
  const bare = await startBareServer(fixture, patchFile);
  return { webhook, before, bare, probe };
}

/** A fresh webhook through the hostile worst case (bench/webhook-worst-case.ts). */
async function worstCaseSection(fixture: Fixture, settings: Settings, options: BenchOptions): Promise<string> {
  const server = await startWebhook(fixture, 'webhook-worst-case');
  try {
    await probeWebhook(server, fixture);
    const figures = await runWorstCase({
      url: server.url,
      process: server.process,
      caPem: fixture.caPem,
      caFile: fixture.caFile,
      ordinaryBodyFile: fixture.bodyFile,
      work: fixture.work,
      progress: options.progress,
      openLoop: (load, name) => runOpenLoop(load, fixture, name),
      alongsideSeconds: settings.alongsideSeconds,
    });
    return renderWorstCase(figures);
  } finally {
    await server.process.stop();
  }
}

export async function run(options: BenchOptions): Promise<string> {
  const settings = settingsFrom(options);
  const loadAtStart = loadAverage();
  const fixture = await createFixture();
  let servers: Servers | undefined;
  if (settings.worstCaseOnly) {
    try {
      return await spliceWorstCase(join(REPO_ROOT, 'bench', 'results', 'webhook.md'), await worstCaseSection(fixture, settings, options));
    } finally {
      await rm(fixture.work, { recursive: true, force: true });
    }
  }
  try {
    if (settings.compare !== undefined) options.progress(`building commit ${settings.compare} to compare with`);
    const earlier = settings.compare === undefined ? undefined : buildEarlierCommit(settings.compare, join(fixture.work, 'earlier'));
    const started = await startServers(fixture, earlier);
    servers = started;
    const matrix = await runMatrix(started, fixture, settings, options);
    const fixed = await runFixedRate(started, fixture, settings, options);
    await stopServers(started);
    servers = undefined;
    const profile = await runProfile(fixture, settings, options);
    const rss = await runRss(fixture, settings, best(matrix, 'webhook').rate, options);
    options.progress('in-process cost of each stage of an admission');
    const stages = await runAllStages(fixture, earlier);
    const worstCase = await worstCaseSection(fixture, settings, options);
    return `${render({ settings, fixture, probe: started.probe, loadAtStart, matrix, fixed, profile, rss, stages })}\n${worstCase}`;
  } finally {
    if (servers !== undefined) await stopServers(servers);
    await rm(fixture.work, { recursive: true, force: true });
  }
}

async function stopServers(servers: Servers): Promise<void> {
  const running = [servers.webhook, servers.before, servers.bare].filter((server): server is Server => server !== undefined);
  await Promise.all(running.map((server) => server.process.stop()));
}
