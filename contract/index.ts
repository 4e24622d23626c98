/**
 * The outside contract in one place (../shared/docs/contract.md): every annotation key,
 * injected name, path, file, variable, default and limit. The webhook imports this module
 * because it is the agent's client. No other module spells these strings.
 */
import { VERSION } from '../runtime/version.ts';

// ---------------------------------------------------------------------------------------
// Names

export const CLI_NAME = 'anthropic-wif';
export const PROJECT_NAME = 'anthropic-workload-identity';

/** Sent as User-Agent on every outbound call this project makes. */
export const USER_AGENT = `${PROJECT_NAME}/${VERSION} (${CLI_NAME}; node/${process.versions.node})`;

/** Prefix of every annotation and of the opt-in label. */
export const ANNOTATION_PREFIX = 'anthropic.workload.identity/';

/** Annotation keys (on Pod unless said). */
export const Annotation = {
  /** `"true"` / `"false"` on Pod or ServiceAccount; also a Pod label (the chart's objectSelector). */
  inject: `${ANNOTATION_PREFIX}inject`,
  /** `fdrl_…` */
  federationRuleId: `${ANNOTATION_PREFIX}federation-rule-id`,
  /** A UUID. */
  organizationId: `${ANNOTATION_PREFIX}organization-id`,
  /** `svac_…`, omitted from the exchange when unset. */
  serviceAccountId: `${ANNOTATION_PREFIX}service-account-id`,
  /** `wrkspc_…` or `default`. */
  workspaceId: `${ANNOTATION_PREFIX}workspace-id`,
  /** Audience of the projected token. */
  audience: `${ANNOTATION_PREFIX}audience`,
  /** Projected token `expirationSeconds`, 600–86400. */
  tokenExpiration: `${ANNOTATION_PREFIX}token-expiration`,
  /** `file`, `proxy` or `sdk`. */
  mode: `${ANNOTATION_PREFIX}mode`,
  /** Comma-separated container names to leave alone. */
  skipContainers: `${ANNOTATION_PREFIX}skip-containers`,
  /** Token endpoint base URL. */
  baseUrl: `${ANNOTATION_PREFIX}base-url`,
  /** Written by the webhook, never read from users: what was injected and a settings hash. */
  status: `${ANNOTATION_PREFIX}status`,
} as const;

/** The opt-in Pod label, selected by the chart's `failurePolicy: Fail` webhook entry. */
export const OPT_IN_LABEL = Annotation.inject;

export const MODES = ['file', 'proxy', 'sdk'] as const;
export type Mode = (typeof MODES)[number];

/** Names of what the webhook injects. */
export const VolumeName = {
  /** Projected serviceAccountToken volume. */
  identityToken: 'anthropic-identity-token',
  /** In-memory emptyDir shared by the sidecar and (file mode) the app containers. */
  credentials: 'anthropic-credentials',
  /** ConfigMap volume with the extra CA bundle (`--ca-bundle-config-map`), mounted in the sidecar only. */
  caBundle: 'anthropic-ca-bundle',
} as const;

export const ContainerName = {
  /** The refresh sidecar (native sidecar or regular container). */
  agent: 'anthropic-wif-agent',
  /** Legacy layout only: `agent --once` before the app starts. */
  init: 'anthropic-wif-init',
} as const;

/** Arguments of the injected containers (the image's entrypoint is the `anthropic-wif` CLI). */
export const AgentArgs = {
  sidecar: ['agent'],
  init: ['agent', '--once'],
} as const;

/**
 * How the injected sidecar (not the one-shot init container) starts: the image's Node with
 * V8 options before the CLI script, since NODE_OPTIONS refuses them. Measured in
 * docs/benchmarks.md (agent footprint): `--no-memory-reducer` stops V8's 8 s idle-heap timer,
 * most of an idle agent's CPU; `--lite-mode` (interpreter only) saves ~5 MiB of RSS but turns
 * WebAssembly off, which the proxy's undici parser needs, so proxy mode runs without it.
 */
export const AgentCommand = {
  node: '/usr/local/bin/node',
  /** The image's `anthropic-wif` (a link to dist/cli/anthropic-wif.js). */
  cli: '/usr/local/bin/anthropic-wif',
  fileModeNodeOptions: ['--lite-mode', '--no-memory-reducer'],
  proxyModeNodeOptions: ['--no-memory-reducer'],
} as const;

