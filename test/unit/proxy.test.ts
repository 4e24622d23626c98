import { describe, expect, it } from 'vitest';
import {
  assertLoopbackListenHost,
  buildClientResponseHeaders,
  buildUpstreamHeaders,
  classifyUpstreamError,
  errorBody,
  mergeAnthropicBeta,
  requestHasBody,
  usableToken,
} from '../../agent/proxy/forwarding.ts';
import { startProxy } from '../../agent/proxy/proxy.ts';
import { systemClock } from '../../runtime/clock.ts';
import { ConfigError } from '../../runtime/errors.ts';
import { silentLogger } from '../../runtime/logger.ts';

const LOOPBACK_EXPECTED =
  'a loopback address such as 127.0.0.1:8423 (localhost, 127.0.0.0/8 or [::1]), because the proxy hands a real token to whoever connects';

describe('non-loopback listen addresses', () => {
  it('assertLoopbackListenHost throws a ConfigError naming --proxy-addr and its variable', () => {
    expect(() => {
      assertLoopbackListenHost('0.0.0.0');
    }).toThrow(new ConfigError(`invalid --proxy-addr (ANTHROPIC_WIF_PROXY_ADDR) host "0.0.0.0": expected ${LOOPBACK_EXPECTED}`));
  });

  it('startProxy refuses to listen on a non-loopback host (exit 2)', async () => {
    const start = startProxy({
      listen: { host: '0.0.0.0', port: 0 },
      upstreamUrl: 'https://api.anthropic.com',
      currentToken: () => undefined,
      clock: systemClock,
      logger: silentLogger(),
    });
    await expect(start).rejects.toBeInstanceOf(ConfigError);
    await expect(start).rejects.toThrow('invalid --proxy-addr (ANTHROPIC_WIF_PROXY_ADDR) host "0.0.0.0"');
  });

  it('startProxy refuses an upstream that is not an http(s) URL', async () => {
    const start = startProxy({
      listen: { host: '127.0.0.1', port: 0 },
      upstreamUrl: 'ftp://api.anthropic.com',
      currentToken: () => undefined,
      clock: systemClock,
      logger: silentLogger(),
    });
    await expect(start).rejects.toThrow(
      new ConfigError('invalid ANTHROPIC_WIF_UPSTREAM_URL "ftp://api.anthropic.com": expected an http(s) URL such as https://api.anthropic.com'),
    );
  });
});

describe('mergeAnthropicBeta', () => {
  it.each([
    { existing: undefined, want: 'oauth-2025-04-20' },
    { existing: '', want: 'oauth-2025-04-20' },
    { existing: 'files-api-2025-04-14', want: 'files-api-2025-04-14,oauth-2025-04-20' },
    { existing: 'oauth-2025-04-20', want: 'oauth-2025-04-20' },
    { existing: ' a , oauth-2025-04-20,b,a ', want: 'a,oauth-2025-04-20,b' },
    { existing: ['a,b', 'b, c'], want: 'a,b,c,oauth-2025-04-20' },
  ])('$existing → $want', ({ existing, want }) => {
    expect(mergeAnthropicBeta(existing, 'oauth-2025-04-20')).toBe(want);
  });
});

describe('buildUpstreamHeaders', () => {
  it('replaces the client credentials by the Bearer token and drops hop-by-hop headers', () => {
    const headers = buildUpstreamHeaders(
      {
        host: '127.0.0.1:8423',
        authorization: 'Bearer managed-by-anthropic-wif',
        'x-api-key': 'sk-ant-api03-stray',
        connection: 'keep-alive, X-Trace-Hop',
        'x-trace-hop': '1',
        'keep-alive': 'timeout=5',
        'transfer-encoding': 'chunked',
        'proxy-authorization': 'Basic eA==',
        expect: '100-continue',
        te: 'trailers',
        upgrade: 'h2c',
        'content-type': 'application/json',
        'anthropic-version': '2023-06-01',
        'anthropic-beta': 'files-api-2025-04-14',
        'user-agent': 'Anthropic/JS 1.12.0',
      },
      'sk-ant-oat01-real',
    );
    expect(headers).toEqual({
      'content-type': 'application/json',
      'anthropic-version': '2023-06-01',
      'anthropic-beta': 'files-api-2025-04-14,oauth-2025-04-20',
      'user-agent': 'Anthropic/JS 1.12.0',
      authorization: 'Bearer sk-ant-oat01-real',
    });
  });

  it.each([
    { contentLength: '42', want: '42' },
    { contentLength: '0', want: undefined },
    { contentLength: undefined, want: undefined },
  ])('content-length $contentLength is sent as $want', ({ contentLength, want }) => {
    expect(buildUpstreamHeaders({ 'content-length': contentLength }, 't')['content-length']).toBe(want);
  });
});

