/**
 * `helm template` of the chart with the real helm binary, and assertions on what it renders:
 * every object checked against its kind's schema, each certificate mode, each sidecar mode
 * and layout, both webhook entries, the Deployment, RBAC and the optional objects.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContainerName, Default, HttpPath, MODES, OPT_IN_LABEL } from '../../contract/index.ts';
import { VERSION } from '../../runtime/version.ts';
import { parseWebhookCommandLine, webhookOptions } from '../../webhook/config.ts';
import { findObject, kindsOf, manifestErrors, parseManifests, selectorMatches } from '../support/chart.ts';
import type { KubeObject, LabelSelector } from '../support/chart.ts';
import { startFakeKubeApi } from '../support/fake-kube-api.ts';
import { CHART_DIR, helmTemplate, renderChart, renderChartAsync, runHelm } from '../support/k8s-tools.ts';
import type { RenderOptions } from '../support/k8s-tools.ts';

const ORG = '00000000-0000-4000-8000-000000000000';
const NAMESPACE = 'anthropic-workload-identity';
const FULLNAME = 'awi-anthropic-workload-identity';
const CI_DIR = join(CHART_DIR, 'ci');
const CI_FILES = readdirSync(CI_DIR).filter((f) => f.endsWith('-values.yaml')).sort();

/**
 * Renders with `values` over the required organization id. Tests that are not about
 * certificates use `provided` mode: generating an RSA CA and key doubles helm's run time.
 */
function render(values: Record<string, unknown> = {}, options: Omit<RenderOptions, 'values'> = {}): KubeObject[] {
  const base = { federation: { organizationId: ORG }, certificates: { mode: 'provided', provided: { caBundle: 'Q0E=' } } };
  const key = JSON.stringify([values, options]);
  let objects = renders.get(key);
  if (objects === undefined) {
    objects = parseManifests(renderChart({ ...options, values: deepMerge(base, values) }));
    renders.set(key, objects);
  }
  return objects;
}

/** Renders are pure (but for generated certificates), so identical ones are made once. */
const renders = new Map<string, KubeObject[]>();

const HELM_CERTIFICATES = { certificates: { mode: 'helm' } };

/** Rendered against the fake API server, which runs in this process: helm must not block it. */
async function renderAgainst(kubeconfig: string): Promise<KubeObject[]> {
  return parseManifests(await renderChartAsync({ values: { federation: { organizationId: ORG } }, kubeconfig }));
}

function deepMerge(base: Record<string, unknown>, override: Record<string, unknown>): Record<string, unknown> {
  const result: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    const current = result[key];
    result[key] =
      isPlainObject(current) && isPlainObject(value) ? deepMerge(current, value) : value;
  }
  return result;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// Narrow views of the rendered objects, only the fields the assertions read.