// ---------------------------------------------------------------------------------------
// Paths and files

export const Path = {
  /** Where the projected token volume is mounted. */
  identityTokenDir: '/var/run/secrets/anthropic.com',
  /** The projected volume's item path. */
  identityTokenItem: 'token',
  identityTokenFile: '/var/run/secrets/anthropic.com/token',
  /** The shared in-memory volume and the agent's output directory. */
  outputDir: '/var/run/anthropic',
  /** Where the CA bundle ConfigMap is mounted in the sidecar, and its one file. */
  caBundleDir: '/etc/anthropic-wif/ca-bundle',
  caBundleItem: 'ca.crt',
  caBundleFile: '/etc/anthropic-wif/ca-bundle/ca.crt',
} as const;

/** Files the agent keeps, relative to the output directory. */
export const OutputFile = {
  /** The access token alone, no newline. */
  token: 'token',
  /** The SDK credentials file a profile points at. */
  credentials: 'credentials/default.json',
  /** The SDK profile (`ANTHROPIC_CONFIG_DIR/configs/default.json`). */
  profile: 'configs/default.json',
  /** Which assertion was last exchanged (hash of the jti), so a restart never replays it. */
  state: '.anthropic-wif-state.json',
} as const;

export const FileMode = {
  token: 0o600,
  credentials: 0o600,
  profile: 0o644,
  state: 0o600,
  /** Directories the agent creates under the output directory. */
  directory: 0o755,
} as const;

/** Versions and types written into the SDK files. */
export const SdkFileFormat = {
  version: '1.0',
  credentialsType: 'oauth_token',
  profileAuthenticationType: 'user_oauth',
} as const;

// ---------------------------------------------------------------------------------------
// Environment variables

/** Variables the official SDKs read (and the sidecar shares their names). */
export const SdkEnv = {
  federationRuleId: 'ANTHROPIC_FEDERATION_RULE_ID',
  organizationId: 'ANTHROPIC_ORGANIZATION_ID',
  serviceAccountId: 'ANTHROPIC_SERVICE_ACCOUNT_ID',
  workspaceId: 'ANTHROPIC_WORKSPACE_ID',
  identityTokenFile: 'ANTHROPIC_IDENTITY_TOKEN_FILE',
  identityToken: 'ANTHROPIC_IDENTITY_TOKEN',
  baseUrl: 'ANTHROPIC_BASE_URL',
  configDir: 'ANTHROPIC_CONFIG_DIR',
  profile: 'ANTHROPIC_PROFILE',
  apiKey: 'ANTHROPIC_API_KEY',
  authToken: 'ANTHROPIC_AUTH_TOKEN',
  /** Not read by the SDKs; a convenience for programs that read the token file directly. */
  accessTokenFile: 'ANTHROPIC_ACCESS_TOKEN_FILE',
} as const;

/** Flags of the agent named outside its config parser (help, errors, docs). */
export const AgentFlag = {
  /** A PEM bundle trusted in addition to the system roots (variable `AgentEnv.caBundleFile`). */
  caBundleFile: 'ca-bundle-file',
} as const;

/**
 * The usual forward-proxy variables, each in both spellings, lowercase first: the lowercase
 * one wins when both are set (as curl and undici read them). Read by the agent's config only.
 */
export const ProxyEnv = {
  /** The proxy for https targets. */
  httpsProxy: ['https_proxy', 'HTTPS_PROXY'],
  /** The proxy for plain http targets. */
  httpProxy: ['http_proxy', 'HTTP_PROXY'],
  /** Targets reached directly although a proxy is set. */
  noProxy: ['no_proxy', 'NO_PROXY'],
} as const;

/** Variables that silently shadow federation when an app container sets them. */
export const SHADOWING_ENV: readonly string[] = [SdkEnv.apiKey, SdkEnv.authToken];

