/**
 * A local stand-in for Anthropic's token endpoint, `POST /v1/oauth/token` (RFC 7523
 * jwt-bearer, see ../shared/docs/anthropic-wif-facts.md). It behaves like the real one where
 * the project depends on it:
 *
 * - requires exactly the SDKs' JSON body fields and headers (400 `invalid_request_error` otherwise);
 * - verifies the RS256 signature against a JWKS (in memory, or fetched from a URL such as a
 *   real kube-apiserver's `/openid/v1/jwks`), then issuer, audience and subject against rules;
 * - enforces single-use `jti` (401 on replay, recorded as `jti_reused`);
 * - mints for min(rule lifetime, 2 × the JWT's remaining life), never below 60 s;
 * - answers 401 `authentication_error` "Authentication failed" for every denial, with the
 *   reason only in `events` (as the real one shows it only in the Console).
 *
 * Faults are scripted: each queued `ScriptedResponse` answers one request, in order.
 * Every request is recorded without its assertion (a sha256 of it instead).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createLocalJWKSet, decodeJwt, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { Agent, request } from 'undici';
import { systemClock, type Clock } from '../../runtime/clock.ts';
import { IdPattern, TokenExchange } from '../../contract/index.ts';
import { mintedLifetimeSeconds } from './lifetime-rule.ts';
import { listenStandIn, type ListenOptions } from './listen.ts';

// ---------------------------------------------------------------------------------------
// Configuration

export interface FederationRule {
  /** `fdrl_…` */
  readonly id: string;
  /** Exact match, or a prefix when it ends in `*`. */
  readonly subjectPrefix: string;
  /** Must be an element of the token's `aud`. */
  readonly audience: string;
  /** `token_lifetime_seconds`, 60–86400. */
  readonly lifetimeSeconds: number;
  /** Workspaces the rule enables (`wrkspc_…` or `default`); with more than one, the request must name one. */
  readonly workspaces?: readonly string[];
  /** When set, a request naming another `service_account_id` is denied. */
  readonly serviceAccountId?: string;
  /** When set, the token's `iss` must equal it (overrides the endpoint-wide `issuer`). */
  readonly issuer?: string;
  /** Scope returned in the answer. Default `workspace:developer`. */
  readonly scope?: string;
}

/** A JWKS fetched from a URL (with a custom CA and bearer token for a real kube-apiserver). */
export interface RemoteJwks {
  readonly url: string;
  readonly ca?: string | Buffer;
  readonly bearerToken?: string;
}

export interface TokenEndpointOptions {
  /** The organization every request must name. */
  readonly organizationId: string;
  readonly rules: readonly FederationRule[];
  /** Keys that verify assertions: a key set, or where to fetch one (cached; refetched on an unknown kid). */
  readonly jwks: JSONWebKeySet | RemoteJwks;
  /** When set, every token's `iss` must equal it. */
  readonly issuer?: string;
  /** "Now" for expiry, lifetimes and recorded times. Default: the system clock. */
  readonly clock?: Clock;
  /** The issuer's `check_jti`. Default true. */
  readonly checkJti?: boolean;
  /** Error body shape. Default `anthropic`: `{"type":"error","error":{"type","message"}}`. */
  readonly errorShape?: 'anthropic' | 'rfc6749';
  /** Seconds of leeway for exp/nbf. Default 0. */
  readonly clockToleranceSeconds?: number;
  /** Address and TLS. Default: http on an ephemeral loopback port. */
  readonly listen?: ListenOptions;
}

/** One canned answer (or a delayed normal answer with `passThrough`). */
export interface ScriptedResponse {
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** A string or Buffer is sent as is; anything else as JSON. */
  readonly body?: unknown;
  /** Sends a JSON-looking body of exactly this many bytes instead of `body` (oversized answers). */
  readonly bodyBytes?: number;
  /** Wait this long before sending the status line and headers. */
  readonly headersDelayMs?: number;
  /** Send the first half of the body, wait this long, send the rest. */
  readonly bodyDelayMs?: number;
  /** Process the request normally (after the delays) instead of answering with the canned response. */
  readonly passThrough?: boolean;
  /** Do not add a `Request-Id` header. */
  readonly omitRequestId?: boolean;
}

