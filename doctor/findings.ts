/**
 * Every finding `anthropic-wif doctor` can report, in one closed catalog: its severity, its
 * section, the wording of its message and its fix. The checks name a code and pass the
 * facts; the compiler knows every code and the facts each one needs. README's table of
 * findings is checked against this catalog (test/unit/doctor.findings.test.ts).
 *
 * A fix is a template: `{name}` is filled from the finding's facts. A fix that depends on
 * the file at fault is a set of variants, picked by the `fix` fact.
 */
import { AgentEnv, ContainerName, Limit, PROXY_PLACEHOLDER_AUTH_TOKEN, VolumeName } from '../contract/index.ts';

export type Severity = 'ok' | 'info' | 'warning' | 'problem';

/** Section of the report a finding belongs to. */
export type Section = 'credential' | 'identity-token' | 'access-token' | 'files' | 'exchange' | 'agent';

const FIX_SAME_UID =
  'run the sidecar and the app containers as the same uid: declare runAsUser on the app containers (the webhook then runs the sidecar as that uid), or read as root';
const FIX_READ_AGENT_LOGS = `read the ${ContainerName.agent} container's logs`;
const FIX_READ_AGENT_LOGS_AND_EXCHANGE = `read the ${ContainerName.agent} container's logs and the last exchange below`;
const FIX_IDENTITY_TOKEN_FILE = 'point ANTHROPIC_IDENTITY_TOKEN_FILE at the projected service-account token (/var/run/secrets/anthropic.com/token)';

/** Why a file cannot be read: a directory above it cannot be entered, or the file itself is closed to this uid. */
export interface Unreadable {
  /** The file; absent when the directory itself is the target. */
  readonly path?: string | undefined;
  /** The directory this process cannot enter, when that is the reason. */
  readonly directory?: string | undefined;
  /** Mode and owner of whichever is at fault. */
  readonly owner: string;
  readonly uid: number;
  readonly error?: string | undefined;
}

function unreadable(p: Unreadable): string {
  if (p.directory === undefined) return `${p.path ?? '?'} (${p.owner}) is not readable by this process (uid ${p.uid})${p.error === undefined ? '' : `: ${p.error}`}`;
  const entered = `directory ${p.directory} (${p.owner}) cannot be entered by this process (uid ${p.uid})`;
  return p.path === undefined ? entered : `${p.path} is out of reach: ${entered}`;
}

interface Path {
  readonly path: string;
}

interface Expiry {
  readonly path: string;
  /** ISO time and how far from now, e.g. `2026-… (in 9m 20s)`. */
  readonly when: string;
}

interface FindingSpec {
  readonly severity: Severity;
  readonly section: Section;
  readonly message: (facts: never) => string;
  readonly fix?: string | Readonly<Record<string, string>>;
}