interface Container {
  name: string;
  image: string;
  imagePullPolicy: string;
  args: string[];
  ports: { name: string; containerPort: number }[];
  livenessProbe: { httpGet: { path: string; port: string; scheme: string } };
  readinessProbe: { httpGet: { path: string; port: string; scheme: string } };
  securityContext: Record<string, unknown>;
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean; subPath?: string }[];
  env?: { name: string; value?: string }[];
}
interface PodSpec {
  serviceAccountName: string;
  priorityClassName?: string;
  securityContext: Record<string, unknown>;
  containers: Container[];
  volumes: { name: string; secret?: { secretName: string } }[];
  topologySpreadConstraints: { topologyKey: string; whenUnsatisfiable: string; labelSelector: LabelSelector }[];
  imagePullSecrets?: { name: string }[];
}
interface DeploymentView {
  spec: { replicas: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
}
interface WebhookEntry {
  name: string;
  admissionReviewVersions: string[];
  sideEffects: string;
  failurePolicy: string;
  matchPolicy: string;
  reinvocationPolicy: string;
  timeoutSeconds: number;
  clientConfig: { url?: string; caBundle?: string; service?: { name: string; namespace: string; path: string; port: number } };
  rules: { operations: string[]; apiGroups: string[]; apiVersions: string[]; resources: string[]; scope: string }[];
  objectSelector: LabelSelector;
  namespaceSelector: LabelSelector;
}

function deploymentOf(objects: readonly KubeObject[]): DeploymentView {
  return findObject(objects, 'Deployment') as unknown as DeploymentView;
}
function webhookContainer(objects: readonly KubeObject[]): Container {
  return deploymentOf(objects).spec.template.spec.containers[0]!;
}
function webhookEntries(objects: readonly KubeObject[]): WebhookEntry[] {
  return (findObject(objects, 'MutatingWebhookConfiguration') as unknown as { webhooks: WebhookEntry[] }).webhooks;
}
function secretData(objects: readonly KubeObject[], name: string): Record<string, string> {
  return (findObject(objects, 'Secret', name) as unknown as { data: Record<string, string> }).data;
}
function decode(base64: string): string {
  return Buffer.from(base64, 'base64').toString('utf8');
}

describe('every values file in ci/ renders objects that pass strict schema validation', () => {
  it('has the matrix of values files', () => {
    expect(CI_FILES).toEqual([
      'cert-manager-issuer-values.yaml',
      'cert-manager-values.yaml',
      'default-values.yaml',
      'full-values.yaml',
      'provided-certificates-values.yaml',
      'proxy-legacy-sidecar-values.yaml',
      'sdk-native-sidecar-values.yaml',
      'single-replica-values.yaml',
      'url-client-config-values.yaml',
    ]);
  });

  it.each(CI_FILES)('%s (and the webhook accepts its command line)', (file) => {
    const objects = parseManifests(renderChart({ valuesFiles: [join(CI_DIR, file)] }));
    expect(objects.length).toBeGreaterThanOrEqual(7);
    expect(manifestErrors(objects)).toEqual({});
    const [subcommand, ...flags] = webhookContainer(objects).args;
    expect(subcommand).toBe('webhook');
    expect(parseWebhookCommandLine(flags, {}).kind).toBe('run');
    for (const object of objects) {
      expect(object.metadata.labels?.['app.kubernetes.io/managed-by'], `${object.kind} labels`).toBe('Helm');
      expect(object.metadata.labels?.['app.kubernetes.io/version'], `${object.kind} labels`).toBe(VERSION);
    }
  });

  it('on Kubernetes 1.20 renders policy/v1beta1 for the PodDisruptionBudget, which passes its schema', () => {
    const objects = render(HELM_CERTIFICATES, { kubeVersion: '1.20.0' });
    expect(findObject(objects, 'PodDisruptionBudget').apiVersion).toBe('policy/v1beta1');
    expect(manifestErrors(objects)).toEqual({});
  });

  it('refuses Kubernetes older than the kubeVersion floor', () => {
    const result = helmTemplate({ values: { federation: { organizationId: ORG } }, kubeVersion: '1.19.16' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('chart requires kubeVersion: >=1.20.0-0 which is incompatible with Kubernetes v1.19.16');
  });
});

describe('the MutatingWebhookConfiguration', () => {
  let objects: KubeObject[];
  beforeAll(() => {
    objects = render();
  });

  it('has two entries: the opt-in label fails closed, every other pod fails open', () => {
    const entries = webhookEntries(objects);
    expect(entries.map((e) => [e.name, e.failurePolicy])).toEqual([
      ['label-opt-in.pods.anthropic.workload.identity', 'Fail'],
      ['annotation-opt-in.pods.anthropic.workload.identity', 'Ignore'],
    ]);
    expect(entries[0]!.objectSelector).toEqual({ matchExpressions: [{ key: OPT_IN_LABEL, operator: 'In', values: ['true'] }] });
    expect(entries[1]!.objectSelector).toEqual({ matchExpressions: [{ key: OPT_IN_LABEL, operator: 'NotIn', values: ['true'] }] });
  });

  it.each([
    ['no label', {}, 'annotation-opt-in.pods.anthropic.workload.identity'],
    ['label "true"', { [OPT_IN_LABEL]: 'true' }, 'label-opt-in.pods.anthropic.workload.identity'],
    ['label "false"', { [OPT_IN_LABEL]: 'false' }, 'annotation-opt-in.pods.anthropic.workload.identity'],
    ['label "True" (not the opt-in value)', { [OPT_IN_LABEL]: 'True' }, 'annotation-opt-in.pods.anthropic.workload.identity'],
    ['unrelated labels', { app: 'demo' }, 'annotation-opt-in.pods.anthropic.workload.identity'],
  ])('sends a pod with %s to exactly one entry', (_name, labels: Record<string, string>, expected) => {
    const matching = webhookEntries(objects).filter((e) => selectorMatches(e.objectSelector, labels));
    expect(matching.map((e) => e.name)).toEqual([expected]);
  });

  it('calls POST /mutate on the Service for pod CREATE only, admission v1, no side effects, reinvoked if needed', () => {
    for (const entry of webhookEntries(objects)) {
      expect(entry.admissionReviewVersions).toEqual(['v1']);
      expect(entry.sideEffects).toBe('None');
      expect(entry.matchPolicy).toBe('Equivalent');
      expect(entry.reinvocationPolicy).toBe('IfNeeded');
      expect(entry.timeoutSeconds).toBe(5);
      expect(entry.rules).toEqual([{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }]);
      expect(entry.clientConfig.service).toEqual({ name: FULLNAME, namespace: NAMESPACE, path: HttpPath.mutate, port: 443 });
      expect(entry.clientConfig.url).toBeUndefined();
    }
  });

  it.each([
    ['its own namespace', NAMESPACE, false],
    ['kube-system', 'kube-system', false],
    ['an application namespace', 'team-a', true],
  ])('namespace selector: %s is sent to the webhook: %s', (_name, namespace, sent) => {
    for (const entry of webhookEntries(objects)) {
      expect(selectorMatches(entry.namespaceSelector, { 'kubernetes.io/metadata.name': namespace })).toBe(sent);
    }
  });

  it('excludes extra namespaces and adds extra namespace selector expressions', () => {
    const entries = webhookEntries(
      render({ webhook: { excludeNamespaces: ['istio-system', 'kube-system'], namespaceSelectorExpressions: [{ key: 'claude', operator: 'Exists' }] } }),
    );
    for (const entry of entries) {
      expect(entry.namespaceSelector).toEqual({
        matchExpressions: [
          { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [NAMESPACE, 'kube-system', 'istio-system'] },
          { key: 'claude', operator: 'Exists' },
        ],
      });
    }
  });

  it('makes the annotation entry fail closed on request, or leaves it out', () => {
    expect(webhookEntries(render({ webhook: { annotationOptIn: { failurePolicy: 'Fail' } } })).map((e) => e.failurePolicy)).toEqual(['Fail', 'Fail']);
    expect(webhookEntries(render({ webhook: { annotationOptIn: { enabled: false } } })).map((e) => e.name)).toEqual([
      'label-opt-in.pods.anthropic.workload.identity',
    ]);
  });

  it('uses the url form for a webhook outside the cluster (as the end-to-end suite does)', () => {
    const caBundle = Buffer.from('-----BEGIN CERTIFICATE-----\ntest\n-----END CERTIFICATE-----\n').toString('base64');
    const rendered = parseManifests(
      renderChart({
        values: {
          federation: { organizationId: ORG },
          webhook: { clientConfig: { url: 'https://127.0.0.1:9443/mutate' } },
          certificates: { mode: 'provided', provided: { caBundle } },
        },
        showOnly: ['templates/mutatingwebhookconfiguration.yaml'],
      }),
    );
    expect(kindsOf(rendered)).toEqual([`MutatingWebhookConfiguration/${FULLNAME}`]);
    for (const entry of webhookEntries(rendered)) {
      expect(entry.clientConfig).toEqual({ url: 'https://127.0.0.1:9443/mutate', caBundle });
    }
  });
});

describe('certificates', () => {
  it('helm mode: one generated CA signs the serving certificate; the Secret and both caBundles agree', () => {
    const objects = render(HELM_CERTIFICATES);
    const data = secretData(objects, `${FULLNAME}-tls`);
    expect(findObject(objects, 'Secret').type).toBe('kubernetes.io/tls');
    expect(Object.keys(data).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    for (const entry of webhookEntries(objects)) expect(entry.clientConfig.caBundle).toBe(data['ca.crt']);

    const ca = new X509Certificate(decode(data['ca.crt']!));
    const serving = new X509Certificate(decode(data['tls.crt']!));
    expect(ca.ca).toBe(true);
    expect(serving.checkIssued(ca)).toBe(true);
    expect(serving.verify(ca.publicKey)).toBe(true);
    expect(serving.checkPrivateKey(createPrivateKey(decode(data['tls.key']!)))).toBe(true);
    expect(serving.checkHost(`${FULLNAME}.${NAMESPACE}.svc`)).toBe(`${FULLNAME}.${NAMESPACE}.svc`);
    expect(serving.subjectAltName?.split(', ').sort()).toEqual(
      [FULLNAME, `${FULLNAME}.${NAMESPACE}`, `${FULLNAME}.${NAMESPACE}.svc`, `${FULLNAME}.${NAMESPACE}.svc.cluster.local`].map((n) => `DNS:${n}`).sort(),
    );
    const lifetimeDays = (Date.parse(serving.validTo) - Date.parse(serving.validFrom)) / 86_400_000;
    expect(Math.round(lifetimeDays)).toBe(3650);
    expect(objects.some((o) => o.apiVersion.startsWith('cert-manager.io/'))).toBe(false);
  });

  it('helm mode without a cluster (helm template, GitOps) generates a new CA on every render', () => {
    const renderOnce = (): string | undefined =>
      secretData(parseManifests(renderChart({ values: { federation: { organizationId: ORG } } })), `${FULLNAME}-tls`)['ca.crt'];
    const first = renderOnce();
    const second = renderOnce();
    expect(first).toMatch(/^LS0t/);
    expect(first).not.toBe(second);
  });

  describe('helm mode against a cluster that already has the Secret (helm upgrade)', () => {
    let directory: string;
    let existing: { ca: string; cert: string; key: string };
    beforeAll(() => {
      directory = mkdtempSync(join(tmpdir(), 'awi-chart-'));
      const data = secretData(render(HELM_CERTIFICATES), `${FULLNAME}-tls`);
      existing = { ca: data['ca.crt']!, cert: data['tls.crt']!, key: data['tls.key']! };
    });
    afterAll(() => {
      rmSync(directory, { recursive: true, force: true });
    });

    function existingSecret(data: Record<string, string>): KubeObject {
      return {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: {
          name: `${FULLNAME}-tls`,
          namespace: NAMESPACE,
          labels: { 'app.kubernetes.io/managed-by': 'Helm' },
          annotations: { 'meta.helm.sh/release-name': 'awi', 'meta.helm.sh/release-namespace': NAMESPACE },
        },
        type: 'kubernetes.io/tls',
        data,
      };
    }

    it('reuses the CA, certificate and key found through lookup', async () => {
      const api = await startFakeKubeApi([existingSecret({ 'ca.crt': existing.ca, 'tls.crt': existing.cert, 'tls.key': existing.key })], directory);
      try {
        const objects = await renderAgainst(api.kubeconfigPath);
        expect(secretData(objects, `${FULLNAME}-tls`)).toEqual({ 'ca.crt': existing.ca, 'tls.crt': existing.cert, 'tls.key': existing.key });
        for (const entry of webhookEntries(objects)) expect(entry.clientConfig.caBundle).toBe(existing.ca);
        expect(api.requests).toContain(`GET /api/v1/namespaces/${NAMESPACE}/secrets/${FULLNAME}-tls`);
      } finally {
        await api.close();
      }
    });

    it('generates a new pair when the Secret found lacks one of its keys', async () => {
      const api = await startFakeKubeApi([existingSecret({ 'tls.crt': existing.cert, 'tls.key': existing.key })], directory);
      try {
        const data = secretData(await renderAgainst(api.kubeconfigPath), `${FULLNAME}-tls`);
        expect(data['ca.crt']).toBeDefined();
        expect(data['ca.crt']).not.toBe(existing.ca);
        expect(data['tls.crt']).not.toBe(existing.cert);
      } finally {
        await api.close();
      }
    });
  });

  it('certManager mode: a private CA chain, a serving Certificate for the Service, cainjector fills the caBundle', () => {
    const objects = render({ certificates: { mode: 'certManager' } });
    expect(kindsOf(objects.filter((o) => o.apiVersion === 'cert-manager.io/v1')).sort()).toEqual([
      `Certificate/${FULLNAME}-ca`,
      `Certificate/${FULLNAME}-serving`,
      `Issuer/${FULLNAME}-ca`,
      `Issuer/${FULLNAME}-selfsigned`,
    ]);
    expect(findObject(objects, 'Issuer', `${FULLNAME}-selfsigned`).spec).toEqual({ selfSigned: {} });
    expect(findObject(objects, 'Certificate', `${FULLNAME}-ca`).spec).toMatchObject({
      isCA: true,
      secretName: `${FULLNAME}-ca`,
      issuerRef: { name: `${FULLNAME}-selfsigned`, kind: 'Issuer', group: 'cert-manager.io' },
    });
    expect(findObject(objects, 'Issuer', `${FULLNAME}-ca`).spec).toEqual({ ca: { secretName: `${FULLNAME}-ca` } });
    expect(findObject(objects, 'Certificate', `${FULLNAME}-serving`).spec).toMatchObject({
      secretName: `${FULLNAME}-tls`,
      duration: '2160h',
      renewBefore: '720h',
      dnsNames: [FULLNAME, `${FULLNAME}.${NAMESPACE}`, `${FULLNAME}.${NAMESPACE}.svc`, `${FULLNAME}.${NAMESPACE}.svc.cluster.local`],
      issuerRef: { name: `${FULLNAME}-ca`, kind: 'Issuer', group: 'cert-manager.io' },
    });
    expect(findObject(objects, 'MutatingWebhookConfiguration').metadata.annotations).toEqual({
      'cert-manager.io/inject-ca-from': `${NAMESPACE}/${FULLNAME}-serving`,
    });
    for (const entry of webhookEntries(objects)) expect(entry.clientConfig.caBundle).toBeUndefined();
    expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
    expect(deploymentOf(objects).spec.template.spec.volumes[0]).toEqual({ name: 'tls', secret: { secretName: `${FULLNAME}-tls` } });
  });

  it('certManager mode with an existing issuer: only the serving Certificate, signed by it', () => {
    const issuerRef = { name: 'internal-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' };
    const objects = render({ certificates: { mode: 'certManager', certManager: { issuerRef } } });
    expect(kindsOf(objects.filter((o) => o.apiVersion === 'cert-manager.io/v1'))).toEqual([`Certificate/${FULLNAME}-serving`]);
    expect(findObject(objects, 'Certificate').spec).toMatchObject({ issuerRef });
  });

  it('provided mode: no Secret or Certificate; the given CA bundle and Secret name are used', () => {
    const objects = render({ certificates: { mode: 'provided', secretName: 'my-tls', provided: { caBundle: 'Q0EgYnVuZGxl' } } });
    expect(objects.filter((o) => o.kind === 'Secret' || o.apiVersion.startsWith('cert-manager.io/'))).toEqual([]);
    for (const entry of webhookEntries(objects)) expect(entry.clientConfig.caBundle).toBe('Q0EgYnVuZGxl');
    expect(deploymentOf(objects).spec.template.spec.volumes[0]).toEqual({ name: 'tls', secret: { secretName: 'my-tls' } });
  });
});

const DEFAULT_ARGS = [
  'webhook',
  '--listen=:8443',
  '--tls-cert-file=/etc/anthropic-wif/tls/tls.crt',
  '--tls-key-file=/etc/anthropic-wif/tls/tls.key',
  '--tls-min-version=1.2',
  `--organization-id=${ORG}`,
  '--audience=https://api.anthropic.com',
  '--token-expiration=600',
  '--base-url=https://api.anthropic.com',
  '--mode=file',
  '--proxy-port=8423',
  `--agent-image=ghcr.io/anthropic-workload-identity/anthropic-wif:${VERSION}`,
  '--agent-image-pull-policy=IfNotPresent',
  '--agent-cpu-request=5m',
  '--agent-memory-limit=256Mi',
  '--agent-memory-request=64Mi',
  '--native-sidecar=auto',
  '--shadowing=warn',
  '--service-account-lookup=true',
  '--service-account-lookup-timeout=2000',
  '--version-recheck-interval=600',
  '--max-body-bytes=4194304',
  '--log-level=info',
];

function flagValue(args: readonly string[], flag: string): string | undefined {
  const prefix = `--${flag}=`;
  const found = args.filter((a) => a.startsWith(prefix));
  if (found.length > 1) throw new Error(`--${flag} given ${found.length} times`);
  return found[0]?.slice(prefix.length);
}

describe('the webhook command line', () => {
  it('passes the documented defaults, each flag once, and the webhook parses them to its own defaults', () => {
    const args = webhookContainer(render()).args;
    expect(args).toEqual(DEFAULT_ARGS);
    const known: string[] = Object.values(webhookOptions).map((o) => o.flag);
    expect(args.slice(1).map((a) => /^--([a-z-]+)=/.exec(a)?.[1]).filter((f) => f === undefined || !known.includes(f))).toEqual([]);
    const parsed = parseWebhookCommandLine(args.slice(1), {});
    const withoutFlags = parseWebhookCommandLine(['--tls-cert-file=/c', '--tls-key-file=/k', `--organization-id=${ORG}`], {});
    if (parsed.kind !== 'run' || withoutFlags.kind !== 'run') throw new Error('expected a runnable config');
    // Every chart default equals the webhook's own, but for the pull policy the chart makes explicit.
    expect({ ...parsed.config, tlsCertFile: '/c', tlsKeyFile: '/k' }).toEqual({ ...withoutFlags.config, agentImagePullPolicy: 'IfNotPresent' });
  });

  it.each(MODES)('sidecar mode %s', (mode) => {
    expect(flagValue(webhookContainer(render({ agent: { mode } })).args, 'mode')).toBe(mode);
  });

  it('proxy mode with another port', () => {
    const args = webhookContainer(render({ agent: { mode: 'proxy', proxyPort: 9423 } })).args;
    expect([flagValue(args, 'mode'), flagValue(args, 'proxy-port')]).toEqual(['proxy', '9423']);
  });

  it.each([
    ['auto', 'auto'],
    ['"true" (native sidecar)', 'true'],
    ['"false" (legacy init container + sidecar)', 'false'],
    ['boolean true', true],
    ['boolean false', false],
  ])('nativeSidecar %s', (_name, nativeSidecar) => {
    expect(flagValue(webhookContainer(render({ agent: { nativeSidecar } })).args, 'native-sidecar')).toBe(String(nativeSidecar));
  });

  it('passes the rule id, shadowing policy, sidecar resources and image only as set', () => {
    const args = webhookContainer(
      render({
        federation: { ruleId: 'fdrl_01abc', audience: 'https://example.com/aud', tokenExpirationSeconds: 3600, baseUrl: 'http://127.0.0.1:8080' },
        agent: { image: { repository: 'registry.example.com/agent', tag: '9.9.9' }, resources: { requests: { cpu: '', memory: '64Mi' }, limits: { cpu: '250m', memory: '' } } },
        webhook: { shadowing: 'deny', serviceAccountLookup: { enabled: false }, extraArgs: ['--kubeconfig=/etc/kubeconfig'] },
      }),
    ).args;
    expect({
      rule: flagValue(args, 'federation-rule-id'),
      audience: flagValue(args, 'audience'),
      expiration: flagValue(args, 'token-expiration'),
      baseUrl: flagValue(args, 'base-url'),
      image: flagValue(args, 'agent-image'),
      cpuRequest: flagValue(args, 'agent-cpu-request'),
      memoryRequest: flagValue(args, 'agent-memory-request'),
      cpuLimit: flagValue(args, 'agent-cpu-limit'),
      memoryLimit: flagValue(args, 'agent-memory-limit'),
      shadowing: flagValue(args, 'shadowing'),
      lookup: flagValue(args, 'service-account-lookup'),
      last: args.at(-1),
    }).toEqual({
      rule: 'fdrl_01abc',
      audience: 'https://example.com/aud',
      expiration: '3600',
      baseUrl: 'http://127.0.0.1:8080',
      image: 'registry.example.com/agent:9.9.9',
      cpuRequest: undefined,
      memoryRequest: '64Mi',
      cpuLimit: '250m',
      memoryLimit: undefined,
      shadowing: 'deny',
      lookup: 'false',
      last: '--kubeconfig=/etc/kubeconfig',
    });
  });

  it('a flag in extraArgs replaces the chart\'s own (the webhook refuses one given twice)', () => {
    const args = webhookContainer(render({ webhook: { extraArgs: ['--log-level=debug', '--kubeconfig=/etc/kubeconfig'] } })).args;
    expect(args.filter((a) => a.startsWith('--log-level='))).toEqual(['--log-level=debug']);
    expect(args.slice(-2)).toEqual(['--log-level=debug', '--kubeconfig=/etc/kubeconfig']);
    expect(args).toHaveLength(DEFAULT_ARGS.length + 1);
  });

  it.each([
    ['default', {}, `ghcr.io/anthropic-workload-identity/anthropic-wif:${VERSION}`, `ghcr.io/anthropic-workload-identity/anthropic-wif:${VERSION}`],
    [
      'a digest on the webhook image (the sidecar follows it)',
      { image: { repository: 'r.example/wif', tag: '1.2.3', digest: `sha256:${'a'.repeat(64)}` } },
      `r.example/wif:1.2.3@sha256:${'a'.repeat(64)}`,
      `r.example/wif:1.2.3@sha256:${'a'.repeat(64)}`,
    ],
    [
      'a separate sidecar repository (tag defaults to appVersion, not the webhook tag)',
      { image: { tag: '1.2.3' }, agent: { image: { repository: 'r.example/agent' } } },
      'ghcr.io/anthropic-workload-identity/anthropic-wif:1.2.3',
      `r.example/agent:${VERSION}`,
    ],
  ])('images: %s', (_name, values: Record<string, unknown>, webhookImage, agentImage) => {
    const container = webhookContainer(render(values));
    expect([container.image, flagValue(container.args, 'agent-image')]).toEqual([webhookImage, agentImage]);
  });

  it('passes the allowed base URLs, the sidecar environment and the CA bundle only as set, and the webhook accepts them', () => {
    const args = webhookContainer(
      render({
        federation: { allowedBaseUrls: ['https://gateway.corp.example', 'https://api.anthropic.com'] },
        agent: { env: { NO_PROXY: '.svc,.cluster.local', HTTPS_PROXY: 'http://proxy.corp.example:3128' } },
        caBundle: { configMapName: 'corp-ca', key: 'bundle.pem' },
      }),
    ).args;
    expect(args.filter((a) => a.startsWith('--allowed-base-urls='))).toEqual(['--allowed-base-urls=https://gateway.corp.example', '--allowed-base-urls=https://api.anthropic.com']);
    expect(flagValue(args, 'agent-env')).toBe('{"HTTPS_PROXY":"http://proxy.corp.example:3128","NO_PROXY":".svc,.cluster.local"}');
    expect([flagValue(args, 'ca-bundle-config-map'), flagValue(args, 'ca-bundle-key')]).toEqual(['corp-ca', 'bundle.pem']);
    const parsed = parseWebhookCommandLine(args.slice(1), {});
    if (parsed.kind !== 'run') throw new Error('expected a runnable config');
    expect(parsed.config.agentEnv).toEqual([
      { name: 'HTTPS_PROXY', value: 'http://proxy.corp.example:3128' },
      { name: 'NO_PROXY', value: '.svc,.cluster.local' },
    ]);
    const defaults = webhookContainer(render()).args;
    expect(['allowed-base-urls', 'agent-env', 'ca-bundle-config-map', 'ca-bundle-key'].map((flag) => defaults.some((a) => a.startsWith(`--${flag}=`)))).toEqual([false, false, false, false]);
  });

  it('client authentication: the CA ConfigMap is mounted whole and named by --client-ca-file, allowed names repeat, and the webhook accepts them', () => {
    const objects = render({ webhook: { clientAuth: { enabled: true, caConfigMap: 'apiserver-client-ca', caKey: 'client-ca.pem', allowedNames: ['kube-apiserver', 'webhook-client.example'] } } });
    const container = webhookContainer(objects);
    const spec = deploymentOf(objects).spec.template.spec;
    expect({
      caFile: flagValue(container.args, 'client-ca-file'),
      names: container.args.filter((a) => a.startsWith('--client-allowed-names=')),
      mount: container.volumeMounts.find((m) => m.name === 'client-ca'),
      volume: spec.volumes.find((v) => v.name === 'client-ca'),
    }).toEqual({
      caFile: '/etc/anthropic-wif/client-ca/client-ca.pem',
      names: ['--client-allowed-names=kube-apiserver', '--client-allowed-names=webhook-client.example'],
      mount: { name: 'client-ca', mountPath: '/etc/anthropic-wif/client-ca', readOnly: true },
      volume: { name: 'client-ca', configMap: { name: 'apiserver-client-ca' } },
    });
    const parsed = parseWebhookCommandLine(container.args.slice(1), {});
    if (parsed.kind !== 'run') throw new Error('expected a runnable config');
    expect([parsed.config.clientCaFile, parsed.config.clientAllowedNames]).toEqual(['/etc/anthropic-wif/client-ca/client-ca.pem', ['kube-apiserver', 'webhook-client.example']]);
    const defaults = render();
    expect([flagValue(webhookContainer(defaults).args, 'client-ca-file'), deploymentOf(defaults).spec.template.spec.volumes.map((v) => v.name)]).toEqual([undefined, ['tls', 'tmp']]);
  });

  it('client authentication without its CA ConfigMap fails the render, naming the value', () => {
    const result = helmTemplate({ values: { federation: { organizationId: ORG }, certificates: { mode: 'provided', provided: { caBundle: 'Q0E=' } }, webhook: { clientAuth: { enabled: true } } } });
    expect([result.status, result.stderr]).toEqual([1, expect.stringContaining('webhook.clientAuth.caConfigMap is required when webhook.clientAuth.enabled is true')]);
  });

  it('the default agent image is the contract default', () => {
    expect(flagValue(webhookContainer(render()).args, 'agent-image')).toBe(Default.agentImage);
  });
});

describe('the webhook Deployment', () => {
  let objects: KubeObject[];
  beforeAll(() => {
    objects = render();
  });

  it('runs 2 replicas spread over nodes and zones, never below the asked-for count during a rollout', () => {
    const deployment = deploymentOf(objects);
    expect(deployment.spec.replicas).toBe(2);
    expect((deployment.spec as unknown as { strategy: unknown }).strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    const spread = deployment.spec.template.spec.topologySpreadConstraints;
    expect(spread.map((c) => [c.topologyKey, c.whenUnsatisfiable])).toEqual([
      ['kubernetes.io/hostname', 'ScheduleAnyway'],
      ['topology.kubernetes.io/zone', 'ScheduleAnyway'],
    ]);
    for (const constraint of spread) expect(selectorMatches(constraint.labelSelector, deployment.spec.template.metadata.labels)).toBe(true);
    expect(selectorMatches({ matchLabels: deployment.spec.selector.matchLabels }, deployment.spec.template.metadata.labels)).toBe(true);
  });

  it('has the restricted security context: non-root, read-only root filesystem, no privilege escalation, all capabilities dropped, RuntimeDefault seccomp', () => {
    const spec = deploymentOf(objects).spec.template.spec;
    expect(spec.securityContext).toEqual({ runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    expect(spec.containers[0]!.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
  });

  it('probes /healthz and /readyz over HTTPS on the webhook port', () => {
    const container = webhookContainer(objects);
    expect(container.ports).toEqual([{ name: 'https', containerPort: 8443, protocol: 'TCP' }]);
    expect(container.livenessProbe.httpGet).toEqual({ path: HttpPath.healthz, port: 'https', scheme: 'HTTPS' });
    expect(container.readinessProbe.httpGet).toEqual({ path: HttpPath.readyz, port: 'https', scheme: 'HTTPS' });
  });

  it('keeps serving for the preStop delay before SIGTERM, with no shell; no hook when the delay is 0', () => {
    expect((webhookContainer(objects) as unknown as { lifecycle: unknown }).lifecycle).toEqual({
      preStop: { exec: { command: ['/usr/local/bin/node', '-e', 'setTimeout(() => {}, 5000)'] } },
    });
    expect((webhookContainer(render({ webhook: { preStopDelaySeconds: 0 } })) as unknown as { lifecycle?: unknown }).lifecycle).toBeUndefined();
  });

  it('mounts the whole TLS Secret (no subPath), so renewed certificates appear in place', () => {
    const container = webhookContainer(objects);
    expect(container.volumeMounts.find((m) => m.name === 'tls')).toEqual({ name: 'tls', mountPath: '/etc/anthropic-wif/tls', readOnly: true });
    expect(container.volumeMounts.some((m) => m.subPath !== undefined)).toBe(false);
  });

  it('exposes the webhook through a Service on 443 selecting its pods', () => {
    const service = findObject(objects, 'Service') as unknown as { spec: { selector: Record<string, string>; ports: unknown[] } };
    expect(service.spec.ports).toEqual([{ name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' }]);
    expect(selectorMatches({ matchLabels: service.spec.selector }, deploymentOf(objects).spec.template.metadata.labels)).toBe(true);
  });

  it('takes the priority class, pull secrets, extra env, volumes and labels from values', () => {
    const spec = deploymentOf(parseManifests(renderChart({ valuesFiles: [join(CI_DIR, 'full-values.yaml')] }))).spec.template.spec;
    expect(spec.priorityClassName).toBe('system-cluster-critical');
    expect(spec.imagePullSecrets).toEqual([{ name: 'registry-credentials' }]);
    expect(spec.containers[0]!.env).toEqual([{ name: 'NODE_OPTIONS', value: '--max-old-space-size=192' }]);
    expect(spec.containers[0]!.volumeMounts.map((m) => m.name)).toEqual(['tls', 'tmp', 'extra-ca']);
    expect(spec.volumes.map((v) => v.name)).toEqual(['tls', 'tmp', 'extra-ca']);
  });

  it.each([
    [2, true, 'policy/v1'],
    [1, false, undefined],
  ])('with %i replicas renders a PodDisruptionBudget: %s', (replicaCount, present, apiVersion) => {
    const budgets = render({ webhook: { replicaCount } }).filter((o) => o.kind === 'PodDisruptionBudget');
    expect(budgets.map((b) => b.apiVersion)).toEqual(present ? [apiVersion] : []);
    if (present) expect(budgets[0]!.spec).toEqual({ minAvailable: 1, selector: { matchLabels: deploymentOf(objects).spec.selector.matchLabels } });
  });
});

describe('RBAC', () => {
  it('grants get/list/watch on ServiceAccounts and GET /version to the webhook ServiceAccount, nothing else', () => {
    const objects = render();
    expect(findObject(objects, 'ClusterRole').rules).toEqual([
      { apiGroups: [''], resources: ['serviceaccounts'], verbs: ['get', 'list', 'watch'] },
      { nonResourceURLs: ['/version'], verbs: ['get'] },
    ]);
    const binding = findObject(objects, 'ClusterRoleBinding') as unknown as { roleRef: unknown; subjects: unknown };
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: FULLNAME });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: FULLNAME, namespace: NAMESPACE }]);
    expect(findObject(objects, 'ServiceAccount').metadata.name).toBe(deploymentOf(objects).spec.template.spec.serviceAccountName);
  });

  it('drops the ServiceAccount rule when the lookup is off, and renders no RBAC when asked', () => {
    expect(findObject(render({ webhook: { serviceAccountLookup: { enabled: false } } }), 'ClusterRole').rules).toEqual([
      { nonResourceURLs: ['/version'], verbs: ['get'] },
    ]);
    expect(render({ rbac: { create: false } }).filter((o) => o.kind.startsWith('ClusterRole'))).toEqual([]);
  });
});

describe('optional objects', () => {
  let objects: KubeObject[];
  beforeAll(() => {
    objects = parseManifests(renderChart({ valuesFiles: [join(CI_DIR, 'full-values.yaml')] }));
  });

  it('are absent by default', () => {
    expect(render().filter((o) => ['NetworkPolicy', 'ServiceMonitor', 'PodMonitor', 'PrometheusRule', 'ConfigMap'].includes(o.kind))).toEqual([]);
  });

  it('PodMonitor scrapes the sidecar container of every pod in any namespace, on its health port over plain HTTP', () => {
    const monitor = findObject(objects, 'PodMonitor');
    expect(monitor.metadata).toMatchObject({ name: 'awi-wif-sidecars', labels: { release: 'prometheus' } });
    expect(monitor.spec).toEqual({
      namespaceSelector: { any: true },
      selector: {},
      podMetricsEndpoints: [
        {
          path: HttpPath.metrics,
          scheme: 'http',
          interval: '30s',
          relabelings: [
            { action: 'keep', sourceLabels: ['__meta_kubernetes_pod_container_name'], regex: ContainerName.agent },
            { action: 'keep', sourceLabels: ['__meta_kubernetes_pod_phase'], regex: 'Running' },
            { action: 'replace', sourceLabels: ['__meta_kubernetes_pod_ip'], regex: '([^:]+)', targetLabel: '__address__', replacement: `\${1}:${Default.agentHealthPort}` },
            { action: 'replace', sourceLabels: ['__meta_kubernetes_pod_ip'], regex: '(.+:.+)', targetLabel: '__address__', replacement: `[\${1}]:${Default.agentHealthPort}` },
          ],
        },
      ],
    });
  });

  it('NetworkPolicy admits the HTTPS port only, from the given peers, and restricts egress when rules are given', () => {
    expect(findObject(objects, 'NetworkPolicy').spec).toMatchObject({
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ ports: [{ port: 'https', protocol: 'TCP' }], from: [{ ipBlock: { cidr: '10.0.0.0/8' } }] }],
      egress: [{ ports: [{ port: 443, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }] }],
    });
  });

  it('ServiceMonitor scrapes /metrics over HTTPS, verifying the serving certificate', () => {
    const monitor = findObject(objects, 'ServiceMonitor');
    expect(monitor.metadata.labels?.release).toBe('prometheus');
    expect((monitor.spec as { endpoints: unknown }).endpoints).toEqual([
      {
        port: 'https',
        scheme: 'https',
        path: HttpPath.metrics,
        interval: '30s',
        tlsConfig: { serverName: `awi-wif.${NAMESPACE}.svc`, ca: { secret: { name: 'awi-wif-tls', key: 'ca.crt' } } },
      },
    ]);
  });

  it('common labels reach every object', () => {
    for (const object of objects) expect(object.metadata.labels?.team, `${object.kind}/${object.metadata.name}`).toBe('platform');
  });
});

describe('NOTES.txt', () => {
  it('tells the user how to register the issuer and opt a pod in', () => {
    const result = runHelm([
      'install', 'awi', CHART_DIR, '--dry-run=client', '--namespace', NAMESPACE, '--set', `federation.organizationId=${ORG}`,
    ]);
    expect(result.status).toBe(0);
    const notes = result.stdout.slice(result.stdout.indexOf('NOTES:'));
    expect(notes).toContain('anthropic-wif issuer');
    expect(notes).toContain(`${OPT_IN_LABEL}: "true"`);
    expect(notes).toContain(`kubectl -n ${NAMESPACE} rollout status deployment/${FULLNAME}`);
    expect(notes).toContain('anthropic.workload.identity/federation-rule-id: fdrl_...   # no default rule is set');
  });
});
