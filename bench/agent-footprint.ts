/**
 * The agent in steady state (token fresh, nothing to do): `anthropic-wif agent` from dist/,
 * started as the injected sidecar starts it, against the token endpoint stand-in behind TLS
 * in a separate process. Resident memory (anonymous and file-backed) and CPU time every
 * minute for ten minutes, next to a bare Node process started at the same moment; what the
 * resident memory is made of; and the time from spawn to the first token file, next to the
 * endpoint's own latency and Node's own start.
 *
 * Variants run side by side in the same minutes: production (the injected sidecar's Node
 * options), the same with the kubelet's liveness probe, no Node options, and the agent as it
 * was before the footprint work (built from git), so each change is measured, not guessed.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, watch, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentEnv, Default, Limit, SdkEnv, TokenExchange } from '../contract/index.ts';
import { loadAverage, numberFlag, revisionFlag, type BenchOptions } from './support/bench-options.ts';
import { REPO_ROOT } from './support/processes.ts';
import { markdownTable, mib, ms, percentile } from './support/report.ts';
import { startLoggedProcess, type LoggedProcess } from './agent-support/logged-process.ts';
import { readCpuNs, readCpuTicksMs, readMemory, readRssBreakdown, type MemorySample, type RssBreakdown } from './agent-support/proc-memory.ts';
import { NODE_FLOOR_SOURCE } from './agent-support/node-floor.ts';
import { injectedSidecarLaunch } from './agent-support/sidecar-launch.ts';
import { startEndpointWorld, type EndpointWorld } from './agent-support/world.ts';

const DIST_CLI = join(REPO_ROOT, 'dist', 'cli', 'anthropic-wif.js');
/** The agent as it was before the footprint work (the commit before it), built from git for comparison. */
const DEFAULT_BASELINE_REVISION = '2a3d5d1850fe0eedf8b5f6596d782e7416afe08e';
/** Projected token lifetime: its 3600 s access token is refreshed after ~30 min, so ten minutes are steady state. */
const JWT_LIFETIME_SECONDS = 3600;
/** Started processes settle this long (startup work, first GCs) before the measured minutes. */
const WARM_UP_MS = 60_000;
/** The injected liveness probe: GET /healthz every 10 s, a new connection each time (as the kubelet's prober). */
const PROBE_PERIOD_MS = 10_000;
const RSS_TARGET_MB = 55;
const CPU_TARGET_MS_PER_MINUTE = 5;
const STARTUP_TARGET_MS = 150;

interface Settings {
  readonly minutes: number;
  readonly startups: number;
  readonly baseline: string | undefined;
  readonly extraVariants: readonly string[];
}

function settingsFrom(options: BenchOptions): Settings {
  return {
    minutes: numberFlag(options, 'minutes', 10),
    startups: numberFlag(options, 'startups', 15),
    baseline: revisionFlag(options, 'baseline', DEFAULT_BASELINE_REVISION),
    extraVariants: (options.flags.variants ?? '').split(',').filter((name) => name !== ''),
  };
}

// ---------------------------------------------------------------------------------------
// How each variant is started

interface Launch {
  readonly name: string;
  readonly description: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** Probe /healthz as the kubelet does. */
  readonly probed?: boolean;
  /** Against the plain-http stand-in instead of its TLS front. */
  readonly plainHttp?: boolean;
  /** Not an agent: the bare Node reference. */
  readonly bare?: boolean;
  /** Not an agent: the Node floor (agent-support/node-floor.ts). */
  readonly floor?: boolean;
}

function describeNodeOptions(env: Readonly<Record<string, string>>, args: readonly string[]): string {
  const flags = [...(env.NODE_OPTIONS === undefined ? [] : [`NODE_OPTIONS=${env.NODE_OPTIONS}`]), ...args.filter((a) => a.startsWith('--'))];
  return flags.length === 0 ? 'no Node options' : flags.map((f) => `\`${f}\``).join(' ');
}

/** Exploratory variants (`--variants=jitless,lite-mode,…`): Node options production does not use. */
const EXPLORATORY: Readonly<Record<string, { readonly nodeArgs: readonly string[]; readonly env: Readonly<Record<string, string>> }>> = {
  jitless: { nodeArgs: [], env: { NODE_OPTIONS: '--jitless' } },
  'max-opt-0': { nodeArgs: ['--max-opt=0'], env: {} },
  'lite-mode': { nodeArgs: ['--lite-mode'], env: {} },
  'no-memory-reducer': { nodeArgs: ['--no-memory-reducer'], env: {} },
  semi1: { nodeArgs: [], env: { NODE_OPTIONS: '--max-semi-space-size=1' } },
};

