/**
 * Golden audit fixtures (test/fixtures/audit/*.yaml): a pod or a workload, the cluster around
 * it (owners, its ServiceAccount, what --read-secrets learnt) and the exact findings expected.
 * A fixture with `admittedWith` describes an injected pod: the stored pod is made by the real
 * webhook core under those earlier settings, exactly as admission made it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import YAML from 'yaml';
import { OwnerIndex } from '../../audit/owners.ts';
import type { SecretFacts, SecretLookup } from '../../audit/static-credentials.ts';
import type { FindingKind, AuditSeverity } from '../../audit/model.ts';
import type { JsonObject } from '../../webhook/json.ts';
import { reviewPod } from '../../webhook/review.ts';
import type { InjectionDefaults, ServiceAccountLookup, ServiceAccountView } from '../../webhook/types.ts';
import { ChartLabel, PROJECT_NAME } from '../../contract/index.ts';
import { TEST_AGENT_IMAGE, TEST_FEDERATION_RULE_ID, TEST_ORGANIZATION_ID, testInjectionDefaults } from './injection-defaults.ts';

export const AUDIT_FIXTURES_DIR = fileURLToPath(new URL('../fixtures/audit/', import.meta.url));

export interface ExpectedFinding {
  readonly kind: FindingKind;
  readonly severity: AuditSeverity;
  readonly message: string;
}

interface RawFixture {
  readonly description: string;
  readonly owners?: readonly { kind: string; name: string; owner: { kind: string; name: string } }[];
  readonly serviceAccount?: { readonly name: string; readonly annotations: Record<string, string> };
  readonly secrets?: Record<string, 'missing' | { keys: string[]; apiKeyKeys: string[] }>;
  readonly defaults?: 'unknown' | Partial<InjectionDefaults>;
  readonly admittedWith?: { readonly defaults?: Partial<InjectionDefaults>; readonly serviceAccountAnnotations?: Record<string, string> };
  readonly pod?: JsonObject;
  readonly workload?: { readonly kind: string; readonly object: JsonObject };
  readonly expect: { readonly owner: string; readonly findings: readonly ExpectedFinding[] };
}

export interface AuditFixture {
  readonly file: string;
  readonly description: string;
  readonly owners: OwnerIndex;
  readonly serviceAccount: (namespace: string, name: string) => ServiceAccountView | undefined;
  readonly secrets: SecretLookup;
  readonly defaults: InjectionDefaults | undefined;
  readonly pod: JsonObject | undefined;
  readonly workload: { readonly kind: string; readonly object: JsonObject } | undefined;
  readonly expect: RawFixture['expect'];
}

function namespaceOf(raw: RawFixture): string {
  const metadata = (raw.pod ?? raw.workload?.object)?.metadata as { namespace?: string } | undefined;
  return metadata?.namespace ?? 'default';
}

function secretLookup(raw: RawFixture): SecretLookup {
  const facts = new Map<string, SecretFacts>(
    Object.entries(raw.secrets ?? {}).map(([id, value]) => [
      id,
      value === 'missing' ? { kind: 'missing' } : { kind: 'read', keys: new Set(value.keys), apiKeyKeys: new Set(value.apiKeyKeys) },
    ]),
  );
  return raw.secrets === undefined ? () => undefined : (namespace, name) => facts.get(`${namespace}/${name}`);
}

function accountView(namespace: string, name: string, annotations: Record<string, string>): ServiceAccountView {
  return { namespace, name, annotations };
}

/** `pod` as the API server stores it after the real webhook core injected it (its patch applied). */
export function storedAfterAdmission(pod: JsonObject, lookup: ServiceAccountLookup, defaults: InjectionDefaults = testInjectionDefaults()): JsonObject {
  const review = reviewPod(pod, lookup, defaults);
  if (review.result !== 'injected') throw new Error(`the pod was not injected at admission: ${review.message ?? ''}`);
  return fastJsonPatch.applyPatch(structuredClone(pod), review.patch as Operation[], false, false).newDocument;
}

/**
 * The chart's webhook Deployment as the audit finds it (by the chart's labels) and reads
 * today's defaults from: its flags, and a literal variable read as the webhook reads it.
 */
export const STAND_IN_WEBHOOK_DEPLOYMENT: JsonObject = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'awi', namespace: 'anthropic-wif-system', labels: { [ChartLabel.partOf]: PROJECT_NAME, [ChartLabel.component]: ChartLabel.webhookComponent } },
  spec: {
    template: {
      spec: {
        containers: [
          {
            name: 'webhook',
            image: TEST_AGENT_IMAGE,
            args: [
              'webhook',
              '--tls-cert-file=/etc/anthropic-wif/tls/tls.crt',
              '--tls-key-file=/etc/anthropic-wif/tls/tls.key',
              `--organization-id=${TEST_ORGANIZATION_ID}`,
              `--federation-rule-id=${TEST_FEDERATION_RULE_ID}`,
              '--agent-image-pull-policy=IfNotPresent',
              '--native-sidecar=true',
            ],
            env: [{ name: 'ANTHROPIC_WIF_AGENT_IMAGE', value: TEST_AGENT_IMAGE }],
          },
        ],
      },
    },
  },
};

/** The pod as the webhook stored it when it was admitted under `admittedWith`. */
function admitted(raw: RawFixture, pod: JsonObject): JsonObject {
  const namespace = namespaceOf(raw);
  const account = raw.serviceAccount;
  const annotations = raw.admittedWith?.serviceAccountAnnotations ?? account?.annotations ?? {};
  const lookup: ServiceAccountLookup = account === undefined ? { kind: 'not-found' } : { kind: 'found', serviceAccount: accountView(namespace, account.name, annotations) };
  return storedAfterAdmission(pod, lookup, testInjectionDefaults(raw.admittedWith?.defaults ?? {}));
}

export function loadAuditFixture(file: string): AuditFixture {
  const raw = YAML.parse(readFileSync(join(AUDIT_FIXTURES_DIR, file), 'utf8')) as RawFixture;
  const owners = new OwnerIndex();
  const namespace = namespaceOf(raw);
  for (const owner of raw.owners ?? []) owners.add(owner.kind, namespace, owner.name, owner.owner);
  const account = raw.serviceAccount;
  const pod = raw.pod === undefined ? undefined : raw.admittedWith === undefined ? raw.pod : admitted(raw, raw.pod);
  return {
    file,
    description: raw.description,
    owners,
    serviceAccount: (ns, name) => (account !== undefined && ns === namespace && name === account.name ? accountView(ns, name, account.annotations) : undefined),
    secrets: secretLookup(raw),
    defaults: raw.defaults === 'unknown' ? undefined : testInjectionDefaults(raw.defaults ?? {}),
    pod,
    workload: raw.workload,
    expect: raw.expect,
  };
}

export function auditFixtureFiles(): string[] {
  return readdirSync(AUDIT_FIXTURES_DIR)
    .filter((name) => name.endsWith('.yaml'))
    .sort();
}