/** The agent's own variables. */
export const AgentEnv = {
  outputDir: 'ANTHROPIC_WIF_OUTPUT_DIR',
  healthAddr: 'ANTHROPIC_WIF_HEALTH_ADDR',
  proxyAddr: 'ANTHROPIC_WIF_PROXY_ADDR',
  upstreamUrl: 'ANTHROPIC_WIF_UPSTREAM_URL',
  /** Audience the identity token must carry; set by the webhook when not the default. */
  audience: 'ANTHROPIC_WIF_AUDIENCE',
  identityTokenCommand: 'ANTHROPIC_WIF_IDENTITY_TOKEN_COMMAND',
  identityTokenCommandTimeout: 'ANTHROPIC_WIF_IDENTITY_TOKEN_COMMAND_TIMEOUT',
  identityTokenUrl: 'ANTHROPIC_WIF_IDENTITY_TOKEN_URL',
  identityTokenUrlHeaders: 'ANTHROPIC_WIF_IDENTITY_TOKEN_URL_HEADERS',
  identityTokenUrlField: 'ANTHROPIC_WIF_IDENTITY_TOKEN_URL_FIELD',
  logLevel: 'ANTHROPIC_WIF_LOG_LEVEL',
  /** A PEM bundle trusted in addition to the system roots (the webhook sets it with `--ca-bundle-config-map`). */
  caBundleFile: 'ANTHROPIC_WIF_CA_BUNDLE_FILE',
} as const;

/**
 * Extra sidecar variables (`--agent-env`, chart `agent.env`) may not use this prefix: every
 * variable the contract fixes starts with it, so none can be overridden.
 */
export const RESERVED_ENV_PREFIX = 'ANTHROPIC_';

/** A variable name the webhook injects for the user: a C identifier, as shells and most programs expect. */
export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Claude Code's own variables that the README names and the Claude Code tests set. */
export const ClaudeCodeEnv = {
  /** `1`: no telemetry, error reports or update checks (headless and offline runs). */
  disableNonessentialTraffic: 'CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC',
  /** An OAuth token, read once when Claude Code starts (so it never sees a rotation). */
  oauthToken: 'CLAUDE_CODE_OAUTH_TOKEN',
  /** Retries of a failed API call (the tests set 0: a refusal fails at once, not after minutes of backoff). */
  maxRetries: 'CLAUDE_CODE_MAX_RETRIES',
  /** How long Claude Code caches `apiKeyHelper`'s output. */
  apiKeyHelperTtlMs: 'CLAUDE_CODE_API_KEY_HELPER_TTL_MS',
  /** Extra `anthropic-beta` values Claude Code sends (comma-separated). */
  betas: 'ANTHROPIC_BETAS',
} as const;

/** Claude Code's settings (`~/.claude/settings.json`) that the README names. */
export const ClaudeCodeSetting = {
  /** A command whose output Claude Code sends as an API key (`X-Api-Key`). */
  apiKeyHelper: 'apiKeyHelper',
} as const;

/** GitHub Actions' OIDC request variables (for the `github-actions` URL preset). */
export const GithubActionsEnv = {
  requestUrl: 'ACTIONS_ID_TOKEN_REQUEST_URL',
  requestToken: 'ACTIONS_ID_TOKEN_REQUEST_TOKEN',
  /** The JSON field of the answer that holds the JWT. */
  field: 'value',
} as const;

/** Webhook flags' variables: `ANTHROPIC_WIF_` + the flag in upper snake case. */
export function webhookFlagEnv(flag: string): string {
  return `ANTHROPIC_WIF_${flag.replaceAll('-', '_').toUpperCase()}`;
}

// ---------------------------------------------------------------------------------------
// Defaults

