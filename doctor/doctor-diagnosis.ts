/**
 * The pure core of `anthropic-wif doctor`: from what was observed (environment, file
 * snapshots, uid, the time, optionally the agent's health endpoint) to a report with one
 * finding per check. No I/O here; `doctor.ts` gathers the observation and prints. The
 * checks live in `checks/`, one module per section; every finding comes from the catalog
 * in `findings.ts`.
 *
 * Never puts a token in the report: identity tokens are shown as claims, access tokens as
 * their expiry.
 */
import type { Env } from '../runtime/config.ts';
import { AgentEnv, OutputFile, SdkEnv } from '../contract/index.ts';
import { isoTime } from '../runtime/time-format.ts';
import { readSdkEnv, resolveSdkCredential, credentialPathsToObserve, type FileSnapshot } from './credential-resolution.ts';
import type { Finding } from './findings.ts';
import type { DoctorObservation, DoctorReport, DoctorSettings, FileFacts } from './types.ts';
import { join, octal, readableBy, searchableBy, snapshot, type Context } from './checks/context.ts';
import { checkCredential, summarize } from './checks/credential.ts';
import { checkAccessToken, checkOutputDir, effectiveOutputDir } from './checks/output-dir.ts';
import { checkIdentityToken } from './checks/identity-token.ts';
import { checkAgentProbe, checkLastExchange } from './checks/exchange.ts';

export type { Finding, FindingCode, Section, Severity } from './findings.ts';
export type { AccessTokenFacts, AgentProbe, DoctorObservation, DoctorReport, DoctorSettings, FileFacts, IdentityTokenFacts, ProcessIdentity } from './types.ts';

function fileFacts(context: Context): FileFacts[] {
  return [...context.roles.entries()].map(([path, roles]) => {
    const file = snapshot(context, path);
    return {
      path,
      role: [...roles].join(', '),
      kind: file.kind,
      mode: octal(file.mode),
      uid: file.uid,
      gid: file.gid,
      readable: file.kind !== 'missing' && (file.kind === 'directory' ? searchableBy(file, context.observation.identity) : readableBy(file, context.observation.identity)),
    };
  });
}

function dedupe(findings: readonly Finding[]): Finding[] {
  const seen = new Set<string>();
  return findings.filter((f) => {
    const key = `${f.code}\u0000${f.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Everything doctor checks, from one observation. */
export function diagnose(observation: DoctorObservation, settings: DoctorSettings): DoctorReport {
  const context: Context = { observation, settings, findings: [], roles: new Map() };
  const lookup = (path: string): FileSnapshot | undefined => observation.files.get(path);
  const resolution = resolveSdkCredential(observation.env, lookup);
  const role = readSdkEnv(observation.env, AgentEnv.outputDir) === undefined ? 'app' : 'sidecar';
  checkCredential(context, resolution, role);
  const outputDir = effectiveOutputDir(settings, observation.env);
  const usableOutputDir = outputDir !== undefined && checkOutputDir(context, outputDir) ? outputDir : undefined;
  const accessToken = checkAccessToken(context, resolution, usableOutputDir);
  const identityToken = checkIdentityToken(context, resolution);
  const lastExchange = usableOutputDir === undefined ? undefined : checkLastExchange(context, usableOutputDir, identityToken);
  checkAgentProbe(context);
  const findings = dedupe(context.findings);
  return {
    healthy: findings.every((f) => f.severity !== 'problem'),
    role,
    checkedAt: isoTime(observation.nowMs),
    uid: observation.identity.uid,
    credential: { choice: resolution.choice.kind, summary: summarize(resolution, observation.env), why: resolution.why },
    identityToken,
    accessToken,
    lastExchange,
    agent: observation.agent,
    files: fileFacts(context),
    findings,
  };
}

/** Every path `diagnose` would look at, given the snapshots gathered so far (the shell loops until nothing is new). */
export function doctorPathsToObserve(settings: DoctorSettings, env: Env, files: ReadonlyMap<string, FileSnapshot>): readonly string[] {
  const lookup = (path: string): FileSnapshot | undefined => files.get(path);
  const paths = [...credentialPathsToObserve(env, lookup)];
  const outputDir = effectiveOutputDir(settings, env);
  if (outputDir !== undefined) {
    paths.push(outputDir, join(outputDir, 'credentials'), join(outputDir, 'configs'));
    for (const file of Object.values(OutputFile)) paths.push(join(outputDir, file));
  }
  const accessTokenFile = readSdkEnv(env, SdkEnv.accessTokenFile);
  if (accessTokenFile !== undefined) paths.push(accessTokenFile);
  const identityFile = settings.identityTokenFile ?? readSdkEnv(env, SdkEnv.identityTokenFile);
  if (identityFile !== undefined) paths.push(identityFile);
  return [...new Set(paths)];
}
