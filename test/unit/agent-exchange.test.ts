import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock, type Clock } from '../../runtime/clock.ts';
import { ConfigError } from '../../runtime/errors.ts';
import { TokenExchange, USER_AGENT } from '../../contract/index.ts';
import { VERSION } from '../../runtime/version.ts';
import { ExchangeError, createTokenExchanger, describeRemoteError, type ExchangeParameters, type TokenExchanger } from '../../agent/refresh/exchange.ts';
import { createOidcIssuer, type OidcIssuer } from '../support/oidc-issuer.ts';
import { TokenEndpointFault, sha256Hex, startTokenEndpoint, type TokenEndpoint } from '../support/token-endpoint.ts';

const NOW_MS = 1_750_000_000_000;
const ORG = '6d8f3c1e-2b4a-4c5d-9e8f-0a1b2c3d4e5f';
const RULE = 'fdrl_test01';
const AUDIENCE = 'https://api.anthropic.com';

/** Time stands still for decisions; sleeps are real so timeouts still fire. */
const fixedClock: Clock = { now: () => NOW_MS, sleep: (ms, signal) => systemClock.sleep(ms, signal) };

let issuer: OidcIssuer;
let endpoint: TokenEndpoint;
const exchangers: TokenExchanger[] = [];
const secrets: string[] = [];

beforeAll(async () => {
  issuer = await createOidcIssuer({ clock: fixedClock });
});

afterAll(async () => {
  await issuer.close();
});

async function start(rules: { lifetimeSeconds?: number; workspaces?: readonly string[] } = {}, errorShape?: 'rfc6749'): Promise<void> {
  endpoint = await startTokenEndpoint({
    organizationId: ORG,
    rules: [{ id: RULE, subjectPrefix: 'system:serviceaccount:default:*', audience: AUDIENCE, lifetimeSeconds: rules.lifetimeSeconds ?? 3600, workspaces: rules.workspaces }],
    jwks: issuer.jwks,
    issuer: issuer.issuer,
    clock: fixedClock,
    ...(errorShape === undefined ? {} : { errorShape }),
  });
}

afterEach(async () => {
  await Promise.all(exchangers.splice(0).map(async (e) => {
    await e.close?.();
  }));
  await endpoint.close();
});

function exchanger(params: Partial<ExchangeParameters> = {}, timeoutMs?: number): TokenExchanger {
  const e = createTokenExchanger({ baseUrl: endpoint.url, federationRuleId: RULE, organizationId: ORG, ...params }, { clock: fixedClock, timeoutMs });
  exchangers.push(e);
  return e;
}

async function mint(lifetimeSeconds = 600, jti?: string | null): Promise<string> {
  const jwt = await issuer.mintProjectedToken({ lifetimeSeconds, ...(jti === undefined ? {} : { jti }) });
  secrets.push(jwt);
  return jwt;
}