export const Default = {
  audience: 'https://api.anthropic.com',
  baseUrl: 'https://api.anthropic.com',
  tokenExpirationSeconds: 600,
  mode: 'file' satisfies Mode as Mode,
  proxyPort: 8423,
  /** The sidecar's health and metrics port (all interfaces, so kubelet probes reach it). */
  agentHealthPort: 8424,
  agentHealthAddr: ':8424',
  webhookListen: ':8443',
  agentImage: `ghcr.io/anthropic-workload-identity/anthropic-wif:${VERSION}`,
  nativeSidecar: 'auto',
  shadowing: 'warn',
  /** Admission request body limit (contract: 413 above it). */
  webhookBodyLimitBytes: 4 * 1024 * 1024,
  /** How often `--native-sidecar auto` re-reads the API server version. */
  clusterVersionRecheckSeconds: 600,
  /**
   * The webhook's HTTPS connection limits (issue #16: 5,000 connections whose headers never
   * finished all stayed open, and the process grew past the chart's 256Mi). The API server
   * waits 10 s for an admission by default (30 s at most): a request still arriving after
   * that is answered for nobody.
   */
  webhookConnectionLimits: {
    /** Open connections, TLS handshakes included; the next one is closed at accept. */
    maxConnections: 1024,
    /** The TLS handshake must finish within this. */
    handshakeTimeoutMs: 10_000,
    /** The request line and headers must arrive within this (answered 408, then closed). */
    headersTimeoutMs: 10_000,
    /** The whole request, body included, must arrive within this. */
    requestTimeoutMs: 10_000,
    /** The API server keeps admission connections open up to 90 s idle; outlive that, so it closes first. */
    keepAliveTimeoutMs: 120_000,
    /** How often the header and request timeouts are checked (Node's 30 s would let a slow client stay 40 s). */
    timeoutCheckIntervalMs: 1_000,
  },
  /** The webhook's minimum TLS version (`--tls-min-version`). */
  webhookTlsMinVersion: '1.2',
  /** `--service-account-lookup`: consult ServiceAccount annotations (needs the API server). */
  serviceAccountLookup: true,
  /** A live ServiceAccount read on a cache miss gives up after this long. */
  serviceAccountLookupTimeoutMs: 2_000,
  credentialsVolumeSizeLimit: '1Mi',
  /** The key of the CA bundle ConfigMap that holds the PEM bundle (`--ca-bundle-key`). */
  caBundleKey: 'ca.crt',
  /**
   * The sidecar's resources, from `npm run bench -- agent-footprint` and `-- proxy`
   * (docs/benchmarks.md): an idle agent holds ~59 MiB in file mode and ~82 MiB in proxy mode
   * (most of it the node binary's pages); a proxy relaying 10 MiB streams peaked at ~250 MiB.
   */
  agentResources: {
    requests: { cpu: '5m', memory: '64Mi' },
    limits: { memory: '256Mi' },
  },
  /** The sidecar's non-root uid when the app declares none (or is root). */
  agentRunAsUser: 65532,
} as const;

/** The `ANTHROPIC_AUTH_TOKEN` placeholder given to app containers in proxy mode. */
export const PROXY_PLACEHOLDER_AUTH_TOKEN = 'managed-by-anthropic-wif';

// ---------------------------------------------------------------------------------------
// Formats and limits

export const IdPattern = {
  federationRuleId: /^fdrl_[A-Za-z0-9_-]+$/,
  organizationId: /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/,
  serviceAccountId: /^svac_[A-Za-z0-9_-]+$/,
  workspaceId: /^(?:wrkspc_[A-Za-z0-9_-]+|default)$/,
} as const;

/** An access token as written to the files and sent as a Bearer value: printable ASCII, no spaces. */
export const ACCESS_TOKEN_PATTERN = /^[\x21-\x7e]+$/;

/** What each id looks like, for error messages. */
export const IdExpected = {
  federationRuleId: 'fdrl_ followed by letters, digits, "_" or "-"',
  organizationId: 'a UUID such as 00000000-0000-4000-8000-000000000000',
  serviceAccountId: 'svac_ followed by letters, digits, "_" or "-"',
  workspaceId: 'wrkspc_ followed by letters, digits, "_" or "-", or "default"',
} as const;

