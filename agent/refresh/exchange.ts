/**
 * The RFC 7523 jwt-bearer exchange at POST {base}/v1/oauth/token, exactly as the SDKs do it.
 * OWNER: agent-io. Signatures here are what the refresher codes against.
 *
 * Mirrors @anthropic-ai/sdk `oidcFederationProvider`: the same JSON body fields, the same
 * headers, no redirects, a 1 MiB answer cap, a 16 KiB assertion cap, https except loopback,
 * and only the standard error fields in messages. Adds what a long-running sidecar needs:
 * timeouts, a failure kind the refresher can act on, and Retry-After.
 *
 * The request goes through Node's built-in HTTP client, not undici: once loaded (with the
 * llhttp WebAssembly parser and node:http2 it brings), undici stays in the sidecar for good
 * and costs it about 20 MB of its ~55 MB RSS budget (docs/benchmarks.md, agent footprint),
 * for one request every few minutes. What the exchange needs of a client is small: one
 * overall deadline (abort signal), no redirects (node:http never follows one), a bounded
 * body, and no connection kept between exchanges minutes apart.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Clock } from '../../runtime/clock.ts';
import { ConfigError, WifError } from '../../runtime/errors.ts';
import { ACCESS_TOKEN_PATTERN, Limit, SdkEnv, TokenExchange, SECURE_URL_EXPECTED, USER_AGENT, parseSecureUrl } from '../../contract/index.ts';
import { isRecord, parseJsonObject } from '../../runtime/json.ts';
import {
  describeTransportError,
  describeUrl,
  headerValue,
  isTimeoutError,
  isUntrustedCertificateError,
  parseRetryAfter,
  readBoundedBody,
  startDeadline,
} from '../../runtime/http-response.ts';
import { DIRECT_EGRESS, UNTRUSTED_CERTIFICATE_HINT, proxyFor, tlsTrustOptions, tunnelConnection, type EgressSettings } from '../egress.ts';

export interface ExchangeParameters {
  readonly baseUrl: string;
  readonly federationRuleId: string;
  readonly organizationId: string;
  readonly serviceAccountId?: string | undefined;
  readonly workspaceId?: string | undefined;
}

/** A minted access token. `accessToken` is a secret: never log or echo it. */
export interface MintedToken {
  readonly accessToken: string;
  /** Unix milliseconds (obtainedAtMs + expires_in). */
  readonly expiresAtMs: number;
  /** Unix milliseconds: when the request was sent, so `expiresAtMs` is never later than the real expiry. */
  readonly obtainedAtMs: number;
  readonly scope?: string | undefined;
  readonly requestId?: string | undefined;
}

export type ExchangeFailureKind =
  /** Connection refused/reset, DNS: transient. */
  | 'network'
  /** Connect, headers or body timeout: transient. */
  | 'timeout'
  /** 429: transient, honours Retry-After. */
  | 'rate-limited'
  /** 5xx: transient. */
  | 'server'
  /** 401: never resend this assertion. */
  | 'rejected'
  /** 400 and other 4xx: not transient. */
  | 'invalid-request'
  /** 2xx with a body that is not a valid token answer, a redirect, or an oversized body. */
  | 'malformed'
  /** The endpoint's TLS certificate does not verify: a configuration problem (CA bundle, base URL), not transient. */
  | 'untrusted';

const TRANSIENT_KINDS: ReadonlySet<ExchangeFailureKind> = new Set(['network', 'timeout', 'rate-limited', 'server']);

export class ExchangeError extends WifError {
  readonly kind: ExchangeFailureKind;
  constructor(kind: ExchangeFailureKind, message: string, context: ConstructorParameters<typeof WifError>[2] = {}) {
    super(`exchange-${kind}`, message, { ...context, retryable: context.retryable ?? TRANSIENT_KINDS.has(kind) });
    this.kind = kind;
  }
}

export interface TokenExchanger {
  /**
   * One attempt, bounded by the exchange timeout (≤ 30 s). Throws ExchangeError; when
   * `signal` aborts first, rejects with the signal's reason instead.
   */
  exchange(assertion: string, signal?: AbortSignal): Promise<MintedToken>;
  /** Closes idle connections (optional for fakes). */
  close?(): Promise<void>;
}

