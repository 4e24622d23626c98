/**
 * How the agent connects out: the extra CA bundle (`--ca-bundle-file`) as the config parser
 * reads it, the trust options every outbound connection gets from it, and the forward-proxy
 * variables: which spelling wins, how NO_PROXY matches (as Go's httpproxy), and that a proxy's
 * password never reaches a message or a log line.
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { rootCertificates } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAgentConfig, parseTokenConfig, type AgentConfig } from '../../agent/config.ts';
import { DIRECT_EGRESS, describeEgress, matchesNoProxy, parseForwardProxy, parseNoProxy, parsePemCertificates, proxyFor, tlsTrustOptions, type EgressSettings } from '../../agent/egress.ts';
import { createLogger } from '../../runtime/logger.ts';
import type { Env } from '../../runtime/config.ts';
import { ConfigError } from '../../runtime/errors.ts';
import { createTestCa, type TestCa } from '../support/tls.ts';

const BASE: Env = { ANTHROPIC_FEDERATION_RULE_ID: 'fdrl_rule', ANTHROPIC_ORGANIZATION_ID: '00000000-0000-4000-8000-000000000000' };
/** Text that must never appear in an error message: it stands for the file's content. */
const MARKER = 'content-never-echoed';

let dir: string;
let ca: TestCa;
let otherCa: TestCa;
const file = (name: string): string => join(dir, name);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wif-egress-'));
  ca = await createTestCa(join(dir, 'ca'));
  otherCa = await createTestCa(join(dir, 'other-ca'));
  await writeFile(file('one.pem'), ca.certPem);
  await writeFile(file('two.pem'), `# corporate roots ${MARKER}\n${ca.certPem}\n${otherCa.certPem.replaceAll('\n', '\r\n')}`);
  await writeFile(file('not-pem.txt'), `${MARKER}\nnot a certificate\n`);
  await writeFile(file('garbage.pem'), `-----BEGIN CERTIFICATE-----\nTUlJQmFkQ2VydA${MARKER}==\n-----END CERTIFICATE-----\n`);
  await writeFile(file('second-garbage.pem'), `${ca.certPem}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`);
  await writeFile(file('key-only.pem'), `-----BEGIN PRIVATE KEY-----\n${MARKER}\n-----END PRIVATE KEY-----\n`);
  await writeFile(file('unreadable.pem'), ca.certPem);
  await chmod(file('unreadable.pem'), 0o000);
  await mkdir(file('a-directory'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function agent(argv: readonly string[], env: Env = {}): AgentConfig {
  const parsed = parseAgentConfig(argv, { ...BASE, ...env });
  if (parsed.help) throw new Error('unexpected help');
  return parsed.config;
}

/** Root can read a 0000 file: the permission case only holds for other uids. */
const isRoot = process.getuid?.() === 0;

describe('--ca-bundle-file / ANTHROPIC_WIF_CA_BUNDLE_FILE', () => {
  it.each([
    { name: 'one certificate, by flag', flag: 'one.pem', variable: undefined, count: 1 },
    { name: 'two certificates (CRLF too) with text around them, by variable', flag: undefined, variable: 'two.pem', count: 2 },
    { name: 'the flag over the variable', flag: 'one.pem', variable: 'missing.pem', count: 1 },
    { name: 'none when unset', flag: undefined, variable: undefined, count: 0 },
  ])('accepts $name', ({ flag, variable, count }) => {
    const argv = flag === undefined ? [] : ['--ca-bundle-file', file(flag)];
    const certificates = agent(argv, { ANTHROPIC_WIF_CA_BUNDLE_FILE: variable === undefined ? undefined : file(variable) }).egress.extraCaCertificates;
    expect(certificates.length).toBe(count);
    if (count > 0) expect(certificates[0]).toBe(ca.certPem.trim());
    if (count > 1) expect(certificates[1]).toBe(otherCa.certPem.trim().replaceAll('\n', '\r\n'));
  });

  it('counts an empty variable as unset', () => {
    expect(agent([], { ANTHROPIC_WIF_CA_BUNDLE_FILE: '' }).egress.extraCaCertificates).toEqual([]);
  });

  it.each([
    { name: 'missing', path: 'missing.pem', reason: 'the file does not exist' },
    { name: 'a directory', path: 'a-directory', reason: 'it is a directory' },
    { name: 'not PEM', path: 'not-pem.txt', reason: 'no PEM certificate (-----BEGIN CERTIFICATE-----) in the file' },
    { name: 'a key, not a certificate', path: 'key-only.pem', reason: 'no PEM certificate (-----BEGIN CERTIFICATE-----) in the file' },
    { name: 'a garbage certificate', path: 'garbage.pem', reason: 'certificate 1 of 1 cannot be parsed' },
    { name: 'a good then a garbage certificate', path: 'second-garbage.pem', reason: 'certificate 2 of 2 cannot be parsed' },
    ...(isRoot ? [] : [{ name: 'unreadable', path: 'unreadable.pem', reason: 'the file cannot be read: permission denied' }]),
  ])('exits 2 naming the flag or variable and the path, never the content: $name', ({ path, reason }) => {
    const full = file(path);
    const expected = `a readable file of PEM CA certificates (${reason})`;
    expect(() => agent(['--ca-bundle-file', full])).toThrow(new ConfigError(`invalid --ca-bundle-file "${full}": expected ${expected}`));
    expect(() => agent([], { ANTHROPIC_WIF_CA_BUNDLE_FILE: full })).toThrow(new ConfigError(`invalid ANTHROPIC_WIF_CA_BUNDLE_FILE "${full}": expected ${expected}`));
    let message = '';
    try {
      agent(['--ca-bundle-file', full]);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).not.toContain(MARKER);
    expect(message).not.toContain('TUlJ');
  });

  it('is a flag of `token` too, and documented in both helps', () => {
    const parsed = parseTokenConfig(['--ca-bundle-file', file('one.pem')], BASE);
    expect(parsed.help ? [] : parsed.config.egress.extraCaCertificates).toEqual([ca.certPem.trim()]);
    for (const help of [parseAgentConfig(['--help'], {}), parseTokenConfig(['--help'], {})]) {
      expect(help.help ? help.text : '').toContain('  --ca-bundle-file <path>\n      PEM bundle of CA certificates trusted in addition to the system roots');
      expect(help.help ? help.text : '').toContain('(env ANTHROPIC_WIF_CA_BUNDLE_FILE)');
    }
  });
});

describe('tlsTrustOptions', () => {
  it('leaves the default trust alone without a bundle', () => {
    expect(tlsTrustOptions(DIRECT_EGRESS)).toEqual({});
  });

  it('trusts the system roots plus the bundle', () => {
    const { ca: trusted } = tlsTrustOptions({ ...DIRECT_EGRESS, extraCaCertificates: parsePemCertificates(ca.certPem) });
    expect(trusted).toEqual([...rootCertificates, ca.certPem.trim()]);
  });
});

describe('NO_PROXY matching (Go httpproxy rules)', () => {
  it.each([
    // host exact, and a domain matching itself and its subdomains
    { noProxy: 'example.com', host: 'example.com', port: '443', direct: true },
    { noProxy: 'example.com', host: 'api.example.com', port: '443', direct: true },
    { noProxy: 'example.com', host: 'notexample.com', port: '443', direct: false },
    { noProxy: 'example.com', host: 'example.com.evil', port: '443', direct: false },
    // a leading dot or `*.`: subdomains only, as Go
    { noProxy: '.example.com', host: 'api.example.com', port: '443', direct: true },
    { noProxy: '.example.com', host: 'example.com', port: '443', direct: false },
    { noProxy: '*.example.com', host: 'a.b.example.com', port: '443', direct: true },
    { noProxy: '*.example.com', host: 'example.com', port: '443', direct: false },
    // case and spaces
    { noProxy: ' Example.COM ', host: 'example.com', port: '443', direct: true },
    // host:port
    { noProxy: 'example.com:8443', host: 'example.com', port: '8443', direct: true },
    { noProxy: 'example.com:8443', host: 'example.com', port: '443', direct: false },
    { noProxy: '.svc:443', host: 'token.ns.svc', port: '443', direct: true },
    // IPs, with and without port
    { noProxy: '10.1.2.3', host: '10.1.2.3', port: '443', direct: true },
    { noProxy: '10.1.2.3', host: '10.1.2.4', port: '443', direct: false },
    { noProxy: '10.1.2.3:443', host: '10.1.2.3', port: '443', direct: true },
    { noProxy: '10.1.2.3:443', host: '10.1.2.3', port: '8443', direct: false },
    { noProxy: '2001:db8::1', host: '2001:db8::1', port: '443', direct: true },
    { noProxy: '[2001:db8::1]:443', host: '2001:db8::1', port: '443', direct: true },
    { noProxy: '[2001:db8::1]:443', host: '2001:db8::1', port: '80', direct: false },
    { noProxy: '2001:db8:0:0::1', host: '2001:db8::1', port: '443', direct: true },
    // CIDR
    { noProxy: '10.0.0.0/8', host: '10.200.3.4', port: '443', direct: true },
    { noProxy: '10.0.0.0/8', host: '11.0.0.1', port: '443', direct: false },
    { noProxy: '10.9.9.9/8', host: '10.200.3.4', port: '443', direct: true },
    { noProxy: '192.168.1.0/24', host: '192.168.2.1', port: '443', direct: false },
    { noProxy: '2001:db8::/32', host: '2001:db8:ffff::1', port: '443', direct: true },
    { noProxy: '2001:db8::/32', host: '2001:db9::1', port: '443', direct: false },
    { noProxy: '10.0.0.0/8', host: 'ten.example', port: '443', direct: false },
    // lists, `*`, entries Go skips
    { noProxy: 'a.example,b.example', host: 'b.example', port: '443', direct: true },
    { noProxy: 'a.example,,b.example', host: 'c.example', port: '443', direct: false },
    { noProxy: '*', host: 'anything.example', port: '443', direct: true },
    { noProxy: 'a.example,*', host: 'b.example', port: '443', direct: true },
    { noProxy: ':443', host: 'example.com', port: '443', direct: false },
    { noProxy: '10.0.0.0/99', host: '10.0.0.1', port: '443', direct: false },
    { noProxy: '', host: 'example.com', port: '443', direct: false },
  ])('NO_PROXY="$noProxy" and $host:$port: direct $direct', ({ noProxy, host, port, direct }) => {
    expect(matchesNoProxy(parseNoProxy(noProxy), host, port)).toBe(direct);
  });
});

const PROXY = parseForwardProxy('http://proxy.corp.example:3128', 'HTTPS_PROXY');
const HTTP_PROXY = parseForwardProxy('http://plain.corp.example:8080', 'HTTP_PROXY');

describe('proxyFor: which proxy a target goes through', () => {
  const settings = (noProxy = ''): EgressSettings => ({ ...DIRECT_EGRESS, httpsProxy: PROXY, httpProxy: HTTP_PROXY, noProxy: parseNoProxy(noProxy) });
  it.each([
    { url: 'https://api.anthropic.com', noProxy: '', via: 'http://proxy.corp.example:3128' },
    { url: 'http://api.example.com', noProxy: '', via: 'http://plain.corp.example:8080' },
    { url: 'https://api.anthropic.com', noProxy: 'api.anthropic.com', via: undefined },
    // the default port counts for host:port entries
    { url: 'https://api.anthropic.com', noProxy: 'api.anthropic.com:443', via: undefined },
    { url: 'https://api.anthropic.com:8443', noProxy: 'api.anthropic.com:443', via: 'http://proxy.corp.example:3128' },
    { url: 'https://API.Anthropic.com', noProxy: 'api.anthropic.com', via: undefined },
    { url: 'https://[2001:db8::5]:443', noProxy: '2001:db8::/64', via: undefined },
    // loopback is never proxied, whatever NO_PROXY says
    { url: 'https://localhost:8443', noProxy: '', via: undefined },
    { url: 'http://127.0.0.1:8080', noProxy: '', via: undefined },
    { url: 'https://127.3.2.1', noProxy: '', via: undefined },
    { url: 'https://[::1]:8443', noProxy: '', via: undefined },
  ])('$url with NO_PROXY="$noProxy" goes via $via', ({ url, noProxy, via }) => {
    expect(proxyFor(new URL(url), settings(noProxy))?.origin).toBe(via);
  });

  it('uses no proxy for a scheme whose variable is unset: https never falls back to HTTP_PROXY', () => {
    expect(proxyFor(new URL('https://api.anthropic.com'), { ...DIRECT_EGRESS, httpProxy: HTTP_PROXY })).toBeUndefined();
    expect(proxyFor(new URL('http://api.example.com'), { ...DIRECT_EGRESS, httpsProxy: PROXY })).toBeUndefined();
    expect(proxyFor(new URL('https://api.anthropic.com'), DIRECT_EGRESS)).toBeUndefined();
  });
});

describe('parseForwardProxy', () => {
  it.each([
    { raw: 'http://proxy.corp.example:3128', origin: 'http://proxy.corp.example:3128', host: 'proxy.corp.example', port: 3128, authorization: undefined },
    { raw: 'proxy.corp.example:3128', origin: 'http://proxy.corp.example:3128', host: 'proxy.corp.example', port: 3128, authorization: undefined },
    { raw: 'http://proxy.corp.example', origin: 'http://proxy.corp.example', host: 'proxy.corp.example', port: 80, authorization: undefined },
    { raw: 'http://10.0.0.1:3128/', origin: 'http://10.0.0.1:3128', host: '10.0.0.1', port: 3128, authorization: undefined },
    { raw: 'http://[fd00::1]:3128', origin: 'http://[fd00::1]:3128', host: 'fd00::1', port: 3128, authorization: undefined },
    { raw: 'http://user:pa%3Ass@proxy:3128', origin: 'http://proxy:3128', host: 'proxy', port: 3128, authorization: `Basic ${Buffer.from('user:pa:ss').toString('base64')}` },
    { raw: 'http://user@proxy:3128', origin: 'http://proxy:3128', host: 'proxy', port: 3128, authorization: `Basic ${Buffer.from('user:').toString('base64')}` },
  ])('$raw', ({ raw, origin, host, port, authorization }) => {
    expect(parseForwardProxy(raw, 'HTTPS_PROXY')).toEqual({ origin, host, port, variable: 'HTTPS_PROXY', authorization });
  });

  it.each(['https://proxy:3128', 'socks5://proxy:1080', 'http://', 'http://pro xy:3128', 'http://proxy:99999', 'http://proxy\\@evil:1'])('refuses %s', (raw) => {
    expect(() => parseForwardProxy(raw, 'HTTPS_PROXY')).toThrow('an http:// proxy URL such as http://proxy.example:3128 (https:// and socks proxies are not supported)');
  });
});

describe('the proxy variables in the agent config', () => {
  const egress = (env: Env): EgressSettings => agent([], env).egress;

  it.each([
    { env: { HTTPS_PROXY: 'http://upper:1' }, https: 'http://upper:1', http: undefined },
    { env: { https_proxy: 'http://lower:1' }, https: 'http://lower:1', http: undefined },
    { env: { HTTPS_PROXY: 'http://upper:1', https_proxy: 'http://lower:1' }, https: 'http://lower:1', http: undefined },
    { env: { HTTPS_PROXY: 'http://upper:1', https_proxy: '' }, https: 'http://upper:1', http: undefined },
    { env: { HTTP_PROXY: 'http://upper:2', http_proxy: 'http://lower:2' }, https: undefined, http: 'http://lower:2' },
    { env: { HTTP_PROXY: 'http://plain:2' }, https: undefined, http: 'http://plain:2' },
    { env: {}, https: undefined, http: undefined },
  ])('$env gives https $https, http $http', ({ env, https, http }) => {
    expect(egress(env).httpsProxy?.origin).toBe(https);
    expect(egress(env).httpProxy?.origin).toBe(http);
  });

  it.each([
    { env: { NO_PROXY: 'upper.example', no_proxy: 'lower.example' }, direct: 'lower.example', proxied: 'upper.example' },
    { env: { NO_PROXY: 'upper.example' }, direct: 'upper.example', proxied: 'lower.example' },
    { env: { NO_PROXY: 'upper.example', no_proxy: '' }, direct: 'upper.example', proxied: 'lower.example' },
  ])('NO_PROXY spellings $env', ({ env, direct, proxied }) => {
    const settings = egress({ ...env, HTTPS_PROXY: 'http://proxy:3128' });
    expect(proxyFor(new URL(`https://${direct}`), settings)).toBeUndefined();
    expect(proxyFor(new URL(`https://${proxied}`), settings)?.origin).toBe('http://proxy:3128');
  });

  it.each([
    { env: { HTTPS_PROXY: 'https://user:hunter2@proxy:3128' }, variable: 'HTTPS_PROXY' },
    { env: { https_proxy: 'socks5://user:hunter2@proxy:1080' }, variable: 'https_proxy' },
    { env: { HTTP_PROXY: 'http://user:hunter2@pro xy:3128' }, variable: 'HTTP_PROXY' },
  ])('exits 2 for $variable naming it and never its value', ({ env, variable }) => {
    expect(() => agent([], env)).toThrow(
      new ConfigError(`invalid ${variable}: expected an http:// proxy URL such as http://proxy.example:3128 (https:// and socks proxies are not supported); the value is not shown, as it may hold a password`),
    );
  });

  it('reads them for `token` too', () => {
    const parsed = parseTokenConfig([], { ...BASE, HTTPS_PROXY: 'http://proxy:3128', NO_PROXY: '.svc' });
    expect(parsed.help ? undefined : parsed.config.egress.httpsProxy?.origin).toBe('http://proxy:3128');
  });

  it('documents them in both helps', () => {
    for (const help of [parseAgentConfig(['--help'], {}), parseTokenConfig(['--help'], {})]) {
      expect(help.help ? help.text : '').toContain('Egress: https_proxy/HTTPS_PROXY names an http:// forward proxy for https targets (CONNECT),');
    }
  });

  it('keeps the password out of log lines, even when the whole settings object is logged', () => {
    const settings = egress({ HTTPS_PROXY: 'http://wif-user:hunter2-secret@proxy:3128' });
    const basic = Buffer.from('wif-user:hunter2-secret').toString('base64');
    expect(settings.httpsProxy?.authorization).toBe(`Basic ${basic}`);
    const lines: string[] = [];
    const logger = createLogger({ name: 'test', destination: { write: (line: string) => lines.push(line) } });
    logger.info({ egress: describeEgress(settings) }, 'starting');
    logger.info({ settings }, 'a careless line');
    expect(lines.length).toBe(2);
    expect(lines[0]).toContain('"httpsProxy":"http://proxy:3128"');
    for (const line of lines) {
      expect(line).not.toContain('hunter2');
      expect(line).not.toContain(basic);
      expect(line).not.toContain('wif-user');
    }
  });
});
