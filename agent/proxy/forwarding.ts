/**
 * The proxy's pure parts: which headers go upstream and back (the client's credentials
 * never do; the real Bearer token and the OAuth beta are added), and the Anthropic-shaped
 * error answers it gives when it cannot forward.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { ConfigError } from '../../runtime/errors.ts';
import { nameRecord } from '../../runtime/json.ts';
import { AgentEnv, LOOPBACK_LISTEN_EXPECTED, TokenExchange, isLoopbackHost } from '../../contract/index.ts';
import { errorCode, isTimeoutError, isUntrustedCertificateError } from '../../runtime/http-response.ts';
import { EgressProxyError } from '../egress.ts';
import type { StoredToken } from '../refresh/files.ts';

const PROXY_FLAG = '--proxy-addr';

/** Exit 2 (ConfigError) for a listen host that is not loopback. */
export function assertLoopbackListenHost(host: string): void {
  if (!isLoopbackHost(host)) {
    throw new ConfigError(`invalid ${PROXY_FLAG} (${AgentEnv.proxyAddr}) host "${host}": expected ${LOOPBACK_LISTEN_EXPECTED}`);
  }
}

/** The token to use at `nowMs`, or undefined when there is none or it has expired. */
export function usableToken(token: StoredToken | undefined, nowMs: number): StoredToken | undefined {
  return token !== undefined && token.expiresAtMs > nowMs && token.accessToken !== '' ? token : undefined;
}

/** Hop-by-hop headers (RFC 9110 §7.6.1) plus the legacy ones proxies drop too. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/** Client headers that never go upstream: its credentials, its Host, and Expect (undici refuses it). */
const DROPPED_REQUEST_HEADERS = new Set(['authorization', 'x-api-key', 'host', 'expect', 'content-length', 'anthropic-beta']);

function connectionTokens(value: string | string[] | undefined): ReadonlySet<string> {
  if (value === undefined) return new Set();
  const joined = Array.isArray(value) ? value.join(',') : value;
  return new Set(joined.split(',').map((token) => token.trim().toLowerCase()).filter((token) => token !== ''));
}

/** `anthropic-beta` with `beta` added once, the client's other betas kept in order, no duplicates. */
export function mergeAnthropicBeta(existing: string | readonly string[] | undefined, beta: string): string {
  const values = existing === undefined ? [] : typeof existing === 'string' ? [existing] : existing;
  const betas: string[] = [];
  for (const value of values) {
    for (const item of value.split(',')) {
      const trimmed = item.trim();
      if (trimmed !== '' && !betas.includes(trimmed)) betas.push(trimmed);
    }
  }
  if (!betas.includes(beta)) betas.push(beta);
  return betas.join(',');
}

/** True when the client request carries a body (a length above zero, or chunked). */
export function requestHasBody(headers: IncomingHttpHeaders): boolean {
  if (headers['transfer-encoding'] !== undefined) return true;
  const length = headers['content-length'];
  return length !== undefined && length !== '0';
}

/**
 * The headers sent upstream: the client's, minus its credentials and hop-by-hop headers,
 * plus the Bearer token and the OAuth beta. Content-Length is kept only with a body.
 */
export function buildUpstreamHeaders(client: IncomingHttpHeaders, accessToken: string): Record<string, string | string[]> {
  const named = connectionTokens(client.connection);
  const out = nameRecord<string | string[]>();
  for (const [name, value] of Object.entries(client)) {
    if (value === undefined || HOP_BY_HOP.has(name) || DROPPED_REQUEST_HEADERS.has(name) || named.has(name)) continue;
    out[name] = value;
  }
  const length = client['content-length'];
  if (length !== undefined && length !== '0') out['content-length'] = length;
  out['anthropic-beta'] = mergeAnthropicBeta(client['anthropic-beta'], TokenExchange.oauthBeta);
  out.authorization = `${TokenExchange.tokenType} ${accessToken}`;
  return out;
}

/** The upstream's response headers minus hop-by-hop ones (Node sets its own framing). */
export function buildClientResponseHeaders(upstream: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = connectionTokens(upstream.connection);
  const out: OutgoingHttpHeaders = nameRecord();
  for (const [name, value] of Object.entries(upstream)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name)) continue;
    out[name] = value;
  }
  return out;
}

export interface ProxyErrorAnswer {
  readonly status: number;
  /** The Anthropic API error type (`{"type":"error","error":{"type",…}}`). */
  readonly type: string;
  readonly message: string;
}

/** 504 for an upstream that did not answer in time, 502 for any other upstream failure. */
export function classifyUpstreamError(error: unknown): ProxyErrorAnswer {
  const code = errorCode(error);
  if (isTimeoutError(error)) {
    return { status: 504, type: 'timeout_error', message: `anthropic-wif proxy: the upstream API did not answer in time (${code ?? 'timeout'})` };
  }
  if (isUntrustedCertificateError(error)) {
    return { status: 502, type: 'api_error', message: `anthropic-wif proxy: the upstream API's certificate is not trusted (${code ?? 'TLS'}); see the anthropic-wif-agent container logs` };
  }
  if (error instanceof EgressProxyError) return { status: 502, type: 'api_error', message: `anthropic-wif proxy: could not reach the upstream API: ${error.message}` };
  const what = code ?? 'connection failed';
  return { status: 502, type: 'api_error', message: `anthropic-wif proxy: could not reach the upstream API (${what})` };
}

export const NO_TOKEN_ANSWER: ProxyErrorAnswer = {
  status: 503,
  type: 'api_error',
  message:
    'anthropic-wif proxy: no valid access token (none minted yet, or the last one expired and no new one could be minted); see the anthropic-wif-agent container logs',
};

export const BAD_TARGET_ANSWER: ProxyErrorAnswer = {
  status: 400,
  type: 'invalid_request_error',
  message: 'anthropic-wif proxy: expected an origin-form request target such as /v1/messages (this is not a forward proxy)',
};

/** The Anthropic API error shape, so SDKs surface the message as they would the API's own. */
export function errorBody(answer: ProxyErrorAnswer): string {
  return JSON.stringify({ type: 'error', error: { type: answer.type, message: answer.message } });
}