async function failure(promise: Promise<unknown>): Promise<ExchangeError> {
  const error = await promise.then(
    () => {
      throw new Error('expected the exchange to fail');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ExchangeError);
  const exchangeError = error as ExchangeError;
  // No token or assertion ever appears in what an error prints.
  const printed = `${exchangeError.message} ${exchangeError.hint ?? ''} ${JSON.stringify(exchangeError)}`;
  for (const secret of [...secrets, ...endpoint.issuedTokens.map((t) => t.accessToken)]) expect(printed).not.toContain(secret);
  return exchangeError;
}

describe('exchange: success', () => {
  it('sends exactly the SDK body and headers and returns the minted token', async () => {
    await start();
    const jwt = await mint();
    const token = await exchanger().exchange(jwt);
    const [request] = endpoint.requests;
    expect(endpoint.requests).toHaveLength(1);
    expect(request?.method).toBe('POST');
    expect(request?.path).toBe('/v1/oauth/token');
    expect(request?.fields).toEqual(['grant_type', 'assertion', 'federation_rule_id', 'organization_id']);
    expect(request?.body).toEqual({
      grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      assertion: `sha256:${sha256Hex(jwt)}`,
      federation_rule_id: RULE,
      organization_id: ORG,
    });
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.headers['anthropic-beta']).toBe('oauth-2025-04-20,oidc-federation-2026-04-01');
    expect(request?.headers['user-agent']).toBe(USER_AGENT);
    expect(USER_AGENT).toBe(`anthropic-workload-identity/${VERSION} (anthropic-wif; node/${process.versions.node})`);
    expect(request?.headers.authorization).toBeUndefined();
    expect(request?.headers['x-api-key']).toBeUndefined();
    const issued = endpoint.currentToken();
    expect(token).toEqual({
      accessToken: issued?.accessToken,
      obtainedAtMs: NOW_MS,
      expiresAtMs: NOW_MS + 1200 * 1000,
      scope: 'workspace:developer',
      requestId: request?.requestId,
    });
    expect(token.accessToken).toMatch(/^sk-ant-oat01-/);
  });

  it('adds service_account_id and workspace_id only when set', async () => {
    await start({ workspaces: ['wrkspc_a', 'wrkspc_b'] });
    await exchanger({ serviceAccountId: 'svac_x1', workspaceId: 'wrkspc_b' }).exchange(await mint());
    await exchanger({ serviceAccountId: '', workspaceId: '' }).exchange(await mint()).catch(() => undefined);
    expect(endpoint.requests.map((r) => r.fields)).toEqual([
      ['grant_type', 'assertion', 'federation_rule_id', 'organization_id', 'service_account_id', 'workspace_id'],
      ['grant_type', 'assertion', 'federation_rule_id', 'organization_id'],
    ]);
    expect(endpoint.requests[0]?.body).toMatchObject({ service_account_id: 'svac_x1', workspace_id: 'wrkspc_b' });
  });

  it.each([
    { rule: 3600, jwtLifetime: 600, want: 1200 },
    { rule: 600, jwtLifetime: 3600, want: 600 },
    { rule: 3600, jwtLifetime: 20, want: 60 },
  ])('rule lifetime $rule s and JWT life $jwtLifetime s mint $want s', async ({ rule, jwtLifetime, want }) => {
    await start({ lifetimeSeconds: rule });
    const token = await exchanger().exchange(await mint(jwtLifetime));
    expect(token.expiresAtMs - token.obtainedAtMs).toBe(want * 1000);
  });

  it.each([
    { body: { access_token: 'sk-ant-oat01-abc', token_type: 'bearer', expires_in: 300 }, expiresIn: 300, scope: undefined },
    { body: { access_token: 'sk-ant-oat01-abc', expires_in: '450', scope: 'workspace:inference' }, expiresIn: 450, scope: 'workspace:inference' },
    { body: { access_token: 'sk-ant-oat01-abc', token_type: 'BEARER', expires_in: 1.5 }, expiresIn: 1.5, scope: undefined },
  ])('accepts what the SDK accepts: $body', async ({ body, expiresIn, scope }) => {
    await start();
    endpoint.script(TokenEndpointFault.status(200, body));
    const token = await exchanger().exchange(await mint());
    expect(token.accessToken).toBe('sk-ant-oat01-abc');
    expect(token.expiresAtMs).toBe(NOW_MS + expiresIn * 1000);
    expect(token.scope).toBe(scope);
  });
});

