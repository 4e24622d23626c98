import { describe, expect, it } from 'vitest';
import { Default } from '../../contract/index.ts';
import type { Env } from '../../runtime/config.ts';
import { ConfigError } from '../../runtime/errors.ts';
import { injectionDefaultsFrom, parseWebhookCommandLine, type WebhookConfig } from '../../webhook/config.ts';

const REQUIRED = ['--tls-cert-file', '/certs/tls.crt', '--tls-key-file', '/certs/tls.key'];
const ORG = '6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b';

function parse(argv: readonly string[], env: Env = {}): WebhookConfig {
  const result = parseWebhookCommandLine([...REQUIRED, ...argv], env);
  if (result.kind !== 'run') throw new Error('expected a run configuration');
  return result.config;
}

describe('webhook config: defaults', () => {
  it('fills every default from the contract', () => {
    expect(parse([])).toEqual({
      listen: { host: undefined, port: 8443 },
      tlsCertFile: '/certs/tls.crt',
      tlsKeyFile: '/certs/tls.key',
      tlsMinVersion: '1.2',
      clientCaFile: undefined,
      clientAllowedNames: [],
      organizationId: undefined,
      federationRuleId: undefined,
      audience: 'https://api.anthropic.com',
      tokenExpiration: 600,
      mode: 'file',
      baseUrl: 'https://api.anthropic.com',
      agentImage: Default.agentImage,
      agentImagePullPolicy: undefined,
      agentCpuRequest: '5m',
      agentMemoryRequest: '64Mi',
      agentCpuLimit: undefined,
      agentMemoryLimit: '256Mi',
      nativeSidecar: 'auto',
      shadowing: 'warn',
      serviceAccountLookup: true,
      serviceAccountLookupTimeout: 2000,
      kubeconfig: undefined,
      versionRecheckInterval: 600,
      maxBodyBytes: 4 * 1024 * 1024,
      proxyPort: 8423,
      caBundleConfigMap: undefined,
      caBundleKey: 'ca.crt',
      agentEnv: [],
      allowedBaseUrls: [],
      logLevel: 'info',
    });
  });

  it('returns a frozen object', () => {
    expect(Object.isFrozen(parse([]))).toBe(true);
  });
});

