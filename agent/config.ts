/**
 * Flags and variables of `anthropic-wif agent` and `anthropic-wif token`, parsed once into
 * frozen, validated objects. A bad value throws ConfigError (exit 2) naming the flag or
 * variable. The literal `ANTHROPIC_IDENTITY_TOKEN` is read from the environment only: as a
 * flag it would show in `ps`.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../runtime/errors.ts';
import { LOG_LEVELS } from '../runtime/logger.ts';
import { formatHelp, option, parseArgv, resolveConfig, type ConfigOf, type Env, type OptionSpecs, type ParsedArgs } from '../runtime/config.ts';
import { parseListenAddress, type HostListenAddress, type ListenAddress } from '../runtime/listen-address.ts';
import { AgentEnv, AgentFlag, Default, ProxyEnv, GithubActionsEnv, IdExpected, IdPattern, LOOPBACK_LISTEN_EXPECTED, Limit, Path, SdkEnv, isLoopbackHost, parseEndpointUrl } from '../contract/index.ts';
import { githubActionsSourceConfig, type IdentitySourceConfig } from './refresh/identity-sources.ts';
import type { ExchangeParameters } from './refresh/exchange.ts';
import { parseForwardProxy, parseNoProxy, parsePemCertificates, type EgressSettings, type ForwardProxy } from './egress.ts';

/** Like parseListenAddress, but only a loopback host: the proxy hands a real token to whoever connects. */
export function parseLoopbackListenAddress(raw: string): HostListenAddress {
  let address: ListenAddress;
  try {
    address = parseListenAddress(raw);
  } catch {
    throw new Error(LOOPBACK_LISTEN_EXPECTED);
  }
  const { host, port } = address;
  if (host === undefined || !isLoopbackHost(host)) throw new Error(LOOPBACK_LISTEN_EXPECTED);
  return { host, port };
}

const CA_BUNDLE_EXPECTED = 'a readable file of PEM CA certificates';

const CA_BUNDLE_READ_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'the file does not exist',
  EACCES: 'the file cannot be read: permission denied',
  EISDIR: 'it is a directory',
};

/** The bundle's certificates; a message never quotes the file's text, only says what is wrong. */
function readCaBundle(path: string): readonly string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new Error(`${CA_BUNDLE_EXPECTED} (${CA_BUNDLE_READ_ERRORS[code] ?? `the file cannot be read: ${code}`})`);
  }
  try {
    return parsePemCertificates(text);
  } catch (error) {
    throw new Error(`${CA_BUNDLE_EXPECTED} (${(error as Error).message})`);
  }
}

