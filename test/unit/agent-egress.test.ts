/**
 * How the agent connects out: the extra CA bundle (`--ca-bundle-file`) as the config parser
 * reads it, and the trust options every outbound connection gets from it.
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { rootCertificates } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAgentConfig, parseTokenConfig, type AgentConfig } from '../../agent/config.ts';
import { DIRECT_EGRESS, parsePemCertificates, tlsTrustOptions } from '../../agent/egress.ts';
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
    const { ca: trusted } = tlsTrustOptions({ extraCaCertificates: parsePemCertificates(ca.certPem) });
    expect(trusted).toEqual([...rootCertificates, ca.certPem.trim()]);
  });
});