export type DenialReason =
  | 'invalid_request'
  | 'wrong_organization'
  | 'unknown_rule'
  | 'malformed_assertion'
  | 'unknown_key'
  | 'bad_signature'
  | 'expired'
  | 'not_yet_valid'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'subject_mismatch'
  | 'service_account_mismatch'
  | 'workspace_required'
  | 'workspace_not_allowed'
  | 'jti_reused';

export type TokenEndpointEvent =
  | {
      readonly outcome: 'success';
      readonly atMs: number;
      readonly requestId: string;
      readonly ruleId: string;
      readonly subject: string;
      readonly jti: string | undefined;
      readonly lifetimeSeconds: number;
      /** The verified assertion's `iat` and `exp` (Unix seconds), when it has them. */
      readonly assertionIat: number | undefined;
      readonly assertionExp: number | undefined;
      /** The pod a Kubernetes service-account assertion is bound to (its `kubernetes.io.pod` claim). */
      readonly assertionPod: { readonly name: string; readonly uid: string } | undefined;
    }
  | { readonly outcome: 'denied'; readonly atMs: number; readonly requestId: string; readonly reason: DenialReason; readonly status: number; readonly detail: string; readonly jti: string | undefined }
  | { readonly outcome: 'scripted'; readonly atMs: number; readonly requestId: string | undefined; readonly status: number };

export interface RecordedTokenRequest {
  /** Endpoint clock, when the request arrived. */
  readonly atMs: number;
  readonly method: string;
  readonly path: string;
  /** Lowercased names; an `authorization` value is replaced by `sha256:<hex>`. */
  readonly headers: Readonly<Record<string, string>>;
  /** Body keys in the order sent (undefined when the body is not a JSON object). */
  readonly fields: readonly string[] | undefined;
  /** The body with `assertion` replaced by `sha256:<hex>`. */
  readonly body: Readonly<Record<string, unknown>> | undefined;
  readonly assertionSha256: string | undefined;
  readonly assertionBytes: number | undefined;
  /** The assertion's `jti`, decoded without verification. */
  readonly jti: string | undefined;
  /** Answered by a scripted response rather than processed. */
  readonly scripted: boolean;
  /** Status sent (0 until the answer started). */
  status: number;
  requestId: string | undefined;
}

export interface IssuedToken {
  readonly accessToken: string;
  readonly issuedAtMs: number;
  readonly expiresAtMs: number;
  readonly expiresIn: number;
  readonly ruleId: string;
  readonly subject: string;
  readonly jti: string | undefined;
  readonly workspaceId: string | undefined;
  readonly requestId: string;
  readonly scope: string;
}