function parseHeaderLine(raw: string): string {
  if (!/^[!#$%&'*+.^`|~0-9A-Za-z-]+:/.test(raw)) throw new Error('"Name: value"');
  return raw;
}

// ---------------------------------------------------------------------------------------
// Option specs

const exchangeSpecs = {
  federationRuleId: option.string({
    flag: 'federation-rule-id',
    env: SdkEnv.federationRuleId,
    description: 'Federation rule that maps the identity token to a service account.',
    valueName: '<fdrl_…>',
    pattern: IdPattern.federationRuleId,
    expected: IdExpected.federationRuleId,
  }),
  organizationId: option.string({
    flag: 'organization-id',
    env: SdkEnv.organizationId,
    description: 'Anthropic organization id.',
    valueName: '<uuid>',
    pattern: IdPattern.organizationId,
    expected: IdExpected.organizationId,
  }),
  serviceAccountId: option.string({
    flag: 'service-account-id',
    env: SdkEnv.serviceAccountId,
    description: 'Service account to act as (sent only when set).',
    valueName: '<svac_…>',
    pattern: IdPattern.serviceAccountId,
    expected: IdExpected.serviceAccountId,
  }),
  workspaceId: option.string({
    flag: 'workspace-id',
    env: SdkEnv.workspaceId,
    description: 'Workspace the token acts in; needed when the rule covers more than one (sent only when set).',
    valueName: '<wrkspc_…|default>',
    pattern: IdPattern.workspaceId,
    expected: IdExpected.workspaceId,
  }),
  baseUrl: option.custom({
    flag: 'base-url',
    env: SdkEnv.baseUrl,
    description: 'Token endpoint base URL.',
    valueName: '<url>',
    parse: parseEndpointUrl,
    defaultValue: Default.baseUrl,
  }),
} as const satisfies OptionSpecs;

const sourceSpecs = {
  identityTokenFile: option.string({
    flag: 'identity-token-file',
    env: SdkEnv.identityTokenFile,
    description: `Identity token (JWT) file, re-read for every exchange (default ${Path.identityTokenFile} when no other source is set).`,
    valueName: '<path>',
  }),
  identityTokenCommand: option.string({
    flag: 'identity-token-command',
    env: AgentEnv.identityTokenCommand,
    description: 'Shell command that prints an identity token; run for every exchange.',
    valueName: '<command>',
  }),
  identityTokenCommandTimeout: option.integer({
    flag: 'identity-token-command-timeout',
    env: AgentEnv.identityTokenCommandTimeout,
    description: 'Seconds the identity token command may run.',
    valueName: '<seconds>',
    min: 1,
    max: Limit.identityTokenCommandMaxTimeoutSeconds,
    defaultValue: 30,
  }),
  identityTokenUrl: option.custom({
    flag: 'identity-token-url',
    env: AgentEnv.identityTokenUrl,
    description: 'URL answering with an identity token; fetched for every exchange.',
    valueName: '<url>',
    parse: parseEndpointUrl,
  }),
  identityTokenUrlHeader: option.list({
    flag: 'identity-token-url-header',
    env: AgentEnv.identityTokenUrlHeaders,
    description: 'Header sent to --identity-token-url, "Name: value"; ${VAR} is expanded from the environment.',
    valueName: '<header>',
    secret: true,
    item: parseHeaderLine,
  }),
  identityTokenUrlField: option.string({
    flag: 'identity-token-url-field',
    env: AgentEnv.identityTokenUrlField,
    description: 'JSON field of the URL answer that holds the token (default: the whole body).',
    valueName: '<field>',
  }),
  githubActions: option.switch({
    flag: 'github-actions',
    description: `Get the identity token from GitHub Actions' OIDC endpoint (${GithubActionsEnv.requestUrl} with --audience, bearer ${GithubActionsEnv.requestToken}).`,
  }),
  audience: option.string({
    flag: 'audience',
    env: AgentEnv.audience,
    description: 'Audience the identity token must carry (and the one requested from GitHub Actions).',
    valueName: '<audience>',
    maxLength: Limit.audienceMaxLength,
    defaultValue: Default.audience,
  }),
} as const satisfies OptionSpecs;

/** How outbound connections are made: shared by `agent` and `token`. */
const egressSpecs = {
  caBundleFile: option.custom({
    flag: AgentFlag.caBundleFile,
    env: AgentEnv.caBundleFile,
    description: 'PEM bundle of CA certificates trusted in addition to the system roots (a TLS-intercepting proxy, a private endpoint).',
    valueName: '<path>',
    parse: readCaBundle,
  }),
} as const satisfies OptionSpecs;

const logLevelSpec = (defaultValue: (typeof LOG_LEVELS)[number]) =>
  option.enumeration({ flag: 'log-level', env: AgentEnv.logLevel, description: 'Log level of the JSON log lines.', values: LOG_LEVELS, defaultValue });

export const AGENT_SPECS = {
  ...exchangeSpecs,
  ...sourceSpecs,
  ...egressSpecs,
  outputDir: option.string({
    flag: 'output-dir',
    env: AgentEnv.outputDir,
    description: 'Directory of the token, credentials, profile and state files.',
    valueName: '<dir>',
    defaultValue: Path.outputDir,
  }),
  healthAddr: option.custom({
    flag: 'health-addr',
    env: AgentEnv.healthAddr,
    description: 'Listen address of /healthz, /readyz and /metrics.',
    valueName: '<host:port>',
    parse: parseListenAddress,
    defaultValue: parseListenAddress(Default.agentHealthAddr),
    defaultLabel: Default.agentHealthAddr,
  }),
  proxyAddr: option.custom({
    flag: 'proxy-addr',
    env: AgentEnv.proxyAddr,
    description: 'Also run the credential-isolating proxy on this loopback address (proxy mode).',
    valueName: '<host:port>',
    parse: parseLoopbackListenAddress,
  }),
  upstreamUrl: option.custom({
    flag: 'upstream-url',
    env: AgentEnv.upstreamUrl,
    description: 'Where the proxy forwards API requests.',
    valueName: '<url>',
    parse: parseEndpointUrl,
    defaultLabel: 'the base URL',
  }),
  once: option.switch({ flag: 'once', description: 'Exchange once, write the files and exit (the legacy init container).' }),
  logLevel: logLevelSpec('info'),
} as const satisfies OptionSpecs;

export const TOKEN_SPECS = {
  ...exchangeSpecs,
  ...sourceSpecs,
  ...egressSpecs,
  outputDir: option.string({
    flag: 'output-dir',
    description: 'Write the token, credentials and profile files here instead of printing the token.',
    valueName: '<dir>',
  }),
  logLevel: logLevelSpec('warn'),
} as const satisfies OptionSpecs;

// ---------------------------------------------------------------------------------------
// Parsed configuration

export interface SourceSettings {
  readonly source: IdentitySourceConfig;
  /** The audience the token must carry. */
  readonly audience: string;
}

/** What every command that exchanges needs: the source, the exchange and how to connect. */
export interface ExchangeSettings extends SourceSettings {
  readonly exchange: ExchangeParameters;
  readonly egress: EgressSettings;
}

export interface AgentConfig extends ExchangeSettings {
  readonly outputDir: string;
  readonly healthAddr: ListenAddress;
  readonly proxyAddr: HostListenAddress | undefined;
  readonly upstreamUrl: string;
  readonly once: boolean;
  readonly logLevel: (typeof LOG_LEVELS)[number];
}

export interface TokenConfig extends ExchangeSettings {
  /** Undefined prints the token on stdout. */
  readonly outputDir: string | undefined;
  readonly logLevel: (typeof LOG_LEVELS)[number];
}

export type Parsed<T> = { readonly help: true; readonly text: string } | { readonly help: false; readonly config: T };

export const AGENT_SUMMARY = 'Exchange the identity token and keep the token files fresh (the sidecar).';
export const TOKEN_SUMMARY = 'Exchange once and print a fresh access token, or write the files with --output-dir (for CI).';

const SOURCE_NOTES = [
  'Identity token sources (set one): --identity-token-file (the default, the projected token),',
  `the ${SdkEnv.identityToken} variable (a literal; never a flag, so it stays out of ps),`,
  '--identity-token-command, --identity-token-url, or --github-actions.',
  '',
  `Egress: ${ProxyEnv.httpsProxy.join('/')} names an http:// forward proxy for https targets (CONNECT),`,
  `${ProxyEnv.httpProxy.join('/')} one for http targets; ${ProxyEnv.noProxy.join('/')} lists targets reached directly`,
  '(host, .domain, host:port, IP, CIDR or *). Loopback targets are always direct.',
];

export function parseAgentConfig(argv: readonly string[], env: Env): Parsed<AgentConfig> {
  const parsed = parseArgv(AGENT_SPECS, argv, 'agent');
  if (parsed.help) return { help: true, text: formatHelp('agent', AGENT_SUMMARY, AGENT_SPECS, SOURCE_NOTES) };
  const raw = resolveConfig(AGENT_SPECS, parsed, env);
  const exchange = exchangeParameters(raw);
  return {
    help: false,
    config: Object.freeze({
      exchange,
      ...sourceSettings(raw, parsed, env),
      egress: egressSettings(raw, env),
      outputDir: raw.outputDir,
      healthAddr: raw.healthAddr,
      proxyAddr: raw.proxyAddr,
      upstreamUrl: raw.upstreamUrl ?? exchange.baseUrl,
      once: raw.once,
      logLevel: raw.logLevel,
    }),
  };
}

export function parseTokenConfig(argv: readonly string[], env: Env): Parsed<TokenConfig> {
  const parsed = parseArgv(TOKEN_SPECS, argv, 'token');
  if (parsed.help) {
    const notes = [
      ...SOURCE_NOTES,
      '',
      'The token is printed on stdout with no trailing newline (like the token file), so',
      '`$(anthropic-wif token …)` and `anthropic-wif token … > file` give exactly the token.',
      'Logs go to stderr. In GitHub Actions mask it before use: echo "::add-mask::$TOKEN".',
    ];
    return { help: true, text: formatHelp('token', TOKEN_SUMMARY, TOKEN_SPECS, notes) };
  }
  const raw = resolveConfig(TOKEN_SPECS, parsed, env);
  return {
    help: false,
    config: Object.freeze({ exchange: exchangeParameters(raw), ...sourceSettings(raw, parsed, env), egress: egressSettings(raw, env), outputDir: raw.outputDir, logLevel: raw.logLevel }),
  };
}

type ExchangeRaw = ConfigOf<typeof exchangeSpecs>;
type SourceRaw = ConfigOf<typeof sourceSpecs>;
type EgressRaw = ConfigOf<typeof egressSpecs>;

/** The first of `names` set to a non-empty value (the lowercase spelling comes first). */
function firstSet(env: Env, names: readonly string[]): { readonly name: string; readonly value: string } | undefined {
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value !== '') return { name, value };
  }
  return undefined;
}