export interface ExchangeDeps {
  readonly clock: Clock;
  /** Overall attempt timeout; defaults to the contract's 30 s and never exceeds it. */
  readonly timeoutMs?: number | undefined;
  /** Extra trust (and proxy) for the connection; direct with the system roots when omitted. */
  readonly egress?: EgressSettings | undefined;
}

/** Longest remote error text kept in a message. */
const MAX_REMOTE_TEXT = 300;

/** The token endpoint URL for a base URL; throws ConfigError for plain http to a non-loopback host. */
export function tokenEndpointUrl(baseUrl: string): URL {
  let base: URL;
  try {
    base = new URL(baseUrl);
  } catch {
    throw new ConfigError(`${SdkEnv.baseUrl} / --base-url is not a URL: "${baseUrl}"`);
  }
  if (parseSecureUrl(baseUrl) === undefined) {
    throw new ConfigError(`${SdkEnv.baseUrl} / --base-url must be ${SECURE_URL_EXPECTED}, got "${describeUrl(base)}"`);
  }
  // As the SDK does: `${baseURL without trailing slashes}/v1/oauth/token`.
  return new URL(`${base.origin}${base.pathname.replace(/\/+$/, '')}${TokenExchange.path}`);
}

/** The JSON body, with exactly the SDK's fields in the SDK's order. */
export function exchangeRequestBody(params: ExchangeParameters, assertion: string): Record<string, string> {
  const body: Record<string, string> = {
    grant_type: TokenExchange.grantType,
    assertion,
    federation_rule_id: params.federationRuleId,
    organization_id: params.organizationId,
  };
  if (params.serviceAccountId !== undefined && params.serviceAccountId !== '') body.service_account_id = params.serviceAccountId;
  if (params.workspaceId !== undefined && params.workspaceId !== '') body.workspace_id = params.workspaceId;
  return body;
}

export const EXCHANGE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'application/json',
  'anthropic-beta': TokenExchange.betaHeader,
  'user-agent': USER_AGENT,
};

export function createTokenExchanger(params: ExchangeParameters, deps: ExchangeDeps): TokenExchanger {
  const url = tokenEndpointUrl(params.baseUrl);
  const timeoutMs = Math.min(deps.timeoutMs ?? Limit.exchangeTimeoutMs, Limit.exchangeTimeoutMs);
  const inFlight = new Set<ClientRequest>();
  const context: AttemptContext = { params, url, clock: deps.clock, inFlight, egress: deps.egress ?? DIRECT_EGRESS };
  return {
    async exchange(assertion, signal) {
      const bytes = Buffer.byteLength(assertion, 'utf8');
      if (bytes > Limit.assertionMaxBytes) {
        throw new ExchangeError(
          'invalid-request',
          `identity token is ${bytes} bytes, over the ${Limit.assertionMaxBytes / 1024} KiB assertion limit; it was not sent`,
        );
      }
      signal?.throwIfAborted();
      // One deadline bounds connect, headers and body together (the contract's 30 s per attempt).
      const deadline = startDeadline(deps.clock, timeoutMs, signal);
      try {
        return await attemptExchange(context, assertion, deadline.signal);
      } catch (error) {
        if (signal?.aborted === true) throw signal.reason;
        if (deadline.timedOut() || isTimeoutError(error)) {
          throw new ExchangeError('timeout', `token exchange at ${describeUrl(url)} timed out (limit ${timeoutMs / 1000} s)`, { cause: error });
        }
        if (error instanceof ExchangeError) throw error;
        if (isUntrustedCertificateError(error)) {
          throw new ExchangeError('untrusted', `the token endpoint ${describeUrl(url)} presented a certificate that is not trusted: ${describeTransportError(error)}`, {
            cause: error,
            hint: UNTRUSTED_CERTIFICATE_HINT,
          });
        }
        throw new ExchangeError('network', `could not reach the token endpoint ${describeUrl(url)}: ${describeTransportError(error)}`, { cause: error });
      } finally {
        deadline.clear();
      }
    },
    close: () => {
      for (const request of inFlight) request.destroy();
      return Promise.resolve();
    },
  };
}

interface AttemptContext {
  readonly params: ExchangeParameters;
  readonly url: URL;
  readonly clock: Clock;
  /** Requests not answered yet, so `close` can end them. */
  readonly inFlight: Set<ClientRequest>;
  readonly egress: EgressSettings;
}