export interface TokenEndpoint {
  /** Base URL, `http://127.0.0.1:<port>` (the agent's `--base-url`). */
  readonly url: string;
  /** `<url>/v1/oauth/token`. */
  readonly tokenUrl: string;
  readonly requests: readonly RecordedTokenRequest[];
  readonly events: readonly TokenEndpointEvent[];
  readonly issuedTokens: readonly IssuedToken[];
  /** Scripted answers not used yet. */
  readonly pendingScripts: number;
  /** Queues canned answers, used one per request in order before normal processing resumes. */
  script(...responses: readonly ScriptedResponse[]): void;
  /** The latest token issued. */
  currentToken(): IssuedToken | undefined;
  /** The issued token with this value, if any. */
  findToken(accessToken: string): IssuedToken | undefined;
  /** Issued here, not revoked and not expired at `nowMs` (default: the endpoint clock). */
  isValidToken(accessToken: string, nowMs?: number): boolean;
  /** Revokes an issued token (as a rotation leaves the old one behind): no longer valid. */
  revokeToken(accessToken: string): void;
  /** Replaces the rules (e.g. to change a lifetime mid-test). */
  setRules(rules: readonly FederationRule[]): void;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------
// Fault presets

export const TokenEndpointFault = {
  status: (status: number, body?: unknown, headers?: Readonly<Record<string, string>>): ScriptedResponse => ({ status, body, headers }),
  serverError: (status = 503): ScriptedResponse => ({
    status,
    body: errorBody('anthropic', { status, type: status === 529 ? 'overloaded_error' : 'api_error', message: 'Internal server error', requestId: undefined }),
  }),
  rateLimited: (retryAfter?: string | number): ScriptedResponse => ({
    status: 429,
    headers: retryAfter === undefined ? {} : { 'retry-after': String(retryAfter) },
    body: errorBody('anthropic', { status: 429, type: 'rate_limit_error', message: 'Rate limited', requestId: undefined }),
  }),
  rejected: (): ScriptedResponse => ({
    status: 401,
    body: errorBody('anthropic', { status: 401, type: 'authentication_error', message: 'Authentication failed', requestId: undefined }),
  }),
  redirect: (location: string, status = 307): ScriptedResponse => ({ status, headers: { location }, body: '' }),
  /** A 200 whose body is not JSON. */
  garbage: (): ScriptedResponse => ({ status: 200, headers: { 'content-type': 'text/html' }, body: '<html><body>502 Bad Gateway</body></html>' }),
  /** A 200 with a valid-looking token answer padded past the 1 MiB cap. */
  oversized: (bytes = 1024 * 1024 + 1): ScriptedResponse => ({ status: 200, bodyBytes: bytes }),
  slowHeaders: (delayMs: number): ScriptedResponse => ({ passThrough: true, headersDelayMs: delayMs }),
  slowBody: (delayMs: number): ScriptedResponse => ({ passThrough: true, bodyDelayMs: delayMs }),
  wrongTokenType: (tokenType = 'mac'): ScriptedResponse => ({
    status: 200,
    body: { access_token: newAccessToken(), token_type: tokenType, expires_in: 600, scope: 'workspace:developer' },
  }),
} as const;

// ---------------------------------------------------------------------------------------
// The server

const ALLOWED_FIELDS = ['grant_type', 'assertion', 'federation_rule_id', 'organization_id', 'service_account_id', 'workspace_id'];
const REQUIRED_FIELDS = ['grant_type', 'assertion', 'federation_rule_id', 'organization_id'];
const MAX_REQUEST_BYTES = 1024 * 1024;

interface Answer {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

class Denial extends Error {
  readonly reason: DenialReason;
  readonly status: number;
  constructor(reason: DenialReason, detail: string, status = 401) {
    super(detail);
    this.reason = reason;
    this.status = status;
  }
}

export async function startTokenEndpoint(options: TokenEndpointOptions): Promise<TokenEndpoint> {
  const clock = options.clock ?? systemClock;
  const requests: RecordedTokenRequest[] = [];
  const events: TokenEndpointEvent[] = [];
  const issuedTokens: IssuedToken[] = [];
  const revoked = new Set<string>();
  const scripts: ScriptedResponse[] = [];
  const usedJtis = new Set<string>();
  const timers = new Set<NodeJS.Timeout>();
  const keys = createKeyResolver(options.jwks);
  let rules = options.rules;

  const delay = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readRequestBody(req);
    const record = recordRequest(req, raw, clock.now());
    const script = scripts.shift();
    (record as { scripted: boolean }).scripted = script !== undefined && script.passThrough !== true;
    requests.push(record);
    if (script?.headersDelayMs !== undefined) await delay(script.headersDelayMs);
    if (script !== undefined && script.passThrough !== true) {
      const requestId = script.omitRequestId === true ? undefined : newRequestId();
      record.status = script.status ?? 200;
      record.requestId = requestId;
      events.push({ outcome: 'scripted', atMs: clock.now(), requestId, status: record.status });
      await sendScripted(res, { script, requestId, delay });
      return;
    }
    const requestId = newRequestId();
    const answer = await processRequest({ req, raw, requestId });
    record.status = answer.status;
    record.requestId = requestId;
    await sendAnswer(res, { answer, requestId, bodyDelayMs: script?.bodyDelayMs, delay });
  }