/** The floor script as a plain `.mjs` file (see node-floor.ts for why not `.ts`). */
function writeNodeFloor(): string {
  const dir = join(REPO_ROOT, '.cache', 'bench-agent-footprint');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'node-floor.mjs');
  writeFileSync(file, NODE_FLOOR_SOURCE);
  return file;
}

function launches(settings: Settings, baselineCli: string | undefined): Launch[] {
  const production = injectedSidecarLaunch('file');
  const productionLaunch: Launch = {
    name: 'production',
    description: `as injected (file mode): \`anthropic-wif ${production.args.join(' ')}\`, ${describeNodeOptions(production.nodeEnv, production.nodeOptions)}`,
    command: process.execPath,
    args: [...production.nodeOptions, DIST_CLI, ...production.args],
    env: production.nodeEnv,
  };
  const list: Launch[] = [
    productionLaunch,
    { ...productionLaunch, name: 'production, probed', description: `the same, with GET /healthz every ${PROBE_PERIOD_MS / 1000} s (the injected liveness probe)`, probed: true },
  ];
  const proxy = injectedSidecarLaunch('proxy');
  list.push({
    name: 'proxy mode, idle',
    description: `as injected in proxy mode (the proxy listening, no traffic): ${describeNodeOptions(proxy.nodeEnv, proxy.nodeOptions)}; for the sidecar's resources, which both modes share`,
    command: process.execPath,
    args: [...proxy.nodeOptions, DIST_CLI, ...proxy.args],
    env: { ...proxy.nodeEnv, [AgentEnv.proxyAddr]: '127.0.0.1:0' },
  });
  if (production.nodeOptions.length > 0 || production.nodeEnv.NODE_OPTIONS !== undefined) {
    list.push({ name: 'no Node options', description: 'the same build without the Node options', command: process.execPath, args: [DIST_CLI, ...production.args], env: {} });
  }
  if (baselineCli !== undefined) {
    list.push({ name: 'before', description: `the agent before the footprint work (${settings.baseline?.slice(0, 7) ?? ''}), no Node options`, command: process.execPath, args: [baselineCli, 'agent'], env: {} });
  }
  for (const name of settings.extraVariants) {
    const variant = EXPLORATORY[name];
    if (variant === undefined) throw new Error(`--variants: unknown variant "${name}" (known: ${Object.keys(EXPLORATORY).join(', ')})`);
    list.push({ name, description: `exploratory: ${describeNodeOptions(variant.env, variant.nodeArgs)}`, command: process.execPath, args: [...variant.nodeArgs, DIST_CLI, ...production.args], env: variant.env });
  }
  list.push({
    name: 'Node floor',
    description: "`bench/agent-support/node-floor.ts`: only the agent's kind of I/O (HTTP listener, one https POST, one atomic file write, a timer), with production's Node options",
    command: process.execPath,
    args: [...production.nodeOptions, writeNodeFloor()],
    env: production.nodeEnv,
    floor: true,
  });
  list.push({ name: 'bare Node', description: '`node -e "setInterval(() => {}, 1e6)"`', command: process.execPath, args: ['-e', 'setInterval(() => {}, 1e6)'], env: {}, bare: true });
  return list;
}

// ---------------------------------------------------------------------------------------
// Builds

function buildDistIfMissing(progress: (line: string) => void): void {
  if (existsSync(DIST_CLI)) return;
  progress('dist/ is missing: building it (tsc -p tsconfig.build.json)');
  execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: REPO_ROOT, stdio: 'inherit' });
}

/** The sources at `revision` (git archive, read-only on the repository), compiled with the same tsconfig. */
function buildBaseline(revision: string, progress: (line: string) => void): string {
  const dir = join(REPO_ROOT, '.cache', 'bench-agent-footprint', `baseline-${revision.slice(0, 12)}`);
  const cli = join(dir, 'dist', 'cli', 'anthropic-wif.js');
  if (existsSync(cli)) return cli;
  progress(`building the agent as of ${revision.slice(0, 12)} for comparison (git archive + tsc)`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const archive = join(dir, 'source.tar');
  execFileSync('git', ['archive', '--format=tar', '-o', archive, revision, 'agent', 'cli', 'runtime', 'webhook', 'tsconfig.json', 'tsconfig.build.json'], { cwd: REPO_ROOT });
  execFileSync('tar', ['-xf', archive, '-C', dir]);
  // Inside the repository, so Node finds the same node_modules and package.json ("type": "module").
  execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(dir, 'tsconfig.build.json')], { cwd: dir, stdio: 'inherit' });
  return cli;
}