export const FINDINGS = {
  // credential
  sidecar: {
    severity: 'info',
    section: 'credential',
    message: () =>
      `this is the sidecar (${AgentEnv.outputDir} is set): the agent is the one exchanger here, so the SDK's view above is for reference only; run doctor in an app container to check what the app uses`,
  },
  'shadowed-by-api-key': {
    severity: 'problem',
    section: 'credential',
    message: () =>
      'ANTHROPIC_API_KEY is set in this container, so the SDKs send that static key and silently ignore workload identity (auth token, profile and federation variables all come after it)',
    fix: 'remove ANTHROPIC_API_KEY from this container (check env and envFrom Secrets in the pod spec); the webhook warns about it at admission',
  },
  'proxy-mode': {
    severity: 'ok',
    section: 'credential',
    message: (p: { readonly baseUrl: string }) => `requests go to the anthropic-wif proxy at ${p.baseUrl}, which replaces the placeholder ANTHROPIC_AUTH_TOKEN with the real token`,
  },
  'placeholder-without-proxy': {
    severity: 'problem',
    section: 'credential',
    message: (p: { readonly baseUrl: string }) =>
      `ANTHROPIC_AUTH_TOKEN is the proxy placeholder "${PROXY_PLACEHOLDER_AUTH_TOKEN}", but ANTHROPIC_BASE_URL (${p.baseUrl}) is not the loopback proxy, so the placeholder itself would be sent and rejected with 401`,
    fix: 'set ANTHROPIC_BASE_URL to the proxy (http://127.0.0.1:8423 by default), as the webhook does in proxy mode, and do not override it in the container',
  },
  'shadowed-by-auth-token': {
    severity: 'problem',
    section: 'credential',
    message: () => 'ANTHROPIC_AUTH_TOKEN is set in this container, so the SDKs send that static token and silently ignore the profile and the federation variables',
    fix: 'remove ANTHROPIC_AUTH_TOKEN from this container (check env and envFrom Secrets in the pod spec); the webhook warns about it at admission',
  },
  'config-dir-missing': {
    severity: 'problem',
    section: 'credential',
    message: (p: Path) => `ANTHROPIC_CONFIG_DIR is ${p.path}, which does not exist in this container, so the SDKs find no profile there`,
    fix: `mount the ${VolumeName.credentials} volume at {path} (the webhook does this in file mode; check that the pod was injected and the container was not skipped)`,
  },
  'no-credential': {
    severity: 'problem',
    section: 'credential',
    message: (p: { readonly reason: string }) => `an SDK here finds no credential (${p.reason}) and fails with "Could not resolve authentication method"`,
    fix: 'check that the pod was injected (anthropic.workload.identity/inject: "true") and that this container was not skipped; in file mode ANTHROPIC_CONFIG_DIR must point at the shared volume',
  },
  'sdk-config-error': {
    severity: 'problem',
    section: 'credential',
    message: (p: { readonly error: string }) => `an SDK here fails: ${p.error}`,
    fix: 'fix or remove the file or variable named above',
  },
  'sdk-credential': {
    severity: 'ok',
    section: 'credential',
    message: (p: { readonly summary: string }) => `an SDK here uses ${p.summary}`,
  },
  'sdk-exchanges-itself': {
    severity: 'info',
    section: 'credential',
    message: () => 'each SDK client in this container exchanges the identity token itself; an assertion is single-use (jti), so only one process per pod may do so',
  },
  // identity token
  'identity-token-missing': {
    severity: 'problem',
    section: 'identity-token',
    message: (p: Path) => `the identity token file ${p.path} does not exist`,
    fix: `check that the ${VolumeName.identityToken} projected volume is mounted here (the webhook mounts it only in the sidecar, and in app containers in sdk mode)`,
  },
  'identity-token-unreadable': {
    severity: 'problem',
    section: 'identity-token',
    message: unreadable,
    fix: "the kubelet writes the projected token readable by the pod's runAsUser / fsGroup: run this container as that uid, or set fsGroup",
  },
  'identity-token-empty': {
    severity: 'problem',
    section: 'identity-token',
    message: (p: { readonly source: string }) => `the identity token in ${p.source} is empty`,
    fix: FIX_IDENTITY_TOKEN_FILE,
  },
  'identity-token-malformed': {
    severity: 'problem',
    section: 'identity-token',
    message: (p: { readonly source: string }) => `the identity token in ${p.source} is not a JWT`,
    fix: FIX_IDENTITY_TOKEN_FILE,
  },
  'identity-token-expired': {
    severity: 'problem',
    section: 'identity-token',
    message: (p: { readonly source: string; readonly expiresAt: string; readonly ago: string }) =>
      `the identity token in ${p.source} expired at ${p.expiresAt} (${p.ago}); the token endpoint rejects it`,
    fix: "the kubelet replaces a projected token at 80 % of its lifetime: an expired one means this file is not a live projected token, or the kubelet stopped refreshing it (look at the node and the pod's volumes)",
  },
  'identity-token-audience': {
    severity: 'problem',
    section: 'identity-token',
    message: (p: { readonly audiences: string; readonly expected: string }) => `the identity token's audience is ${p.audiences}, not ${p.expected}`,
    fix: `set the projected token's audience to {expected} (annotation anthropic.workload.identity/audience), or pass --audience / ${AgentEnv.audience} with the audience your federation rule matches`,
  },
  'identity-token-stale': {
    severity: 'warning',
    section: 'identity-token',
    message: (p: { readonly source: string; readonly dueAt: string; readonly overdue: string; readonly expiresAt: string }) =>
      `the kubelet should have replaced the identity token in ${p.source} at ${p.dueAt} (80 % of its lifetime, ${p.overdue} ago) and has not; it expires at ${p.expiresAt}`,
    fix: "the kubelet refreshes projected tokens on its volume sync: a stale one means this file is not a projected volume, or the kubelet is not syncing this pod's volumes (look at the node)",
  },
  'identity-token-valid': {
    severity: 'ok',
    section: 'identity-token',
    message: (p: { readonly iss: string; readonly sub: string; readonly expiresAt: string; readonly left: string; readonly expected: string }) =>
      `the identity token (iss ${p.iss}, sub ${p.sub}) is valid until ${p.expiresAt}${p.left} with audience ${p.expected}`,
  },
  // access token
  'output-dir-missing': {
    severity: 'problem',
    section: 'access-token',
    message: (p: { readonly path: string; readonly kind: string }) =>
      p.kind === 'missing' ? `the output directory ${p.path} does not exist` : `the output directory ${p.path} is not a directory (${p.kind})`,
    fix: `mount the ${VolumeName.credentials} volume (an in-memory emptyDir) at {path} in this container, as the webhook does, or pass --output-dir with the right path`,
  },
  'access-token-missing': {
    severity: 'problem',
    section: 'access-token',
    message: (p: Path) => `${p.path} does not exist: the agent has not written a token yet, or removed it when the last one expired`,
    fix: FIX_READ_AGENT_LOGS_AND_EXCHANGE,
  },
  'credentials-invalid': {
    severity: 'problem',
    section: 'access-token',
    message: (p: Path) => `${p.path} is not a credentials file with an access_token`,
    fix: 'the agent rewrites it on the next refresh; if it persists, something else writes this path',
  },
  'access-token-expired': {
    severity: 'problem',
    section: 'access-token',
    message: (p: Expiry & { readonly expired: boolean }) =>
      p.expired
        ? `the access token in ${p.path} expired at ${p.when}`
        : `the access token in ${p.path} expires at ${p.when}: under the SDKs' ${Limit.sdkForegroundRefreshSeconds} s limit, so they refuse it`,
    fix: `the agent did not refresh it: ${FIX_READ_AGENT_LOGS_AND_EXCHANGE}`,
  },
  'access-token-expiring': {
    severity: 'warning',
    section: 'access-token',
    message: (p: Expiry) =>
      `the access token in ${p.path} expires at ${p.when}, inside the SDKs' ${Limit.sdkBlockingWindowSeconds} s refresh window; the agent normally replaces it well before`,
    fix: FIX_READ_AGENT_LOGS,
  },
  'access-token-valid': {
    severity: 'ok',
    section: 'access-token',
    message: (p: Expiry) => `the access token in ${p.path} is valid until ${p.when}`,
  },
  'token-file-missing': {
    severity: 'problem',
    section: 'access-token',
    message: (p: Path) => `${p.path} does not exist`,
    fix: FIX_READ_AGENT_LOGS,
  },
  'token-file-empty': {
    severity: 'problem',
    section: 'access-token',
    message: (p: Path) => `${p.path} is empty`,
    fix: FIX_READ_AGENT_LOGS,
  },
  'profile-missing': {
    severity: 'problem',
    section: 'access-token',
    message: (p: Path) => `${p.path} does not exist, so SDKs configured by ANTHROPIC_CONFIG_DIR find no profile`,
    fix: `the agent writes it at start: ${FIX_READ_AGENT_LOGS}`,
  },
  'profile-path-mismatch': {
    severity: 'problem',
    section: 'access-token',
    message: (p: { readonly path: string; readonly pointsAt: string; readonly expected: string }) => `${p.path} points at ${p.pointsAt}, but the credentials are at ${p.expected}`,
    fix: "mount the shared volume at the same path in the sidecar and the app containers (the profile holds the sidecar's absolute path)",
  },
  // files
  'file-unreadable': {
    severity: 'problem',
    section: 'files',
    message: unreadable,
    fix: { 'same-uid': FIX_SAME_UID, profile: 'the profile is written 0644; restore that mode' },
  },
  'credentials-mode': {
    severity: 'problem',
    section: 'files',
    message: (p: { readonly path: string; readonly what: string; readonly mode: string }) => `${p.path} is ${p.what} (mode ${p.mode}), so the SDKs refuse to use it`,
    fix: 'chmod 600 {path} (the agent writes it 0600; something else changed it)',
  },
  'credentials-owner': {
    severity: 'warning',
    section: 'files',
    message: (p: { readonly path: string; readonly owner: number; readonly uid: number }) =>
      `${p.path} is owned by uid ${p.owner}, not by this process (uid ${p.uid}); the SDKs warn about it on every read${p.uid === 0 ? '' : ' and can only read it through group or other permissions'}`,
    fix: FIX_SAME_UID,
  },
  'token-file-mode': {
    severity: 'warning',
    section: 'files',
    message: (p: { readonly path: string; readonly mode: string }) => `${p.path} has mode ${p.mode}, not 0600: other users in the pod may read the token`,
    fix: 'chmod 600 {path}',
  },
  // exchange
  'no-exchange-record': {
    severity: 'info',
    section: 'exchange',
    message: (p: Path) => `no readable record of the last exchange (${p.path})`,
  },
  'last-exchange-accepted': {
    severity: 'ok',
    section: 'exchange',
    message: (p: { readonly at: string }) => `the last exchange was accepted at ${p.at}`,
  },
  'last-exchange-rejected': {
    severity: 'problem',
    section: 'exchange',
    message: (p: { readonly at: string }) => `the token endpoint rejected the last assertion (401) at ${p.at}`,
    fix: "look up the reason in the Anthropic Console's authentication history; usually the federation rule's subject or audience does not match the token{claims}, the issuer's JWKS is outdated, a workspace id is required, or the assertion was replayed",
  },
  'last-exchange-pending': {
    severity: 'info',
    section: 'exchange',
    message: (p: { readonly at: string; readonly outcome: string }) => `the last exchange was sent at ${p.at} and its answer is not recorded (${p.outcome})`,
  },
  // agent
  'agent-unreachable': {
    severity: 'info',
    section: 'agent',
    message: (p: { readonly address: string; readonly error: string }) => `the agent's health listener at ${p.address} did not answer (${p.error})`,
  },
  'agent-ready': {
    severity: 'ok',
    section: 'agent',
    message: (p: { readonly address: string; readonly counts: string }) => `the agent at ${p.address} reports ready${p.counts}`,
  },
  'agent-not-ready': {
    severity: 'warning',
    section: 'agent',
    message: (p: { readonly address: string; readonly counts: string }) => `the agent at ${p.address} reports not ready${p.counts}`,
  },
} as const satisfies Readonly<Record<string, FindingSpec>>;

