/**
 * `anthropic-wif doctor`: run in the sidecar or an app container, it explains which
 * credential an SDK would use here and why, and what is wrong if anything. This module is
 * the thin shell: flags, observing files and (optionally) the agent's health listener,
 * printing. The judgement is `diagnose` in doctor-diagnosis.ts.
 *
 * Exit codes: 0 healthy, 1 at least one problem, 2 usage error.
 */
import { realpath, readFile, stat } from 'node:fs/promises';
import { request } from 'node:http';
import type { CommandContext } from '../runtime/command.ts';
import { formatHelp, option, parseArgv, resolveConfig } from '../runtime/config.ts';
import { systemClock } from '../runtime/clock.ts';
import { ExitCode } from '../runtime/errors.ts';
import { parseListenAddress, type ListenAddress } from '../runtime/listen-address.ts';
import { AgentEnv, Default, HttpPath, Limit, Metric, SdkEnv } from '../contract/index.ts';
import type { FileSnapshot } from './credential-resolution.ts';
import { diagnose, doctorPathsToObserve } from './doctor-diagnosis.ts';
import type { AgentProbe, DoctorObservation, DoctorSettings } from './types.ts';
import { formatDoctorText } from './doctor-report.ts';
import { readBoundedBody } from '../runtime/http-response.ts';
import { metricSample } from '../agent/metrics.ts';

const SUMMARY = 'Explain which credential an SDK would use here, and what is wrong if anything.';

export const DOCTOR_OPTIONS = {
  outputDir: option.string({
    flag: 'output-dir',
    env: AgentEnv.outputDir,
    description: "The agent's output directory to inspect (set in the sidecar; in app containers the SDK's view is used).",
    valueName: '<dir>',
  }),
  identityTokenFile: option.string({
    flag: 'identity-token-file',
    env: SdkEnv.identityTokenFile,
    description: 'The identity token (projected service-account JWT) to inspect; only its claims are shown.',
    valueName: '<file>',
  }),
  audience: option.string({
    flag: 'audience',
    env: AgentEnv.audience,
    description: 'The audience the identity token must carry.',
    valueName: '<audience>',
    maxLength: Limit.audienceMaxLength,
    defaultValue: Default.audience,
  }),
  healthAddr: option.custom({
    flag: 'health-addr',
    env: AgentEnv.healthAddr,
    description: `Also ask the running agent's health listener (e.g. 127.0.0.1:${Default.agentHealthPort}) for readiness and exchange counts.`,
    valueName: '<host:port>',
    parse: parseListenAddress,
  }),
  json: option.switch({ flag: 'json', description: 'Print the report as JSON.' }),
};

/** Text files doctor reads whole; anything bigger is not one of ours. */
const MAX_READ_BYTES = 64 * 1024;
const MAX_OBSERVATION_ROUNDS = 4;
const PROBE_TIMEOUT_MS = 2_000;

async function observeFile(path: string): Promise<FileSnapshot> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { path, kind: code === 'ENOENT' || code === 'ENOTDIR' ? 'missing' : 'inaccessible', readError: code };
  }
  const base = { path, mode: info.mode & 0o7777, uid: info.uid, gid: info.gid, realPath: await realpath(path).catch(() => undefined) };
  if (info.isDirectory()) return { ...base, kind: 'directory' };
  if (!info.isFile()) return { ...base, kind: 'other' };
  if (info.size > MAX_READ_BYTES) return { ...base, kind: 'file', readError: 'EFBIG' };
  try {
    return { ...base, kind: 'file', content: await readFile(path, 'utf8') };
  } catch (error) {
    return { ...base, kind: 'file', readError: (error as NodeJS.ErrnoException).code ?? 'EIO' };
  }
}

/** Observes every path diagnose needs; the profile decides which credentials file, so this loops. */
export async function observeFiles(settings: DoctorSettings, env: DoctorObservation['env']): Promise<Map<string, FileSnapshot>> {
  const files = new Map<string, FileSnapshot>();
  for (let round = 0; round < MAX_OBSERVATION_ROUNDS; round++) {
    const wanted = doctorPathsToObserve(settings, env, files).filter((path) => !files.has(path));
    if (wanted.length === 0) break;
    for (const snapshot of await Promise.all(wanted.map(observeFile))) files.set(snapshot.path, snapshot);
  }
  return files;
}

function getText(url: string, signal: AbortSignal): Promise<{ readonly status: number; readonly body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { signal }, (res) => {
      readBoundedBody(res, MAX_READ_BYTES * 16).then(({ bytes }) => {
        resolve({ status: res.statusCode ?? 0, body: bytes.toString('utf8') });
      }, reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Where the agent's listener answers locally: an address with no host listens on every interface, loopback included. */
function probeHostPort(listen: ListenAddress): string {
  const host = listen.host ?? '127.0.0.1';
  return `${host.includes(':') ? `[${host}]` : host}:${String(listen.port)}`;
}

async function probeAgent(listen: ListenAddress, parent: AbortSignal): Promise<AgentProbe> {
  const signal = AbortSignal.any([parent, AbortSignal.timeout(PROBE_TIMEOUT_MS)]);
  const address = probeHostPort(listen);
  const base = `http://${address}`;
  try {
    const ready = await getText(`${base}${HttpPath.readyz}`, signal);
    const metrics = await getText(`${base}${HttpPath.metrics}`, signal);
    const success = metricSample(metrics.body, `${Metric.exchangesTotal}{result="success"}`);
    const failure = metricSample(metrics.body, `${Metric.exchangesTotal}{result="failure"}`);
    const exchanges = success === undefined && failure === undefined ? undefined : { success: success ?? 0, failure: failure ?? 0 };
    return { address, ready: ready.status === 200, exchanges };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { address, error: code ?? (error as Error).name };
  }
}

function processIdentity(): DoctorObservation['identity'] {
  return { uid: process.getuid?.() ?? 0, gids: process.getgroups?.() ?? [] };
}

export async function runDoctor(context: CommandContext): Promise<number> {
  const parsed = parseArgv(DOCTOR_OPTIONS, context.argv, 'doctor');
  if (parsed.help) {
    context.stdout.write(
      formatHelp('doctor', SUMMARY, DOCTOR_OPTIONS, [
        'Run it in the sidecar (kubectl exec -c anthropic-wif-agent) or in an app container.',
        'It never prints a token: identity tokens are shown as claims, access tokens as their expiry.',
      ]),
    );
    return ExitCode.ok;
  }
  const config = resolveConfig(DOCTOR_OPTIONS, parsed, context.env);
  const settings: DoctorSettings = { outputDir: config.outputDir, identityTokenFile: config.identityTokenFile, expectedAudience: config.audience };
  const files = await observeFiles(settings, context.env);
  const agent = config.healthAddr === undefined ? undefined : await probeAgent(config.healthAddr, context.signal);
  const report = diagnose({ env: context.env, nowMs: systemClock.now(), identity: processIdentity(), files, agent }, settings);
  context.stdout.write(config.json ? `${JSON.stringify(report, null, 2)}\n` : formatDoctorText(report));
  return report.healthy ? ExitCode.ok : ExitCode.failure;
}
