/**
 * `anthropic-wif webhook` flags, each also read from `ANTHROPIC_WIF_` + the flag in upper
 * snake case. Parsed once at start into a frozen object; the Helm chart passes exactly these.
 * Ids, audience, expiration, mode and base URL follow the same rules as the annotations.
 */
import { parseListenAddress } from '../runtime/listen-address.ts';
import {
  Default,
  ENV_NAME_PATTERN,
  IdExpected,
  IdPattern,
  Limit,
  MODES,
  parseEndpointUrl,
  parseSecureUrl,
  RESERVED_ENV_PREFIX,
  SECURE_URL_EXPECTED,
  webhookFlagEnv,
} from '../contract/index.ts';
import { formatHelp, option, parseArgv, resolveConfig, type ConfigOf, type Env, type OptionSpec } from '../runtime/config.ts';
import { ConfigError } from '../runtime/errors.ts';
import { LOG_LEVELS } from '../runtime/logger.ts';
import { isJsonObject } from './json.ts';
import type { ContainerResources, EnvVar, InjectionDefaults } from './types.ts';

export const WEBHOOK_COMMAND = 'webhook';
export const WEBHOOK_SUMMARY = 'Serve the mutating admission webhook that injects workload identity into pods.';

const QUANTITY = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$/;
const QUANTITY_EXPECTED = 'a Kubernetes quantity such as 5m, 0.5 or 64Mi';

function quantity(raw: string): string {
  if (!QUANTITY.test(raw)) throw new Error(QUANTITY_EXPECTED);
  return raw;
}

/** A ConfigMap name (RFC 1123 subdomain) and a ConfigMap key, as the API server checks them. */
const CONFIG_MAP_NAME = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;
const CONFIG_MAP_KEY = /^[-._a-zA-Z0-9]+$/;
// eslint-disable-next-line no-control-regex -- the point is to find control characters
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;
const AGENT_ENV_MAX_ENTRIES = 64;

/**
 * `--agent-env`: a JSON object of variable names to string values for every injected agent
 * container, e.g. `{"HTTPS_PROXY":"http://proxy.corp:3128","NO_PROXY":".svc,.cluster.local"}`.
 * Names the contract fixes (`ANTHROPIC_…`) are refused, so none can be overridden.
 */
export function parseAgentEnv(raw: string): readonly EnvVar[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new Error('a JSON object of variable names to string values');
  }
  if (!isJsonObject(parsed)) throw new Error('a JSON object of variable names to string values');
  const entries = Object.entries(parsed);
  if (entries.length > AGENT_ENV_MAX_ENTRIES) throw new Error(`at most ${String(AGENT_ENV_MAX_ENTRIES)} variables`);
  return Object.freeze(
    entries.map(([name, value]) => {
      if (!ENV_NAME_PATTERN.test(name)) throw new Error(`variable names of letters, digits and "_" not starting with a digit (got ${JSON.stringify(name.slice(0, 64))})`);
      if (name.toUpperCase().startsWith(RESERVED_ENV_PREFIX)) {
        throw new Error(`no ${RESERVED_ENV_PREFIX}… variable (${name} is set by the webhook from the contract, never by --agent-env)`);
      }
      if (typeof value !== 'string') throw new Error(`a string value for ${name}`);
      if (CONTROL_CHARACTER.test(value)) throw new Error(`a value for ${name} without control characters`);
      return Object.freeze({ name, value });
    }),
  );
}

const CERTIFICATE_NAME_MAX_LENGTH = 253;

/** A `--client-allowed-names` item: a CN or DNS name, without control characters or commas. */
export function parseCertificateName(raw: string): string {
  if (raw === '' || raw.length > CERTIFICATE_NAME_MAX_LENGTH || CONTROL_CHARACTER.test(raw) || raw.includes(',')) {
    throw new Error(`a certificate CN or DNS name of 1 to ${String(CERTIFICATE_NAME_MAX_LENGTH)} characters, without control characters`);
  }
  return raw;
}

export const ORIGIN_EXPECTED = `an origin such as https://api.anthropic.com: ${SECURE_URL_EXPECTED}, with no path, query or fragment`;

/** One `--allowed-base-urls` item: the URL's origin (scheme, host and port). */
export function parseOrigin(raw: string): string {
  const url = parseSecureUrl(raw);
  if (url === undefined || url.pathname !== '/' || url.search !== '' || url.hash !== '') throw new Error(ORIGIN_EXPECTED);
  return url.origin;
}

