import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { formatHelp, option, parseArgv, resolveConfig, type Env } from '../../runtime/config.ts';
import { ConfigError } from '../../runtime/errors.ts';
import { VERSION } from '../../runtime/version.ts';

const specs = {
  ruleId: option.string({ flag: 'rule-id', env: 'RULE_ID', description: 'rule', pattern: /^fdrl_\w+$/, expected: 'fdrl_…' }),
  expiration: option.integer({ flag: 'expiration', env: 'EXPIRATION', description: 'seconds', min: 600, max: 86400, defaultValue: 600 }),
  mode: option.enumeration({ flag: 'mode', description: 'mode', values: ['file', 'proxy'] as const, defaultValue: 'file' }),
  lookup: option.boolean({ flag: 'lookup', env: 'LOOKUP', description: 'lookup', defaultValue: true }),
  once: option.switch({ flag: 'once', description: 'once' }),
  header: option.list({ flag: 'header', env: 'HEADERS', description: 'headers' }),
  secret: option.string({ flag: 'secret', env: 'SECRET', description: 'secret', secret: true, pattern: /^ok$/ }),
};

function parse(argv: readonly string[], env: Env = {}): ReturnType<typeof resolveConfig<typeof specs>> {
  return resolveConfig(specs, parseArgv(specs, argv, 'test'), env);
}

describe('config parser', () => {
  it.each([
    { argv: [], env: {}, key: 'expiration', want: 600 },
    { argv: [], env: { EXPIRATION: '900' }, key: 'expiration', want: 900 },
    { argv: ['--expiration', '1200'], env: { EXPIRATION: '900' }, key: 'expiration', want: 1200 },
    { argv: ['--expiration=1200'], env: {}, key: 'expiration', want: 1200 },
    { argv: [], env: { RULE_ID: '' }, key: 'ruleId', want: undefined },
    { argv: ['--lookup=false'], env: {}, key: 'lookup', want: false },
    { argv: [], env: { LOOKUP: 'false' }, key: 'lookup', want: false },
    { argv: ['--once'], env: {}, key: 'once', want: true },
    { argv: ['--header', 'a: b', '--header', 'c: d'], env: {}, key: 'header', want: ['a: b', 'c: d'] },
    { argv: [], env: { HEADERS: 'a: b, c: d' }, key: 'header', want: ['a: b', 'c: d'] },
  ] as const)('$argv with $env gives $key = $want', ({ argv, env, key, want }) => {
    expect(parse([...argv], env)[key]).toEqual(want);
  });

  it.each([
    { argv: ['--nope'], env: {}, message: 'unknown flag --nope (see anthropic-wif test --help)' },
    { argv: ['stray'], env: {}, message: 'unexpected argument "stray" (see anthropic-wif test --help)' },
    { argv: ['--expiration'], env: {}, message: 'flag --expiration needs a value <n>' },
    { argv: ['--expiration', '30'], env: {}, message: 'invalid --expiration "30": expected an integer from 600 to 86400' },
    { argv: [], env: { EXPIRATION: '6e2' }, message: 'invalid EXPIRATION "6e2": expected an integer from 600 to 86400' },
    { argv: ['--mode', 'sdk'], env: {}, message: 'invalid --mode "sdk": expected one of file, proxy' },
    { argv: ['--lookup=maybe'], env: {}, message: 'invalid --lookup "maybe": expected true or false' },
    { argv: ['--rule-id', 'x', '--rule-id', 'y'], env: {}, message: 'flag --rule-id is given more than once' },
    { argv: [], env: { RULE_ID: 'rule' }, message: 'invalid RULE_ID "rule": expected fdrl_…' },
    { argv: [], env: { SECRET: 'hunter2' }, message: 'invalid SECRET: expected a value matching ^ok$' },
  ])('rejects $argv / $env with "$message"', ({ argv, env, message }) => {
    expect(() => parse(argv, env)).toThrow(new ConfigError(message));
  });

  it('returns a frozen object', () => {
    expect(Object.isFrozen(parse([]))).toBe(true);
  });

  it('documents every flag, its variable and default in help', () => {
    const help = formatHelp('test', 'A test command.', specs);
    expect(help).toContain('--expiration <n>');
    expect(help).toContain('(env EXPIRATION; default 600)');
    expect(help).toContain('--once\n');
    expect(help).not.toContain('hunter2');
  });
});

describe('version', () => {
  it('matches package.json', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(VERSION).toBe(pkg.version);
  });
});