interface Answer {
  readonly status: number;
  readonly requestId: string | undefined;
  readonly retryAfter: string | undefined;
  readonly text: string;
  readonly truncated: boolean;
}

async function attemptExchange(context: AttemptContext, assertion: string, signal: AbortSignal): Promise<MintedToken> {
  const sentAtMs = context.clock.now();
  const response = await postJson(context, JSON.stringify(exchangeRequestBody(context.params, assertion)), signal);
  const { bytes, truncated } = await readBoundedBody(response, Limit.exchangeResponseMaxBytes);
  const answer: Answer = {
    status: response.statusCode ?? 0,
    requestId: headerValue(response.headers, TokenExchange.requestIdHeader),
    retryAfter: headerValue(response.headers, 'retry-after'),
    text: bytes.toString('utf8'),
    truncated,
  };
  if (answer.status >= 200 && answer.status < 300) return parseSuccess(answer, sentAtMs);
  throw failureFromAnswer(answer, { assertion, workspaceSet: context.params.workspaceId !== undefined && context.params.workspaceId !== '', nowMs: context.clock.now(), ruleId: context.params.federationRuleId });
}

/**
 * POSTs `body` and resolves with the answer once its headers arrive (the body is still to be
 * read). A fresh connection each time (`agent: false`): exchanges are minutes apart, and an
 * idle kept-alive socket would only hold memory. `signal` aborts the request at any stage.
 */
function postJson(context: AttemptContext, body: string, signal: AbortSignal): Promise<IncomingMessage> {
  // getBuiltinModule, not `import`: an ES import of node:http(s) runs its lazy getters, which
  // load Node's bundled undici (see agent/server.ts); https (TLS) is loaded only when used.
  const https = context.url.protocol === 'https:';
  const { request } = https ? process.getBuiltinModule('node:https') : process.getBuiltinModule('node:http');
  const trust = https ? tlsTrustOptions(context.egress) : {};
  const proxy = proxyFor(context.url, context.egress);
  // Through a proxy, the tunnel (CONNECT, then TLS to the endpoint) is the request's one connection.
  const connection = proxy === undefined ? { agent: false as const, ...trust } : { createConnection: tunnelConnection(proxy, context.url, { trust, signal }) };
  return new Promise((resolve, reject) => {
    const req = request(context.url, {
      method: 'POST',
      headers: { ...EXCHANGE_HEADERS, 'content-length': Buffer.byteLength(body) },
      signal,
      ...connection,
    });
    context.inFlight.add(req);
    req.once('close', () => context.inFlight.delete(req));
    req.once('response', resolve);
    req.on('error', reject);
    req.end(body);
  });
}

function requestIdSuffix(requestId: string | undefined): string {
  return requestId === undefined ? '' : ` (request-id ${requestId})`;
}

function malformed(answer: Answer, what: string): ExchangeError {
  return new ExchangeError('malformed', `token endpoint answered HTTP ${answer.status} ${what}${requestIdSuffix(answer.requestId)}`, {
    status: answer.status,
    requestId: answer.requestId,
  });
}

function parseSuccess(answer: Answer, sentAtMs: number): MintedToken {
  if (answer.truncated) throw malformed(answer, `with a body over the ${Limit.exchangeResponseMaxBytes / (1024 * 1024)} MiB limit`);
  const data = parseJsonObject(answer.text);
  if (data === undefined) throw malformed(answer, `with a body that is not a JSON object (${Buffer.byteLength(answer.text)} bytes)`);
  const accessToken = readAccessToken(answer, data);
  checkTokenType(answer, data.token_type);
  const expiresIn = readExpiresIn(data.expires_in);
  if (expiresIn === undefined) throw malformed(answer, 'without a positive numeric expires_in');
  return {
    accessToken,
    obtainedAtMs: sentAtMs,
    expiresAtMs: sentAtMs + Math.floor(expiresIn * 1000),
    scope: typeof data.scope === 'string' ? data.scope : undefined,
    requestId: answer.requestId,
  };
}