function envOf(flag: string): { readonly flag: string; readonly env: string } {
  return { flag, env: webhookFlagEnv(flag) };
}

function quantityOption(flag: string, description: string, defaultValue: string | undefined): OptionSpec<string | undefined> {
  return option.custom({ ...envOf(flag), description, valueName: '<quantity>', parse: quantity, defaultValue });
}

export const webhookOptions = {
  listen: option.custom({
    ...envOf('listen'),
    description: 'Address of the HTTPS listener; port 0 picks a free port (the bound address is logged).',
    valueName: '<[host]:port>',
    parse: parseListenAddress,
    defaultValue: parseListenAddress(Default.webhookListen),
    defaultLabel: Default.webhookListen,
  }),
  tlsCertFile: option.string({ ...envOf('tls-cert-file'), description: 'Serving certificate (PEM, chain allowed); re-read when it changes.', valueName: '<path>' }),
  tlsKeyFile: option.string({ ...envOf('tls-key-file'), description: 'Private key of the serving certificate (PEM); re-read when it changes.', valueName: '<path>' }),
  tlsMinVersion: option.enumeration({
    ...envOf('tls-min-version'),
    description: 'Minimum TLS version accepted.',
    values: ['1.2', '1.3'] as const,
    defaultValue: Default.webhookTlsMinVersion,
  }),
  clientCaFile: option.string({
    ...envOf('client-ca-file'),
    description: 'CA bundle (PEM) of the API server\'s client certificate: POST /mutate then answers only clients it signed (403 otherwise); the probes and /metrics stay open. Re-read when it changes.',
    valueName: '<path>',
  }),
  clientAllowedNames: option.list({
    ...envOf('client-allowed-names'),
    description: 'With --client-ca-file: accept only client certificates whose subject CN or a DNS SAN is one of these; unset accepts any the CA signed.',
    valueName: '<name>',
    item: parseCertificateName,
  }),
  organizationId: option.string({
    ...envOf('organization-id'),
    description: 'Default Anthropic organization id for pods and ServiceAccounts that set none.',
    valueName: '<uuid>',
    pattern: IdPattern.organizationId,
    expected: IdExpected.organizationId,
  }),
  federationRuleId: option.string({
    ...envOf('federation-rule-id'),
    description: 'Default federation rule id (fdrl_…) for pods and ServiceAccounts that set none.',
    valueName: '<fdrl_…>',
    pattern: IdPattern.federationRuleId,
    expected: IdExpected.federationRuleId,
  }),
  audience: option.string({
    ...envOf('audience'),
    description: 'Default audience of the projected token.',
    maxLength: Limit.audienceMaxLength,
    expected: `a non-empty string of at most ${Limit.audienceMaxLength} characters`,
    defaultValue: Default.audience,
  }),
  tokenExpiration: option.integer({
    ...envOf('token-expiration'),
    description: 'Default expirationSeconds of the projected token.',
    valueName: '<seconds>',
    min: Limit.tokenExpirationSeconds.min,
    max: Limit.tokenExpirationSeconds.max,
    defaultValue: Default.tokenExpirationSeconds,
  }),
  mode: option.enumeration({ ...envOf('mode'), description: 'Default injection mode.', values: MODES, defaultValue: Default.mode }),
  baseUrl: option.custom({
    ...envOf('base-url'),
    description: 'Default token endpoint base URL (https, or http to a loopback host).',
    valueName: '<url>',
    parse: parseEndpointUrl,
    defaultValue: Default.baseUrl,
  }),
  agentImage: option.string({ ...envOf('agent-image'), description: 'Image of the injected sidecar.', valueName: '<image>', defaultValue: Default.agentImage }),
  agentImagePullPolicy: option.enumeration({
    ...envOf('agent-image-pull-policy'),
    description: "imagePullPolicy of the injected sidecar; unset leaves Kubernetes' default.",
    values: ['Always', 'IfNotPresent', 'Never'] as const,
  }),
  agentCpuRequest: quantityOption('agent-cpu-request', 'CPU request of the sidecar.', Default.agentResources.requests.cpu),
  agentMemoryRequest: quantityOption('agent-memory-request', 'Memory request of the sidecar.', Default.agentResources.requests.memory),
  agentCpuLimit: quantityOption('agent-cpu-limit', 'CPU limit of the sidecar (none by default).', undefined),
  agentMemoryLimit: quantityOption('agent-memory-limit', 'Memory limit of the sidecar.', Default.agentResources.limits.memory),
  nativeSidecar: option.enumeration({
    ...envOf('native-sidecar'),
    description: 'Native sidecar layout: auto reads the API server version (native from 1.29; native when it cannot be read).',
    values: ['auto', 'true', 'false'] as const,
    defaultValue: Default.nativeSidecar,
  }),
  shadowing: option.enumeration({
    ...envOf('shadowing'),
    description: 'An app container setting ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN: warn, or deny the pod.',
    values: ['warn', 'deny'] as const,
    defaultValue: Default.shadowing,
  }),
  serviceAccountLookup: option.boolean({
    ...envOf('service-account-lookup'),
    description: 'Consult ServiceAccount annotations; false runs with no cluster access at all.',
    defaultValue: Default.serviceAccountLookup,
  }),
  serviceAccountLookupTimeout: option.integer({
    ...envOf('service-account-lookup-timeout'),
    description: 'Time limit of a live ServiceAccount read on a cache miss.',
    valueName: '<ms>',
    min: 50,
    max: 30_000,
    defaultValue: Default.serviceAccountLookupTimeoutMs,
  }),
  kubeconfig: option.string({
    ...envOf('kubeconfig'),
    description: 'Kubeconfig file; else KUBECONFIG, ~/.kube/config or the in-cluster ServiceAccount.',
    valueName: '<path>',
  }),
  versionRecheckInterval: option.integer({
    ...envOf('version-recheck-interval'),
    description: 'How often --native-sidecar auto re-reads the API server version.',
    valueName: '<seconds>',
    min: 10,
    max: 86_400,
    defaultValue: Default.clusterVersionRecheckSeconds,
  }),
  maxBodyBytes: option.integer({
    ...envOf('max-body-bytes'),
    description: 'Largest AdmissionReview body accepted; a bigger one gets HTTP 413.',
    valueName: '<bytes>',
    min: 1024,
    max: 64 * 1024 * 1024,
    defaultValue: Default.webhookBodyLimitBytes,
  }),
  proxyPort: option.integer({
    ...envOf('proxy-port'),
    description: 'Loopback port of the sidecar proxy in proxy mode.',
    valueName: '<port>',
    min: 1,
    max: 65_535,
    defaultValue: Default.proxyPort,
  }),
  caBundleConfigMap: option.string({
    ...envOf('ca-bundle-config-map'),
    description: `ConfigMap (in each pod's namespace) whose PEM bundle every injected sidecar trusts besides the system roots, e.g. a corporate TLS-intercepting proxy's CA.`,
    valueName: '<name>',
    pattern: CONFIG_MAP_NAME,
    maxLength: 253,
    expected: 'a ConfigMap name (lowercase letters, digits, "-" and ".", at most 253 characters)',
  }),
  caBundleKey: option.string({
    ...envOf('ca-bundle-key'),
    description: 'Key of the CA bundle ConfigMap that holds the PEM bundle.',
    valueName: '<key>',
    pattern: CONFIG_MAP_KEY,
    maxLength: 253,
    expected: 'a ConfigMap key (letters, digits, "-", "_" and ".", at most 253 characters)',
    defaultValue: Default.caBundleKey,
  }),
  agentEnv: option.custom({
    ...envOf('agent-env'),
    description: 'Extra variables for every injected sidecar, as a JSON object (e.g. HTTPS_PROXY, NO_PROXY); ANTHROPIC_… names are refused.',
    valueName: '<json>',
    parse: parseAgentEnv,
    // Values may hold proxy credentials: an error names the variable, never echoes the value.
    secret: true,
    defaultValue: Object.freeze([]),
    defaultLabel: '{}',
  }),
  allowedBaseUrls: option.list({
    ...envOf('allowed-base-urls'),
    description: `Origins a \`base-url\` annotation may name (the sidecar sends the pod's JWT there); unset honours any. The webhook's own --base-url is always allowed.`,
    valueName: '<origin>',
    item: parseOrigin,
  }),
  logLevel: option.enumeration({ ...envOf('log-level'), description: 'Log level.', values: LOG_LEVELS, defaultValue: 'info' }),
};

