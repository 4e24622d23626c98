/**
 * `npm run demo`: the whole path on one machine, on 127.0.0.1 only, in about a minute, with
 * nothing sent to Anthropic. Stand-ins play the cluster's issuer, the kubelet and Anthropic's
 * endpoints; the webhook, the agent and the official SDK are the real ones. See --help.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SdkEnv } from '../contract/index.ts';
import { ConfigError, ExitCode, describeError } from '../runtime/errors.ts';
import type { CliProcess } from '../test/support/cli.ts';
import type { LoggedExchange } from './agent-log.ts';
import { readExamplePod } from './example-pod.ts';
import { createNarrator, type Narrator } from './narrator.ts';
import { parseDemoArgs, type DemoOptions } from './options.ts';
import { DEMO_JWT_LIFETIME_SECONDS, startPod, type RunningPod } from './pod-runtime.ts';
import { runRefreshCycle, type CycleResult } from './refresh-cycles.ts';
import { DEMO_RULE_LIFETIME_SECONDS, startStandIns, type StandIns } from './stand-ins.ts';
import { admitExamplePod, requireOpenssl } from './webhook-admission.ts';

const NAMESPACE = 'claude-demo';
const EXIT_INTERRUPTED = 130;

class Interrupted extends Error {}

/** Everything started so far, stopped in reverse order; and the shared stop signals. */
interface DemoRun {
  readonly options: DemoOptions;
  readonly narrator: Narrator;
  readonly interrupt: AbortController;
  readonly failure: AbortController;
  readonly signal: AbortSignal;
  standIns?: StandIns;
  webhook?: CliProcess;
  pod?: RunningPod;
  workDir?: string;
  stopping: boolean;
}

function createRun(options: DemoOptions): DemoRun {
  const interrupt = new AbortController();
  const failure = new AbortController();
  const color = options.color ?? (process.stdout.isTTY && (process.env.NO_COLOR ?? '') === '');
  const startedAtMs = Date.now();
  const secrets = (): string[] => [...(run.pod?.rotation.jwts ?? []), ...(run.standIns?.api.tokens.issuedTokens.map((t) => t.accessToken) ?? [])];
  const narrator = createNarrator({ out: process.stdout, color, startedAtMs, now: Date.now, secrets });
  const run: DemoRun = { options, narrator, interrupt, failure, signal: AbortSignal.any([interrupt.signal, failure.signal]), stopping: false };
  return run;
}

async function setUp(run: DemoRun): Promise<RunningPod> {
  const { narrator } = run;
  await requireOpenssl();
  const example = await readExamplePod(NAMESPACE);
  run.workDir = await mkdtemp(join(tmpdir(), 'anthropic-wif-demo-'));

  const { cycles, keepRunning } = run.options;
  const length = keepRunning ? 'then on until Ctrl-C' : `about ${String(3 + (cycles - 1) * 24)} s`;
  narrator.say(`anthropic-workload-identity demo: ${count(cycles, 'access token')}, exchanged and used by the official SDK, all on 127.0.0.1 (${length})`);
  narrator.section('Local stand-ins, on 127.0.0.1 (nothing in this demo talks to Anthropic)');
  run.standIns = await startStandIns(example, narrator);
  const { api, issuer } = run.standIns;

  narrator.section('The webhook admits the example pod');
  const admitted = await admitExamplePod(example, { workDir: run.workDir, apiUrl: api.url, narrator });
  run.webhook = admitted.webhook;

  narrator.section('The pod starts: the kubelet projects a token, the sidecar starts');
  const pod = await startPod(example, admitted.pod, {
    root: join(run.workDir, 'pod'),
    issuer,
    narrator,
    onFailure: (error) => {
      run.failure.abort(error);
    },
    stopping: () => run.stopping || run.interrupt.signal.aborted,
  });
  run.pod = pod;
  return pod;
}

async function refreshCycles(run: DemoRun, pod: RunningPod): Promise<CycleResult[]> {
  const { narrator, options } = run;
  const api = run.standIns!.api;
  narrator.section('Refresh cycles: kubelet rotation -> agent exchange -> token files -> official SDK');
  narrator.details([
    `lifetimes are shortened for the demo: projected token ${String(DEMO_JWT_LIFETIME_SECONDS)} s, rotated at 80 % (a cluster allows 600 s at least);`,
    `  access tokens ${String(DEMO_RULE_LIFETIME_SECONDS)} s (the rule's real minimum). In a cluster, the same cycle repeats every few minutes.`,
    `each SDK call is a fresh process running \`new Anthropic()\` with no arguments, in the env of app container "${pod.appContainer}":`,
    `  ${Object.keys(pod.appEnv).join(', ')}, plus ANTHROPIC_BASE_URL=${api.url}`,
    `  (file mode does not set the base URL: in a cluster the SDK would call https://api.anthropic.com)`,
  ]);
  const results: CycleResult[] = [];
  let previous: LoggedExchange | undefined;
  for (let number = 1; number <= options.cycles || options.keepRunning; number++) {
    if (number === options.cycles + 1) narrator.say('--keep-running: still refreshing; press Ctrl-C to stop');
    try {
      const result = await runRefreshCycle(number, previous, { pod, api, narrator, signal: run.signal });
      results.push(result);
      previous = result.exchange;
    } catch (error) {
      // Ctrl-C after the requested cycles ends --keep-running normally.
      if (options.keepRunning && number > options.cycles && run.interrupt.signal.aborted && !run.failure.signal.aborted) break;
      throw error;
    }
  }
  return results;
}