/** Every code doctor can report. */
export type FindingCode = keyof typeof FINDINGS;

export interface Finding {
  /** Stable identifier, e.g. `identity-token-expired`. */
  readonly code: FindingCode;
  readonly severity: Severity;
  /** Section of the report: credential, identity-token, access-token, files, exchange, agent. */
  readonly section: Section;
  readonly message: string;
  readonly fix?: string | undefined;
}

type Placeholders<T> = T extends `${string}{${infer Name}}${infer Rest}` ? Name | Placeholders<Rest> : never;
type TemplateFacts<T> = [Placeholders<T>] extends [never] ? unknown : { readonly [Name in Placeholders<T>]: string };
type FixFacts<F> = F extends string ? TemplateFacts<F> : F extends Readonly<Record<string, string>> ? { readonly fix: keyof F } & TemplateFacts<F[keyof F]> : unknown;
type Spec<C extends FindingCode> = (typeof FINDINGS)[C];
type MessageFacts<C extends FindingCode> = Spec<C>['message'] extends (facts: infer P) => string ? P : never;

/** The facts a finding of code `C` is worded from: its message's, plus the `{names}` its fix fills in. */
export type FindingFacts<C extends FindingCode> = MessageFacts<C> & FixFacts<Spec<C> extends { readonly fix: infer F } ? F : undefined>;