describe('exchange: failures', () => {
  it.each([
    {
      name: '503',
      script: TokenEndpointFault.serverError(503),
      kind: 'server',
      retryable: true,
      message: (id: string) => `token exchange failed with HTTP 503 (request-id ${id}): api_error: Internal server error`,
    },
    {
      name: '429 with Retry-After seconds',
      script: TokenEndpointFault.rateLimited(7),
      kind: 'rate-limited',
      retryable: true,
      retryAfterSeconds: 7,
      message: (id: string) => `token exchange failed with HTTP 429 (request-id ${id}): rate_limit_error: Rate limited`,
    },
    {
      name: '429 with an HTTP-date Retry-After',
      script: TokenEndpointFault.rateLimited(new Date(NOW_MS + 42_000).toUTCString()),
      kind: 'rate-limited',
      retryable: true,
      retryAfterSeconds: 42,
      message: (id: string) => `token exchange failed with HTTP 429 (request-id ${id}): rate_limit_error: Rate limited`,
    },
    {
      name: '400 in the Anthropic shape',
      script: TokenEndpointFault.status(400, { type: 'error', error: { type: 'invalid_request_error', message: 'workspace_id: invalid format', echo: 'x' } }),
      kind: 'invalid-request',
      retryable: false,
      message: (id: string) => `token exchange failed with HTTP 400 (request-id ${id}): invalid_request_error: workspace_id: invalid format`,
    },
    {
      name: '400 in the RFC 6749 shape, extra fields dropped',
      script: TokenEndpointFault.status(400, { error: 'invalid_request', error_description: 'bad grant', error_uri: 'https://example.com/e', assertion: 'ECHOED', access_token: 'sk-ant-oat01-echo' }),
      kind: 'invalid-request',
      retryable: false,
      message: (id: string) => `token exchange failed with HTTP 400 (request-id ${id}): invalid_request: bad grant: see https://example.com/e`,
    },
    {
      name: '403',
      script: TokenEndpointFault.status(403, { type: 'error', error: { type: 'permission_error', message: 'nope' } }),
      kind: 'invalid-request',
      retryable: false,
      message: (id: string) => `token exchange failed with HTTP 403 (request-id ${id}): permission_error: nope`,
    },
    {
      name: '502 with an HTML body',
      script: TokenEndpointFault.status(502, '<html>bad gateway</html>'),
      kind: 'server',
      retryable: true,
      message: (id: string) => `token exchange failed with HTTP 502 (request-id ${id}): a body that is not JSON (24 bytes, not shown)`,
    },
    {
      name: 'a redirect',
      script: TokenEndpointFault.redirect('/v1/oauth/token'),
      kind: 'malformed',
      retryable: false,
      message: (id: string) => `token endpoint answered with a redirect (HTTP 307), which is not followed (request-id ${id})`,
    },
    {
      name: 'garbage',
      script: TokenEndpointFault.garbage(),
      kind: 'malformed',
      retryable: false,
      message: (id: string) => `token endpoint answered HTTP 200 with a body that is not a JSON object (41 bytes) (request-id ${id})`,
    },
    {
      name: 'an oversized body',
      script: TokenEndpointFault.oversized(),
      kind: 'malformed',
      retryable: false,
      message: (id: string) => `token endpoint answered HTTP 200 with a body over the 1 MiB limit (request-id ${id})`,
    },
    {
      name: 'a wrong token_type',
      script: TokenEndpointFault.wrongTokenType('mac'),
      kind: 'malformed',
      retryable: false,
      message: (id: string) => `token endpoint answered HTTP 200 with token_type "mac" (want Bearer) (request-id ${id})`,
    },
    {
      name: 'no access_token',
      script: TokenEndpointFault.status(200, { token_type: 'Bearer', expires_in: 600 }),
      kind: 'malformed',
      retryable: false,
      message: (id: string) => `token endpoint answered HTTP 200 without an access_token (request-id ${id})`,
    },
    {
      name: 'an access_token with a newline',
      script: TokenEndpointFault.status(200, { access_token: 'sk-ant-oat01-a\nb', token_type: 'Bearer', expires_in: 600 }),
      kind: 'malformed',
      retryable: false,
      message: (id: string) => `token endpoint answered HTTP 200 with an access_token that is not a printable token (request-id ${id})`,
    },
    {
      name: 'no expires_in',
      script: TokenEndpointFault.status(200, { access_token: 'sk-ant-oat01-abc', token_type: 'Bearer' }),
      kind: 'malformed',
      retryable: false,
      message: (id: string) => `token endpoint answered HTTP 200 without a positive numeric expires_in (request-id ${id})`,
    },
    {
      name: 'a non-numeric expires_in',
      script: TokenEndpointFault.status(200, { access_token: 'sk-ant-oat01-abc', token_type: 'Bearer', expires_in: 'soon' }),
      kind: 'malformed',
      retryable: false,
      message: (id: string) => `token endpoint answered HTTP 200 without a positive numeric expires_in (request-id ${id})`,
    },
  ])('$name → $kind', async ({ script, kind, retryable, message, ...rest }) => {
    await start();
    endpoint.script(script);
    const error = await failure(exchanger().exchange(await mint()));
    const requestId = endpoint.requests[0]?.requestId ?? '';
    expect(requestId).toMatch(/^req_/);
    expect(error.kind).toBe(kind);
    expect(error.code).toBe(`exchange-${kind}`);
    expect(error.retryable).toBe(retryable);
    expect(error.requestId).toBe(requestId);
    expect(error.message).toBe(message(requestId));
    expect(error.retryAfterSeconds).toBe('retryAfterSeconds' in rest ? rest.retryAfterSeconds : undefined);
    // Nothing was followed or retried.
    expect(endpoint.requests).toHaveLength(1);
  });

  it('a replayed assertion is rejected with the hint, naming the workspace fix only when none is set', async () => {
    await start();
    const jwt = await mint();
    await exchanger().exchange(jwt);
    const error = await failure(exchanger().exchange(jwt));
    const requestId = endpoint.requests[1]?.requestId ?? '';
    expect(error.kind).toBe('rejected');
    expect(error.status).toBe(401);
    expect(error.retryable).toBe(false);
    expect(error.message).toBe(`token exchange failed with HTTP 401 (request-id ${requestId}): authentication_error: Authentication failed`);
    expect(error.hint).toBe(
      'check that federation rule fdrl_test01 matches the identity token (issuer, subject prefix and audience); ' +
        'if the rule covers more than one workspace, set ANTHROPIC_WORKSPACE_ID (--workspace-id); ' +
        "the Console's Workload identity page shows the reason in its authentication history; " +
        'an assertion that was already exchanged (jti reused) is refused too: wait for the next identity token',
    );
    expect(endpoint.events.at(-1)).toMatchObject({ outcome: 'denied', reason: 'jti_reused', status: 401 });
    const withWorkspace = await failure(exchanger({ workspaceId: 'default' }).exchange(jwt));
    expect(withWorkspace.hint).not.toContain('ANTHROPIC_WORKSPACE_ID');
  });

  it('understands an RFC 6749 401 body', async () => {
    await start({}, 'rfc6749');
    const jwt = await mint();
    await exchanger().exchange(jwt);
    const error = await failure(exchanger().exchange(jwt));
    expect(error.kind).toBe('rejected');
    expect(error.message).toMatch(/^token exchange failed with HTTP 401 \(request-id req_[0-9a-f]+\): invalid_grant: Authentication failed$/);
  });

  it.each([
    { name: 'slow headers', script: TokenEndpointFault.slowHeaders(5_000) },
    { name: 'a slow body', script: TokenEndpointFault.slowBody(5_000) },
  ])('$name time out', async ({ script }) => {
    await start();
    endpoint.script(script);
    const error = await failure(exchanger({}, 300).exchange(await mint()));
    expect(error.kind).toBe('timeout');
    expect(error.retryable).toBe(true);
    expect(error.message).toBe(`token exchange at ${endpoint.url}/v1/oauth/token timed out (limit 0.3 s)`);
  });

  it('a refused connection is a network failure', async () => {
    await start();
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => { resolve(); }));
    const e = createTokenExchanger({ baseUrl: `http://127.0.0.1:${port}`, federationRuleId: RULE, organizationId: ORG }, { clock: fixedClock });
    exchangers.push(e);
    const error = await failure(e.exchange(await mint()));
    expect(error.kind).toBe('network');
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(new RegExp(`^could not reach the token endpoint http://127\\.0\\.0\\.1:${port}/v1/oauth/token: .*ECONNREFUSED`));
  });

  it('refuses an assertion over 16 KiB before sending anything', async () => {
    await start();
    const big = `eyJhbGciOiJSUzI1NiJ9.${'A'.repeat(16 * 1024)}.sig`;
    secrets.push(big);
    const error = await failure(exchanger().exchange(big));
    expect(error.kind).toBe('invalid-request');
    expect(error.message).toBe(`identity token is ${big.length} bytes, over the 16 KiB assertion limit; it was not sent`);
    expect(endpoint.requests).toHaveLength(0);
  });

  it('an aborted call rejects with the caller reason', async () => {
    await start();
    endpoint.script(TokenEndpointFault.slowHeaders(5_000));
    const controller = new AbortController();
    const pending = exchanger().exchange(await mint(), controller.signal);
    setTimeout(() => { controller.abort(new Error('shutting down')); }, 50);
    await expect(pending).rejects.toThrow('shutting down');
  });
});

