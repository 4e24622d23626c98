/**
 * The pure core of `anthropic-wif doctor`: from what was observed (environment, file
 * snapshots, uid, the time, optionally the agent's health endpoint) to a report with one
 * finding per check. No I/O here; `doctor.ts` gathers the observation and prints.
 *
 * Never puts a token in the report: identity tokens are shown as claims, access tokens as
 * their expiry.
 */
import { decodeJwt } from 'jose';
import type { Env } from '../runtime/config.ts';
import { AgentEnv, ContainerName, FileMode, OutputFile, PROXY_PLACEHOLDER_AUTH_TOKEN, SdkEnv, VolumeName, isLoopbackHost, Limit } from '../contract/index.ts';
import { readSdkEnv, resolveSdkCredential, credentialPathsToObserve, type CredentialResolution, type FileSnapshot } from './credential-resolution.ts';

export interface DoctorSettings {
  /** `--output-dir` or ANTHROPIC_WIF_OUTPUT_DIR: set in the sidecar. */
  readonly outputDir?: string | undefined;
  /** `--identity-token-file` or ANTHROPIC_IDENTITY_TOKEN_FILE. */
  readonly identityTokenFile?: string | undefined;
  /** The audience the identity token must carry. */
  readonly expectedAudience: string;
}

export interface ProcessIdentity {
  readonly uid: number;
  readonly gids: readonly number[];
}

/** What the agent's health listener said, when it was asked. */
export interface AgentProbe {
  readonly address: string;
  readonly ready?: boolean | undefined;
  readonly exchanges?: { readonly success: number; readonly failure: number } | undefined;
  /** Why it could not be asked (connection refused, timeout). */
  readonly error?: string | undefined;
}

export interface DoctorObservation {
  readonly env: Env;
  readonly nowMs: number;
  readonly identity: ProcessIdentity;
  readonly files: ReadonlyMap<string, FileSnapshot>;
  readonly agent?: AgentProbe | undefined;
}

export type Severity = 'ok' | 'info' | 'warning' | 'problem';

export interface Finding {
  /** Stable identifier, e.g. `identity-token-expired`. */
  readonly code: string;
  readonly severity: Severity;
  /** Section of the report: credential, identity-token, access-token, files, exchange, agent. */
  readonly section: Section;
  readonly message: string;
  readonly fix?: string | undefined;
}

export type Section = 'credential' | 'identity-token' | 'access-token' | 'files' | 'exchange' | 'agent';

export interface IdentityTokenFacts {
  readonly source: string;
  readonly iss?: string | undefined;
  readonly sub?: string | undefined;
  readonly aud: readonly string[];
  readonly expiresAt?: string | undefined;
  readonly secondsLeft?: number | undefined;
  readonly hasJti: boolean;
  readonly audienceMatches: boolean;
  readonly expired: boolean;
  /** File sources: when the kubelet should have replaced it (80 % of its lifetime, at most 24 h). */
  readonly rotationDueAt?: string | undefined;
  readonly rotationOverdueSeconds?: number | undefined;
}

export interface AccessTokenFacts {
  readonly path: string;
  readonly expiresAt: string;
  readonly secondsLeft: number;
}

export interface FileFacts {
  readonly path: string;
  readonly role: string;
  readonly kind: FileSnapshot['kind'];
  readonly mode?: string | undefined;
  readonly uid?: number | undefined;
  readonly gid?: number | undefined;
  readonly readable: boolean;
}

export interface DoctorReport {
  readonly healthy: boolean;
  /** `sidecar` when ANTHROPIC_WIF_OUTPUT_DIR is set (the agent's environment), else `app`. */
  readonly role: 'sidecar' | 'app';
  readonly checkedAt: string;
  readonly uid: number;
  readonly credential: { readonly choice: CredentialResolution['choice']['kind']; readonly summary: string; readonly why: readonly string[] };
  readonly identityToken?: IdentityTokenFacts | undefined;
  readonly accessToken?: AccessTokenFacts | undefined;
  readonly lastExchange?: { readonly outcome: string; readonly at: string } | undefined;
  readonly agent?: AgentProbe | undefined;
  readonly files: readonly FileFacts[];
  readonly findings: readonly Finding[];
}

// ---------------------------------------------------------------------------------------
// Small pure helpers

const FIX_SAME_UID =
  'run the sidecar and the app containers as the same uid: declare runAsUser on the app containers (the webhook then runs the sidecar as that uid), or read as root';