/** Fills `{name}` from `facts`; a name with no fact is left as written. */
export function fillTemplate(template: string, facts: Readonly<Record<string, unknown>>): string {
  return template.replace(/\{([a-z][a-zA-Z]*)\}/g, (whole, name: string) => {
    const value = facts[name];
    return typeof value === 'string' || typeof value === 'number' ? String(value) : whole;
  });
}

function fixText(spec: FindingSpec, facts: Readonly<Record<string, unknown>>): string | undefined {
  const fix = spec.fix;
  if (fix === undefined) return undefined;
  const template = typeof fix === 'string' ? fix : fix[String(facts.fix)];
  return template === undefined ? undefined : fillTemplate(template, facts);
}

/** The one way a finding is made: its code and the facts its catalog entry asks for. */
export function finding<C extends FindingCode>(code: C, ...facts: unknown extends FindingFacts<C> ? [] : [FindingFacts<C>]): Finding {
  const spec: FindingSpec = FINDINGS[code];
  const given = (facts[0] ?? {}) as Readonly<Record<string, unknown>>;
  const message = (spec.message as (facts: unknown) => string)(given);
  const fix = fixText(spec, given);
  return fix === undefined ? { code, severity: spec.severity, section: spec.section, message } : { code, severity: spec.severity, section: spec.section, message, fix };
}