type ParsedOptions = ConfigOf<typeof webhookOptions>;

export interface WebhookConfig extends Omit<ParsedOptions, 'tlsCertFile' | 'tlsKeyFile'> {
  readonly tlsCertFile: string;
  readonly tlsKeyFile: string;
}

export type WebhookCommandLine = { readonly kind: 'help'; readonly text: string } | { readonly kind: 'run'; readonly config: WebhookConfig };

const HELP_NOTES = [
  'Every flag may also be set by its variable; an empty variable counts as unset; a flag beats its variable.',
  'Answers: 400 or 413 (JSON) for a request that is not a valid AdmissionReview; 503 (JSON) when a pod',
  'that did not opt in itself has a ServiceAccount that could not be read, and 500 (JSON) on an internal',
  "error: in both cases the MutatingWebhookConfiguration's failurePolicy decides what happens to the pod.",
];

export function webhookHelp(): string {
  return formatHelp(WEBHOOK_COMMAND, WEBHOOK_SUMMARY, webhookOptions, HELP_NOTES);
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined) throw new ConfigError(`flag --${flag} is required (or set ${webhookFlagEnv(flag)})`);
  return value;
}

/** Parses argv and the environment; throws ConfigError naming the flag or variable at fault. */
export function parseWebhookCommandLine(argv: readonly string[], env: Env): WebhookCommandLine {
  const parsed = parseArgv(webhookOptions, argv, WEBHOOK_COMMAND);
  if (parsed.help) return { kind: 'help', text: webhookHelp() };
  const options = resolveConfig(webhookOptions, parsed, env);
  if (options.clientAllowedNames.length > 0 && options.clientCaFile === undefined) {
    throw new ConfigError(`flag --client-allowed-names needs --client-ca-file (or ${webhookFlagEnv('client-ca-file')}): without it no client certificate is asked for`);
  }
  const config: WebhookConfig = Object.freeze({
    ...options,
    tlsCertFile: required(options.tlsCertFile, 'tls-cert-file'),
    tlsKeyFile: required(options.tlsKeyFile, 'tls-key-file'),
  });
  return { kind: 'run', config };
}

