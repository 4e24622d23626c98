/**
 * How the agent's outbound connections are made (the exchange, the `url` identity source and
 * the proxy mode's upstream): which certificates they trust, and whether they go through an
 * HTTP forward proxy (HTTPS_PROXY, HTTP_PROXY, NO_PROXY, read by config.ts only).
 *
 * Matching follows Go's golang.org/x/net/http/httpproxy, which the cluster's other programs
 * use: loopback targets are never proxied; a NO_PROXY entry is `*`, a host, a domain (with or
 * without a leading dot or `*.`), any of those with `:port`, an IP or a CIDR. Spellings:
 * lowercase wins when both are set (as curl and undici read them).
 *
 * A proxy's user:password is a secret: it lives only in `authorization` (a key the logger
 * censors), and every message names a proxy by its origin.
 */
import { X509Certificate } from 'node:crypto';
import { BlockList, isIP, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { buildConnector } from 'undici';
import type { Clock } from '../runtime/clock.ts';
import { WifError } from '../runtime/errors.ts';
import { AgentEnv, AgentFlag, UNSAFE_URL_CHARACTERS, isLoopbackHost } from '../contract/index.ts';
import { describeTransportError, startDeadline } from '../runtime/http-response.ts';

// ---------------------------------------------------------------------------------------
// Settings

/** An HTTP forward proxy from a proxy variable. */
export interface ForwardProxy {
  /** `http://host:port`, never with user:password: what messages may show. */
  readonly origin: string;
  /** Host name or IP, without brackets. */
  readonly host: string;
  readonly port: number;
  /** The variable it came from, for messages. */
  readonly variable: string;
  /** `Basic …` from the URL's user:password, sent as Proxy-Authorization. A secret. */
  readonly authorization: string | undefined;
}

export type NoProxyRule =
  | { readonly kind: 'all' }
  | { readonly kind: 'address'; readonly address: string; readonly prefix: number; readonly family: 'ipv4' | 'ipv6'; readonly port: string }
  | { readonly kind: 'domain'; readonly suffix: string; readonly matchesItself: boolean; readonly port: string };

export interface EgressSettings {
  /**
   * PEM certificates trusted in addition to the system roots (`--ca-bundle-file`); empty
   * leaves Node's default trust alone.
   */
  readonly extraCaCertificates: readonly string[];
  /** The proxy for https targets (HTTPS_PROXY / https_proxy). */
  readonly httpsProxy: ForwardProxy | undefined;
  /** The proxy for http targets (HTTP_PROXY / http_proxy). */
  readonly httpProxy: ForwardProxy | undefined;
  /** Targets reached directly although a proxy is set (NO_PROXY / no_proxy). */
  readonly noProxy: readonly NoProxyRule[];
}

export const DIRECT_EGRESS: EgressSettings = Object.freeze({
  extraCaCertificates: Object.freeze([]),
  httpsProxy: undefined,
  httpProxy: undefined,
  noProxy: Object.freeze([]),
});

/** Where a message points when an endpoint's certificate is not trusted. */
export const UNTRUSTED_CERTIFICATE_HINT = `if a private CA or a TLS-intercepting proxy signs it, give that CA in ${AgentEnv.caBundleFile} (--${AgentFlag.caBundleFile})`;

// ---------------------------------------------------------------------------------------
// The CA bundle

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----\r?\n[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * The certificates of a PEM bundle, each checked to parse. Throws an Error saying what is
 * wrong without quoting the text (for the config parser's "expected …" message).
 */
export function parsePemCertificates(text: string): readonly string[] {
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new Error('no PEM certificate (-----BEGIN CERTIFICATE-----) in the file');
  blocks.forEach((block, index) => {
    try {
      new X509Certificate(block);
    } catch {
      throw new Error(`certificate ${index + 1} of ${blocks.length} cannot be parsed`);
    }
  });
  return Object.freeze(blocks);
}

/**
 * TLS options for a connection: with extra certificates, `ca` is the system roots plus them
 * (a `ca` option replaces Node's roots, it does not add to them); without, no option at all.
 */
export function tlsTrustOptions(settings: EgressSettings): { readonly ca?: string[] } {
  if (settings.extraCaCertificates.length === 0) return {};
  // Loaded when needed (an extra bundle is rare), as exchange.ts loads node:https.
  const { rootCertificates } = process.getBuiltinModule('node:tls');
  return { ca: [...rootCertificates, ...settings.extraCaCertificates] };
}

// ---------------------------------------------------------------------------------------
// Proxy variables (parsed here, read by config.ts)

export const PROXY_URL_EXPECTED = 'an http:// proxy URL such as http://proxy.example:3128 (https:// and socks proxies are not supported)';

/** A proxy variable's value; throws an Error saying what is expected, never quoting the value. */
export function parseForwardProxy(raw: string, variable: string): ForwardProxy {
  const text = raw.includes('://') ? raw : `http://${raw}`;
  const url = UNSAFE_URL_CHARACTERS.test(text) || !URL.canParse(text) ? undefined : new URL(text);
  if (url?.protocol !== 'http:' || url.hostname === '') throw new Error(PROXY_URL_EXPECTED);
  const user = url.username === '' && url.password === '' ? undefined : `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  return Object.freeze({
    origin: `http://${url.host}`,
    host: unbracket(url.hostname),
    port: url.port === '' ? 80 : Number(url.port),
    variable,
    authorization: user === undefined ? undefined : `Basic ${Buffer.from(user, 'utf8').toString('base64')}`,
  });
}

/** NO_PROXY as Go reads it: comma-separated, case-insensitive; entries it cannot read are skipped. */
export function parseNoProxy(raw: string): readonly NoProxyRule[] {
  const rules: NoProxyRule[] = [];
  for (const entry of raw.split(',').map((e) => e.trim().toLowerCase())) {
    if (entry === '') continue;
    if (entry === '*') return Object.freeze([{ kind: 'all' }]);
    const rule = parseNoProxyEntry(entry);
    if (rule !== undefined) rules.push(Object.freeze(rule));
  }
  return Object.freeze(rules);
}

function parseNoProxyEntry(entry: string): NoProxyRule | undefined {
  const cidr = parseCidr(entry);
  if (cidr !== undefined) return { kind: 'address', ...cidr, port: '' };
  const { host, port } = splitHostPort(entry);
  if (host === '') return undefined;
  const family = ipFamily(host);
  if (family !== undefined) return { kind: 'address', address: host, prefix: family === 'ipv4' ? 32 : 128, family, port };
  const bare = host.startsWith('*.') ? host.slice(1) : host;
  if (bare === '.') return undefined;
  return bare.startsWith('.') ? { kind: 'domain', suffix: bare, matchesItself: false, port } : { kind: 'domain', suffix: `.${bare}`, matchesItself: true, port };
}

function parseCidr(entry: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const slash = entry.indexOf('/');
  if (slash === -1) return undefined;
  const address = entry.slice(0, slash);
  const bits = entry.slice(slash + 1);
  const family = ipFamily(address);
  if (family === undefined || !/^\d{1,3}$/.test(bits) || Number(bits) > (family === 'ipv4' ? 32 : 128)) return undefined;
  return { address, prefix: Number(bits), family };
}

/** `host:port`, `[v6]:port`, `[v6]`, a bare IPv6 address or a host alone. */
function splitHostPort(entry: string): { host: string; port: string } {
  const bracketed = /^\[([^\]]*)\](?::(\d+))?$/.exec(entry);
  if (bracketed !== null) return { host: bracketed[1] ?? '', port: bracketed[2] ?? '' };
  const hostPort = /^([^:]*):(\d+)$/.exec(entry);
  if (hostPort !== null) return { host: hostPort[1] ?? '', port: hostPort[2] ?? '' };
  return { host: entry, port: '' };
}

