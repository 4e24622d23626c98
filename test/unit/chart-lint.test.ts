/**
 * `helm lint --strict` over the matrix of values files in the chart's ci/ directory, and
 * the values schema's rejections, each with helm's own error message.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHART_DIR, helmTemplate, runHelm } from '../support/k8s-tools.ts';

const ORG = '00000000-0000-4000-8000-000000000000';
const CI_FILES = readdirSync(join(CHART_DIR, 'ci')).filter((f) => f.endsWith('-values.yaml')).sort();

describe('helm lint --strict', () => {
  it.each(CI_FILES)('passes with ci/%s', (file) => {
    const result = runHelm(['lint', '--strict', CHART_DIR, '--values', join(CHART_DIR, 'ci', file)]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
  });
});

const SCHEMA_HEADER = "values don't meet the specifications of the schema(s) in the following chart(s):\nanthropic-workload-identity:\n";

describe('values the chart refuses', () => {
  it.each<[string, Record<string, unknown>, string]>([
    [
      'no organization id',
      {},
      "federation.organizationId is required: set it to your Anthropic organization's UUID (--set federation.organizationId=<uuid>)",
    ],
    [
      'no federation section at all',
      { federation: null },
      "- at '': missing property 'federation'",
    ],
    [
      'an organization id that is not a UUID',
      { federation: { organizationId: 'org-123' } },
      "- at '/federation/organizationId': 'org-123' does not match pattern",
    ],
    [
      'an unknown top-level key',
      { federation: { organizationId: ORG }, replicas: 3 },
      "- at '': additional properties 'replicas' not allowed",
    ],
    [
      'an unknown key in a chart section (a typo)',
      { federation: { organizationId: ORG, ruleID: 'fdrl_x' } },
      "- at '/federation': additional properties 'ruleID' not allowed",
    ],
    [
      'a rule id without the fdrl_ prefix',
      { federation: { organizationId: ORG, ruleId: 'rule-1' } },
      "- at '/federation/ruleId': 'rule-1' does not match pattern",
    ],
    [
      'a token expiration under the kubelet minimum',
      { federation: { organizationId: ORG, tokenExpirationSeconds: 300 } },
      "- at '/federation/tokenExpirationSeconds': minimum: got 300, want 600",
    ],
    [
      'a token expiration given as a string',
      { federation: { organizationId: ORG, tokenExpirationSeconds: '600' } },
      "- at '/federation/tokenExpirationSeconds': got string, want integer",
    ],
    [
      'a plain-http base URL to a non-loopback host',
      { federation: { organizationId: ORG, baseUrl: 'http://api.example.com' } },
      "- at '/federation/baseUrl': 'http://api.example.com' does not match pattern",
    ],
    [
      'a sidecar variable the contract sets',
      { federation: { organizationId: ORG }, agent: { env: { ANTHROPIC_BASE_URL: 'https://elsewhere.example' } } },
      "- at '': invalid propertyName 'ANTHROPIC_BASE_URL'",
    ],
    [
      'a sidecar variable that is not a string',
      { federation: { organizationId: ORG }, agent: { env: { PORT: 8080 } } },
      "- at '/agent/env/PORT': got number, want string",
    ],
    [
      'an allowed base URL with a path',
      { federation: { organizationId: ORG, allowedBaseUrls: ['https://gateway.corp/v1'] } },
      "- at '/federation/allowedBaseUrls/0': 'https://gateway.corp/v1' does not match pattern",
    ],
    [
      'a CA bundle ConfigMap name that is not a DNS name',
      { federation: { organizationId: ORG }, caBundle: { configMapName: 'Corp_CA' } },
      "- at '/caBundle/configMapName': 'Corp_CA' does not match pattern",
    ],
    [
      'an unknown sidecar mode',
      { federation: { organizationId: ORG }, agent: { mode: 'env' } },
      "- at '/agent/mode': value must be one of 'file', 'proxy', 'sdk'",
    ],
    [
      'an unknown native sidecar setting',
      { federation: { organizationId: ORG }, agent: { nativeSidecar: 'yes' } },
      "- at '/agent/nativeSidecar': value must be one of 'auto', 'true', 'false', true, false",
    ],
    [
      'an unknown shadowing policy',
      { federation: { organizationId: ORG }, webhook: { shadowing: 'block' } },
      "- at '/webhook/shadowing': value must be one of 'warn', 'deny'",
    ],
    [
      'replicas as a string',
      { federation: { organizationId: ORG }, webhook: { replicaCount: 'two' } },
      "- at '/webhook/replicaCount': got string, want integer",
    ],
    [
      'a webhook timeout over the API server maximum',
      { federation: { organizationId: ORG }, webhook: { timeoutSeconds: 31 } },
      "- at '/webhook/timeoutSeconds': maximum: got 31, want 30",
    ],
    [
      'an unknown failure policy',
      { federation: { organizationId: ORG }, webhook: { annotationOptIn: { failurePolicy: 'Retry' } } },
      "- at '/webhook/annotationOptIn/failurePolicy': value must be one of 'Ignore', 'Fail'",
    ],
    [
      'an unknown certificate mode',
      { federation: { organizationId: ORG }, certificates: { mode: 'selfSigned' } },
      "- at '/certificates/mode': value must be one of 'helm', 'certManager', 'provided'",
    ],
    [
      'provided certificates without a CA bundle',
      { federation: { organizationId: ORG }, certificates: { mode: 'provided' } },
      'certificates.provided.caBundle is required when certificates.mode is provided: the base64 PEM of the CA that signed your serving certificate',
    ],
    [
      'a plain-http webhook URL',
      { federation: { organizationId: ORG }, webhook: { clientConfig: { url: 'http://127.0.0.1:9443/mutate' } } },
      "- at '/webhook/clientConfig/url': 'http://127.0.0.1:9443/mutate' does not match pattern",
    ],
    [
      'an image digest that is not sha256',
      { federation: { organizationId: ORG }, image: { digest: 'latest' } },
      "- at '/image/digest': 'latest' does not match pattern",
    ],
    [
      'an alert duration that is not a Prometheus duration',
      { federation: { organizationId: ORG }, monitoring: { prometheusRule: { alerts: { webhookSlow: { enabled: true, for: 'ten minutes', severity: 'warning', seconds: 1 } } } } },
      "- at '/monitoring/prometheusRule/alerts/webhookSlow/for': 'ten minutes' does not match pattern",
    ],
    [
      'an error ratio above 1',
      { federation: { organizationId: ORG }, monitoring: { prometheusRule: { alerts: { webhookErrors: { enabled: true, for: '10m', severity: 'warning', ratio: 5 } } } } },
      "- at '/monitoring/prometheusRule/alerts/webhookErrors/ratio': maximum: got 5, want 1",
    ],
    [
      'an alert the chart does not have',
      { federation: { organizationId: ORG }, monitoring: { prometheusRule: { alerts: { webhookSlowness: { enabled: true } } } } },
      "- at '/monitoring/prometheusRule/alerts': additional properties 'webhookSlowness' not allowed",
    ],
  ])('%s', (_name, values, message) => {
    const result = helmTemplate({ values });
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    if (message.startsWith('- at ')) expect(result.stderr).toContain(SCHEMA_HEADER);
    expect(result.stderr).toContain(message);
  });

  it('accepts the smallest valid values (the control for the cases above)', () => {
    const result = helmTemplate({ values: { federation: { organizationId: ORG } } });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});