function agentResources(config: WebhookConfig): ContainerResources {
  const requests: Record<string, string> = {};
  const limits: Record<string, string> = {};
  if (config.agentCpuRequest !== undefined) requests.cpu = config.agentCpuRequest;
  if (config.agentMemoryRequest !== undefined) requests.memory = config.agentMemoryRequest;
  if (config.agentCpuLimit !== undefined) limits.cpu = config.agentCpuLimit;
  if (config.agentMemoryLimit !== undefined) limits.memory = config.agentMemoryLimit;
  return {
    ...(Object.keys(requests).length > 0 ? { requests: Object.freeze(requests) } : {}),
    ...(Object.keys(limits).length > 0 ? { limits: Object.freeze(limits) } : {}),
  };
}

/** The core's defaults; `nativeSidecar` is resolved by the shell (see cluster-version.ts). */
export function injectionDefaultsFrom(config: WebhookConfig, nativeSidecar: InjectionDefaults['nativeSidecar']): InjectionDefaults {
  return Object.freeze({
    organizationId: config.organizationId,
    federationRuleId: config.federationRuleId,
    audience: config.audience,
    tokenExpirationSeconds: config.tokenExpiration,
    mode: config.mode,
    baseUrl: config.baseUrl,
    agentImage: config.agentImage,
    agentImagePullPolicy: config.agentImagePullPolicy,
    agentResources: Object.freeze(agentResources(config)),
    nativeSidecar: Object.freeze({ ...nativeSidecar }),
    shadowing: config.shadowing,
    proxyPort: config.proxyPort,
    caBundle: config.caBundleConfigMap === undefined ? undefined : Object.freeze({ configMap: config.caBundleConfigMap, key: config.caBundleKey }),
    agentEnv: config.agentEnv,
    allowedBaseUrlOrigins: allowedOrigins(config),
  });
}

/** The webhook's own base URL is the operator's choice, so it is always allowed. */
function allowedOrigins(config: WebhookConfig): readonly string[] | undefined {
  if (config.allowedBaseUrls.length === 0) return undefined;
  const own = new URL(config.baseUrl).origin;
  return Object.freeze([...new Set([...config.allowedBaseUrls, own])]);
}