  async function processRequest(input: { req: IncomingMessage; raw: Buffer | undefined; requestId: string }): Promise<Answer> {
    const shape = options.errorShape ?? 'anthropic';
    let jti: string | undefined;
    try {
      const body = checkRequest(input.req, input.raw);
      jti = unverifiedJti(body.assertion);
      const issued = await verifyAndIssue(body, input.requestId);
      return { status: 200, body: { access_token: issued.accessToken, token_type: TokenExchange.tokenType, expires_in: issued.expiresIn, scope: issued.scope } };
    } catch (error) {
      if (!(error instanceof Denial)) throw error;
      events.push({ outcome: 'denied', atMs: clock.now(), requestId: input.requestId, reason: error.reason, status: error.status, detail: error.message, jti });
      const message = error.status === 401 ? 'Authentication failed' : error.message;
      const type = error.status === 401 ? 'authentication_error' : error.status === 404 ? 'not_found_error' : 'invalid_request_error';
      return { status: error.status, body: errorBody(shape, { status: error.status, type, message, requestId: input.requestId }) };
    }
  }

  async function verifyAndIssue(body: TokenRequestBody, requestId: string): Promise<IssuedToken> {
    if (body.organization_id !== options.organizationId) throw new Denial('wrong_organization', `organization ${body.organization_id} is not ${options.organizationId}`);
    const rule = rules.find((r) => r.id === body.federation_rule_id);
    if (rule === undefined) throw new Denial('unknown_rule', `no federation rule ${body.federation_rule_id}`);
    const nowMs = clock.now();
    const payload = await keys.verify(body.assertion, { nowMs, toleranceSeconds: options.clockToleranceSeconds ?? 0 });
    checkRule(rule, payload, options.issuer);
    const workspaceId = checkAccountAndWorkspace(rule, body);
    const jti = typeof payload.jti === 'string' ? payload.jti : undefined;
    if ((options.checkJti ?? true) && jti !== undefined) {
      if (usedJtis.has(jti)) throw new Denial('jti_reused', `jti ${jti} was already exchanged`);
      usedJtis.add(jti);
    }
    const expiresIn = mintedLifetimeSeconds(rule.lifetimeSeconds, payload.exp ?? 0, nowMs);
    const issued: IssuedToken = {
      accessToken: newAccessToken(),
      issuedAtMs: nowMs,
      expiresAtMs: nowMs + expiresIn * 1000,
      expiresIn,
      ruleId: rule.id,
      subject: payload.sub ?? '',
      jti,
      workspaceId,
      requestId,
      scope: rule.scope ?? 'workspace:developer',
    };
    issuedTokens.push(issued);
    events.push({ outcome: 'success', atMs: nowMs, requestId, ruleId: rule.id, subject: issued.subject, jti, lifetimeSeconds: expiresIn, assertionIat: payload.iat, assertionExp: payload.exp, assertionPod: boundPod(payload) });
    return issued;
  }

  const { server, url } = await listenStandIn((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ type: 'error', error: { type: 'api_error', message: String(error) } }));
      } else {
        res.destroy();
      }
    });
  }, options.listen);

  return {
    url,
    tokenUrl: `${url}${TokenExchange.path}`,
    requests,
    events,
    issuedTokens,
    get pendingScripts() {
      return scripts.length;
    },
    script: (...responses) => {
      scripts.push(...responses);
    },
    currentToken: () => issuedTokens.at(-1),
    findToken: (accessToken) => issuedTokens.find((t) => t.accessToken === accessToken),
    isValidToken: (accessToken, nowMs = clock.now()) => !revoked.has(accessToken) && issuedTokens.some((t) => t.accessToken === accessToken && t.expiresAtMs > nowMs),
    revokeToken: (accessToken) => {
      revoked.add(accessToken);
    },
    setRules: (next) => {
      rules = next;
    },
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
      await keys.close();
    },
  };
}

// ---------------------------------------------------------------------------------------
// Request checks (pure)

interface TokenRequestBody {
  readonly grant_type: string;
  readonly assertion: string;
  readonly federation_rule_id: string;
  readonly organization_id: string;
  readonly service_account_id?: string;
  readonly workspace_id?: string;
}

