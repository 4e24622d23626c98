/**
 * The local stand-ins every other test relies on: the token endpoint must deny what the
 * real one denies (and say why in `events`), and the Messages stand-in must speak to the
 * official SDK, including with a profile written by the agent's file store.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { request } from 'undici';
import { systemClock, type Clock } from '../../runtime/clock.ts';
import { ExchangeError, createTokenExchanger, type ExchangeParameters } from '../../agent/refresh/exchange.ts';
import { createTokenFileStore } from '../../agent/refresh/files.ts';
import { createOidcIssuer, type OidcIssuer, type ProjectedTokenOptions } from '../support/oidc-issuer.ts';
import { startTokenEndpoint, type DenialReason, type FederationRule, type TokenEndpoint } from '../support/token-endpoint.ts';
import { OAuthRefusal, oauthTokenRules, startMessagesEndpoint, type MessagesAuthorization, type MessagesCredential, type MessagesEndpoint } from '../support/messages-endpoint.ts';

const ORG = '6d8f3c1e-2b4a-4c5d-9e8f-0a1b2c3d4e5f';
const AUDIENCE = 'https://api.anthropic.com';
let nowMs = 1_750_000_000_000;
const clock: Clock = { now: () => nowMs, sleep: (ms, signal) => systemClock.sleep(ms, signal) };

const RULES: readonly FederationRule[] = [
  { id: 'fdrl_ns', subjectPrefix: 'system:serviceaccount:default:*', audience: AUDIENCE, lifetimeSeconds: 3600 },
  { id: 'fdrl_exact', subjectPrefix: 'system:serviceaccount:default:app', audience: AUDIENCE, lifetimeSeconds: 600 },
  { id: 'fdrl_multi', subjectPrefix: 'system:serviceaccount:*', audience: AUDIENCE, lifetimeSeconds: 600, workspaces: ['wrkspc_a', 'wrkspc_b'], serviceAccountId: 'svac_1' },
];

let issuer: OidcIssuer;
let endpoint: TokenEndpoint;
let endpointRunning = false;

beforeAll(async () => {
  issuer = await createOidcIssuer({ clock, serve: true });
});
afterAll(async () => {
  await issuer.close();
});
afterEach(async () => {
  nowMs = 1_750_000_000_000;
  if (endpointRunning) await endpoint.close();
  endpointRunning = false;
});

async function startEndpoint(jwks: 'memory' | 'url' = 'memory'): Promise<void> {
  endpoint = await startTokenEndpoint({
    organizationId: ORG,
    rules: RULES,
    jwks: jwks === 'memory' ? issuer.jwks : { url: issuer.jwksUrl ?? '' },
    issuer: issuer.issuer,
    clock,
  });
  endpointRunning = true;
}

function exchange(assertion: string, params: Partial<ExchangeParameters> = {}): Promise<unknown> {
  const exchanger = createTokenExchanger({ baseUrl: endpoint.url, federationRuleId: 'fdrl_ns', organizationId: ORG, ...params }, { clock });
  return exchanger.exchange(assertion).finally(() => exchanger.close?.());
}

describe('token endpoint stand-in: denials', () => {
  it.each<{ name: string; mint?: ProjectedTokenOptions; params?: Partial<ExchangeParameters>; reason: DenialReason; advanceMs?: number }>([
    { name: 'a token signed by another key', mint: { signWith: 'wrong-key' }, reason: 'bad_signature' },
    { name: 'an unknown kid', mint: { kid: 'other-kid' }, reason: 'unknown_key' },
    { name: 'an expired token', mint: { lifetimeSeconds: 600 }, advanceMs: 601_000, reason: 'expired' },
    { name: 'a token from the future', mint: { iat: 1_750_000_000 + 3600 }, reason: 'not_yet_valid' },
    { name: 'another issuer', mint: { iss: 'https://elsewhere.example.com' }, reason: 'wrong_issuer' },
    { name: 'another audience', mint: { aud: ['https://kubernetes.default.svc'] }, reason: 'wrong_audience' },
    { name: 'another namespace', mint: { namespace: 'prod' }, reason: 'subject_mismatch' },
    { name: 'an exact subject rule and another SA', mint: { serviceAccount: 'apps' }, params: { federationRuleId: 'fdrl_exact' }, reason: 'subject_mismatch' },
    { name: 'an unknown rule', params: { federationRuleId: 'fdrl_nope' }, reason: 'unknown_rule' },
    { name: 'another organization', params: { organizationId: '00000000-0000-4000-8000-000000000000' }, reason: 'wrong_organization' },
    { name: 'a multi-workspace rule without workspace', params: { federationRuleId: 'fdrl_multi' }, reason: 'workspace_required' },
    { name: 'a workspace the rule does not enable', params: { federationRuleId: 'fdrl_multi', workspaceId: 'wrkspc_c' }, reason: 'workspace_not_allowed' },
    { name: 'another service account', params: { federationRuleId: 'fdrl_multi', workspaceId: 'wrkspc_a', serviceAccountId: 'svac_2' }, reason: 'service_account_mismatch' },
  ])('$name → 401, reason $reason', async ({ mint, params, reason, advanceMs }) => {
    await startEndpoint();
    const jwt = await issuer.mintProjectedToken(mint);
    nowMs += advanceMs ?? 0;
    const error = await exchange(jwt, params).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExchangeError);
    expect((error as ExchangeError).kind).toBe('rejected');
    expect(endpoint.events).toEqual([expect.objectContaining({ outcome: 'denied', reason, status: 401 })]);
    expect(endpoint.issuedTokens).toEqual([]);
  });

  it('a jti is single-use; a token without jti may be exchanged again', async () => {
    await startEndpoint();
    const withJti = await issuer.mintProjectedToken({ jti: 'once' });
    await exchange(withJti);
    await expect(exchange(withJti)).rejects.toThrow('HTTP 401');
    const withoutJti = await issuer.mintProjectedToken({ jti: null });
    await exchange(withoutJti);
    await exchange(withoutJti);
    expect(endpoint.events.map((e) => (e.outcome === 'denied' ? e.reason : e.outcome))).toEqual(['success', 'jti_reused', 'success', 'success']);
    expect(endpoint.requests.map((r) => r.jti)).toEqual(['once', 'once', undefined, undefined]);
  });

  it('a denied assertion does not consume its jti', async () => {
    await startEndpoint();
    const jwt = await issuer.mintProjectedToken({ jti: 'kept' });
    await expect(exchange(jwt, { federationRuleId: 'fdrl_nope' })).rejects.toThrow('HTTP 401');
    await exchange(jwt);
    expect(endpoint.issuedTokens.map((t) => t.jti)).toEqual(['kept']);
  });

  it.each([
    { name: 'an extra field', body: { scope: 'x' }, headers: {}, message: 'scope: Extra inputs are not permitted' },
    { name: 'a missing field', body: { organization_id: undefined }, headers: {}, message: 'organization_id: Field required' },
    { name: 'another grant type', body: { grant_type: 'client_credentials' }, headers: {}, message: 'grant_type: unsupported grant type "client_credentials"' },
    { name: 'a malformed rule id', body: { federation_rule_id: 'rule-1' }, headers: {}, message: 'federation_rule_id: invalid format' },
    { name: 'no federation beta', body: {}, headers: { 'anthropic-beta': 'oauth-2025-04-20' }, message: 'anthropic-beta must include oidc-federation-2026-04-01' },
    { name: 'a form body', body: {}, headers: { 'content-type': 'application/x-www-form-urlencoded' }, message: 'content-type must be application/json, got "application/x-www-form-urlencoded"' },
  ])('$name → 400 invalid_request_error', async ({ body, headers, message }) => {
    await startEndpoint();
    const full = { grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: await issuer.mintProjectedToken(), federation_rule_id: 'fdrl_ns', organization_id: ORG, ...body };
    const response = await request(`${endpoint.url}/v1/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'anthropic-beta': 'oauth-2025-04-20,oidc-federation-2026-04-01', ...headers },
      body: JSON.stringify(full),
    });
    expect(response.statusCode).toBe(400);
    expect(response.headers['request-id']).toMatch(/^req_[0-9a-f]{24}$/);
    expect(await response.body.json()).toEqual({
      type: 'error',
      error: { type: 'invalid_request_error', message },
      request_id: response.headers['request-id'],
    });
    expect(endpoint.events).toEqual([expect.objectContaining({ outcome: 'denied', reason: 'invalid_request', status: 400, detail: message })]);
  });
});

describe('token endpoint stand-in: issuing', () => {
  it('fetches the JWKS from a URL once and caches it', async () => {
    await startEndpoint('url');
    const before = issuer.jwksFetches;
    await exchange(await issuer.mintProjectedToken());
    await exchange(await issuer.mintProjectedToken());
    expect(issuer.jwksFetches - before).toBe(1);
    expect(endpoint.issuedTokens).toHaveLength(2);
  });

  it('records issued tokens and tells which are still valid on its clock', async () => {
    await startEndpoint();
    await exchange(await issuer.mintProjectedToken({ lifetimeSeconds: 600 }));
    const token = endpoint.currentToken();
    expect(token).toMatchObject({ ruleId: 'fdrl_ns', subject: 'system:serviceaccount:default:app', expiresIn: 1200, issuedAtMs: nowMs, expiresAtMs: nowMs + 1_200_000, workspaceId: 'default', scope: 'workspace:developer' });
    expect(token?.accessToken).toMatch(/^sk-ant-oat01-[A-Za-z0-9_-]{64}$/);
    expect(endpoint.findToken(token?.accessToken ?? '')).toBe(token);
    expect(endpoint.isValidToken(token?.accessToken ?? '')).toBe(true);
    expect(endpoint.isValidToken(token?.accessToken ?? '', nowMs + 1_199_999)).toBe(true);
    expect(endpoint.isValidToken(token?.accessToken ?? '', nowMs + 1_200_000)).toBe(false);
    expect(endpoint.isValidToken('sk-ant-oat01-unknown')).toBe(false);
    endpoint.revokeToken(token?.accessToken ?? '');
    expect(endpoint.isValidToken(token?.accessToken ?? '')).toBe(false);
    expect(endpoint.findToken(token?.accessToken ?? '')).toBe(token);
  });

  it('setRules changes the lifetime for later exchanges', async () => {
    await startEndpoint();
    endpoint.setRules([{ ...RULES[0]!, lifetimeSeconds: 120 }]);
    await exchange(await issuer.mintProjectedToken());
    expect(endpoint.currentToken()?.expiresIn).toBe(120);
  });

  it('serves discovery like kube-apiserver', async () => {
    await startEndpoint();
    const response = await request(`${issuer.url ?? ''}/.well-known/openid-configuration`);
    expect(await response.body.json()).toMatchObject({ issuer: issuer.issuer, jwks_uri: issuer.jwksUrl });
  });
});

describe('messages stand-in', () => {
  let messages: MessagesEndpoint;
  let configDir: string;
  const savedEnv = { ...process.env };

  beforeAll(async () => {
    configDir = await mkdtemp(join(tmpdir(), 'wif-sdk-'));
  });
  afterAll(async () => {
    await rm(configDir, { recursive: true, force: true });
  });
  afterEach(async () => {
    process.env = { ...savedEnv };
    await messages.close();
  });

  it('answers the SDK with a message and records the credential', async () => {
    messages = await startMessagesEndpoint({ responseText: 'hi there' });
    const client = new Anthropic({ authToken: 'sk-ant-oat01-direct', baseURL: messages.url, maxRetries: 0 });
    const reply = await client.messages.create({ model: 'claude-test', max_tokens: 16, messages: [{ role: 'user', content: 'hello' }] });
    expect(reply.content).toEqual([{ type: 'text', text: 'hi there' }]);
    expect(messages.requests).toHaveLength(1);
    expect(messages.requests[0]).toMatchObject({ method: 'POST', authorization: 'Bearer sk-ant-oat01-direct', apiKey: undefined, stream: false, status: 200, completed: true });
  });

  it('streams the real event sequence to the SDK', async () => {
    messages = await startMessagesEndpoint({ stream: { deltas: 4, deltaText: 'ab' } });
    const client = new Anthropic({ authToken: 'sk-ant-oat01-direct', baseURL: messages.url, maxRetries: 0 });
    const stream = client.messages.stream({ model: 'claude-test', max_tokens: 16, messages: [{ role: 'user', content: 'hello' }] });
    const events: string[] = [];
    stream.on('streamEvent', (event) => events.push(event.type));
    const final = await stream.finalMessage();
    expect(final.content).toEqual([{ type: 'text', text: 'abababab' }]);
    expect(final.stop_reason).toBe('end_turn');
    expect(events).toEqual(['message_start', 'content_block_start', 'content_block_delta', 'content_block_delta', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
    expect(messages.requests[0]?.stream).toBe(true);
  });

  it('refuses a credential the authorizer rejects, with the API error shape', async () => {
    messages = await startMessagesEndpoint({ authorize: ({ authorization }) => authorization === 'Bearer good' });
    const client = new Anthropic({ authToken: 'bad', baseURL: messages.url, maxRetries: 0 });
    await expect(client.messages.create({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(Anthropic.AuthenticationError);
    expect(messages.requests[0]?.status).toBe(401);
  });

  it('the SDK configured only by ANTHROPIC_CONFIG_DIR sends the token the file store wrote, with the OAuth beta', async () => {
    messages = await startMessagesEndpoint();
    const store = createTokenFileStore(configDir);
    await store.writeProfile({ organizationId: ORG });
    await store.writeToken({ accessToken: 'sk-ant-oat01-fromfile', expiresAtMs: Date.now() + 3_600_000 }, Date.now());
    for (const name of Object.keys(process.env)) if (name.startsWith('ANTHROPIC_')) Reflect.deleteProperty(process.env, name);
    process.env.ANTHROPIC_CONFIG_DIR = configDir;
    const client = new Anthropic({ baseURL: messages.url, maxRetries: 0 });
    await client.messages.create({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'x' }] });
    expect(messages.requests[0]?.authorization).toBe('Bearer sk-ant-oat01-fromfile');
    expect(messages.requests[0]?.anthropicBeta?.split(',')).toContain('oauth-2025-04-20');
    expect(messages.requests[0]?.apiKey).toBeUndefined();
  });

  it('notices a client that disconnects mid-stream', async () => {
    messages = await startMessagesEndpoint({ stream: { deltas: 100_000, deltaText: 'x'.repeat(1024) } });
    const controller = new AbortController();
    const response = await request(`${messages.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', max_tokens: 1, stream: true, messages: [] }),
      signal: controller.signal,
    });
    expect(response.headers['content-type']).toBe('text/event-stream');
    const disconnect = messages.nextDisconnect();
    controller.abort();
    response.body.on('error', () => undefined);
    const record = await disconnect;
    expect(record.clientDisconnected).toBe(true);
    expect(record.completed).toBe(false);
    expect(messages.disconnects).toBe(1);
  });

  const LIVE = 'sk-ant-oat01-live';
  const OAUTH_BETAS = 'claude-code-20250219,oauth-2025-04-20';
  it.each<[string, MessagesCredential, MessagesAuthorization]>([
    ['Bearer with the OAuth beta among others', { authorization: `Bearer ${LIVE}`, apiKey: undefined, anthropicBeta: OAUTH_BETAS }, true],
    ['Bearer with the OAuth beta alone', { authorization: `Bearer ${LIVE}`, apiKey: undefined, anthropicBeta: 'oauth-2025-04-20' }, true],
    ['Bearer without the OAuth beta', { authorization: `Bearer ${LIVE}`, apiKey: undefined, anthropicBeta: 'claude-code-20250219' }, OAuthRefusal.missingBeta],
    ['Bearer with no beta header', { authorization: `Bearer ${LIVE}`, apiKey: undefined }, OAuthRefusal.missingBeta],
    ['the token as X-Api-Key, even with Bearer and the beta', { authorization: `Bearer ${LIVE}`, apiKey: LIVE, anthropicBeta: OAUTH_BETAS }, OAuthRefusal.apiKey],
    ['the token as X-Api-Key alone', { authorization: undefined, apiKey: LIVE, anthropicBeta: OAUTH_BETAS }, OAuthRefusal.apiKey],
    ['a token the endpoint did not issue, or revoked', { authorization: 'Bearer sk-ant-oat01-revoked', apiKey: undefined, anthropicBeta: OAUTH_BETAS }, OAuthRefusal.invalidToken],
    ['a placeholder Bearer', { authorization: 'Bearer managed-by-anthropic-wif', apiKey: undefined, anthropicBeta: OAUTH_BETAS }, OAuthRefusal.invalidToken],
    ['no credential', { authorization: undefined, apiKey: undefined, anthropicBeta: OAUTH_BETAS }, OAuthRefusal.noCredential],
  ])('oauthTokenRules: %s', (_case, credential, expected) => {
    expect(oauthTokenRules((token) => token === LIVE)(credential)).toBe(expected);
  });

  it('answers a refusal with 401, the API error shape and the rule broken, and records it', async () => {
    messages = await startMessagesEndpoint({ authorize: oauthTokenRules(() => true) });
    const response = await request(`${messages.url}/v1/messages?beta=true`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': LIVE },
      body: JSON.stringify({ model: 'm', max_tokens: 1, messages: [] }),
    });
    expect(response.statusCode).toBe(401);
    expect(await response.body.json()).toEqual({ type: 'error', error: { type: 'authentication_error', message: OAuthRefusal.apiKey } });
    expect(messages.requests[0]).toMatchObject({ path: '/v1/messages?beta=true', apiKey: LIVE, status: 401, refusal: OAuthRefusal.apiKey });
  });

  it('script() answers the next request with a canned error', async () => {
    messages = await startMessagesEndpoint();
    messages.script({ status: 529, body: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } });
    const client = new Anthropic({ authToken: 't', baseURL: messages.url, maxRetries: 0 });
    await expect(client.messages.create({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'x' }] })).rejects.toThrow('Overloaded');
    const reply = await client.messages.create({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'x' }] });
    expect(reply.type).toBe('message');
  });
});