describe('requestHasBody', () => {
  it.each([
    { headers: {}, want: false },
    { headers: { 'content-length': '0' }, want: false },
    { headers: { 'content-length': '12' }, want: true },
    { headers: { 'transfer-encoding': 'chunked' }, want: true },
  ])('$headers → $want', ({ headers, want }) => {
    expect(requestHasBody(headers)).toBe(want);
  });
});

describe('buildClientResponseHeaders', () => {
  it('keeps end-to-end headers, including repeated ones, and drops hop-by-hop ones', () => {
    expect(
      buildClientResponseHeaders({
        'content-type': 'text/event-stream',
        'request-id': 'req_1',
        'set-cookie': ['a=1', 'b=2'],
        connection: 'keep-alive, x-hop',
        'x-hop': 'y',
        'keep-alive': 'timeout=5',
        'transfer-encoding': 'chunked',
      }),
    ).toEqual({ 'content-type': 'text/event-stream', 'request-id': 'req_1', 'set-cookie': ['a=1', 'b=2'] });
  });
});

describe('classifyUpstreamError', () => {
  it.each([
    { code: 'ECONNREFUSED', status: 502, type: 'api_error', message: 'anthropic-wif proxy: could not reach the upstream API (ECONNREFUSED)' },
    { code: 'ENOTFOUND', status: 502, type: 'api_error', message: 'anthropic-wif proxy: could not reach the upstream API (ENOTFOUND)' },
    { code: 'UND_ERR_SOCKET', status: 502, type: 'api_error', message: 'anthropic-wif proxy: could not reach the upstream API (UND_ERR_SOCKET)' },
    { code: undefined, status: 502, type: 'api_error', message: 'anthropic-wif proxy: could not reach the upstream API (connection failed)' },
    {
      code: 'UND_ERR_CONNECT_TIMEOUT',
      status: 504,
      type: 'timeout_error',
      message: 'anthropic-wif proxy: the upstream API did not answer in time (UND_ERR_CONNECT_TIMEOUT)',
    },
    {
      code: 'UND_ERR_HEADERS_TIMEOUT',
      status: 504,
      type: 'timeout_error',
      message: 'anthropic-wif proxy: the upstream API did not answer in time (UND_ERR_HEADERS_TIMEOUT)',
    },
  ])('$code → $status $type', ({ code, status, type, message }) => {
    expect(classifyUpstreamError(Object.assign(new Error('boom'), { code }))).toEqual({ status, type, message });
  });

  it('renders the Anthropic error shape', () => {
    expect(errorBody({ status: 502, type: 'api_error', message: 'm' })).toBe('{"type":"error","error":{"type":"api_error","message":"m"}}');
  });
});

describe('usableToken', () => {
  const token = { accessToken: 'sk-ant-oat01-x', expiresAtMs: 10_000 };
  it.each([
    { token: undefined, now: 0, usable: false },
    { token, now: 9_999, usable: true },
    { token, now: 10_000, usable: false },
    { token: { accessToken: '', expiresAtMs: 10_000 }, now: 0, usable: false },
  ])('$token at $now → usable $usable', ({ token: candidate, now, usable }) => {
    expect(usableToken(candidate, now)).toBe(usable ? candidate : undefined);
  });
});