// ---------------------------------------------------------------------------------------
// The agent's world

/** tmpfs, as the pod's volumes are (the projected token and the `medium: Memory` emptyDir). */
function workRoot(): string {
  return existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
}

interface AgentDirs {
  readonly dir: string;
  readonly outputDir: string;
  readonly tokenPath: string;
}

async function prepareAgentDirs(world: EndpointWorld): Promise<AgentDirs> {
  const dir = await mkdtemp(join(workRoot(), 'wif-bench-agent-'));
  const outputDir = join(dir, 'output');
  await mkdir(outputDir);
  return { dir, outputDir, tokenPath: await world.prepareTokenDir(dir, JWT_LIFETIME_SECONDS) };
}

function agentEnv(world: EndpointWorld, dirs: AgentDirs, launch: Launch): Record<string, string> {
  return {
    [SdkEnv.federationRuleId]: world.ready.federationRuleId,
    [SdkEnv.organizationId]: world.ready.organizationId,
    [SdkEnv.identityTokenFile]: dirs.tokenPath,
    [SdkEnv.baseUrl]: launch.plainHttp === true ? world.ready.baseUrl : world.ready.tlsBaseUrl,
    [AgentEnv.outputDir]: dirs.outputDir,
    [AgentEnv.healthAddr]: '127.0.0.1:0',
    NODE_EXTRA_CA_CERTS: world.ready.caFile,
    ...launch.env,
  };
}

/** Resolves when `file` appears in `dir` (inotify, not polling), with the time it took from `startedAt`. */
function whenFileAppears(dir: string, file: string, timeoutMs: number): { readonly appeared: Promise<number>; cancel(): void } {
  const watcher = watch(dir);
  let timer: NodeJS.Timeout | undefined;
  const appeared = new Promise<number>((resolve, reject) => {
    watcher.on('change', (_event, name) => {
      if (name === file && existsSync(join(dir, file))) resolve(performance.now());
    });
    timer = setTimeout(() => {
      reject(new Error(`${file} did not appear in ${dir} within ${timeoutMs} ms`));
    }, timeoutMs);
  }).finally(() => {
    clearTimeout(timer);
    watcher.close();
  });
  return {
    appeared,
    cancel: () => {
      clearTimeout(timer);
      watcher.close();
    },
  };
}

// ---------------------------------------------------------------------------------------
// Startup: spawn → first token file

interface StartupSeries {
  readonly name: string;
  readonly samplesMs: readonly number[];
}

async function timeAgentStartup(world: EndpointWorld, launch: Launch): Promise<number> {
  const dirs = await prepareAgentDirs(world);
  const watching = whenFileAppears(dirs.outputDir, 'token', 15_000);
  const startedAt = performance.now();
  const child = spawn(launch.command, [...launch.args], { env: { PATH: process.env.PATH ?? '', ...agentEnv(world, dirs, launch) }, stdio: 'ignore' });
  try {
    return (await watching.appeared) - startedAt;
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    await rm(dirs.dir, { recursive: true, force: true });
  }
}

/** Node itself: spawn → a file written by the first line of a script. */
async function timeNodeStartup(): Promise<number> {
  const dir = await mkdtemp(join(workRoot(), 'wif-bench-node-'));
  const watching = whenFileAppears(dir, 'token', 15_000);
  const startedAt = performance.now();
  const child = spawn(process.execPath, ['-e', `require('node:fs').writeFileSync(${JSON.stringify(join(dir, 'token'))}, 'x')`], { stdio: 'ignore' });
  try {
    return (await watching.appeared) - startedAt;
  } finally {
    await new Promise((resolve) => child.once('exit', resolve));
    await rm(dir, { recursive: true, force: true });
  }
}

/** The endpoint on its own: one exchange of a fresh JWT on a new connection, as the agent's first one. */
async function timeEndpointExchange(world: EndpointWorld, tls: boolean): Promise<number> {
  const jwt = await world.mintJwt(JWT_LIFETIME_SECONDS);
  const body = JSON.stringify({
    grant_type: TokenExchange.grantType,
    assertion: jwt,
    federation_rule_id: world.ready.federationRuleId,
    organization_id: world.ready.organizationId,
  });
  const url = new URL(TokenExchange.path, tls ? world.ready.tlsBaseUrl : world.ready.baseUrl);
  const ca = tls ? await readFile(world.ready.caFile, 'utf8') : undefined;
  const startedAt = performance.now();
  await new Promise<void>((resolve, reject) => {
    const options = {
      method: 'POST',
      agent: false as const,
      headers: { 'content-type': 'application/json', 'anthropic-beta': TokenExchange.betaHeader, 'content-length': Buffer.byteLength(body) },
      ...(ca === undefined ? {} : { ca }),
    };
    const req = (tls ? httpsRequest : httpRequest)(url, options, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) resolve();
        else reject(new Error(`the endpoint answered ${String(res.statusCode)}`));
      });
    });
    req.on('error', reject);
    req.end(body);
  });
  return performance.now() - startedAt;
}