describe('webhook config: every flag and its variable', () => {
  const cases: readonly { flag: string; env: string; raw: string; key: keyof WebhookConfig; want: unknown }[] = [
    { flag: 'listen', env: 'ANTHROPIC_WIF_LISTEN', raw: '127.0.0.1:0', key: 'listen', want: { host: '127.0.0.1', port: 0 } },
    { flag: 'tls-min-version', env: 'ANTHROPIC_WIF_TLS_MIN_VERSION', raw: '1.3', key: 'tlsMinVersion', want: '1.3' },
    { flag: 'organization-id', env: 'ANTHROPIC_WIF_ORGANIZATION_ID', raw: ORG, key: 'organizationId', want: ORG },
    { flag: 'federation-rule-id', env: 'ANTHROPIC_WIF_FEDERATION_RULE_ID', raw: 'fdrl_01AbC-d_e', key: 'federationRuleId', want: 'fdrl_01AbC-d_e' },
    { flag: 'audience', env: 'ANTHROPIC_WIF_AUDIENCE', raw: 'https://example.test', key: 'audience', want: 'https://example.test' },
    { flag: 'token-expiration', env: 'ANTHROPIC_WIF_TOKEN_EXPIRATION', raw: '3600', key: 'tokenExpiration', want: 3600 },
    { flag: 'mode', env: 'ANTHROPIC_WIF_MODE', raw: 'proxy', key: 'mode', want: 'proxy' },
    { flag: 'base-url', env: 'ANTHROPIC_WIF_BASE_URL', raw: 'http://127.0.0.1:9999', key: 'baseUrl', want: 'http://127.0.0.1:9999' },
    { flag: 'agent-image', env: 'ANTHROPIC_WIF_AGENT_IMAGE', raw: 'registry.test/wif:1', key: 'agentImage', want: 'registry.test/wif:1' },
    { flag: 'agent-image-pull-policy', env: 'ANTHROPIC_WIF_AGENT_IMAGE_PULL_POLICY', raw: 'IfNotPresent', key: 'agentImagePullPolicy', want: 'IfNotPresent' },
    { flag: 'agent-cpu-request', env: 'ANTHROPIC_WIF_AGENT_CPU_REQUEST', raw: '10m', key: 'agentCpuRequest', want: '10m' },
    { flag: 'agent-memory-request', env: 'ANTHROPIC_WIF_AGENT_MEMORY_REQUEST', raw: '32Mi', key: 'agentMemoryRequest', want: '32Mi' },
    { flag: 'agent-cpu-limit', env: 'ANTHROPIC_WIF_AGENT_CPU_LIMIT', raw: '0.5', key: 'agentCpuLimit', want: '0.5' },
    { flag: 'agent-memory-limit', env: 'ANTHROPIC_WIF_AGENT_MEMORY_LIMIT', raw: '1Gi', key: 'agentMemoryLimit', want: '1Gi' },
    { flag: 'native-sidecar', env: 'ANTHROPIC_WIF_NATIVE_SIDECAR', raw: 'false', key: 'nativeSidecar', want: 'false' },
    { flag: 'shadowing', env: 'ANTHROPIC_WIF_SHADOWING', raw: 'deny', key: 'shadowing', want: 'deny' },
    { flag: 'service-account-lookup', env: 'ANTHROPIC_WIF_SERVICE_ACCOUNT_LOOKUP', raw: 'false', key: 'serviceAccountLookup', want: false },
    { flag: 'service-account-lookup-timeout', env: 'ANTHROPIC_WIF_SERVICE_ACCOUNT_LOOKUP_TIMEOUT', raw: '500', key: 'serviceAccountLookupTimeout', want: 500 },
    { flag: 'kubeconfig', env: 'ANTHROPIC_WIF_KUBECONFIG', raw: '/etc/kube/config', key: 'kubeconfig', want: '/etc/kube/config' },
    { flag: 'version-recheck-interval', env: 'ANTHROPIC_WIF_VERSION_RECHECK_INTERVAL', raw: '60', key: 'versionRecheckInterval', want: 60 },
    { flag: 'max-body-bytes', env: 'ANTHROPIC_WIF_MAX_BODY_BYTES', raw: '1048576', key: 'maxBodyBytes', want: 1048576 },
    { flag: 'proxy-port', env: 'ANTHROPIC_WIF_PROXY_PORT', raw: '9000', key: 'proxyPort', want: 9000 },
    { flag: 'log-level', env: 'ANTHROPIC_WIF_LOG_LEVEL', raw: 'debug', key: 'logLevel', want: 'debug' },
  ];

  it.each(cases)('--$flag $raw sets $key', ({ flag, raw, key, want }) => {
    expect(parse([`--${flag}`, raw])[key]).toEqual(want);
  });

  it.each(cases)('$env=$raw sets $key', ({ env, raw, key, want }) => {
    expect(parse([], { [env]: raw })[key]).toEqual(want);
  });

  it('prefers the flag over its variable', () => {
    expect(parse(['--mode', 'sdk'], { ANTHROPIC_WIF_MODE: 'proxy' }).mode).toBe('sdk');
  });

  it('reads the certificate files from their variables', () => {
    const result = parseWebhookCommandLine([], { ANTHROPIC_WIF_TLS_CERT_FILE: '/a.crt', ANTHROPIC_WIF_TLS_KEY_FILE: '/a.key' });
    expect(result.kind === 'run' ? [result.config.tlsCertFile, result.config.tlsKeyFile] : undefined).toEqual(['/a.crt', '/a.key']);
  });

  it.each([
    { raw: ':8443', want: { host: undefined, port: 8443 } },
    { raw: '0.0.0.0:443', want: { host: '0.0.0.0', port: 443 } },
    { raw: '[::1]:8443', want: { host: '::1', port: 8443 } },
    { raw: 'localhost:1', want: { host: 'localhost', port: 1 } },
  ])('--listen $raw', ({ raw, want }) => {
    expect(parse(['--listen', raw]).listen).toEqual(want);
  });

  it.each(['https://api.anthropic.com', 'https://gateway.example.com/anthropic', 'http://localhost:8080', 'http://127.1.2.3', 'http://[::1]:9000'])('accepts --base-url %s', (url) => {
    expect(parse(['--base-url', url]).baseUrl).toBe(url);
  });
});