describe('exchange: base URL', () => {
  it.each([
    { baseUrl: 'http://api.example.com', message: 'ANTHROPIC_BASE_URL / --base-url must be an https:// URL (plain http:// only to localhost, 127.0.0.0/8 or [::1]) without user:password, got "http://api.example.com/"' },
    { baseUrl: 'http://10.0.0.1:8080/x?secret=1', message: 'ANTHROPIC_BASE_URL / --base-url must be an https:// URL (plain http:// only to localhost, 127.0.0.0/8 or [::1]) without user:password, got "http://10.0.0.1:8080/x"' },
    { baseUrl: 'ftp://localhost', message: 'ANTHROPIC_BASE_URL / --base-url must be an https:// URL (plain http:// only to localhost, 127.0.0.0/8 or [::1]) without user:password, got "ftp://localhost/"' },
    { baseUrl: 'not a url', message: 'ANTHROPIC_BASE_URL / --base-url is not a URL: "not a url"' },
    { baseUrl: 'https://user:pw@api.example.com', message: 'ANTHROPIC_BASE_URL / --base-url must be an https:// URL (plain http:// only to localhost, 127.0.0.0/8 or [::1]) without user:password, got "https://api.example.com/"' },
  ])('refuses $baseUrl at construction', ({ baseUrl, message }) => {
    const build = (): unknown => createTokenExchanger({ baseUrl, federationRuleId: RULE, organizationId: ORG }, { clock: fixedClock });
    expect(build).toThrow(ConfigError);
    expect(build).toThrow(message);
  });

  it.each(['https://api.anthropic.com', 'http://localhost:1', 'http://127.1.2.3', 'http://[::1]:8080', 'https://gw.example.com/prefix/'])('accepts %s', (baseUrl) => {
    const e = createTokenExchanger({ baseUrl, federationRuleId: RULE, organizationId: ORG }, { clock: fixedClock });
    exchangers.push(e);
    expect(e).toBeDefined();
  });

  it('joins a base path the way the SDK does', async () => {
    await start();
    endpoint.script(TokenEndpointFault.status(200, { access_token: 'sk-ant-oat01-abc', expires_in: 60 }));
    const e = createTokenExchanger({ baseUrl: `${endpoint.url}/`, federationRuleId: RULE, organizationId: ORG }, { clock: fixedClock });
    exchangers.push(e);
    await e.exchange(await mint());
    expect(endpoint.requests[0]?.path).toBe(TokenExchange.path);
  });
});

describe('describeRemoteError', () => {
  it.each([
    { text: '', want: 'empty body' },
    { text: '{}', want: 'no error detail' },
    { text: '[1]', want: 'a body that is not JSON (3 bytes, not shown)' },
    { text: '{"error":{"type":"t","message":"has ASSERT inside"}}', want: 't: has [assertion] inside' },
    { text: `{"error":"e","error_description":"${'d'.repeat(400)}"}`, want: `e: ${'d'.repeat(300)}…` },
    { text: '{"error":{"type":"t\\n\\u0007x"}}', want: 't x' },
  ])('$text → $want', ({ text, want }) => {
    expect(describeRemoteError(text, 'ASSERT')).toBe(want);
  });

  it('keeps the TokenExchange constants the SDK uses', () => {
    expect(TokenExchange.grantType).toBe('urn:ietf:params:oauth:grant-type:jwt-bearer');
  });
});
