/**
 * The URL identity source (GET with headers, the JWT in the body or a JSON field), and
 * GitHub Actions' OIDC endpoint as one.
 *
 * No message here holds a header value, an expanded `${VAR}`, a URL's query or a body.
 */
import type { Agent } from 'undici';
import { ConfigError } from '../../runtime/errors.ts';
import { isRecord, nameRecord } from '../../runtime/json.ts';
import { AgentEnv, GithubActionsEnv, SECURE_URL_EXPECTED, parseSecureUrl } from '../../contract/index.ts';
import { describeTransportError, describeUrl, isTimeoutError, isUntrustedCertificateError, readBoundedBody, startDeadline } from '../../runtime/http-response.ts';
import { DIRECT_EGRESS, UNTRUSTED_CERTIFICATE_HINT, undiciConnectOption } from '../egress.ts';
import { SOURCE_MAX_BYTES, sourceError, type IdentitySourceConfig, type IdentitySourceDeps, type IdentityTokenSource } from './identity-source.ts';
import { IdentityTokenError, parseIdentityToken } from './identity-token.ts';

interface UrlConfig {
  readonly url: string;
  readonly headers: readonly string[];
  readonly field: string | undefined;
  readonly timeoutMs: number;
}

/**
 * GET the URL with the headers (values expanded once, here), no redirects, at most 64 KiB,
 * within the timeout. The JWT is the whole body or one (dotted) JSON field of it.
 */
export function urlSource(config: UrlConfig, deps: IdentitySourceDeps): IdentityTokenSource {
  const url = parseSourceUrl(config.url);
  const headers = expandHeaders(config.headers, deps.env);
  const shown = describeUrl(url);
  const origin = `from ${shown}`;
  // undici is loaded on the first read only: the sidecar's file source never needs it.
  let dispatcher: Promise<Agent> | undefined;
  const agent = (): Promise<Agent> =>
    (dispatcher ??= import('undici').then((undici) => {
      const connect = undiciConnectOption(deps.egress ?? DIRECT_EGRESS, { timeoutMs: config.timeoutMs, clock: deps.clock, build: undici.buildConnector });
      return new undici.Agent({ connectTimeout: config.timeoutMs, headersTimeout: config.timeoutMs, bodyTimeout: config.timeoutMs, connect });
    }));
  return {
    kind: 'url',
    description: `url ${shown}${config.field === undefined ? '' : ` (field ${config.field})`}`,
    rotatesOnItsOwn: false,
    read: async (signal) => {
      const deadline = startDeadline(deps.clock, config.timeoutMs, signal);
      try {
        const body = await fetchTokenBody({ url, headers, dispatcher: await agent(), signal: deadline.signal, shown });
        return parseIdentityToken(extractField(body, config.field, shown), origin);
      } catch (error) {
        if (signal?.aborted === true) throw signal.reason;
        if (error instanceof IdentityTokenError) throw error;
        if (deadline.timedOut() || isTimeoutError(error)) {
          throw sourceError(`identity token URL ${shown} did not answer within ${config.timeoutMs / 1000} s`, { retryable: true });
        }
        if (isUntrustedCertificateError(error)) {
          throw sourceError(`identity token URL ${shown} presented a certificate that is not trusted: ${describeTransportError(error)}`, { hint: UNTRUSTED_CERTIFICATE_HINT });
        }
        throw sourceError(`identity token URL ${shown} could not be reached: ${describeTransportError(error)}`, { retryable: true });
      } finally {
        deadline.clear();
      }
    },
  };
}

function parseSourceUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${AgentEnv.identityTokenUrl} is not a URL`);
  }
  if (parseSecureUrl(raw) === undefined) throw new ConfigError(`${AgentEnv.identityTokenUrl} must be ${SECURE_URL_EXPECTED}, got "${describeUrl(url)}"`);
  return url;
}

/** `Name: value` lines with `${VAR}` expanded; a missing variable is a ConfigError naming it. */
export function expandHeaders(lines: readonly string[], env: IdentitySourceDeps['env']): Record<string, string> {
  const headers = nameRecord<string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trim() : '';
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
      throw new ConfigError(`${AgentEnv.identityTokenUrlHeaders}: each header must be "Name: value" (got one with ${name === '' ? 'no name' : `name "${name}"`})`);
    }
    const value = line.slice(colon + 1).trim().replaceAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_match, variable: string) => {
      const expanded = env[variable];
      if (expanded === undefined || expanded === '') {
        throw new ConfigError(`${AgentEnv.identityTokenUrlHeaders}: header ${name} uses \${${variable}}, which is not set`);
      }
      return expanded;
    });
    if (/[\r\n\0]/.test(value)) throw new ConfigError(`${AgentEnv.identityTokenUrlHeaders}: header ${name} has a line break in its value`);
    headers[name.toLowerCase()] = value;
  }
  return headers;
}

async function fetchTokenBody(input: { url: URL; headers: Record<string, string>; dispatcher: Agent; signal: AbortSignal; shown: string }): Promise<string> {
  const { request } = await import('undici');
  const response = await request(input.url, { method: 'GET', headers: { accept: 'application/json', ...input.headers }, dispatcher: input.dispatcher, signal: input.signal });
  const status = response.statusCode;
  if (status < 200 || status >= 300) {
    await response.body.dump();
    const redirect = status >= 300 && status < 400 ? ' (a redirect, which is not followed)' : '';
    throw sourceError(`identity token URL ${input.shown} answered HTTP ${status}${redirect}`, { retryable: status === 429 || status >= 500 });
  }
  const { bytes, truncated } = await readBoundedBody(response.body, SOURCE_MAX_BYTES);
  if (truncated) throw sourceError(`identity token URL ${input.shown} answered with more than ${SOURCE_MAX_BYTES / 1024} KiB`);
  return bytes.toString('utf8');
}

function extractField(body: string, field: string | undefined, shown: string): string {
  if (field === undefined) return body;
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw sourceError(`identity token URL ${shown} did not answer JSON (field ${field} was expected)`);
  }
  for (const key of field.split('.')) {
    value = isRecord(value) ? value[key] : undefined;
  }
  if (typeof value !== 'string') throw sourceError(`identity token URL ${shown} answered JSON without a string field ${field}`);
  return value;
}

// ---------------------------------------------------------------------------------------
// GitHub Actions

/**
 * GitHub Actions' OIDC endpoint: `ACTIONS_ID_TOKEN_REQUEST_URL` + `&audience=…`, with
 * `Authorization: Bearer ${ACTIONS_ID_TOKEN_REQUEST_TOKEN}`, JWT in the field `value`.
 */
export function githubActionsSourceConfig(env: IdentitySourceDeps['env'], audience: string, timeoutMs = 10_000): IdentitySourceConfig & { kind: 'url' } {
  for (const variable of [GithubActionsEnv.requestUrl, GithubActionsEnv.requestToken]) {
    if (env[variable] === undefined || env[variable] === '') {
      throw new ConfigError(`${variable} is not set: give the GitHub Actions job "permissions: id-token: write"`);
    }
  }
  const base = env[GithubActionsEnv.requestUrl] ?? '';
  return {
    kind: 'url',
    url: `${base}${base.includes('?') ? '&' : '?'}audience=${encodeURIComponent(audience)}`,
    headers: [`Authorization: Bearer \${${GithubActionsEnv.requestToken}}`],
    field: GithubActionsEnv.field,
    timeoutMs,
  };
}