/** A proxy variable; a bad one is exit 2 naming it, never echoing its value (it may hold a password). */
function proxyFromEnv(env: Env, names: readonly string[]): ForwardProxy | undefined {
  const found = firstSet(env, names);
  if (found === undefined) return undefined;
  try {
    return parseForwardProxy(found.value, found.name);
  } catch (error) {
    throw new ConfigError(`invalid ${found.name}: expected ${(error as Error).message}; the value is not shown, as it may hold a password`);
  }
}

function egressSettings(raw: EgressRaw, env: Env): EgressSettings {
  return Object.freeze({
    extraCaCertificates: raw.caBundleFile ?? Object.freeze([]),
    httpsProxy: proxyFromEnv(env, ProxyEnv.httpsProxy),
    httpProxy: proxyFromEnv(env, ProxyEnv.httpProxy),
    noProxy: parseNoProxy(firstSet(env, ProxyEnv.noProxy)?.value ?? ''),
  });
}

function required(value: string | undefined, spec: { readonly flag: string; readonly env?: string | undefined }, expected: string): string {
  if (value === undefined) throw new ConfigError(`missing --${spec.flag} (or ${spec.env ?? ''}): expected ${expected}`);
  return value;
}

function exchangeParameters(raw: ExchangeRaw): ExchangeParameters {
  return Object.freeze({
    baseUrl: raw.baseUrl,
    federationRuleId: required(raw.federationRuleId, exchangeSpecs.federationRuleId, IdExpected.federationRuleId),
    organizationId: required(raw.organizationId, exchangeSpecs.organizationId, IdExpected.organizationId),
    serviceAccountId: raw.serviceAccountId,
    workspaceId: raw.workspaceId,
  });
}

