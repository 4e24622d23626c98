/**
 * The pure half of `anthropic-wif issuer`: from the cluster's discovery document and JWKS
 * (as the API server serves them) to what to register in the Anthropic Console: the issuer
 * URL, JWKS by discovery or inline, and a matching federation rule.
 */
import { isIP } from 'node:net';
import { ConfigError, WifError } from '../runtime/errors.ts';
import { Annotation, Default } from '../contract/index.ts';

export interface DiscoveryDocument {
  readonly issuer: string;
  readonly jwks_uri?: string | undefined;
  readonly [key: string]: unknown;
}

export interface JsonWebKey {
  readonly kty: string;
  readonly kid?: string | undefined;
  readonly alg?: string | undefined;
  readonly use?: string | undefined;
  readonly [key: string]: unknown;
}

export interface JsonWebKeySet {
  readonly keys: readonly JsonWebKey[];
}

/** The API server's discovery document; throws (exit 1) when it is not one. */
export function parseDiscoveryDocument(text: string, source: string): DiscoveryDocument {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new WifError('issuer-invalid', `${source} is not JSON`);
  }
  const issuer = (value as { issuer?: unknown } | null)?.issuer;
  if (typeof issuer !== 'string' || !URL.canParse(issuer)) {
    throw new WifError('issuer-invalid', `${source} has no "issuer" URL`);
  }
  return value as DiscoveryDocument;
}

/** The API server's JWKS; throws (exit 1) when it is not one. */
export function parseJwks(text: string, source: string): JsonWebKeySet {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new WifError('issuer-invalid', `${source} is not JSON`);
  }
  const keys = (value as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k) => typeof (k as { kty?: unknown } | null)?.kty === 'string')) {
    throw new WifError('issuer-invalid', `${source} is not a JSON Web Key Set with at least one key`);
  }
  return value as JsonWebKeySet;
}

// ---------------------------------------------------------------------------------------
// Reachability

const INTERNAL_SUFFIXES = ['.local', '.svc', '.internal', '.localdomain', '.lan', '.home.arpa', '.intranet', '.corp', '.localhost'];

/** [first octet, lowest second octet, highest second octet] of the non-public IPv4 ranges. */
const PRIVATE_IPV4: readonly (readonly [number, number, number])[] = [
  [0, 0, 255],
  [10, 0, 255],
  [100, 64, 127],
  [127, 0, 255],
  [169, 254, 254],
  [172, 16, 31],
  [192, 168, 168],
];

function privateIpv4(host: string): boolean {
  const [a, b] = host.split('.').map(Number);
  return PRIVATE_IPV4.some(([first, low, high]) => a === first && b !== undefined && b >= low && b <= high);
}

function hostProblem(hostname: string): string | undefined {
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  if (isIP(host) === 4) return privateIpv4(host) ? `${host} is a private IP address` : `${host} is an IP address, not a DNS name`;
  if (isIP(host) === 6) return `${host} is an IP address, not a DNS name`;
  if (host === 'localhost' || !host.includes('.')) return `${host} is not a fully qualified public name`;
  const suffix = INTERNAL_SUFFIXES.find((s) => host.endsWith(s));
  return suffix === undefined ? undefined : `${host} is a cluster- or network-internal name (${suffix})`;
}

export interface Reachability {
  readonly looksPublic: boolean;
  /** Why the Console could not fetch it, when it could not. */
  readonly reasons: readonly string[];
}

/**
 * Whether the Console could fetch `<issuer>/.well-known/openid-configuration` itself: https
 * on 443 with a public DNS name. A heuristic from the URL alone; nothing is fetched.
 */
export function assessIssuerReachability(issuer: string): Reachability {
  const url = new URL(issuer);
  const reasons: string[] = [];
  if (url.protocol !== 'https:') reasons.push(`it uses ${url.protocol.replace(':', '')}, not https`);
  if (url.port !== '' && url.port !== '443') reasons.push(`it uses port ${url.port}, not 443`);
  const host = hostProblem(url.hostname);
  if (host !== undefined) reasons.push(host);
  return { looksPublic: reasons.length === 0, reasons };
}

// ---------------------------------------------------------------------------------------
// The report

/** DNS-1123 label (namespace) and subdomain (ServiceAccount name), as Kubernetes validates them. */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const SERVICE_ACCOUNT = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

export interface RuleTarget {
  readonly namespace?: string | undefined;
  readonly serviceAccount?: string | undefined;
  readonly audience: string;
}

/** Exit 2 for a namespace or ServiceAccount Kubernetes would not accept, or a ServiceAccount without its namespace. */
export function checkRuleTarget(target: RuleTarget): void {
  if (target.namespace !== undefined && !NAMESPACE.test(target.namespace)) {
    throw new ConfigError(`invalid --namespace "${target.namespace}": expected a Kubernetes namespace name (lower-case letters, digits and "-", at most 63)`);
  }
  if (target.serviceAccount !== undefined && !SERVICE_ACCOUNT.test(target.serviceAccount)) {
    throw new ConfigError(`invalid --service-account "${target.serviceAccount}": expected a Kubernetes ServiceAccount name (lower-case letters, digits, "-" and ".")`);
  }
  if (target.serviceAccount !== undefined && target.namespace === undefined) {
    throw new ConfigError('--service-account needs --namespace: the rule subject is system:serviceaccount:<namespace>:<name>');
  }
}