describe('webhook config: bad values name the flag or variable', () => {
  it.each([
    { argv: ['--nope'], env: {}, message: 'unknown flag --nope (see anthropic-wif webhook --help)' },
    { argv: ['stray'], env: {}, message: 'unexpected argument "stray" (see anthropic-wif webhook --help)' },
    { argv: ['--listen', '8443'], env: {}, message: 'invalid --listen "8443": expected host:port, [ipv6]:port or :port with a port from 0 to 65535' },
    { argv: ['--listen', ':70000'], env: {}, message: 'invalid --listen ":70000": expected host:port, [ipv6]:port or :port with a port from 0 to 65535' },
    { argv: ['--tls-min-version', '1.1'], env: {}, message: 'invalid --tls-min-version "1.1": expected one of 1.2, 1.3' },
    { argv: ['--organization-id', 'acme'], env: {}, message: 'invalid --organization-id "acme": expected a UUID such as 00000000-0000-4000-8000-000000000000' },
    { argv: [], env: { ANTHROPIC_WIF_FEDERATION_RULE_ID: 'rule_1' }, message: 'invalid ANTHROPIC_WIF_FEDERATION_RULE_ID "rule_1": expected fdrl_ followed by letters, digits, "_" or "-"' },
    { argv: ['--audience', 'a'.repeat(257)], env: {}, message: `invalid --audience "${'a'.repeat(257)}": expected a non-empty string of at most 256 characters` },
    { argv: ['--audience='], env: {}, message: 'invalid --audience "": expected a non-empty string of at most 256 characters' },
    { argv: ['--token-expiration', '599'], env: {}, message: 'invalid --token-expiration "599": expected an integer from 600 to 86400' },
    { argv: [], env: { ANTHROPIC_WIF_TOKEN_EXPIRATION: '86401' }, message: 'invalid ANTHROPIC_WIF_TOKEN_EXPIRATION "86401": expected an integer from 600 to 86400' },
    { argv: ['--mode', 'env'], env: {}, message: 'invalid --mode "env": expected one of file, proxy, sdk' },
    { argv: ['--base-url', 'http://api.anthropic.com'], env: {}, message: 'invalid --base-url "http://api.anthropic.com": expected an https:// URL (plain http:// only to localhost, 127.0.0.0/8 or [::1]) without user:password' },
    { argv: ['--base-url', 'api.anthropic.com'], env: {}, message: 'invalid --base-url "api.anthropic.com": expected an https:// URL (plain http:// only to localhost, 127.0.0.0/8 or [::1]) without user:password' },
    { argv: ['--base-url', 'https://user:pw@api.anthropic.com'], env: {}, message: 'invalid --base-url "https://user:pw@api.anthropic.com": expected an https:// URL (plain http:// only to localhost, 127.0.0.0/8 or [::1]) without user:password' },
    { argv: ['--agent-image-pull-policy', 'always'], env: {}, message: 'invalid --agent-image-pull-policy "always": expected one of Always, IfNotPresent, Never' },
    { argv: ['--agent-cpu-request', '5 m'], env: {}, message: 'invalid --agent-cpu-request "5 m": expected a Kubernetes quantity such as 5m, 0.5 or 64Mi' },
    { argv: [], env: { ANTHROPIC_WIF_AGENT_MEMORY_LIMIT: '-1Mi' }, message: 'invalid ANTHROPIC_WIF_AGENT_MEMORY_LIMIT "-1Mi": expected a Kubernetes quantity such as 5m, 0.5 or 64Mi' },
    { argv: ['--native-sidecar', 'yes'], env: {}, message: 'invalid --native-sidecar "yes": expected one of auto, true, false' },
    { argv: ['--shadowing', 'ignore'], env: {}, message: 'invalid --shadowing "ignore": expected one of warn, deny' },
    { argv: ['--service-account-lookup=no'], env: {}, message: 'invalid --service-account-lookup "no": expected true or false' },
    { argv: ['--service-account-lookup-timeout', '10'], env: {}, message: 'invalid --service-account-lookup-timeout "10": expected an integer from 50 to 30000' },
    { argv: ['--version-recheck-interval', '5'], env: {}, message: 'invalid --version-recheck-interval "5": expected an integer from 10 to 86400' },
    { argv: ['--max-body-bytes', '4MiB'], env: {}, message: 'invalid --max-body-bytes "4MiB": expected an integer from 1024 to 67108864' },
    { argv: ['--proxy-port', '0'], env: {}, message: 'invalid --proxy-port "0": expected an integer from 1 to 65535' },
    { argv: ['--log-level', 'verbose'], env: {}, message: 'invalid --log-level "verbose": expected one of fatal, error, warn, info, debug, trace' },
    { argv: ['--mode', 'file', '--mode', 'sdk'], env: {}, message: 'flag --mode is given more than once' },
  ])('$argv / $env → "$message"', ({ argv, env, message }) => {
    expect(() => parse(argv, env)).toThrow(new ConfigError(message));
  });

  it.each([
    { argv: ['--tls-key-file', '/k'], message: 'flag --tls-cert-file is required (or set ANTHROPIC_WIF_TLS_CERT_FILE)' },
    { argv: ['--tls-cert-file', '/c'], message: 'flag --tls-key-file is required (or set ANTHROPIC_WIF_TLS_KEY_FILE)' },
  ])('requires $message', ({ argv, message }) => {
    expect(() => parseWebhookCommandLine(argv, {})).toThrow(new ConfigError(message));
  });
});