async function measureStartups(world: EndpointWorld, list: readonly Launch[], settings: Settings, progress: (line: string) => void): Promise<StartupSeries[]> {
  const series: { name: string; samplesMs: number[]; run: () => Promise<number> }[] = [
    { name: 'Node itself (`node -e` writing a file)', samplesMs: [], run: timeNodeStartup },
    { name: 'endpoint exchange alone, https (new connection)', samplesMs: [], run: () => timeEndpointExchange(world, true) },
    { name: 'endpoint exchange alone, http (new connection)', samplesMs: [], run: () => timeEndpointExchange(world, false) },
    ...list.filter((l) => l.bare !== true && l.floor !== true && l.probed !== true).map((launch) => ({ name: `agent: ${launch.name}`, samplesMs: [] as number[], run: () => timeAgentStartup(world, launch) })),
  ];
  // Round-robin, so a burst of machine noise spreads over every series instead of hitting one.
  for (let round = 0; round < settings.startups; round++) {
    for (const entry of series) entry.samplesMs.push(await entry.run());
    if ((round + 1) % 5 === 0) progress(`startup round ${round + 1}/${settings.startups}`);
  }
  return series;
}

// ---------------------------------------------------------------------------------------
// Steady state

interface Running {
  readonly launch: Launch;
  readonly process: LoggedProcess;
  readonly dirs: AgentDirs | undefined;
  readonly healthPort: number | undefined;
  readonly samples: MemorySample[];
  /** CPU per minute from /proc/<pid>/stat (utime + stime, 10 ms ticks), ms. */
  readonly cpuTicksMs: number[];
  /** CPU per minute from every thread's schedstat (nanosecond resolution), ms. */
  readonly cpuMs: number[];
  probes: number;
  probeFailures: number;
}

function variantEnv(world: EndpointWorld, dirs: AgentDirs | undefined, launch: Launch): Record<string, string> {
  if (dirs === undefined) return { ...launch.env };
  if (launch.floor === true) return { FLOOR_URL: world.ready.tlsBaseUrl, FLOOR_DIR: dirs.outputDir, NODE_EXTRA_CA_CERTS: world.ready.caFile, ...launch.env };
  return agentEnv(world, dirs, launch);
}

async function startVariant(world: EndpointWorld, launch: Launch): Promise<Running> {
  const dirs = launch.bare === true ? undefined : await prepareAgentDirs(world);
  const child = startLoggedProcess({ command: launch.command, args: launch.args, env: variantEnv(world, dirs, launch) });
  let healthPort: number | undefined;
  if (launch.floor === true) {
    await child.waitForLine(/floor ready/, 15_000);
  } else if (dirs !== undefined) {
    const line = await child.waitForLine(/"listener":"health"/, 15_000);
    healthPort = (JSON.parse(line) as { port: number }).port;
    await child.waitForLine(/obtained a new access token/, 15_000);
  }
  return { launch, process: child, dirs, healthPort, samples: [], cpuTicksMs: [], cpuMs: [], probes: 0, probeFailures: 0 };
}

function probe(running: Running): void {
  if (running.healthPort === undefined) return;
  running.probes += 1;
  const req = httpRequest({ host: '127.0.0.1', port: running.healthPort, path: '/healthz', agent: false }, (res) => {
    if (res.statusCode !== 200) running.probeFailures += 1;
    res.resume();
  });
  req.on('error', () => {
    running.probeFailures += 1;
  });
  req.end();
}

