/**
 * The CONNECT tunnel of agent/egress.ts against a scripted forward proxy on loopback: what
 * goes on the wire (authority, Proxy-Authorization), how a refusal, a dead proxy and a proxy
 * that never answers surface (in the tunnel, the exchange and undici's connector), and that
 * no message carries the proxy's credentials.
 */
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DIRECT_EGRESS, EgressProxyError, egressConnector, openTunnel, parseForwardProxy, parseNoProxy, type EgressSettings } from '../../agent/egress.ts';
import { ExchangeError, createTokenExchanger } from '../../agent/refresh/exchange.ts';
import { classifyUpstreamError } from '../../agent/proxy/forwarding.ts';
import type { buildConnector } from 'undici';
import { FakeClock } from '../support/fake-clock.ts';
import { freePort } from '../support/tinyproxy.ts';

const PASSWORD = 'pr0xy-pa55word';
const BASIC = `Basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}`;

type ConnectBehaviour = { readonly kind: 'answer'; readonly status: number; readonly reason: string } | { readonly kind: 'relay'; readonly port: number } | { readonly kind: 'hang' };

interface FakeProxy {
  readonly port: number;
  readonly seen: { readonly url: string | undefined; readonly headers: IncomingHttpHeaders }[];
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

function closing(server: Server | ReturnType<typeof createTcpServer>, sockets: Set<Socket>): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => {
        resolve();
      });
    });
}