function checkRequest(req: IncomingMessage, raw: Buffer | undefined): TokenRequestBody {
  const path = (req.url ?? '/').split('?')[0];
  if (path !== TokenExchange.path) throw new Denial('invalid_request', `no route ${path ?? ''}`, 404);
  if (req.method !== 'POST') throw new Denial('invalid_request', `method ${req.method ?? ''} not allowed`, 405);
  if (raw === undefined) throw new Denial('invalid_request', 'request body too large', 413);
  const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (contentType !== 'application/json') throw new Denial('invalid_request', `content-type must be application/json, got "${contentType ?? ''}"`, 400);
  const betaHeader = req.headers['anthropic-beta'];
  const betas = (Array.isArray(betaHeader) ? betaHeader.join(',') : (betaHeader ?? '')).split(',').map((b) => b.trim());
  for (const beta of TokenExchange.betaHeader.split(',')) {
    if (!betas.includes(beta)) throw new Denial('invalid_request', `anthropic-beta must include ${beta}`, 400);
  }
  const body = parseObject(raw);
  if (body === undefined) throw new Denial('invalid_request', 'body must be a JSON object', 400);
  return checkFields(body);
}

function checkFields(body: Readonly<Record<string, unknown>>): TokenRequestBody {
  for (const key of Object.keys(body)) {
    if (!ALLOWED_FIELDS.includes(key)) throw new Denial('invalid_request', `${key}: Extra inputs are not permitted`, 400);
  }
  for (const key of Object.keys(body)) {
    if (typeof body[key] !== 'string') throw new Denial('invalid_request', `${key}: Input should be a valid string`, 400);
  }
  for (const key of REQUIRED_FIELDS) {
    if (body[key] === undefined || body[key] === '') throw new Denial('invalid_request', `${key}: Field required`, 400);
  }
  const typed = body as unknown as TokenRequestBody;
  if (typed.grant_type !== TokenExchange.grantType) throw new Denial('invalid_request', `grant_type: unsupported grant type "${typed.grant_type}"`, 400);
  const formats: readonly [keyof TokenRequestBody, RegExp][] = [
    ['federation_rule_id', IdPattern.federationRuleId],
    ['organization_id', IdPattern.organizationId],
    ['service_account_id', IdPattern.serviceAccountId],
    ['workspace_id', IdPattern.workspaceId],
  ];
  for (const [key, pattern] of formats) {
    const value = typed[key];
    if (value !== undefined && !pattern.test(value)) throw new Denial('invalid_request', `${key}: invalid format`, 400);
  }
  return typed;
}

function checkRule(rule: FederationRule, payload: JWTPayload, endpointIssuer: string | undefined): void {
  const issuer = rule.issuer ?? endpointIssuer;
  if (issuer !== undefined && payload.iss !== issuer) throw new Denial('wrong_issuer', `iss ${String(payload.iss)} is not ${issuer}`);
  const aud = typeof payload.aud === 'string' ? [payload.aud] : (payload.aud ?? []);
  if (!aud.includes(rule.audience)) throw new Denial('wrong_audience', `aud ${JSON.stringify(aud)} does not contain ${rule.audience}`);
  const sub = payload.sub ?? '';
  const prefix = rule.subjectPrefix;
  const matches = prefix.endsWith('*') ? sub.startsWith(prefix.slice(0, -1)) : sub === prefix;
  if (!matches) throw new Denial('subject_mismatch', `sub ${sub} does not match ${prefix}`);
}

function checkAccountAndWorkspace(rule: FederationRule, body: TokenRequestBody): string | undefined {
  if (rule.serviceAccountId !== undefined && body.service_account_id !== undefined && body.service_account_id !== rule.serviceAccountId) {
    throw new Denial('service_account_mismatch', `service account ${body.service_account_id} is not the rule's ${rule.serviceAccountId}`);
  }
  const workspaces = rule.workspaces ?? ['default'];
  if (body.workspace_id !== undefined) {
    if (!workspaces.includes(body.workspace_id)) throw new Denial('workspace_not_allowed', `workspace ${body.workspace_id} is not enabled by ${rule.id}`);
    return body.workspace_id;
  }
  if (workspaces.length > 1) throw new Denial('workspace_required', `${rule.id} covers ${workspaces.length} workspaces: workspace_id is required`);
  return workspaces[0];
}