async function measureSteadyState(world: EndpointWorld, list: readonly Launch[], settings: Settings, progress: (line: string) => void): Promise<{ running: Running[]; breakdowns: Map<string, RssBreakdown>; exchanges: number }> {
  // Started one after another (each up to its first token), then measured side by side.
  const running: Running[] = [];
  for (const launch of list) running.push(await startVariant(world, launch));
  const probed = running.filter((r) => r.launch.probed === true);
  const prober = setInterval(() => {
    for (const r of probed) probe(r);
  }, PROBE_PERIOD_MS);
  progress(`steady state: ${WARM_UP_MS / 1000} s of warm-up`);
  await sleep(WARM_UP_MS);
  const exchangesAtStart = (await world.stats()).exchanges;
  let previousTicks = running.map((r) => readCpuTicksMs(r.process.pid));
  let previousNs = running.map((r) => readCpuNs(r.process.pid));
  try {
    for (let minute = 1; minute <= settings.minutes; minute++) {
      await sleep(60_000);
      const ticks = running.map((r) => readCpuTicksMs(r.process.pid));
      const ns = running.map((r) => readCpuNs(r.process.pid));
      running.forEach((r, i) => {
        r.samples.push(readMemory(r.process.pid));
        r.cpuTicksMs.push((ticks[i] ?? 0) - (previousTicks[i] ?? 0));
        r.cpuMs.push(((ns[i] ?? 0) - (previousNs[i] ?? 0)) / 1e6);
      });
      previousTicks = ticks;
      previousNs = ns;
      progress(`steady state: minute ${minute}/${settings.minutes}`);
    }
  } finally {
    clearInterval(prober);
  }
  const breakdowns = new Map(running.map((r) => [r.launch.name, readRssBreakdown(r.process.pid)]));
  const exchanges = (await world.stats()).exchanges - exchangesAtStart;
  for (const r of running) await r.process.stop();
  for (const r of running) if (r.dirs !== undefined) await rm(r.dirs.dir, { recursive: true, force: true });
  return { running, breakdowns, exchanges };
}

// ---------------------------------------------------------------------------------------
// The report

const mean = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);

function memoryTable(running: readonly Running[]): string {
  const rows = running.map((r) => {
    const last = r.samples.at(-1);
    const rss = r.samples.map((s) => s.rssBytes);
    return [
      r.launch.name,
      last === undefined ? 'n/a' : mib(last.rssBytes),
      last === undefined ? 'n/a' : mib(last.anonBytes),
      last === undefined ? 'n/a' : mib(last.fileBytes),
      `${mib(Math.min(...rss))}–${mib(Math.max(...rss))}`,
      last === undefined ? 'n/a' : mib(last.peakBytes),
    ];
  });
  return markdownTable(['variant', 'RSS at the end (MiB)', 'anonymous', 'file-backed', 'RSS range over the minutes', 'peak RSS since start (VmHWM)'], rows);
}

function seriesTable(running: readonly Running[], minutes: number, value: (r: Running, minute: number) => string): string {
  const header = ['variant', ...Array.from({ length: minutes }, (_, i) => `${i + 1}`)];
  return markdownTable(header, running.map((r) => [r.launch.name, ...Array.from({ length: minutes }, (_, i) => value(r, i))]));
}

function cpuTable(running: readonly Running[]): string {
  const rows = running.map((r) => [
    r.launch.name,
    ms(mean(r.cpuMs)),
    ms(Math.max(...r.cpuMs)),
    ms(mean(r.cpuTicksMs)),
    r.launch.probed === true ? `${r.probes} probes, ${r.probeFailures} failed` : '',
  ]);
  return markdownTable(['variant', 'CPU ms/min, mean (schedstat)', 'worst minute', 'mean from /proc/stat ticks', 'probes'], rows);
}

function breakdownTable(breakdowns: Map<string, RssBreakdown>): string {
  const rows = [...breakdowns.entries()].map(([name, b]) => [name, mib(b.anonymousBytes), mib(b.nodeBinaryBytes), mib(b.librariesBytes), mib(b.otherBytes)]);
  return markdownTable(['variant', 'anonymous (V8 heap, malloc, stacks)', 'node binary (code, read-only data)', 'shared libraries', 'other files'], rows);
}

function startupTable(series: readonly StartupSeries[]): string {
  const rows = series.map((s) => {
    const sorted = [...s.samplesMs].sort((a, b) => a - b);
    return [s.name, String(sorted.length), ms(percentile(sorted, 50)), ms(percentile(sorted, 90)), ms(sorted[0] ?? Number.NaN), ms(sorted.at(-1) ?? Number.NaN)];
  });
  return markdownTable(['what', 'runs', 'median (ms)', 'p90', 'min', 'max'], rows);
}

function median(series: StartupSeries | undefined): number {
  return series === undefined ? Number.NaN : percentile([...series.samplesMs].sort((a, b) => a - b), 50);
}

function verdict(value: number, target: number, unit: string): string {
  if (!Number.isFinite(value)) return 'not measured';
  return value <= target ? `met (${(target - value).toFixed(1)} ${unit} to spare)` : `missed by ${(value - target).toFixed(1)} ${unit}`;
}