describe('webhook help', () => {
  it('answers --help without requiring the certificate flags, listing every flag and variable', () => {
    const result = parseWebhookCommandLine(['--help'], {});
    expect(result.kind).toBe('help');
    const text = result.kind === 'help' ? result.text : '';
    expect(text.startsWith('Usage: anthropic-wif webhook [flags]\n')).toBe(true);
    for (const flag of ['listen', 'tls-cert-file', 'tls-key-file', 'tls-min-version', 'organization-id', 'federation-rule-id', 'audience', 'token-expiration', 'mode', 'base-url', 'agent-image', 'agent-image-pull-policy', 'agent-cpu-request', 'agent-memory-request', 'agent-cpu-limit', 'agent-memory-limit', 'native-sidecar', 'shadowing', 'service-account-lookup', 'service-account-lookup-timeout', 'kubeconfig', 'version-recheck-interval', 'max-body-bytes', 'proxy-port', 'ca-bundle-config-map', 'ca-bundle-key', 'agent-env', 'allowed-base-urls', 'log-level']) {
      expect(text).toContain(`  --${flag}`);
      expect(text).toContain(`env ANTHROPIC_WIF_${flag.replaceAll('-', '_').toUpperCase()}`);
    }
    expect(text).toContain('(env ANTHROPIC_WIF_LISTEN; default :8443)');
  });
});

describe('injection defaults from the config', () => {
  it('maps flags to the core defaults', () => {
    const config = parse(['--organization-id', ORG, '--federation-rule-id', 'fdrl_x', '--agent-cpu-limit', '100m', '--agent-image-pull-policy', 'Always', '--mode', 'proxy', '--proxy-port', '9000', '--shadowing', 'deny']);
    expect(injectionDefaultsFrom(config, { enabled: false, reason: 'the API server is v1.20.2; native sidecars need 1.29' })).toEqual({
      organizationId: ORG,
      federationRuleId: 'fdrl_x',
      audience: 'https://api.anthropic.com',
      tokenExpirationSeconds: 600,
      mode: 'proxy',
      baseUrl: 'https://api.anthropic.com',
      agentImage: Default.agentImage,
      agentImagePullPolicy: 'Always',
      agentResources: { requests: { cpu: '5m', memory: '64Mi' }, limits: { cpu: '100m', memory: '256Mi' } },
      nativeSidecar: { enabled: false, reason: 'the API server is v1.20.2; native sidecars need 1.29' },
      shadowing: 'deny',
      proxyPort: 9000,
      caBundle: undefined,
      agentEnv: [],
      allowedBaseUrlOrigins: undefined,
    });
  });

  it('gives the sidecar the default requests and memory limit, and no CPU limit, when no resource flag is set', () => {
    const config = parse(['--organization-id', ORG, '--federation-rule-id', 'fdrl_x']);
    expect(injectionDefaultsFrom(config, { enabled: true, reason: 'test' }).agentResources).toEqual({ requests: { cpu: '5m', memory: '64Mi' }, limits: { memory: '256Mi' } });
  });
});