interface SourceCandidate {
  /** How the user gave it: the flag, or the variable. */
  readonly name: string;
  readonly config: () => IdentitySourceConfig;
}

/** The one identity token source; more than one is exit 2 naming them all. */
function sourceSettings(raw: SourceRaw, parsed: ParsedArgs, env: Env): SourceSettings {
  const named = (key: keyof typeof sourceSpecs): string => {
    const spec = sourceSpecs[key];
    return parsed.values.has(key) || spec.env === undefined ? `--${spec.flag}` : spec.env;
  };
  const literal = env[SdkEnv.identityToken];
  const candidates: SourceCandidate[] = [
    ...(raw.identityTokenFile === undefined ? [] : [{ name: named('identityTokenFile'), config: () => ({ kind: 'file' as const, path: raw.identityTokenFile ?? '' }) }]),
    ...(literal === undefined || literal === '' ? [] : [{ name: SdkEnv.identityToken, config: () => ({ kind: 'literal' as const, token: literal }) }]),
    ...(raw.identityTokenCommand === undefined
      ? []
      : [{ name: named('identityTokenCommand'), config: () => ({ kind: 'command' as const, command: raw.identityTokenCommand ?? '', timeoutMs: raw.identityTokenCommandTimeout * 1000 }) }]),
    ...(raw.identityTokenUrl === undefined
      ? []
      : [{ name: named('identityTokenUrl'), config: () => ({ kind: 'url' as const, url: raw.identityTokenUrl ?? '', headers: raw.identityTokenUrlHeader, field: raw.identityTokenUrlField, timeoutMs: URL_SOURCE_TIMEOUT_MS }) }]),
    ...(raw.githubActions ? [{ name: '--github-actions', config: () => githubActionsSourceConfig(env, raw.audience, URL_SOURCE_TIMEOUT_MS) }] : []),
  ];
  if (candidates.length > 1) throw new ConfigError(`conflicting identity token sources: ${candidates.map((c) => c.name).join(', ')}; set only one`);
  checkUrlOnlyOptions(raw, named);
  const chosen = candidates[0];
  return { source: chosen === undefined ? { kind: 'file', path: Path.identityTokenFile } : chosen.config(), audience: raw.audience };
}

const URL_SOURCE_TIMEOUT_MS = 10_000;

function checkUrlOnlyOptions(raw: SourceRaw, named: (key: keyof typeof sourceSpecs) => string): void {
  if (raw.identityTokenUrl !== undefined) return;
  if (raw.identityTokenUrlHeader.length > 0) throw new ConfigError(`${named('identityTokenUrlHeader')} needs --identity-token-url`);
  if (raw.identityTokenUrlField !== undefined) throw new ConfigError(`${named('identityTokenUrlField')} needs --identity-token-url`);
}