function octal(mode: number | undefined): string | undefined {
  return mode === undefined ? undefined : `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}

function withoutTrailingSlash(path: string): string {
  return path.replace(/\/+$/, '') || '/';
}

function join(dir: string, file: string): string {
  return `${dir.replace(/\/+$/, '')}/${file}`;
}

function dirname(path: string): string {
  const cut = withoutTrailingSlash(path).lastIndexOf('/');
  return cut <= 0 ? '/' : path.slice(0, cut);
}

/** "1h 2m", "9m 20s", "45s". */
export function formatDuration(seconds: number): string {
  const s = Math.round(Math.abs(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${s}s`;
}

function relative(seconds: number): string {
  return seconds >= 0 ? `in ${formatDuration(seconds)}` : `${formatDuration(seconds)} ago`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Permission bits a process needs on a file it does not own: owner, group or other. */
function permits(file: FileSnapshot, who: ProcessIdentity, bits: { readonly owner: number; readonly group: number; readonly other: number }): boolean {
  if (file.readError === 'EACCES' || file.readError === 'EPERM' || file.kind === 'inaccessible') return false;
  if (who.uid === 0 || file.mode === undefined || file.uid === undefined) return true;
  if (file.uid === who.uid) return (file.mode & bits.owner) !== 0;
  if (file.gid !== undefined && who.gids.includes(file.gid)) return (file.mode & bits.group) !== 0;
  return (file.mode & bits.other) !== 0;
}

export function readableBy(file: FileSnapshot, who: ProcessIdentity): boolean {
  return permits(file, who, { owner: 0o400, group: 0o040, other: 0o004 });
}

function searchableBy(dir: FileSnapshot, who: ProcessIdentity): boolean {
  return permits(dir, who, { owner: 0o100, group: 0o010, other: 0o001 });
}

function describeOwner(file: FileSnapshot): string {
  return `mode ${octal(file.mode) ?? '?'}, owner uid ${file.uid ?? '?'}`;
}

// ---------------------------------------------------------------------------------------
// The context one diagnosis runs in

interface Context {
  readonly observation: DoctorObservation;
  readonly settings: DoctorSettings;
  readonly findings: Finding[];
  readonly roles: Map<string, Set<string>>;
  /** The ANTHROPIC_CONFIG_DIR reported missing (normalized), so the same volume is not reported twice. */
  missingConfigDir?: string;
}

function snapshot(context: Context, path: string): FileSnapshot {
  return context.observation.files.get(path) ?? { path, kind: 'missing' };
}

function add(context: Context, finding: Finding): void {
  context.findings.push(finding);
}

function noteRole(context: Context, path: string, role: string): void {
  const roles = context.roles.get(path) ?? new Set<string>();
  roles.add(role);
  context.roles.set(path, roles);
}

/** The first observed directory above `path` this process cannot enter. */
function blockingDirectory(context: Context, path: string): FileSnapshot | undefined {
  const chain: FileSnapshot[] = [];
  for (let dir = dirname(path); dir !== '/'; dir = dirname(dir)) {
    const seen = context.observation.files.get(dir);
    if (seen?.kind === 'directory') chain.unshift(seen);
  }
  return chain.find((dir) => !searchableBy(dir, context.observation.identity));
}

/**
 * A file is usable when it exists and this process can read it; otherwise one finding says
 * why (missing is left to the caller, which knows what a missing file means).
 */
function checkReadable(context: Context, file: FileSnapshot, what: { readonly code: string; readonly section: Section; readonly fix: string }): boolean {
  const who = context.observation.identity;
  const blocked = blockingDirectory(context, file.path);
  if (blocked !== undefined) {
    add(context, {
      code: what.code,
      severity: 'problem',
      section: what.section,
      message: `${file.path} is out of reach: directory ${blocked.path} (${describeOwner(blocked)}) cannot be entered by this process (uid ${who.uid})`,
      fix: what.fix,
    });
    return false;
  }
  if (file.kind === 'missing') return false;
  if (readableBy(file, who) && file.content !== undefined) return true;
  add(context, {
    code: what.code,
    severity: 'problem',
    section: what.section,
    message: `${file.path} (${describeOwner(file)}) is not readable by this process (uid ${who.uid})${file.readError === undefined ? '' : `: ${file.readError}`}`,
    fix: what.fix,
  });
  return false;
}

// ---------------------------------------------------------------------------------------
// Credential choice

function baseUrlIsLoopback(env: Env): boolean {
  const raw = readSdkEnv(env, SdkEnv.baseUrl);
  if (raw === undefined) return false;
  try {
    return isLoopbackHost(new URL(raw).hostname);
  } catch {
    return false;
  }
}

function summarize(resolution: CredentialResolution, env: Env): string {
  const choice = resolution.choice;
  switch (choice.kind) {
    case 'api-key':
      return `ANTHROPIC_API_KEY (a static API key${choice.authTokenAlsoSet ? '; ANTHROPIC_AUTH_TOKEN is set too and ignored' : ''})`;
    case 'auth-token':
      return choice.value === 'placeholder'
        ? `ANTHROPIC_AUTH_TOKEN, the proxy-mode placeholder, sent to ${readSdkEnv(env, SdkEnv.baseUrl) ?? 'https://api.anthropic.com'}`
        : 'ANTHROPIC_AUTH_TOKEN (a static bearer token)';
    case 'profile':
      return choice.authType === 'user_oauth'
        ? `profile "${choice.profile}" (${choice.configPath}): the access token in ${choice.credentialsPath}`
        : `profile "${choice.profile}" (${choice.configPath}): the SDK exchanges the identity token itself`;
    case 'federation-env':
      return 'the federation variables: the SDK exchanges the identity token itself';
    case 'none':
      return `nothing: ${choice.reason}`;
    case 'error':
      return `nothing: the SDK fails with "${choice.message}"`;
  }
}

function checkShadowing(context: Context, resolution: CredentialResolution): void {
  const env = context.observation.env;
  const choice = resolution.choice;
  if (choice.kind === 'api-key') {
    add(context, {
      code: 'shadowed-by-api-key',
      severity: 'problem',
      section: 'credential',
      message:
        'ANTHROPIC_API_KEY is set in this container, so the SDKs send that static key and silently ignore workload identity (auth token, profile and federation variables all come after it)',
      fix: 'remove ANTHROPIC_API_KEY from this container (check env and envFrom Secrets in the pod spec); the webhook warns about it at admission',
    });
    return;
  }
  if (choice.kind !== 'auth-token') return;
  if (choice.value === 'placeholder' && baseUrlIsLoopback(env)) {
    add(context, {
      code: 'proxy-mode',
      severity: 'ok',
      section: 'credential',
      message: `requests go to the anthropic-wif proxy at ${readSdkEnv(env, SdkEnv.baseUrl) ?? ''}, which replaces the placeholder ANTHROPIC_AUTH_TOKEN with the real token`,
    });
    return;
  }
  if (choice.value === 'placeholder') {
    add(context, {
      code: 'placeholder-without-proxy',
      severity: 'problem',
      section: 'credential',
      message: `ANTHROPIC_AUTH_TOKEN is the proxy placeholder "${PROXY_PLACEHOLDER_AUTH_TOKEN}", but ANTHROPIC_BASE_URL (${readSdkEnv(env, SdkEnv.baseUrl) ?? 'unset'}) is not the loopback proxy, so the placeholder itself would be sent and rejected with 401`,
      fix: 'set ANTHROPIC_BASE_URL to the proxy (http://127.0.0.1:8423 by default), as the webhook does in proxy mode, and do not override it in the container',
    });
    return;
  }
  add(context, {
    code: 'shadowed-by-auth-token',
    severity: 'problem',
    section: 'credential',
    message: 'ANTHROPIC_AUTH_TOKEN is set in this container, so the SDKs send that static token and silently ignore the profile and the federation variables',
    fix: 'remove ANTHROPIC_AUTH_TOKEN from this container (check env and envFrom Secrets in the pod spec); the webhook warns about it at admission',
  });
}

function checkConfigRoot(context: Context, resolution: CredentialResolution): void {
  const root = resolution.configRoot;
  if (root?.from !== SdkEnv.configDir) return;
  const dir = snapshot(context, root.path);
  if (dir.kind === 'missing') {
    context.missingConfigDir = withoutTrailingSlash(root.path);
    add(context, {
      code: 'config-dir-missing',
      severity: 'problem',
      section: 'credential',
      message: `ANTHROPIC_CONFIG_DIR is ${root.path}, which does not exist in this container, so the SDKs find no profile there`,
      fix: `mount the ${VolumeName.credentials} volume at ${root.path} (the webhook does this in file mode; check that the pod was injected and the container was not skipped)`,
    });
  }
}

function checkOutcome(context: Context, resolution: CredentialResolution): void {
  const choice = resolution.choice;
  if (choice.kind === 'none') {
    add(context, {
      code: 'no-credential',
      severity: 'problem',
      section: 'credential',
      message: `an SDK here finds no credential (${choice.reason}) and fails with "Could not resolve authentication method"`,
      fix: 'check that the pod was injected (anthropic.workload.identity/inject: "true") and that this container was not skipped; in file mode ANTHROPIC_CONFIG_DIR must point at the shared volume',
    });
  } else if (choice.kind === 'error') {
    add(context, { code: 'sdk-config-error', severity: 'problem', section: 'credential', message: `an SDK here fails: ${choice.message}`, fix: 'fix or remove the file or variable named above' });
  } else if (choice.kind === 'profile' || choice.kind === 'federation-env') {
    add(context, { code: 'sdk-credential', severity: 'ok', section: 'credential', message: `an SDK here uses ${summarize(resolution, context.observation.env)}` });
  }
  if (choice.kind === 'federation-env' || (choice.kind === 'profile' && choice.authType === 'oidc_federation')) {
    add(context, {
      code: 'sdk-exchanges-itself',
      severity: 'info',
      section: 'credential',
      message: 'each SDK client in this container exchanges the identity token itself; an assertion is single-use (jti), so only one process per pod may do so',
    });
  }
}

// ---------------------------------------------------------------------------------------
// The access token an SDK or a program reads

interface CredentialsDocument {
  readonly access_token?: unknown;
  readonly expires_at?: unknown;
}

function parseCredentials(text: string): { readonly accessToken: string; readonly expiresAt: number | undefined } | undefined {
  try {
    const parsed = JSON.parse(text) as CredentialsDocument | null;
    if (typeof parsed?.access_token !== 'string' || parsed.access_token === '') return undefined;
    return { accessToken: parsed.access_token, expiresAt: typeof parsed.expires_at === 'number' ? parsed.expires_at : undefined };
  } catch {
    return undefined;
  }
}

/** The SDK refuses credentials that others can read or write, and warns about a foreign owner. */
function checkSdkFileSafety(context: Context, file: FileSnapshot): void {
  const mode = file.mode ?? 0;
  if ((mode & 0o077) !== 0) {
    const what = (mode & 0o022) !== 0 ? 'group/world-writable' : 'group/world-readable';
    add(context, {
      code: 'credentials-mode',
      severity: 'problem',
      section: 'files',
      message: `${file.path} is ${what} (mode ${octal(mode) ?? '?'}), so the SDKs refuse to use it`,
      fix: `chmod 600 ${file.path} (the agent writes it 0600; something else changed it)`,
    });
  }
  const uid = context.observation.identity.uid;
  if (file.uid !== undefined && file.uid !== uid) {
    add(context, {
      code: 'credentials-owner',
      severity: 'warning',
      section: 'files',
      message: `${file.path} is owned by uid ${file.uid}, not by this process (uid ${uid}); the SDKs warn about it on every read${uid === 0 ? '' : ' and can only read it through group or other permissions'}`,
      fix: FIX_SAME_UID,
    });
  }
}

function accessTokenExpiry(context: Context, path: string, expiresAt: number): AccessTokenFacts {
  const secondsLeft = Math.floor(expiresAt - context.observation.nowMs / 1000);
  const facts = { path, expiresAt: iso(expiresAt * 1000), secondsLeft };
  const when = `${facts.expiresAt} (${relative(secondsLeft)})`;
  if (secondsLeft <= Limit.sdkForegroundRefreshSeconds) {
    add(context, {
      code: 'access-token-expired',
      severity: 'problem',
      section: 'access-token',
      message:
        secondsLeft <= 0
          ? `the access token in ${path} expired at ${when}`
          : `the access token in ${path} expires at ${when}: under the SDKs' ${Limit.sdkForegroundRefreshSeconds} s limit, so they refuse it`,
      fix: `the agent did not refresh it: read the ${ContainerName.agent} container's logs and the last exchange below`,
    });
  } else if (secondsLeft < Limit.sdkBlockingWindowSeconds) {
    add(context, {
      code: 'access-token-expiring',
      severity: 'warning',
      section: 'access-token',
      message: `the access token in ${path} expires at ${when}, inside the SDKs' ${Limit.sdkBlockingWindowSeconds} s refresh window; the agent normally replaces it well before`,
      fix: `read the ${ContainerName.agent} container's logs`,
    });
  } else {
    add(context, { code: 'access-token-valid', severity: 'ok', section: 'access-token', message: `the access token in ${path} is valid until ${when}` });
  }
  return facts;
}

function checkCredentialsFile(context: Context, path: string, options: { readonly sdkReads: boolean }): AccessTokenFacts | undefined {
  noteRole(context, path, 'credentials');
  const file = snapshot(context, path);
  if (file.kind === 'missing') {
    add(context, {
      code: 'access-token-missing',
      severity: 'problem',
      section: 'access-token',
      message: `${path} does not exist: the agent has not written a token yet, or removed it when the last one expired`,
      fix: `read the ${ContainerName.agent} container's logs and the last exchange below`,
    });
    return undefined;
  }
  if (!checkReadable(context, file, { code: 'file-unreadable', section: 'files', fix: FIX_SAME_UID })) return undefined;
  if (options.sdkReads) checkSdkFileSafety(context, file);
  const parsed = parseCredentials(file.content ?? '');
  if (parsed === undefined) {
    add(context, {
      code: 'credentials-invalid',
      severity: 'problem',
      section: 'access-token',
      message: `${path} is not a credentials file with an access_token`,
      fix: 'the agent rewrites it on the next refresh; if it persists, something else writes this path',
    });
    return undefined;
  }
  if (parsed.expiresAt === undefined) return undefined;
  return accessTokenExpiry(context, path, parsed.expiresAt);
}

// ---------------------------------------------------------------------------------------
// The identity token

interface IdentitySource {
  readonly label: string;
  readonly path?: string | undefined;
  readonly literal?: string | undefined;
}

function identitySource(context: Context, resolution: CredentialResolution): IdentitySource | undefined {
  const env = context.observation.env;
  const choice = resolution.choice;
  const fromChoice = choice.kind === 'profile' || choice.kind === 'federation-env' ? choice.identityTokenFile : undefined;
  const path = context.settings.identityTokenFile ?? fromChoice;
  if (path !== undefined) return { label: path, path };
  const literal = readSdkEnv(env, SdkEnv.identityToken);
  return literal === undefined ? undefined : { label: SdkEnv.identityToken, literal };
}

function readIdentityToken(context: Context, source: IdentitySource): string | undefined {
  if (source.literal !== undefined) return source.literal;
  const path = source.path ?? '';
  noteRole(context, path, 'identity token');
  const file = snapshot(context, path);
  if (file.kind === 'missing') {
    add(context, {
      code: 'identity-token-missing',
      severity: 'problem',
      section: 'identity-token',
      message: `the identity token file ${path} does not exist`,
      fix: `check that the ${VolumeName.identityToken} projected volume is mounted here (the webhook mounts it only in the sidecar, and in app containers in sdk mode)`,
    });
    return undefined;
  }
  const fix = 'the kubelet writes the projected token readable by the pod\'s runAsUser / fsGroup: run this container as that uid, or set fsGroup';
  return checkReadable(context, file, { code: 'identity-token-unreadable', section: 'identity-token', fix }) ? file.content : undefined;
}

function decodeClaims(jwt: string): Record<string, unknown> | undefined {
  try {
    return decodeJwt(jwt);
  } catch {
    return undefined;
  }
}

function audiences(claims: Record<string, unknown>): readonly string[] {
  const aud = claims.aud;
  if (typeof aud === 'string') return [aud];
  return Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
}

function stringClaim(claims: Record<string, unknown>, name: string): string | undefined {
  const value = claims[name];
  return typeof value === 'string' ? value : undefined;
}

/** The kubelet rewrites projected tokens on its periodic volume sync (about a minute), not the instant they reach 80 %. */
const KUBELET_SYNC_GRACE_SECONDS = 180;

/** When the kubelet should have replaced this projected token: at 80 % of its lifetime, or after 24 h. */
function kubeletRotationDue(iat: number | undefined, exp: number | undefined): number | undefined {
  if (iat === undefined || exp === undefined || exp <= iat) return undefined;
  return iat + Math.min(Limit.kubeletRotationFraction * (exp - iat), Limit.kubeletMaxRotationSeconds);
}

function identityFacts(context: Context, source: IdentitySource, claims: Record<string, unknown>): IdentityTokenFacts {
  const aud = audiences(claims);
  const exp = typeof claims.exp === 'number' ? claims.exp : undefined;
  const due = source.path === undefined ? undefined : kubeletRotationDue(typeof claims.iat === 'number' ? claims.iat : undefined, exp);
  const secondsLeft = exp === undefined ? undefined : Math.floor(exp - context.observation.nowMs / 1000);
  return {
    source: source.label,
    iss: stringClaim(claims, 'iss'),
    sub: stringClaim(claims, 'sub'),
    aud,
    expiresAt: exp === undefined ? undefined : iso(exp * 1000),
    secondsLeft,
    hasJti: typeof claims.jti === 'string',
    audienceMatches: aud.includes(context.settings.expectedAudience),
    expired: secondsLeft !== undefined && secondsLeft <= 0,
    rotationDueAt: due === undefined ? undefined : iso(due * 1000),
    rotationOverdueSeconds: due === undefined ? undefined : Math.floor(context.observation.nowMs / 1000 - due),
  };
}

function checkKubeletRotation(context: Context, facts: IdentityTokenFacts): void {
  const overdue = facts.rotationOverdueSeconds;
  if (facts.expired || overdue === undefined || overdue <= KUBELET_SYNC_GRACE_SECONDS) return;
  add(context, {
    code: 'identity-token-stale',
    severity: 'warning',
    section: 'identity-token',
    message: `the kubelet should have replaced the identity token in ${facts.source} at ${facts.rotationDueAt ?? '?'} (80 % of its lifetime, ${formatDuration(overdue)} ago) and has not; it expires at ${facts.expiresAt ?? '?'}`,
    fix: "the kubelet refreshes projected tokens on its volume sync: a stale one means this file is not a projected volume, or the kubelet is not syncing this pod's volumes (look at the node)",
  });
}

function judgeIdentityToken(context: Context, facts: IdentityTokenFacts): void {
  if (facts.expired) {
    add(context, {
      code: 'identity-token-expired',
      severity: 'problem',
      section: 'identity-token',
      message: `the identity token in ${facts.source} expired at ${facts.expiresAt ?? '?'} (${relative(facts.secondsLeft ?? 0)}); the token endpoint rejects it`,
      fix: 'the kubelet replaces a projected token at 80 % of its lifetime: an expired one means this file is not a live projected token, or the kubelet stopped refreshing it (look at the node and the pod\'s volumes)',
    });
  }
  if (!facts.audienceMatches) {
    add(context, {
      code: 'identity-token-audience',
      severity: 'problem',
      section: 'identity-token',
      message: `the identity token's audience is ${facts.aud.length === 0 ? 'empty' : facts.aud.join(', ')}, not ${context.settings.expectedAudience}`,
      fix: `set the projected token's audience to ${context.settings.expectedAudience} (annotation anthropic.workload.identity/audience), or pass --audience / ${AgentEnv.audience} with the audience your federation rule matches`,
    });
  }
  checkKubeletRotation(context, facts);
  if (!facts.expired && facts.audienceMatches) {
    add(context, {
      code: 'identity-token-valid',
      severity: 'ok',
      section: 'identity-token',
      message: `the identity token (iss ${facts.iss ?? '?'}, sub ${facts.sub ?? '?'}) is valid until ${facts.expiresAt ?? '?'}${facts.secondsLeft === undefined ? '' : ` (${relative(facts.secondsLeft)})`} with audience ${context.settings.expectedAudience}`,
    });
  }
}

function checkIdentityToken(context: Context, resolution: CredentialResolution): IdentityTokenFacts | undefined {
  const source = identitySource(context, resolution);
  if (source === undefined) return undefined;
  const jwt = readIdentityToken(context, source)?.trim();
  if (jwt === undefined) return undefined;
  const claims = jwt === '' ? undefined : decodeClaims(jwt);
  if (claims === undefined) {
    add(context, {
      code: jwt === '' ? 'identity-token-empty' : 'identity-token-malformed',
      severity: 'problem',
      section: 'identity-token',
      message: jwt === '' ? `the identity token in ${source.label} is empty` : `the identity token in ${source.label} is not a JWT`,
      fix: 'point ANTHROPIC_IDENTITY_TOKEN_FILE at the projected service-account token (/var/run/secrets/anthropic.com/token)',
    });
    return undefined;
  }
  const facts = identityFacts(context, source, claims);
  judgeIdentityToken(context, facts);
  return facts;
}

// ---------------------------------------------------------------------------------------
// The agent's output directory

/** `--output-dir` / ANTHROPIC_WIF_OUTPUT_DIR, else the directory of ANTHROPIC_ACCESS_TOKEN_FILE (file-mode apps). */
export function effectiveOutputDir(settings: DoctorSettings, env: Env): string | undefined {
  if (settings.outputDir !== undefined) return settings.outputDir;
  const tokenFile = readSdkEnv(env, SdkEnv.accessTokenFile);
  return tokenFile === undefined ? undefined : dirname(tokenFile);
}

function checkOutputDir(context: Context, outputDir: string): boolean {
  noteRole(context, outputDir, 'output directory');
  const dir = snapshot(context, outputDir);
  if (dir.kind !== 'directory' && context.missingConfigDir === withoutTrailingSlash(outputDir)) return false;
  if (dir.kind !== 'directory') {
    add(context, {
      code: 'output-dir-missing',
      severity: 'problem',
      section: 'access-token',
      message: dir.kind === 'missing' ? `the output directory ${outputDir} does not exist` : `the output directory ${outputDir} is not a directory (${dir.kind})`,
      fix: `mount the ${VolumeName.credentials} volume (an in-memory emptyDir) at ${outputDir} in this container, as the webhook does, or pass --output-dir with the right path`,
    });
    return false;
  }
  const blocked = [dir, blockingDirectory(context, outputDir)].find((d) => d !== undefined && !searchableBy(d, context.observation.identity));
  if (blocked === undefined) return true;
  add(context, {
    code: 'file-unreadable',
    severity: 'problem',
    section: 'files',
    message: `directory ${blocked.path} (${describeOwner(blocked)}) cannot be entered by this process (uid ${context.observation.identity.uid})`,
    fix: FIX_SAME_UID,
  });
  return false;
}

function checkTokenFile(context: Context, path: string, credentialsToken: AccessTokenFacts | undefined): void {
  noteRole(context, path, 'token');
  const file = snapshot(context, path);
  if (file.kind === 'missing') {
    if (credentialsToken !== undefined) {
      add(context, { code: 'token-file-missing', severity: 'problem', section: 'access-token', message: `${path} does not exist`, fix: `read the ${ContainerName.agent} container's logs` });
    }
    return;
  }
  if (!checkReadable(context, file, { code: 'file-unreadable', section: 'files', fix: FIX_SAME_UID })) return;
  if (file.mode !== undefined && (file.mode & 0o777) !== FileMode.token) {
    add(context, {
      code: 'token-file-mode',
      severity: 'warning',
      section: 'files',
      message: `${path} has mode ${octal(file.mode) ?? '?'}, not 0600: other users in the pod may read the token`,
      fix: `chmod 600 ${path}`,
    });
  }
  if ((file.content ?? '').trim() === '') {
    add(context, { code: 'token-file-empty', severity: 'problem', section: 'access-token', message: `${path} is empty`, fix: `read the ${ContainerName.agent} container's logs` });
  }
}

interface ProfileDocument {
  readonly authentication?: { readonly type?: unknown; readonly credentials_path?: unknown };
}

function checkProfileFile(context: Context, outputDir: string): void {
  const path = join(outputDir, OutputFile.profile);
  noteRole(context, path, 'profile');
  const file = snapshot(context, path);
  const expected = join(outputDir, OutputFile.credentials);
  if (file.kind === 'missing') {
    add(context, {
      code: 'profile-missing',
      severity: 'problem',
      section: 'access-token',
      message: `${path} does not exist, so SDKs configured by ANTHROPIC_CONFIG_DIR find no profile`,
      fix: `the agent writes it at start: read the ${ContainerName.agent} container's logs`,
    });
    return;
  }
  if (!checkReadable(context, file, { code: 'file-unreadable', section: 'files', fix: 'the profile is written 0644; restore that mode' })) return;
  let pointsAt: unknown;
  try {
    pointsAt = (JSON.parse(file.content ?? '') as ProfileDocument | null)?.authentication?.credentials_path;
  } catch {
    pointsAt = undefined;
  }
  if (pointsAt !== expected) {
    add(context, {
      code: 'profile-path-mismatch',
      severity: 'problem',
      section: 'access-token',
      message: `${path} points at ${typeof pointsAt === 'string' ? pointsAt : 'no credentials_path'}, but the credentials are at ${expected}`,
      fix: 'mount the shared volume at the same path in the sidecar and the app containers (the profile holds the sidecar\'s absolute path)',
    });
  }
}

// ---------------------------------------------------------------------------------------
// The last exchange

interface StateDocument {
  readonly outcome?: unknown;
  readonly atMs?: unknown;
}

function checkLastExchange(context: Context, outputDir: string, identity: IdentityTokenFacts | undefined): { readonly outcome: string; readonly at: string } | undefined {
  const path = join(outputDir, OutputFile.state);
  noteRole(context, path, 'agent state');
  const file = snapshot(context, path);
  if (file.kind === 'missing' || file.content === undefined || !readableBy(file, context.observation.identity)) {
    add(context, { code: 'no-exchange-record', severity: 'info', section: 'exchange', message: `no readable record of the last exchange (${path})` });
    return undefined;
  }
  let state: StateDocument | null = null;
  try {
    state = JSON.parse(file.content) as StateDocument | null;
  } catch {
    state = null;
  }
  const outcome = typeof state?.outcome === 'string' ? state.outcome : 'unknown';
  const atMs = typeof state?.atMs === 'number' ? state.atMs : undefined;
  const at = atMs === undefined ? 'an unknown time' : `${iso(atMs)} (${relative((atMs - context.observation.nowMs) / 1000)})`;
  judgeLastExchange(context, { outcome, at }, identity);
  return { outcome, at: atMs === undefined ? '' : iso(atMs) };
}

function judgeLastExchange(context: Context, last: { readonly outcome: string; readonly at: string }, identity: IdentityTokenFacts | undefined): void {
  if (last.outcome === 'accepted') {
    add(context, { code: 'last-exchange-accepted', severity: 'ok', section: 'exchange', message: `the last exchange was accepted at ${last.at}` });
  } else if (last.outcome === 'rejected') {
    const claims = identity === undefined ? '' : ` (this token: sub ${identity.sub ?? '?'}, aud ${identity.aud.join(', ')}, iss ${identity.iss ?? '?'})`;
    add(context, {
      code: 'last-exchange-rejected',
      severity: 'problem',
      section: 'exchange',
      message: `the token endpoint rejected the last assertion (401) at ${last.at}`,
      fix: `look up the reason in the Anthropic Console's authentication history; usually the federation rule's subject or audience does not match the token${claims}, the issuer's JWKS is outdated, a workspace id is required, or the assertion was replayed`,
    });
  } else {
    add(context, { code: 'last-exchange-pending', severity: 'info', section: 'exchange', message: `the last exchange was sent at ${last.at} and its answer is not recorded (${last.outcome})` });
  }
}

function checkAgentProbe(context: Context): void {
  const probe = context.observation.agent;
  if (probe === undefined) return;
  if (probe.error !== undefined) {
    add(context, { code: 'agent-unreachable', severity: 'info', section: 'agent', message: `the agent's health listener at ${probe.address} did not answer (${probe.error})` });
    return;
  }
  const counts = probe.exchanges === undefined ? '' : `; exchanges so far: ${probe.exchanges.success} succeeded, ${probe.exchanges.failure} failed`;
  add(context, {
    code: probe.ready === true ? 'agent-ready' : 'agent-not-ready',
    severity: probe.ready === true ? 'ok' : 'warning',
    section: 'agent',
    message: `the agent at ${probe.address} reports ${probe.ready === true ? 'ready' : 'not ready'}${counts}`,
  });
}

// ---------------------------------------------------------------------------------------
// Entry points

function userOAuthCredentialsPath(resolution: CredentialResolution): string | undefined {
  const choice = resolution.choice;
  return choice.kind === 'profile' && choice.authType === 'user_oauth' ? choice.credentialsPath : undefined;
}

/** The access token files: the one the SDK reads (if any) and the agent's output directory. */
function checkAccessToken(context: Context, resolution: CredentialResolution, outputDir: string | undefined): AccessTokenFacts | undefined {
  const sdkPath = userOAuthCredentialsPath(resolution);
  let facts = sdkPath === undefined ? undefined : checkCredentialsFile(context, sdkPath, { sdkReads: true });
  if (outputDir === undefined) return facts;
  const agentPath = join(outputDir, OutputFile.credentials);
  if (agentPath !== sdkPath) facts = checkCredentialsFile(context, agentPath, { sdkReads: false }) ?? facts;
  checkTokenFile(context, readSdkEnv(context.observation.env, SdkEnv.accessTokenFile) ?? join(outputDir, OutputFile.token), facts);
  checkProfileFile(context, outputDir);
  return facts;
}

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

/** Everything doctor checks, from one observation. */
export function diagnose(observation: DoctorObservation, settings: DoctorSettings): DoctorReport {
  const context: Context = { observation, settings, findings: [], roles: new Map() };
  const lookup = (path: string): FileSnapshot | undefined => observation.files.get(path);
  const resolution = resolveSdkCredential(observation.env, lookup);
  const role = readSdkEnv(observation.env, AgentEnv.outputDir) === undefined ? 'app' : 'sidecar';
  if (role === 'sidecar') {
    add(context, {
      code: 'sidecar',
      severity: 'info',
      section: 'credential',
      message: `this is the sidecar (${AgentEnv.outputDir} is set): the agent is the one exchanger here, so the SDK's view above is for reference only; run doctor in an app container to check what the app uses`,
    });
  } else {
    checkShadowing(context, resolution);
    checkConfigRoot(context, resolution);
    checkOutcome(context, resolution);
  }
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
    checkedAt: iso(observation.nowMs),
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

function dedupe(findings: readonly Finding[]): Finding[] {
  const seen = new Set<string>();
  return findings.filter((f) => {
    const key = `${f.code}\u0000${f.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
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