interface Figures {
  readonly settings: Settings;
  readonly startedLoad: number;
  readonly list: readonly Launch[];
  readonly running: readonly Running[];
  readonly breakdowns: Map<string, RssBreakdown>;
  readonly exchanges: number;
  readonly startups: readonly StartupSeries[];
}

function report(f: Figures): string {
  const production = f.running.find((r) => r.launch.name === 'production');
  const bare = f.running.find((r) => r.launch.bare === true);
  const rss = production?.samples.at(-1)?.rssBytes ?? Number.NaN;
  const bareRss = bare?.samples.at(-1)?.rssBytes ?? Number.NaN;
  const cpu = production === undefined ? Number.NaN : mean(production.cpuMs);
  const startup = median(f.startups.find((s) => s.name === 'agent: production'));
  const endpoint = median(f.startups.find((s) => s.name.startsWith('endpoint exchange alone, https')));
  const nodeStart = median(f.startups.find((s) => s.name.startsWith('Node itself')));
  const rssMb = rss / 1e6;
  return [
    '## Agent footprint',
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} (1-minute load average ${f.startedLoad.toFixed(2)} at the start); flags: \`--minutes=${f.settings.minutes} --startups=${f.settings.startups} --baseline=${f.settings.baseline ?? 'none'}${f.settings.extraVariants.length > 0 ? ` --variants=${f.settings.extraVariants.join(',')}` : ''}\`.`,
    '',
    '**What**: `anthropic-wif agent` from `dist/` (as the image runs it), in steady state: token fresh, nothing to do. It exchanged a 3600 s projected token (kubelet-style `..data` directory on tmpfs, as the projected volume is) for a 3600 s access token, so its next refresh is about 30 minutes away, and the endpoint counted ' +
      `${f.exchanges} exchanges during the measured minutes. The token endpoint stand-in (\`test/support/token-endpoint.ts\`: RS256 against a JWKS, single-use jti, the lifetime rule) runs behind a TLS front (P-256, a test CA given to the agent as \`NODE_EXTRA_CA_CERTS\`), as api.anthropic.com is reached over https, in its own process (\`bench/agent-support/endpoint-process.ts\`), so none of its memory or CPU is counted.`,
    '',
    '**How**: every variant and a bare Node process run side by side during the same minutes; after each minute the benchmark reads `/proc/<pid>/status` (VmRSS, RssAnon, RssFile) and the CPU time the minute took, from `/proc/<pid>/stat` (utime + stime, 10 ms ticks) and, to the nanosecond, from every thread\'s `/proc/<pid>/task/*/schedstat`. At the end `/proc/<pid>/smaps` says which mappings the resident pages belong to.',
    '',
    '**Variants**:',
    '',
    ...f.list.map((l) => `- ${l.name}: ${l.description}`),
    '',
    '### Resident memory',
    '',
    memoryTable(f.running),
    '',
    'RSS (MiB) after each minute:',
    '',
    seriesTable(f.running, f.settings.minutes, (r, i) => {
      const sample = r.samples[i];
      return sample === undefined ? '' : mib(sample.rssBytes);
    }),
    '',
    'What the resident pages belong to, at the end (MiB, from `/proc/<pid>/smaps`):',
    '',
    breakdownTable(f.breakdowns),
    '',
    '### CPU',
    '',
    cpuTable(f.running),
    '',
    'CPU ms per minute (schedstat), minute by minute:',
    '',
    seriesTable(f.running, f.settings.minutes, (r, i) => {
      const value = r.cpuMs[i];
      return value === undefined ? '' : ms(value);
    }),
    '',
    '### Startup: spawn → first token file',
    '',
    `From \`spawn()\` to the rename that puts \`token\` in the output directory (inotify on the directory, not polling); each agent start gets a fresh projected token and an empty output directory, so every start exchanges. The endpoint's own latency is one exchange of a fresh JWT from this process on a new connection, as the agent's first exchange is. ${f.settings.startups} rounds, the series interleaved.`,
    '',
    startupTable(f.startups),
    '',
    '### Against the targets',
    '',
    markdownTable(
      ['target', 'figure', 'verdict'],
      [
        [
          `RSS ≤ ${RSS_TARGET_MB} MB (bare Node about 43 MB)`,
          `${mib(rss)} MiB = ${rssMb.toFixed(1)} MB (bare Node in the same run: ${mib(bareRss)} MiB = ${(bareRss / 1e6).toFixed(1)} MB)`,
          verdict(rssMb, RSS_TARGET_MB, 'MB'),
        ],
        [`CPU ≤ ${CPU_TARGET_MS_PER_MINUTE} ms per minute over ${f.settings.minutes} minutes`, `${ms(cpu)} ms/min`, verdict(cpu, CPU_TARGET_MS_PER_MINUTE, 'ms/min')],
        [
          `startup ≤ ${STARTUP_TARGET_MS} ms + the endpoint's latency`,
          `median ${ms(startup)} ms, endpoint alone ${ms(endpoint)} ms: ${ms(startup - endpoint)} ms of the agent's own (Node itself: ${ms(nodeStart)} ms)`,
          verdict(startup - endpoint, STARTUP_TARGET_MS, 'ms'),
        ],
      ],
    ),
    '',
    `Units: MiB = 2^20 bytes, as /proc counts (kB there are KiB); MB = 10^6 bytes. The exchange timeout (${Limit.exchangeTimeoutMs / 1000} s) never came into play.`,
    '',
    ...whatItTook(),
    '',
    ...whatBoundsIt(f),
    '',
    ...sidecarResources(f),
  ].join('\n');
}