export const Limit = {
  tokenExpirationSeconds: { min: 600, max: 86_400 },
  audienceMaxLength: 256,
  assertionMaxBytes: 16 * 1024,
  exchangeResponseMaxBytes: 1024 * 1024,
  /** One exchange attempt never takes longer. */
  exchangeTimeoutMs: 30_000,
  /**
   * The longest `--identity-token-command-timeout`: a refresh step (the command, then the
   * exchange) must finish well inside the refresh loop's liveness window (`LIVENESS_STALE_MS`,
   * 180 s), or `/healthz` would fail while a slow command is still within its time.
   */
  identityTokenCommandMaxTimeoutSeconds: 120,
  /** Backoff: first retry within about 1 s, doubling, jittered, capped at 30 s. */
  backoffInitialMs: 1_000,
  backoffMaxMs: 30_000,
  /** SDKs block on a token with less than 30 s left, refresh in the background under 120 s. */
  sdkBlockingWindowSeconds: 120,
  sdkForegroundRefreshSeconds: 30,
  /** `/readyz` needs a token on disk valid for at least this long. */
  readyMinValiditySeconds: 30,
  /** The kubelet rotates a projected token at 80 % of its lifetime, or after 24 h. */
  kubeletRotationFraction: 0.8,
  kubeletMaxRotationSeconds: 86_400,
  /** The minted lifetime is min(rule lifetime, 2 × JWT remaining), never below this. */
  minMintedLifetimeSeconds: 60,
  /** SIGTERM: the agent exits within 5 s, the webhook within 10 s. */
  agentShutdownMs: 5_000,
  webhookShutdownMs: 10_000,
  /**
   * Nesting of objects and arrays in an admission body (the envelope counts): a real Pod
   * needs about 20 (its managedFields mirror its deepest field), so a deeper body is hostile and
   * gets a 400 before any walk over it can recurse.
   */
  admissionJsonMaxDepth: 100,
} as const;

// ---------------------------------------------------------------------------------------
// The exchange (anthropic-wif-facts.md)

export const TokenExchange = {
  path: '/v1/oauth/token',
  grantType: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
  /** Sent on the exchange, as the SDKs do. */
  betaHeader: 'oauth-2025-04-20,oidc-federation-2026-04-01',
  /** Added to API requests made with an OAuth token (the proxy merges it in). */
  oauthBeta: 'oauth-2025-04-20',
  tokenType: 'Bearer',
  requestIdHeader: 'request-id',
} as const;

// ---------------------------------------------------------------------------------------
// HTTP endpoints and metrics

export const HttpPath = {
  mutate: '/mutate',
  healthz: '/healthz',
  readyz: '/readyz',
  metrics: '/metrics',
} as const;

export const METRIC_PREFIX = 'anthropic_wif_';

export const Metric = {
  exchangesTotal: 'anthropic_wif_exchanges_total',
  exchangeDurationSeconds: 'anthropic_wif_exchange_duration_seconds',
  /** When the last exchange of each result finished (Unix seconds; 0: none yet), so `audit --metrics` can tell when a binding last worked. */
  lastExchangeTimestampSeconds: 'anthropic_wif_last_exchange_timestamp_seconds',
  accessTokenExpiryTimestampSeconds: 'anthropic_wif_access_token_expiry_timestamp_seconds',
  identityTokenExpiryTimestampSeconds: 'anthropic_wif_identity_token_expiry_timestamp_seconds',
  /** Seconds per rotation with no valid token: the next projected token arrives after the access token expires (0 when it does not). */
  rotationGapSeconds: 'anthropic_wif_rotation_gap_seconds',
  fileWriteFailuresTotal: 'anthropic_wif_file_write_failures_total',
  admissionRequestsTotal: 'anthropic_wif_admission_requests_total',
  admissionDurationSeconds: 'anthropic_wif_admission_duration_seconds',
  serviceAccountCacheTotal: 'anthropic_wif_service_account_cache_total',
  proxyRequestsTotal: 'anthropic_wif_proxy_requests_total',
  proxyUpstreamDurationSeconds: 'anthropic_wif_proxy_upstream_duration_seconds',
  proxyBytesTotal: 'anthropic_wif_proxy_bytes_total',
} as const;

// ---------------------------------------------------------------------------------------
// Loopback (the only hosts allowed plain http, and the only proxy listen addresses)