describe('webhook config: CA bundle, sidecar environment and allowed base URLs', () => {
  const ids = ['--organization-id', ORG, '--federation-rule-id', 'fdrl_x'];

  it('turns --ca-bundle-config-map and --ca-bundle-key into the CA bundle source', () => {
    const config = parse([...ids, '--ca-bundle-config-map', 'corp-ca.v1', '--ca-bundle-key', 'bundle.pem']);
    expect(injectionDefaultsFrom(config, { enabled: true, reason: 'test' }).caBundle).toEqual({ configMap: 'corp-ca.v1', key: 'bundle.pem' });
    expect(injectionDefaultsFrom(parse([...ids, '--ca-bundle-config-map', 'corp-ca']), { enabled: true, reason: 'test' }).caBundle).toEqual({ configMap: 'corp-ca', key: 'ca.crt' });
  });

  it('keeps --agent-env as name/value pairs in the order given, read from the flag or its variable', () => {
    const raw = '{"HTTPS_PROXY":"http://user:secret@proxy.corp:3128","NO_PROXY":".svc,10.0.0.0/8","no_proxy":""}';
    const want = [
      { name: 'HTTPS_PROXY', value: 'http://user:secret@proxy.corp:3128' },
      { name: 'NO_PROXY', value: '.svc,10.0.0.0/8' },
      { name: 'no_proxy', value: '' },
    ];
    expect(parse(['--agent-env', raw]).agentEnv).toEqual(want);
    expect(parse([], { ANTHROPIC_WIF_AGENT_ENV: raw }).agentEnv).toEqual(want);
  });

  it.each([
    ['not JSON', '{HTTPS_PROXY=x}', 'expected a JSON object of variable names to string values'],
    ['an array', '[["A","b"]]', 'expected a JSON object of variable names to string values'],
    ['a bad name', '{"1PROXY":"x"}', 'variable names of letters, digits and "_" not starting with a digit (got "1PROXY")'],
    ['a name with "="', '{"A=B":"x"}', '(got "A=B")'],
    ['a contract variable', '{"ANTHROPIC_BASE_URL":"https://evil.example"}', 'no ANTHROPIC_… variable (ANTHROPIC_BASE_URL is set by the webhook'],
    ['a contract variable in lowercase', '{"anthropic_wif_output_dir":"/tmp"}', 'no ANTHROPIC_… variable (anthropic_wif_output_dir'],
    ['a number value', '{"PORT":8080}', 'expected a string value for PORT'],
    ['a newline in a value', '{"NO_PROXY":"a\\nb"}', 'a value for NO_PROXY without control characters'],
    ['too many variables', JSON.stringify(Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`V${String(i)}`, 'x']))), 'at most 64 variables'],
  ])('refuses --agent-env with %s, naming the flag and never echoing a value', (_what, raw, message) => {
    const run = (): WebhookConfig => parse(['--agent-env', raw]);
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(message);
    expect(run).toThrow(/^invalid --agent-env: expected /);
  });

  it('never echoes a proxy password from a refused --agent-env', () => {
    expect(() => parse(['--agent-env', '{"HTTPS_PROXY":"http://u:hunter2@p:1","BAD NAME":"x"}'])).toThrow(/^(?!.*hunter2)/s);
  });

  it.each([
    ['ca-bundle-config-map', 'Corp_CA', 'expected a ConfigMap name'],
    ['ca-bundle-key', 'ca/crt', 'expected a ConfigMap key'],
    ['allowed-base-urls', 'http://gateway.corp', 'expected an origin such as https://api.anthropic.com'],
    ['allowed-base-urls', 'https://gateway.corp/v1', 'with no path, query or fragment'],
    ['allowed-base-urls', 'https://user:pw@gateway.corp', 'without user:password'],
  ])('refuses --%s %s', (flag, raw, message) => {
    expect(() => parse([`--${flag}`, raw])).toThrow(`invalid --${flag} "${raw}": expected `);
    expect(() => parse([`--${flag}`, raw])).toThrow(message);
  });

  it('normalises --allowed-base-urls to origins and always allows the webhook\'s own --base-url', () => {
    const config = parse([...ids, '--allowed-base-urls', 'https://gateway.corp:8443/', '--allowed-base-urls', 'HTTPS://Other.Corp', '--base-url', 'https://default.corp/base']);
    expect(config.allowedBaseUrls).toEqual(['https://gateway.corp:8443', 'https://other.corp']);
    expect(injectionDefaultsFrom(config, { enabled: true, reason: 'test' }).allowedBaseUrlOrigins).toEqual([
      'https://gateway.corp:8443',
      'https://other.corp',
      'https://default.corp',
    ]);
    expect(parse([], { ANTHROPIC_WIF_ALLOWED_BASE_URLS: 'https://a.corp, https://b.corp' }).allowedBaseUrls).toEqual(['https://a.corp', 'https://b.corp']);
  });

  it('honours any base-url annotation when --allowed-base-urls is not set', () => {
    expect(injectionDefaultsFrom(parse(ids), { enabled: true, reason: 'test' }).allowedBaseUrlOrigins).toBeUndefined();
  });
});