const byName = (f: Figures, name: string): Running | undefined => f.running.find((r) => r.launch.name === name);
const lastRss = (r: Running | undefined): number => r?.samples.at(-1)?.rssBytes ?? Number.NaN;

/** The changes behind the production figures; the "before" variant above measures them together. */
function whatItTook(): string[] {
  return [
    '### What it took',
    '',
    'Each line was measured once while making the change (a module imported into an otherwise bare Node process, RSS after a GC; or the agent\'s threads\' CPU and wake-ups); the "before" variant above measures them together.',
    '',
    markdownTable(
      ['change', 'why', 'effect'],
      [
        ['`agent/server.ts`, `agent/refresh/exchange.ts`: `process.getBuiltinModule(\'node:http\')` instead of `import … from \'node:http\'`', "An ES import builds node:http's module namespace, which runs its lazy getters (WebSocket, CloseEvent, MessageEvent): they load Node's bundled undici with http2, zlib and worker_threads", '−12 MiB RSS'],
        ['`agent/refresh/identity-token.ts`: `jose/jwt/decode` and `jose/decode/protected_header` instead of `jose`', "jose's main entry loads all of JWS/JWE/JWK and WebCrypto; the agent only decodes", '−10 MiB'],
        ['`agent/metrics.ts`: the six agent series and eight process series rendered by hand; prom-client only in proxy mode (the proxy registers on it)', "prom-client pulls in the OpenTelemetry API, and its default metrics sample the event loop every 10 ms", '−9 MiB, −370 ms CPU per minute'],
        ['`agent/refresh/exchange.ts`: the exchange on `node:https` (`agent: false`, one overall deadline, bounded body, no redirects) instead of undici; undici loaded lazily for the URL identity source only', 'Once it has made a request, undici (llhttp in WebAssembly, node:http2) stays resident; built-in https costs 1–4 MiB for the same request', '−17 to −20 MiB'],
        ['`agent/refresh/refresher.ts`: the identity source is watched only while a new assertion is wanted (a refresh is due or awaited)', "The file source's watch polls every 10 s; a change was ignored while the token is fresh anyway", '−6 wake-ups per minute'],
        ['`agent/server.ts`: `connectionsCheckingInterval` 60 s', "Node checks request timeouts on a timer that runs with no client connected (30 s by default)", '−1 wake-up per minute'],
        ['Injected sidecar: `node --lite-mode --no-memory-reducer /usr/local/bin/anthropic-wif agent` (`AgentCommand` in `contract/index.ts`, `webhook/injected-objects.ts`); proxy mode: `--no-memory-reducer` only', "V8's memory reducer re-arms an 8 s timer for as long as the heap stays small, the bulk of an idle agent's wake-ups; lite mode (interpreter only, lazy feedback) touches none of V8's optimizing compilers and allocates less. Neither option is accepted in NODE_OPTIONS, hence the container's command. Lite mode turns WebAssembly off, which the proxy's undici needs", '−5 MiB, −7 wake-ups per minute'],
      ],
    ),
    '',
    "On this machine (a VM) every wake-up of an idle process costs 0.5–1.5 ms of CPU (measured with `setInterval` in a bare process): the CPU figure is a count of wake-ups. Left: the refresher's 60 s heartbeat (for `/healthz`) and the health server's timeout check.",
  ];
}

