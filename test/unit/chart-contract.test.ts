/**
 * The chart is YAML and cannot import contract/index.ts, so this test keeps its defaults,
 * names and limits equal to the contract module's, and its versions equal to the package's.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Annotation, Default, IdPattern, Limit, MODES, OPT_IN_LABEL } from '../../contract/index.ts';
import { VERSION } from '../../runtime/version.ts';
import { parseWebhookCommandLine } from '../../webhook/config.ts';
import { CHART_DIR, REPO_ROOT } from '../support/k8s-tools.ts';

interface Values {
  federation: { organizationId: string; ruleId: string; audience: string; tokenExpirationSeconds: number; baseUrl: string };
  agent: {
    mode: string;
    resources: { requests: { cpu: string; memory: string }; limits: { cpu: string; memory: string } };
    nativeSidecar: string;
    proxyPort: number;
    imagePullPolicy: string;
  };
  webhook: {
    shadowing: string;
    serviceAccountLookup: { enabled: boolean; timeoutMs: number };
    versionRecheckIntervalSeconds: number;
    maxBodyBytes: number;
    tlsMinVersion: string;
    port: number;
    terminationGracePeriodSeconds: number;
    preStopDelaySeconds: number;
    podSecurityContext: { runAsUser: number };
  };
  image: { repository: string; tag: string };
}

interface SchemaNode {
  properties?: Record<string, SchemaNode>;
  pattern?: string;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  maxLength?: number;
}

const values = parse(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as Values;
const chart = parse(readFileSync(join(CHART_DIR, 'Chart.yaml'), 'utf8')) as { version: string; appVersion: string; kubeVersion: string };
const schema = JSON.parse(readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8')) as SchemaNode;
const packageJson = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };

function schemaAt(path: string): SchemaNode {
  let node: SchemaNode | undefined = schema;
  for (const key of path.split('.')) node = node?.properties?.[key];
  if (node === undefined) throw new Error(`no schema for ${path}`);
  return node;
}

function acceptedBy(pattern: string | undefined, value: string): boolean {
  if (pattern === undefined) throw new Error('no pattern');
  return new RegExp(pattern).test(value);
}

describe('Chart.yaml', () => {
  it('carries the package version as chart version and appVersion', () => {
    expect([chart.version, chart.appVersion]).toEqual([packageJson.version, packageJson.version]);
    expect(VERSION).toBe(packageJson.version);
  });

  it('supports Kubernetes 1.20 and newer', () => {
    expect(chart.kubeVersion).toBe('>=1.20.0-0');
  });
});

describe('values.yaml defaults equal the contract defaults', () => {
  it.each<[string, unknown, unknown]>([
    ['federation.audience', values.federation.audience, Default.audience],
    ['federation.tokenExpirationSeconds', values.federation.tokenExpirationSeconds, Default.tokenExpirationSeconds],
    ['federation.baseUrl', values.federation.baseUrl, Default.baseUrl],
    ['agent.mode', values.agent.mode, Default.mode],
    ['agent.nativeSidecar', values.agent.nativeSidecar, Default.nativeSidecar],
    ['agent.proxyPort', values.agent.proxyPort, Default.proxyPort],
    ['agent.resources.requests', values.agent.resources.requests, Default.agentResources.requests],
    ['agent.resources.limits.memory', values.agent.resources.limits.memory, Default.agentResources.limits.memory],
    ['agent.resources.limits.cpu (none)', values.agent.resources.limits.cpu, ''],
    ['image repository:appVersion', `${values.image.repository}:${chart.appVersion}`, Default.agentImage],
    ['webhook.shadowing', values.webhook.shadowing, Default.shadowing],
    ['webhook.serviceAccountLookup.enabled', values.webhook.serviceAccountLookup.enabled, Default.serviceAccountLookup],
    ['webhook.serviceAccountLookup.timeoutMs', values.webhook.serviceAccountLookup.timeoutMs, Default.serviceAccountLookupTimeoutMs],
    ['webhook.versionRecheckIntervalSeconds', values.webhook.versionRecheckIntervalSeconds, Default.clusterVersionRecheckSeconds],
    ['webhook.maxBodyBytes', values.webhook.maxBodyBytes, Default.webhookBodyLimitBytes],
    ['webhook.tlsMinVersion', values.webhook.tlsMinVersion, Default.webhookTlsMinVersion],
    [':webhook.port', `:${values.webhook.port}`, Default.webhookListen],
    ['webhook.podSecurityContext.runAsUser', values.webhook.podSecurityContext.runAsUser, Default.agentRunAsUser],
    ['federation.organizationId (none: required)', values.federation.organizationId, ''],
    ['federation.ruleId (none: pods say)', values.federation.ruleId, ''],
  ])('%s', (_name, actual, expected) => {
    expect(actual).toEqual(expected);
  });

  it('gives the webhook its preStop delay plus its 10 s shutdown before SIGKILL', () => {
    expect(values.webhook.terminationGracePeriodSeconds * 1000).toBeGreaterThan(values.webhook.preStopDelaySeconds * 1000 + Limit.webhookShutdownMs);
    expect(schemaAt('webhook.terminationGracePeriodSeconds').minimum! * 1000).toBeGreaterThan(Limit.webhookShutdownMs);
  });
});

describe('values.schema.json agrees with the contract', () => {
  it('allows exactly the contract modes', () => {
    expect(schemaAt('agent.mode').enum).toEqual([...MODES]);
  });

  it('bounds the token expiration and audience as the contract does', () => {
    expect([schemaAt('federation.tokenExpirationSeconds').minimum, schemaAt('federation.tokenExpirationSeconds').maximum]).toEqual([
      Limit.tokenExpirationSeconds.min,
      Limit.tokenExpirationSeconds.max,
    ]);
    expect(schemaAt('federation.audience').maxLength).toBe(Limit.audienceMaxLength);
  });

  it.each([
    ['00000000-0000-4000-8000-000000000000'],
    ['0A1B2C3D-4E5F-6789-ABCD-EF0123456789'],
    ['not-a-uuid'],
    ['00000000-0000-4000-8000-00000000000'],
    ['00000000000040008000000000000000'],
  ])('organization id %s: the schema and the contract agree', (id) => {
    expect(acceptedBy(schemaAt('federation.organizationId').pattern, id)).toBe(IdPattern.organizationId.test(id));
  });

  it.each([['fdrl_01abc-DEF_9'], ['fdrl_'], ['rule_01abc'], ['fdrl_a b'], ['FDRL_abc']])(
    'rule id %s: the schema and the contract agree',
    (id) => {
      expect(acceptedBy(schemaAt('federation.ruleId').pattern, id)).toBe(IdPattern.federationRuleId.test(id));
    },
  );

  it('accepts empty ids in the schema (the template then asks for the organization id by name)', () => {
    expect([acceptedBy(schemaAt('federation.organizationId').pattern, ''), acceptedBy(schemaAt('federation.ruleId').pattern, '')]).toEqual([true, true]);
  });
});

describe('names in the templates are the contract names', () => {
  const webhookTemplate = readFileSync(join(CHART_DIR, 'templates', 'mutatingwebhookconfiguration.yaml'), 'utf8');
  const notes = readFileSync(join(CHART_DIR, 'templates', 'NOTES.txt'), 'utf8');

  it('selects pods on the contract opt-in label', () => {
    expect(OPT_IN_LABEL).toBe(Annotation.inject);
    expect(webhookTemplate).toContain(`- key: ${OPT_IN_LABEL}\n`);
  });

  it('NOTES.txt names the contract annotations', () => {
    expect(notes).toContain(`${Annotation.inject}: "true"`);
    expect(notes).toContain(`${Annotation.federationRuleId}: fdrl_`);
    expect(notes).toContain(Annotation.status.replaceAll('.', '\\.'));
  });
});

describe('values.schema.json bounds are the webhook flags\' bounds', () => {
  const accepts = (flag: string, value: string): boolean => {
    try {
      return parseWebhookCommandLine(['--tls-cert-file=/c', '--tls-key-file=/k', `--${flag}=${value}`], {}).kind === 'run';
    } catch {
      return false;
    }
  };

  it.each([
    ['federation.tokenExpirationSeconds', 'token-expiration'],
    ['agent.proxyPort', 'proxy-port'],
    ['webhook.serviceAccountLookup.timeoutMs', 'service-account-lookup-timeout'],
    ['webhook.versionRecheckIntervalSeconds', 'version-recheck-interval'],
    ['webhook.maxBodyBytes', 'max-body-bytes'],
  ])('%s (--%s): the schema minimum and maximum are accepted, one beyond is refused', (path, flag) => {
    const { minimum, maximum } = schemaAt(path);
    if (minimum === undefined || maximum === undefined) throw new Error(`${path} has no bounds`);
    expect([accepts(flag, String(minimum - 1)), accepts(flag, String(minimum)), accepts(flag, String(maximum)), accepts(flag, String(maximum + 1))]).toEqual([
      false,
      true,
      true,
      false,
    ]);
  });

  it.each([
    ['agent.mode', 'mode'],
    ['agent.nativeSidecar', 'native-sidecar'],
    ['webhook.shadowing', 'shadowing'],
    ['webhook.tlsMinVersion', 'tls-min-version'],
    ['webhook.logLevel', 'log-level'],
    ['agent.imagePullPolicy', 'agent-image-pull-policy'],
  ])('%s (--%s): every value the schema allows is accepted', (path, flag) => {
    const allowed = schemaAt(path).enum ?? [];
    expect(allowed.length).toBeGreaterThan(1);
    expect(allowed.filter((value) => !accepts(flag, String(value)))).toEqual([]);
  });

  it.each(['5m', '0.5', '64Mi', '1', '1e3'])('sidecar quantity %s: the schema and the webhook agree', (quantity) => {
    const pattern = (schemaAt('agent.resources') as SchemaNode & { properties: { requests: SchemaNode } }).properties.requests.properties?.cpu?.pattern;
    expect(acceptedBy(pattern, quantity)).toBe(accepts('agent-cpu-request', quantity));
  });
});