function ipFamily(host: string): 'ipv4' | 'ipv6' | undefined {
  const version = isIP(host);
  return version === 4 ? 'ipv4' : version === 6 ? 'ipv6' : undefined;
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

// ---------------------------------------------------------------------------------------
// Deciding

/** True when a NO_PROXY rule sends `host:port` (host lowercased, no brackets) direct. */
export function matchesNoProxy(rules: readonly NoProxyRule[], host: string, port: string): boolean {
  const family = ipFamily(host);
  return rules.some((rule) => {
    if (rule.kind === 'all') return true;
    if (rule.port !== '' && rule.port !== port) return false;
    if (rule.kind === 'domain') return host.endsWith(rule.suffix) || (rule.matchesItself && host === rule.suffix.slice(1));
    if (family !== rule.family) return false;
    const block = new BlockList();
    block.addSubnet(rule.address, rule.prefix, rule.family);
    return block.check(host, family);
  });
}

function defaultPort(protocol: string): string {
  return protocol === 'https:' ? '443' : '80';
}

/** The proxy to reach `target` through, or undefined to connect directly. */
export function proxyFor(target: URL, settings: EgressSettings): ForwardProxy | undefined {
  const proxy = target.protocol === 'https:' ? settings.httpsProxy : target.protocol === 'http:' ? settings.httpProxy : undefined;
  if (proxy === undefined) return undefined;
  const host = unbracket(target.hostname.toLowerCase());
  if (isLoopbackHost(host)) return undefined;
  return matchesNoProxy(settings.noProxy, host, target.port === '' ? defaultPort(target.protocol) : target.port) ? undefined : proxy;
}

/** True when some target may go through a proxy (otherwise connections stay exactly as without this module). */
function mayUseProxy(settings: EgressSettings): boolean {
  return settings.httpsProxy !== undefined || settings.httpProxy !== undefined;
}

/** The proxy settings in a log line: origins and counts only. */
export function describeEgress(settings: EgressSettings): Record<string, unknown> {
  return {
    httpsProxy: settings.httpsProxy?.origin,
    httpProxy: settings.httpProxy?.origin,
    noProxyEntries: settings.noProxy.length,
    extraCaCertificates: settings.extraCaCertificates.length,
  };
}

// ---------------------------------------------------------------------------------------
// Tunnelling

/** A proxy that could not be reached or would not open a tunnel: transient, named by origin only. */
export class EgressProxyError extends WifError {
  constructor(code: 'proxy-unreachable' | 'proxy-refused' | 'proxy-timeout', message: string, cause?: unknown) {
    super(code, message, { retryable: true, cause });
  }
}

export interface TunnelTarget {
  /** Host name or IP, without brackets. */
  readonly host: string;
  readonly port: number;
  /** Start TLS over the tunnel (https targets), verifying the host's certificate. */
  readonly tls: boolean;
}

function authorityOf(target: TunnelTarget): string {
  return `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
}

/**
 * A socket to `target` through `proxy`: CONNECT (with Proxy-Authorization when the proxy URL
 * had user:password), then TLS over the tunnel for https targets. Aborting `signal` ends it.
 */
export function openTunnel(proxy: ForwardProxy, target: TunnelTarget, trust: { readonly ca?: string[] }, signal: AbortSignal): Promise<Socket | TLSSocket> {
  const { request } = process.getBuiltinModule('node:http');
  const authority = authorityOf(target);
  const where = `the proxy ${proxy.origin} (${proxy.variable})`;
  return new Promise((resolve, reject) => {
    const req = request({
      host: proxy.host,
      port: proxy.port,
      method: 'CONNECT',
      path: authority,
      headers: { host: authority, ...(proxy.authorization === undefined ? {} : { 'proxy-authorization': proxy.authorization }) },
      agent: false,
      signal,
    });
    req.once('connect', (res, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        reject(new EgressProxyError('proxy-refused', `${where} answered CONNECT ${authority} with HTTP ${res.statusCode ?? 0}${res.statusMessage === undefined ? '' : ` ${res.statusMessage}`}`));
        return;
      }
      if (!target.tls) {
        resolve(socket);
        return;
      }
      startTls(socket, target, trust, signal).then(resolve, reject);
    });
    req.once('error', (error) => {
      reject(signal.aborted ? error : new EgressProxyError('proxy-unreachable', `could not connect to ${where}: ${describeTransportError(error)}`, error));
    });
    req.end();
  });
}

function startTls(socket: Duplex, target: TunnelTarget, trust: { readonly ca?: string[] }, signal: AbortSignal): Promise<TLSSocket> {
  const { connect } = process.getBuiltinModule('node:tls');
  const secure = connect({ socket, servername: isIP(target.host) === 0 ? target.host : undefined, ALPNProtocols: ['http/1.1'], ...trust });
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      secure.destroy(signal.reason instanceof Error ? signal.reason : undefined);
    };
    const onError = (error: Error): void => {
      signal.removeEventListener('abort', onAbort);
      reject(error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    secure.once('error', onError);
    secure.once('secureConnect', () => {
      signal.removeEventListener('abort', onAbort);
      secure.off('error', onError);
      resolve(secure);
    });
  });
}

/** The target of a URL, for openTunnel. */
export function tunnelTargetOf(url: URL): TunnelTarget {
  return { host: unbracket(url.hostname), port: Number(url.port === '' ? defaultPort(url.protocol) : url.port), tls: url.protocol === 'https:' };
}

/**
 * node:http(s) `createConnection` for one request through `proxy`: the request waits for the
 * tunnel; errors reach it as request errors.
 */
export function tunnelConnection(
  proxy: ForwardProxy,
  url: URL,
  options: { readonly trust: { readonly ca?: string[] }; readonly signal: AbortSignal },
): (requestOptions: unknown, oncreate: (error: Error | null, socket: Duplex) => void) => undefined {
  return (_requestOptions, oncreate) => {
    openTunnel(proxy, tunnelTargetOf(url), options.trust, options.signal).then(
      (socket) => {
        oncreate(null, socket);
      },
      (error: unknown) => {
        // Node ignores the socket argument when there is an error.
        oncreate(error instanceof Error ? error : new Error(String(error)), undefined as unknown as Duplex);
      },
    );
    return undefined;
  };
}

export interface ConnectorOptions {
  readonly settings: EgressSettings;
  /** Connect (and tunnel set-up) timeout. */
  readonly timeoutMs: number;
  readonly clock: Clock;
  /** undici's own connector for direct connections (built with the same trust and timeout). */
  readonly direct: buildConnector.connector;
}

/** An undici `connect` function: direct, or a CONNECT tunnel when proxyFor says so. */
export function egressConnector(options: ConnectorOptions): buildConnector.connector {
  const trust = tlsTrustOptions(options.settings);
  return (connectOptions, callback) => {
    const url = new URL(`${connectOptions.protocol}//${connectOptions.hostname}${connectOptions.port === '' ? '' : `:${connectOptions.port}`}`);
    const proxy = proxyFor(url, options.settings);
    if (proxy === undefined) {
      options.direct(connectOptions, callback);
      return;
    }
    const deadline = startDeadline(options.clock, options.timeoutMs);
    openTunnel(proxy, tunnelTargetOf(url), trust, deadline.signal).then(
      (socket) => {
        deadline.clear();
        callback(null, socket);
      },
      (error: unknown) => {
        deadline.clear();
        const timedOut = deadline.timedOut();
        callback(
          timedOut
            ? new EgressProxyError('proxy-timeout', `the proxy ${proxy.origin} (${proxy.variable}) did not open a tunnel to ${authorityOf(tunnelTargetOf(url))} within ${options.timeoutMs / 1000} s`, error)
            : error instanceof Error ? error : new Error(String(error)),
          null,
        );
      },
    );
  };
}

/**
 * undici's `connect` option for a dispatcher: the trust alone when no proxy variable is set
 * (connections exactly as without this module), else egressConnector over undici's own
 * connector. `build` is undici's buildConnector, passed in so this module never loads undici.
 */
export function undiciConnectOption(
  settings: EgressSettings,
  options: { readonly timeoutMs: number; readonly clock: Clock; readonly build: typeof buildConnector },
): buildConnector.BuildOptions | buildConnector.connector {
  const trust = tlsTrustOptions(settings);
  if (!mayUseProxy(settings)) return trust;
  return egressConnector({ settings, timeoutMs: options.timeoutMs, clock: options.clock, direct: options.build({ ...trust, timeout: options.timeoutMs }) });
}