async function fakeProxy(behaviour: ConnectBehaviour): Promise<FakeProxy> {
  const seen: FakeProxy['seen'][number][] = [];
  const sockets = new Set<Socket>();
  const server = createHttpServer();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
  });
  server.on('connect', (req, socket: Socket) => {
    seen.push({ url: req.url, headers: req.headers });
    if (behaviour.kind === 'hang') return;
    if (behaviour.kind === 'answer') {
      socket.end(`HTTP/1.1 ${behaviour.status} ${behaviour.reason}\r\ncontent-length: 0\r\n\r\n`);
      return;
    }
    const upstream = connect(behaviour.port, '127.0.0.1', () => {
      socket.write('HTTP/1.1 200 Connection established\r\n\r\n');
      upstream.pipe(socket).pipe(upstream);
    });
    sockets.add(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(closing(server, sockets));
  return { port: (server.address() as AddressInfo).port, seen };
}

async function echoServer(): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(closing(server, sockets));
  return (server.address() as AddressInfo).port;
}

function settingsFor(port: number, noProxy = ''): EgressSettings {
  return { ...DIRECT_EGRESS, httpsProxy: parseForwardProxy(`http://alice:${PASSWORD}@127.0.0.1:${port}`, 'HTTPS_PROXY'), noProxy: parseNoProxy(noProxy) };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('openTunnel', () => {
  it('asks for the target authority with the credentials, then carries bytes both ways', async () => {
    const echo = await echoServer();
    const proxy = await fakeProxy({ kind: 'relay', port: echo });
    const settings = settingsFor(proxy.port);
    const socket = await openTunnel(settings.httpsProxy!, { host: 'api.example.test', port: 443, tls: false }, {}, new AbortController().signal);
    const echoed = new Promise<string>((resolve) => socket.once('data', (chunk: Buffer) => { resolve(chunk.toString('utf8')); }));
    socket.write('ping');
    expect(await echoed).toBe('ping');
    socket.destroy();
    expect(proxy.seen).toEqual([{ url: 'api.example.test:443', headers: expect.objectContaining({ host: 'api.example.test:443', 'proxy-authorization': BASIC }) as unknown }]);
  });

  it('brackets an IPv6 target and sends no Proxy-Authorization without credentials', async () => {
    const proxy = await fakeProxy({ kind: 'answer', status: 403, reason: 'Forbidden' });
    const error = await rejection(openTunnel(parseForwardProxy(`127.0.0.1:${proxy.port}`, 'https_proxy'), { host: 'fd00::5', port: 8443, tls: true }, {}, new AbortController().signal));
    expect(error).toBeInstanceOf(EgressProxyError);
    expect(error.message).toBe(`the proxy http://127.0.0.1:${proxy.port} (https_proxy) answered CONNECT [fd00::5]:8443 with HTTP 403 Forbidden`);
    expect(proxy.seen.map((s) => [s.url, s.headers['proxy-authorization']])).toEqual([['[fd00::5]:8443', undefined]]);
  });

  it.each([
    { status: 407, reason: 'Proxy Authentication Required' },
    { status: 502, reason: 'Bad Gateway' },
  ])('a CONNECT answered $status is a retryable proxy-refused error naming the proxy by origin', async ({ status, reason }) => {
    const proxy = await fakeProxy({ kind: 'answer', status, reason });
    const error = await rejection(openTunnel(settingsFor(proxy.port).httpsProxy!, { host: 'api.example.test', port: 443, tls: true }, {}, new AbortController().signal));
    expect(error).toMatchObject({ code: 'proxy-refused', retryable: true, message: `the proxy http://127.0.0.1:${proxy.port} (HTTPS_PROXY) answered CONNECT api.example.test:443 with HTTP ${status} ${reason}` });
    expect(error).toBeInstanceOf(EgressProxyError);
    expect(JSON.stringify(error)).not.toContain(PASSWORD);
  });

  it('a proxy that is down is a retryable proxy-unreachable error', async () => {
    const port = await freePort();
    const error = await rejection(openTunnel(settingsFor(port).httpsProxy!, { host: 'api.example.test', port: 443, tls: true }, {}, new AbortController().signal));
    expect(error).toMatchObject({ code: 'proxy-unreachable', retryable: true, message: `could not connect to the proxy http://127.0.0.1:${port} (HTTPS_PROXY): connect ECONNREFUSED 127.0.0.1:${port}` });
  });
});

describe('the exchange through a proxy', () => {
  const params = { baseUrl: 'https://api.example.test', federationRuleId: 'fdrl_x', organizationId: '00000000-0000-4000-8000-000000000000' };

  it('a refused CONNECT is a transient network failure naming the endpoint and the proxy, without credentials', async () => {
    const proxy = await fakeProxy({ kind: 'answer', status: 403, reason: 'Forbidden' });
    const exchanger = createTokenExchanger(params, { clock: new FakeClock(), egress: settingsFor(proxy.port) });
    const error = await rejection(exchanger.exchange('a.b.c'));
    expect(error).toBeInstanceOf(ExchangeError);
    expect(error).toMatchObject({
      kind: 'network',
      retryable: true,
      message: `could not reach the token endpoint https://api.example.test/v1/oauth/token: the proxy http://127.0.0.1:${proxy.port} (HTTPS_PROXY) answered CONNECT api.example.test:443 with HTTP 403 Forbidden`,
    });
    expect(JSON.stringify(error) + error.message).not.toContain(PASSWORD);
  });

  it('a proxy that never answers the CONNECT times out with the exchange deadline', async () => {
    const proxy = await fakeProxy({ kind: 'hang' });
    const clock = new FakeClock();
    const exchanger = createTokenExchanger(params, { clock, egress: settingsFor(proxy.port), timeoutMs: 5_000 });
    const pending = rejection(exchanger.exchange('a.b.c'));
    for (let i = 0; i < 50 && proxy.seen.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(proxy.seen.length).toBe(1);
    await clock.advanceBy(5_000);
    expect(await pending).toMatchObject({ kind: 'timeout', retryable: true, message: 'token exchange at https://api.example.test/v1/oauth/token timed out (limit 5 s)' });
  });

  it('NO_PROXY sends it direct, never to the proxy', async () => {
    const proxy = await fakeProxy({ kind: 'answer', status: 403, reason: 'Forbidden' });
    const exchanger = createTokenExchanger({ ...params, baseUrl: 'https://api.example.invalid' }, { clock: new FakeClock(), egress: settingsFor(proxy.port, '.invalid') });
    const error = await rejection(exchanger.exchange('a.b.c'));
    expect(error).toMatchObject({ kind: 'network' });
    expect(error.message).toMatch(/^could not reach the token endpoint https:\/\/api\.example\.invalid\/v1\/oauth\/token: .*(ENOTFOUND|EAI_AGAIN)/);
    expect(proxy.seen).toEqual([]);
  });
});

describe("undici's connector", () => {
  function connectWith(connector: buildConnector.connector, url: string): Promise<Error | 'connected'> {
    const target = new URL(url);
    return new Promise((resolve) => {
      connector({ protocol: target.protocol, hostname: target.hostname, port: target.port }, (error, socket) => {
        socket?.destroy();
        resolve(error ?? 'connected');
      });
    });
  }

  it('tunnels proxied targets and hands loopback and NO_PROXY targets to the direct connector', async () => {
    const proxy = await fakeProxy({ kind: 'answer', status: 403, reason: 'Forbidden' });
    const direct: string[] = [];
    const connector = egressConnector({
      settings: settingsFor(proxy.port, 'internal.example'),
      timeoutMs: 5_000,
      clock: new FakeClock(),
      direct: (options, callback) => {
        direct.push(`${options.hostname}:${options.port}`);
        callback(new Error('direct'), null);
      },
    });
    expect(await connectWith(connector, 'https://api.example.test')).toMatchObject({ code: 'proxy-refused' });
    expect(await connectWith(connector, 'https://127.0.0.1:8443')).toMatchObject({ message: 'direct' });
    expect(await connectWith(connector, 'https://internal.example')).toMatchObject({ message: 'direct' });
    expect(direct).toEqual(['127.0.0.1:8443', 'internal.example:']);
    expect(proxy.seen.map((s) => s.url)).toEqual(['api.example.test:443']);
  });

  it('gives up on a proxy that never answers after the connect timeout, on the injected clock', async () => {
    const proxy = await fakeProxy({ kind: 'hang' });
    const clock = new FakeClock();
    const connector = egressConnector({ settings: settingsFor(proxy.port), timeoutMs: 10_000, clock, direct: () => undefined });
    const pending = connectWith(connector, 'https://api.example.test:8443');
    for (let i = 0; i < 50 && proxy.seen.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    await clock.advanceBy(9_999);
    await clock.advanceBy(1);
    expect(await pending).toMatchObject({ code: 'proxy-timeout', retryable: true, message: `the proxy http://127.0.0.1:${proxy.port} (HTTPS_PROXY) did not open a tunnel to api.example.test:8443 within 10 s` });
  });

  it('the credential-isolating proxy answers 502 with the proxy error, which names no credential', () => {
    const error = new EgressProxyError('proxy-unreachable', 'could not connect to the proxy http://127.0.0.1:1 (HTTPS_PROXY): connect ECONNREFUSED 127.0.0.1:1');
    expect(classifyUpstreamError(error)).toEqual({
      status: 502,
      type: 'api_error',
      message: 'anthropic-wif proxy: could not reach the upstream API: could not connect to the proxy http://127.0.0.1:1 (HTTPS_PROXY): connect ECONNREFUSED 127.0.0.1:1',
    });
  });
});