/** The `kubernetes.io.pod` claim of a Kubernetes service-account token, when it has one. */
function boundPod(payload: JWTPayload): { name: string; uid: string } | undefined {
  const claim = payload['kubernetes.io'] as { pod?: { name?: unknown; uid?: unknown } } | undefined;
  const pod = claim?.pod;
  return typeof pod?.name === 'string' && typeof pod.uid === 'string' ? { name: pod.name, uid: pod.uid } : undefined;
}

function unverifiedJti(assertion: string): string | undefined {
  try {
    const jti = decodeJwt(assertion).jti;
    return typeof jti === 'string' ? jti : undefined;
  } catch {
    return undefined;
  }
}

function parseObject(raw: Buffer): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(raw.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------
// Keys

interface KeyResolver {
  verify(assertion: string, at: { readonly nowMs: number; readonly toleranceSeconds: number }): Promise<JWTPayload>;
  close(): Promise<void>;
}

function createKeyResolver(source: JSONWebKeySet | RemoteJwks): KeyResolver {
  if ('keys' in source) {
    const keySet = createLocalJWKSet(source);
    return { verify: (assertion, at) => verifyWith(keySet, assertion, at), close: () => Promise.resolve() };
  }
  const dispatcher = new Agent({ connect: source.ca === undefined ? {} : { ca: source.ca } });
  let cached: ReturnType<typeof createLocalJWKSet> | undefined;
  const fetchKeys = async (): Promise<ReturnType<typeof createLocalJWKSet>> => {
    const headers: Record<string, string> = { accept: 'application/jwk-set+json, application/json' };
    if (source.bearerToken !== undefined) headers.authorization = `Bearer ${source.bearerToken}`;
    const response = await request(source.url, { dispatcher, headers });
    const text = await response.body.text();
    if (response.statusCode !== 200) throw new Error(`JWKS ${source.url} answered HTTP ${response.statusCode}`);
    cached = createLocalJWKSet(JSON.parse(text) as JSONWebKeySet);
    return cached;
  };
  return {
    async verify(assertion, at) {
      const keySet = cached ?? (await fetchKeys());
      try {
        return await verifyWith(keySet, assertion, at);
      } catch (error) {
        // A key rotated since the last fetch: fetch once more.
        if (error instanceof Denial && error.reason === 'unknown_key') return verifyWith(await fetchKeys(), assertion, at);
        throw error;
      }
    },
    close: () => dispatcher.close(),
  };
}

async function verifyWith(
  keySet: ReturnType<typeof createLocalJWKSet>,
  assertion: string,
  at: { readonly nowMs: number; readonly toleranceSeconds: number },
): Promise<JWTPayload> {
  try {
    const { payload } = await jwtVerify(assertion, keySet, {
      algorithms: ['RS256'],
      currentDate: new Date(at.nowMs),
      clockTolerance: at.toleranceSeconds,
      requiredClaims: ['exp'],
    });
    return payload;
  } catch (error) {
    throw denialFromJose(error);
  }
}

function denialFromJose(error: unknown): Denial {
  if (error instanceof joseErrors.JWTExpired) return new Denial('expired', 'assertion expired');
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    return error.claim === 'nbf' ? new Denial('not_yet_valid', 'assertion not valid yet') : new Denial('malformed_assertion', `claim ${error.claim}: ${error.reason}`);
  }
  if (error instanceof joseErrors.JWKSNoMatchingKey) return new Denial('unknown_key', 'no key in the JWKS matches the assertion');
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return new Denial('bad_signature', 'signature verification failed');
  return new Denial('malformed_assertion', error instanceof Error ? error.message : String(error));
}

// ---------------------------------------------------------------------------------------
// Wire

function errorBody(shape: 'anthropic' | 'rfc6749', e: { status: number; type: string; message: string; requestId: string | undefined }): unknown {
  if (shape === 'rfc6749') {
    const error = e.status === 401 ? 'invalid_grant' : e.status === 429 ? 'slow_down' : e.status >= 500 ? 'server_error' : 'invalid_request';
    return { error, error_description: e.message };
  }
  return { type: 'error', error: { type: e.type, message: e.message }, ...(e.requestId === undefined ? {} : { request_id: e.requestId }) };
}