function readAccessToken(answer: Answer, data: Readonly<Record<string, unknown>>): string {
  const accessToken = data.access_token;
  if (typeof accessToken !== 'string' || accessToken === '') throw malformed(answer, 'without an access_token');
  // The token goes into a file and an HTTP header: refuse whitespace and control characters.
  if (!ACCESS_TOKEN_PATTERN.test(accessToken)) throw malformed(answer, 'with an access_token that is not a printable token');
  return accessToken;
}

/** As the SDKs: a token_type, when present, must be Bearer (any case). */
function checkTokenType(answer: Answer, tokenType: unknown): void {
  if (tokenType === undefined) return;
  if (typeof tokenType === 'string' && tokenType.toLowerCase() === TokenExchange.tokenType.toLowerCase()) return;
  throw malformed(answer, `with token_type ${safeText(JSON.stringify(tokenType), 40)} (want ${TokenExchange.tokenType})`);
}

/** As the SDKs, `Number(expires_in)`: a number or a numeric string; it must also be positive. */
function readExpiresIn(value: unknown): number | undefined {
  const seconds = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof seconds === 'number' && Number.isFinite(seconds) && seconds > 0 ? seconds : undefined;
}

interface FailureContext {
  readonly assertion: string;
  readonly workspaceSet: boolean;
  readonly ruleId: string;
  readonly nowMs: number;
}

function failureFromAnswer(answer: Answer, context: FailureContext): ExchangeError {
  const base = { status: answer.status, requestId: answer.requestId };
  if (answer.status >= 300 && answer.status < 400) {
    return new ExchangeError(
      'malformed',
      `token endpoint answered with a redirect (HTTP ${answer.status}), which is not followed${requestIdSuffix(answer.requestId)}`,
      { ...base, hint: `${SdkEnv.baseUrl} / --base-url must name the token endpoint's final address` },
    );
  }
  const detail = describeRemoteError(answer.text, context.assertion);
  const message = `token exchange failed with HTTP ${answer.status}${requestIdSuffix(answer.requestId)}: ${detail}`;
  if (answer.status === 401) return new ExchangeError('rejected', message, { ...base, hint: rejectionHint(context) });
  if (answer.status === 429) {
    return new ExchangeError('rate-limited', message, { ...base, retryAfterSeconds: parseRetryAfter(answer.retryAfter, context.nowMs) });
  }
  if (answer.status >= 500) return new ExchangeError('server', message, base);
  return new ExchangeError('invalid-request', message, base);
}

function rejectionHint(context: FailureContext): string {
  const workspace = context.workspaceSet
    ? ''
    : `if the rule covers more than one workspace, set ${SdkEnv.workspaceId} (--workspace-id); `;
  return (
    `check that federation rule ${context.ruleId} matches the identity token (issuer, subject prefix and audience); ` +
    workspace +
    'the Console\'s Workload identity page shows the reason in its authentication history; ' +
    'an assertion that was already exchanged (jti reused) is refused too: wait for the next identity token'
  );
}

/**
 * The standard error fields only, as the SDK's `redactSensitive` keeps them: `error.type` and
 * `error.message` (Anthropic shape) or `error`, `error_description`, `error_uri` (RFC 6749).
 * Anything else may echo the request, so it is dropped; the assertion is masked even there.
 */
export function describeRemoteError(text: string, assertion: string): string {
  const data = parseJsonObject(text);
  if (data === undefined) return text.trim() === '' ? 'empty body' : `a body that is not JSON (${Buffer.byteLength(text)} bytes, not shown)`;
  const parts: string[] = [];
  const error = data.error;
  if (isRecord(error)) {
    const { type, message } = error;
    if (typeof type === 'string') parts.push(type);
    if (typeof message === 'string') parts.push(message);
  } else {
    if (typeof error === 'string') parts.push(error);
    if (typeof data.error_description === 'string') parts.push(data.error_description);
    if (typeof data.error_uri === 'string') parts.push(`see ${data.error_uri}`);
  }
  if (parts.length === 0) return 'no error detail';
  return parts.map((part) => safeText(mask(part, assertion), MAX_REMOTE_TEXT)).join(': ');
}

function mask(text: string, assertion: string): string {
  return assertion === '' ? text : text.replaceAll(assertion, '[assertion]');
}

function safeText(text: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replaceAll(/[\u0000-\u001f\u007f]+/g, ' ');
  return clean.length <= max ? clean : `${clean.slice(0, max)}…`;
}