/** `localhost`, any 127.0.0.0/8 address, `::1` (bracketed or not). */
export function isLoopbackHost(host: string): boolean {
  const h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (h === 'localhost' || h === '::1') return true;
  const parts = h.split('.');
  return parts.length === 4 && parts[0] === '127' && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

/** What a token endpoint, identity-token URL or proxy upstream must look like (error messages). */
/** What `--proxy-addr` must be: the proxy hands a real token to whoever connects. */
export const LOOPBACK_LISTEN_EXPECTED = `a loopback address such as 127.0.0.1:${String(Default.proxyPort)} (localhost, 127.0.0.0/8 or [::1]), because the proxy hands a real token to whoever connects`;

export const SECURE_URL_EXPECTED = 'an https:// URL (plain http:// only to localhost, 127.0.0.0/8 or [::1]) without user:password';

/** Control characters (C0, DEL, C1), any whitespace, and the backslash. */
export const UNSAFE_URL_CHARACTERS = /[\p{Cc}\s\\]/u;

/** The raw text between `scheme://` and the path: only a host and a port may be there. */
function rawAuthority(raw: string): string | undefined {
  return /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(raw)?.[1];
}

/**
 * The SDKs' rule for endpoints that receive secrets: https, or plain http only to a loopback
 * host; no user:password in the URL. Returns the parsed URL, or undefined when it breaks the rule.
 *
 * Judged on text every URL parser reads alike: the WHATWG parser drops tabs and newlines and
 * reads `\` as `/`, so `http://127.0.0.1\@evil.example` is loopback to it and `evil.example`
 * (userinfo `127.0.0.1\`) to others. Such characters, and any `@` before the path, are refused;
 * loopback is then decided from the parsed host alone.
 */
export function parseSecureUrl(raw: string): URL | undefined {
  const authority = rawAuthority(raw);
  if (UNSAFE_URL_CHARACTERS.test(raw) || authority === undefined || authority.includes('@')) return undefined;
  const url = URL.canParse(raw) ? new URL(raw) : undefined;
  if (url === undefined || url.hostname === '' || url.username !== '' || url.password !== '') return undefined;
  const secure = url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname));
  return secure ? url : undefined;
}

/** `raw` when parseSecureUrl accepts it; else throws an Error saying what is expected (for the config parsers). */
export function parseEndpointUrl(raw: string): string {
  if (parseSecureUrl(raw) === undefined) throw new Error(SECURE_URL_EXPECTED);
  return raw;
}

// ---------------------------------------------------------------------------------------
// `anthropic-wif audit` (issue #13)

/** What a static Anthropic API key looks like (the Console's `sk-ant-api03-…`); audit never prints one. */
export const API_KEY_VALUE_PREFIX = 'sk-ant-api';

/** Finding severities of `anthropic-wif audit`, lowest first (`--fail-on`). */
export const AUDIT_SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type AuditSeverity = (typeof AUDIT_SEVERITIES)[number];

/** Labels the chart puts on its objects; audit finds the webhook Deployment by them. */
export const ChartLabel = {
  partOf: 'app.kubernetes.io/part-of',
  component: 'app.kubernetes.io/component',
  /** The value of `component` on the webhook Deployment. */
  webhookComponent: 'webhook',
} as const;

/** Kubernetes API paths audit reads (all lists are paged with `limit` and `continue`). */
export const KubePath = {
  version: '/version',
  pods: '/api/v1/pods',
  serviceAccounts: '/api/v1/serviceaccounts',
  deployments: '/apis/apps/v1/deployments',
  statefulSets: '/apis/apps/v1/statefulsets',
  daemonSets: '/apis/apps/v1/daemonsets',
  replicaSets: '/apis/apps/v1/replicasets',
  jobs: '/apis/batch/v1/jobs',
  /** batch/v1 from Kubernetes 1.21; 1.20 serves batch/v1beta1 only. */
  cronJobs: '/apis/batch/v1/cronjobs',
  cronJobsV1beta1: '/apis/batch/v1beta1/cronjobs',
} as const;

/** `/api/v1/namespaces/<ns>/<plural>`, or the cluster-wide path when no namespace is given. */
export function namespacedListPath(clusterPath: string, namespace: string | undefined): string {
  if (namespace === undefined) return clusterPath;
  const at = clusterPath.lastIndexOf('/');
  return `${clusterPath.slice(0, at)}/namespaces/${encodeURIComponent(namespace)}${clusterPath.slice(at)}`;
}

export function secretPath(namespace: string, name: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`;
}

/** The sidecar's `/metrics` through the API server's pod proxy (RBAC: `pods/proxy` get). */
export function podMetricsProxyPath(namespace: string, pod: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}:${String(Default.agentHealthPort)}/proxy${HttpPath.metrics}`;
}