function count(n: number, noun: string): string {
  return `${String(n)} ${noun}${n === 1 ? '' : 's'}`;
}

async function agentEndpoint(port: number, path: string): Promise<{ readonly status: number; readonly text: string }> {
  const response = await fetch(`http://127.0.0.1:${String(port)}${path}`, { signal: AbortSignal.timeout(5_000) });
  return { status: response.status, text: await response.text() };
}

async function summarize(run: DemoRun, pod: RunningPod, results: readonly CycleResult[]): Promise<void> {
  const { narrator } = run;
  const tokens = run.standIns!.api.tokens;
  const denied = tokens.events.filter((e) => e.outcome === 'denied').length;
  const jtis = new Set(tokens.issuedTokens.map((t) => t.jti));
  narrator.section('What happened');
  narrator.say(`${count(tokens.issuedTokens.length, 'access token')} exchanged, from ${count(jtis.size, 'distinct projected token')}: each assertion was sent once`);
  narrator.say(`the token endpoint stand-in refused ${count(denied, 'exchange')}`);
  const current = results.filter((r) => r.sdkSentCurrentToken).length;
  narrator.say(`${count(results.length, 'SDK call')}, ${String(current)} of them with the agent's current token, found through ${SdkEnv.configDir} with no code change`);
  try {
    const ready = await agentEndpoint(pod.healthPort, '/readyz');
    const metrics = await agentEndpoint(pod.healthPort, '/metrics');
    narrator.say(`agent /readyz: HTTP ${String(ready.status)}; from /metrics:`);
    narrator.details(metrics.text.split('\n').filter((line) => line.startsWith('anthropic_wif_exchanges_total')));
  } catch (error) {
    // A terminal's Ctrl-C reaches the agent too, which then stops on its own.
    if (!run.interrupt.signal.aborted) throw error;
    narrator.say('agent /readyz and /metrics: the agent already stopped (Ctrl-C reaches every process of the terminal)');
  }
}

async function exitOf(name: string, process: CliProcess | undefined, narrator: Narrator): Promise<boolean> {
  if (process === undefined) return true;
  const alreadyStopped = process.child.exitCode !== null || process.child.signalCode !== null;
  const exit = await process.stop(10_000);
  const clean = exit.code === 0;
  const how = exit.code === null ? `killed by ${String(exit.signal)}` : `exit ${String(exit.code)}`;
  const line = alreadyStopped ? `${name}: had already stopped (${how})` : `${name}: SIGTERM -> ${how}`;
  if (clean) narrator.say(line);
  else narrator.warn(line);
  return clean;
}

/** Stops everything that was started; false when a process did not exit cleanly. */
async function shutDown(run: DemoRun): Promise<boolean> {
  run.stopping = true;
  const { narrator, standIns, workDir } = run;
  const removeWorkDir = (): Promise<void> => (workDir === undefined ? Promise.resolve() : rm(workDir, { recursive: true, force: true }));
  if (standIns === undefined) {
    await removeWorkDir();
    return true;
  }
  narrator.section('Shutting down');
  run.pod?.rotation.stop();
  const agentClean = await exitOf('agent', run.pod?.agent, narrator);
  const webhookClean = await exitOf('webhook', run.webhook, narrator);
  await standIns.close();
  await removeWorkDir();
  narrator.say('stand-ins closed, temporary files removed');
  return agentClean && webhookClean;
}

function disclaimer(narrator: Narrator): void {
  narrator.section('Note');
  narrator.say('The Anthropic endpoints in this demo were LOCAL STAND-INS on 127.0.0.1 (test/support/): nothing was sent to Anthropic,');
  narrator.say('and the reply came from the stand-in, not from Claude. The webhook, the agent and the official SDK were the real ones.');
}

async function runDemo(options: DemoOptions): Promise<number> {
  const run = createRun(options);
  const onSignal = (): void => {
    run.interrupt.abort(new Interrupted('interrupted'));
  };
  // A closed stdout (`npm run demo | head`) stops the demo like Ctrl-C, with the same cleanup.
  const onOutputError = (): void => {
    run.interrupt.abort(new Interrupted('output closed'));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.stdout.on('error', onOutputError);
  let code: number = ExitCode.ok;
  try {
    const pod = await setUp(run);
    const results = await refreshCycles(run, pod);
    await summarize(run, pod, results);
  } catch (error) {
    const interrupted = run.interrupt.signal.aborted && !run.failure.signal.aborted;
    const reason = run.failure.signal.aborted ? (run.failure.signal.reason as unknown) : error;
    code = interrupted ? EXIT_INTERRUPTED : ExitCode.failure;
    process.stderr.write(interrupted ? '\ndemo interrupted; cleaning up\n' : `\ndemo failed: ${describeError(reason)}\n`);
  } finally {
    const clean = await shutDown(run).catch((error: unknown) => {
      process.stderr.write(`demo: cleanup failed: ${describeError(error)}\n`);
      return false;
    });
    if (!clean && code === ExitCode.ok) code = ExitCode.failure;
    if (run.standIns !== undefined) disclaimer(run.narrator);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return code;
}

async function main(argv: readonly string[]): Promise<number> {
  try {
    const parsed = parseDemoArgs(argv);
    if (parsed.help) {
      process.stdout.write(parsed.text);
      return ExitCode.ok;
    }
    return await runDemo(parsed.options);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`demo: ${error.message}\n`);
    return ExitCode.usage;
  }
}

process.exitCode = await main(process.argv.slice(2));
// Everything started was stopped; should a stray handle still hold the event loop, do not hang.
setTimeout(() => process.exit(), 3_000).unref();