function whatBoundsIt(f: Figures): string[] {
  const floor = byName(f, 'Node floor');
  const bare = f.running.find((r) => r.launch.bare === true);
  const production = byName(f, 'production');
  const over = lastRss(production) - lastRss(floor);
  return [
    '### What bounds it',
    '',
    `- **RSS**: the Node floor (the agent's kind of I/O and nothing else, same Node options) holds ${mib(lastRss(floor))} MiB = ${(lastRss(floor) / 1e6).toFixed(1)} MB, ${mib(lastRss(floor) - lastRss(bare))} MiB above bare Node: an ES-module entry point, the HTTP server (which loads net, cluster and child_process), TLS with its root store, fs/promises and crypto. The agent holds ${mib(over)} MiB more: its own modules, pino (worker_threads, thread-stream, sonic-boom) and the JWT decoder. Most of the resident set is the node binary's pages (${mib(f.breakdowns.get('production')?.nodeBinaryBytes ?? Number.NaN)} MiB, shared with every process of the same image on the node and reclaimable); what only the agent holds is its anonymous memory (${mib(production?.samples.at(-1)?.anonBytes ?? Number.NaN)} MiB).`,
    "- **CPU**: wake-ups, see above; the injected liveness probe (every 10 s) costs more than the agent's own timers (\"production, probed\"). A 30–60 s probe period (failureThreshold 3, still inside the 180 s `/healthz` staleness) would cut that by two thirds to five sixths.",
    "- **Startup**: Node's own start (the \"Node itself\" row), then loading the module graph, about half of it pino (~40–50 ms here), then the TLS handshake and the exchange. Two things were tried and gained nothing measurable (under 15 ms, inside the run-to-run spread): bundling the module graph into one file (esbuild) and Node's compile cache (`NODE_COMPILE_CACHE`); the built-ins the agent needs (net, tls, crypto, child_process, fs) load either way, and the rest is spread thinly over the ESM loader. The machine may be shared (see the load average), which stretches every row.",
  ];
}

/** A Kubernetes memory quantity in Mi or Gi (the only forms the defaults use), as MiB. */
function quantityMib(quantity: string): number {
  const match = /^(\d+)(Mi|Gi)$/.exec(quantity);
  if (match === null) return Number.NaN;
  return Number(match[1]) * (match[2] === 'Gi' ? 1024 : 1);
}

function sidecarResources(f: Figures): string[] {
  const names = ['production', 'production, probed', 'proxy mode, idle'];
  const steady = names.map((name) => lastRss(byName(f, name)) / 2 ** 20);
  const peak = Math.max(...names.map((name) => (byName(f, name)?.samples.at(-1)?.peakBytes ?? 0) / 2 ** 20));
  const { requests, limits } = Default.agentResources;
  const requestMib = quantityMib(requests.memory);
  const limitMib = quantityMib(limits.memory);
  const covered = (mibValue: number, bound: number): string => (mibValue <= bound ? 'within' : `${(mibValue - bound).toFixed(1)} MiB over`);
  return [
    '### Sidecar resources',
    '',
    `Steady RSS: ${names.map((n, i) => `${n} ${(steady[i] ?? Number.NaN).toFixed(1)} MiB`).join(', ')}; peak since start (VmHWM) up to ${peak.toFixed(1)} MiB. The defaults (\`Default.agentResources\` in \`contract/index.ts\`, the chart's \`agent.resources\`) request **${requests.cpu} CPU, ${requests.memory}** and limit memory to **${limits.memory}**: the file-mode agent's steady RSS is ${covered(steady[0] ?? Number.NaN, requestMib)} the request, the idle proxy's ${covered(steady[2] ?? Number.NaN, requestMib)} the request (a request is for scheduling; most of the difference is the node binary's shared pages), and every peak here is ${covered(peak, limitMib)} the limit. The limit leaves room for proxy mode under load: the proxy section measured its RSS at up to ~250 MiB while relaying 10 MiB streams back to back. The CPU request (${requests.cpu} = ~300 ms per minute) is far above the idle agent's.`,
  ];
}

export async function run(options: BenchOptions): Promise<string> {
  const settings = settingsFrom(options);
  const startedLoad = loadAverage();
  buildDistIfMissing(options.progress);
  const baselineCli = settings.baseline === undefined ? undefined : buildBaseline(settings.baseline, options.progress);
  const list = launches(settings, baselineCli);
  const world = await startEndpointWorld();
  try {
    options.progress(`startup: ${settings.startups} rounds`);
    const startups = await measureStartups(world, list, settings, options.progress);
    options.progress(`steady state: ${list.length} processes side by side for ${settings.minutes} minutes`);
    const steady = await measureSteadyState(world, list, settings, options.progress);
    return report({ settings, startedLoad, list, running: steady.running, breakdowns: steady.breakdowns, exchanges: steady.exchanges, startups });
  } finally {
    await world.close();
  }
}