export function newAccessToken(): string {
  return `sk-ant-oat01-${randomBytes(48).toString('base64url')}`;
}

function newRequestId(): string {
  return `req_${randomBytes(12).toString('hex')}`;
}

export function sha256Hex(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

async function readRequestBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_REQUEST_BYTES) tooLarge = true;
    else chunks.push(buffer);
  }
  return tooLarge ? undefined : Buffer.concat(chunks);
}

function recordRequest(req: IncomingMessage, raw: Buffer | undefined, atMs: number): RecordedTokenRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    const text = Array.isArray(value) ? value.join(', ') : (value ?? '');
    headers[name] = name === 'authorization' ? `sha256:${sha256Hex(text)}` : text;
  }
  const body = raw === undefined ? undefined : parseObject(raw);
  const assertion = typeof body?.assertion === 'string' ? body.assertion : undefined;
  return {
    atMs,
    method: req.method ?? '',
    path: req.url ?? '',
    headers,
    fields: body === undefined ? undefined : Object.keys(body),
    body: body === undefined ? undefined : { ...body, ...(assertion === undefined ? {} : { assertion: `sha256:${sha256Hex(assertion)}` }) },
    assertionSha256: assertion === undefined ? undefined : sha256Hex(assertion),
    assertionBytes: assertion === undefined ? undefined : Buffer.byteLength(assertion),
    jti: assertion === undefined ? undefined : unverifiedJti(assertion),
    scripted: false,
    status: 0,
    requestId: undefined,
  };
}

interface SendOptions {
  readonly requestId: string | undefined;
  readonly delay: (ms: number) => Promise<void>;
}

async function sendScripted(res: ServerResponse, options: SendOptions & { readonly script: ScriptedResponse }): Promise<void> {
  const { script } = options;
  const body = script.bodyBytes === undefined ? encodeBody(script.body) : paddedTokenBody(script.bodyBytes);
  const headers: Record<string, string | number> = { 'content-type': 'application/json', ...script.headers, 'content-length': body.length };
  if (options.requestId !== undefined) headers['request-id'] = options.requestId;
  await writeResponse(res, { status: script.status ?? 200, headers, body, bodyDelayMs: script.bodyDelayMs, delay: options.delay });
}

async function sendAnswer(res: ServerResponse, options: SendOptions & { readonly answer: Answer; readonly bodyDelayMs: number | undefined }): Promise<void> {
  const body = encodeBody(options.answer.body);
  const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': body.length, ...options.answer.headers };
  if (options.requestId !== undefined) headers['request-id'] = options.requestId;
  await writeResponse(res, { status: options.answer.status, headers, body, bodyDelayMs: options.bodyDelayMs, delay: options.delay });
}

async function writeResponse(
  res: ServerResponse,
  out: { status: number; headers: Record<string, string | number>; body: Buffer; bodyDelayMs: number | undefined; delay: (ms: number) => Promise<void> },
): Promise<void> {
  if (res.destroyed) return;
  res.writeHead(out.status, out.headers);
  if (out.bodyDelayMs === undefined) {
    res.end(out.body);
    return;
  }
  const half = Math.floor(out.body.length / 2);
  res.write(out.body.subarray(0, half));
  await out.delay(out.bodyDelayMs);
  // Ending a response whose client went away is a no-op.
  res.end(out.body.subarray(half));
}

function encodeBody(body: unknown): Buffer {
  if (body === undefined) return Buffer.alloc(0);
  if (typeof body === 'string') return Buffer.from(body);
  if (Buffer.isBuffer(body)) return body;
  return Buffer.from(JSON.stringify(body));
}

/** A well-formed token answer padded to `bytes`, so only a size cap can make it fail. */
function paddedTokenBody(bytes: number): Buffer {
  const head = `{"access_token":"${newAccessToken()}","token_type":"Bearer","expires_in":600,"padding":"`;
  const tail = '"}';
  const padding = Math.max(0, bytes - head.length - tail.length);
  return Buffer.from(head + 'x'.repeat(padding) + tail);
}