export interface FederationRuleSuggestion {
  /** Exact subject for one ServiceAccount, when one was named. */
  readonly subject?: string | undefined;
  /** Subject prefix matching every ServiceAccount of the namespace. */
  readonly namespaceSubjectPrefix?: string | undefined;
  readonly audience: string;
}

export interface IssuerReport {
  readonly apiServer: string;
  readonly issuer: string;
  /** Where the API server says its keys are (often an internal address, even for public issuers). */
  readonly jwksUri?: string | undefined;
  readonly reachability: Reachability;
  /** `discovery`: the Console fetches the keys itself; `inline`: paste `jwks`. */
  readonly jwksSource: 'discovery' | 'inline';
  readonly jwks: JsonWebKeySet;
  readonly keys: readonly { readonly kid: string; readonly kty: string; readonly alg: string }[];
  readonly rule: FederationRuleSuggestion;
}

export interface IssuerInputs {
  readonly apiServer: string;
  readonly discovery: DiscoveryDocument;
  readonly jwks: JsonWebKeySet;
  readonly target: RuleTarget;
}

export function subjectFor(namespace: string, serviceAccount: string): string {
  return `system:serviceaccount:${namespace}:${serviceAccount}`;
}

export function buildIssuerReport(inputs: IssuerInputs): IssuerReport {
  const { discovery, jwks, target } = inputs;
  const reachability = assessIssuerReachability(discovery.issuer);
  return {
    apiServer: inputs.apiServer,
    issuer: discovery.issuer,
    jwksUri: typeof discovery.jwks_uri === 'string' ? discovery.jwks_uri : undefined,
    reachability,
    jwksSource: reachability.looksPublic ? 'discovery' : 'inline',
    jwks,
    keys: jwks.keys.map((k) => ({ kid: k.kid ?? '(none)', kty: k.kty, alg: k.alg ?? '(unspecified)' })),
    rule: {
      subject: target.namespace !== undefined && target.serviceAccount !== undefined ? subjectFor(target.namespace, target.serviceAccount) : undefined,
      namespaceSubjectPrefix: target.namespace === undefined ? undefined : `system:serviceaccount:${target.namespace}:*`,
      audience: target.audience,
    },
  };
}

// ---------------------------------------------------------------------------------------
// Text

function issuerLines(report: IssuerReport): string[] {
  const lines = [`Cluster API server: ${report.apiServer}`, `Service-account issuer: ${report.issuer}`];
  if (report.reachability.looksPublic) {
    lines.push(
      '  Looks publicly reachable (https on 443 with a public DNS name), so the Console can fetch',
      `  ${report.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration and the keys it names itself.`,
    );
  } else {
    lines.push(`  Not reachable from the internet: ${report.reachability.reasons.join('; ')}.`, '  So register its keys inline (below).');
  }
  lines.push('', `Signing keys the cluster publishes (${report.keys.length}):`);
  for (const key of report.keys) lines.push(`  kid ${key.kid}  ${key.kty} ${key.alg}`);
  return lines;
}

function registrationLines(report: IssuerReport): string[] {
  const lines = ['', 'Register in the Anthropic Console (Workload identity federation, Issuers):', `  Issuer URL:  ${report.issuer}`];
  if (report.jwksSource === 'discovery') {
    lines.push('  JWKS:        by discovery');
    return lines;
  }
  lines.push(
    '  JWKS:        inline; paste this JSON Web Key Set:',
    '',
    JSON.stringify(report.jwks, null, 2),
    '',
    '  Paste it again whenever the cluster rotates its service-account signing key',
    '  (kubectl get --raw /openid/v1/jwks shows the current set).',
  );
  return lines;
}

function ruleLines(report: IssuerReport): string[] {
  const { rule } = report;
  const lines = ['', 'Federation rule for this issuer:'];
  if (rule.subject !== undefined) lines.push(`  Subject:   ${rule.subject}  (exact)`);
  if (rule.namespaceSubjectPrefix !== undefined) {
    lines.push(`  ${rule.subject === undefined ? 'Subject:  ' : 'Or, for every ServiceAccount in the namespace:'} ${rule.namespaceSubjectPrefix}  (prefix)`);
  }
  if (rule.subject === undefined && rule.namespaceSubjectPrefix === undefined) {
    lines.push('  Subject:   system:serviceaccount:<namespace>:<service-account>  (pass --namespace and --service-account)');
  }
  lines.push(
    `  Audience:  ${rule.audience}  (always match the audience: without it the rule also accepts the cluster's ordinary tokens)`,
    '',
    `Then annotate the ServiceAccount (or pod) with ${Annotation.federationRuleId}: <the rule's fdrl_ id>`,
    `and ${Annotation.organizationId}: <your organization id>, and opt in with ${Annotation.inject}: "true".`,
  );
  if (rule.audience !== Default.audience) lines.push(`The audience is not the default: also set ${Annotation.audience}: ${rule.audience}.`);
  return lines;
}

export function formatIssuerText(report: IssuerReport): string {
  return `${[...issuerLines(report), ...registrationLines(report), ...ruleLines(report)].join('\n')}\n`;
}
