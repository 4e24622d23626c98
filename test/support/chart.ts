/**
 * Reading and checking what the chart renders, with no cluster: each object is parsed with
 * `yaml`, checked against its kind's OpenAPI schema (`kubernetes-models`: types, required
 * fields, enums), checked for fields its kind does not have (the attribute maps of
 * `@kubernetes/client-node`, as `kubectl --validate=strict` would), and given a few
 * structural checks for the custom resources (cert-manager, Prometheus Operator).
 */
import * as k8s from '@kubernetes/client-node';
import { MutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1/MutatingWebhookConfiguration';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { PodDisruptionBudget as PodDisruptionBudgetV1beta1 } from 'kubernetes-models/policy/v1beta1/PodDisruptionBudget';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { parseAllDocuments } from 'yaml';

export interface ObjectMeta {
  readonly name: string;
  readonly namespace?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** A rendered object; tests reach into it with `any`-free casts of their own. */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: ObjectMeta;
  readonly [field: string]: unknown;
}

/** Every non-empty document of a YAML stream, in order. */
export function parseManifests(text: string): KubeObject[] {
  const objects: KubeObject[] = [];
  for (const document of parseAllDocuments(text)) {
    if (document.errors.length > 0) throw new Error(`invalid YAML: ${document.errors.map((e) => e.message).join('; ')}`);
    const value: unknown = document.toJS();
    if (value === null || value === undefined) continue;
    objects.push(value as KubeObject);
  }
  return objects;
}

/** The one object of this kind (and name, when given); throws when there are none or several. */
export function findObject(objects: readonly KubeObject[], kind: string, name?: string): KubeObject {
  const matches = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (matches.length !== 1) {
    throw new Error(`expected one ${kind}${name === undefined ? '' : ` named ${name}`}, found ${matches.length}: ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  }
  return matches[0]!;
}

export function kindsOf(objects: readonly KubeObject[]): string[] {
  return objects.map((o) => `${o.kind}/${o.metadata.name}`);
}

interface KindSchema {
  /** Throws when the object breaks its kind's OpenAPI schema. */
  readonly validate: (object: unknown) => void;
  /** The `@kubernetes/client-node` model whose attribute map lists the kind's fields. */
  readonly modelName: string;
}

function modelValidator(Model: new (data: never) => { validate(): void }): (object: unknown) => void {
  return (object) => {
    new Model(object as never).validate();
  };
}

const KINDS: Readonly<Record<string, KindSchema>> = {
  'v1/ConfigMap': { validate: modelValidator(ConfigMap), modelName: 'V1ConfigMap' },
  'v1/Namespace': { validate: modelValidator(Namespace), modelName: 'V1Namespace' },
  'v1/Pod': { validate: modelValidator(Pod), modelName: 'V1Pod' },
  'v1/Secret': { validate: modelValidator(Secret), modelName: 'V1Secret' },
  'v1/Service': { validate: modelValidator(Service), modelName: 'V1Service' },
  'v1/ServiceAccount': { validate: modelValidator(ServiceAccount), modelName: 'V1ServiceAccount' },
  'apps/v1/Deployment': { validate: modelValidator(Deployment), modelName: 'V1Deployment' },
  'batch/v1/Job': { validate: modelValidator(Job), modelName: 'V1Job' },
  'policy/v1/PodDisruptionBudget': { validate: modelValidator(PodDisruptionBudget), modelName: 'V1PodDisruptionBudget' },
  // policy/v1beta1 has the same fields as v1 for what the chart sets.
  'policy/v1beta1/PodDisruptionBudget': { validate: modelValidator(PodDisruptionBudgetV1beta1), modelName: 'V1PodDisruptionBudget' },
  'rbac.authorization.k8s.io/v1/ClusterRole': { validate: modelValidator(ClusterRole), modelName: 'V1ClusterRole' },
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': { validate: modelValidator(ClusterRoleBinding), modelName: 'V1ClusterRoleBinding' },
  'networking.k8s.io/v1/NetworkPolicy': { validate: modelValidator(NetworkPolicy), modelName: 'V1NetworkPolicy' },
  'admissionregistration.k8s.io/v1/MutatingWebhookConfiguration': {
    validate: modelValidator(MutatingWebhookConfiguration),
    modelName: 'V1MutatingWebhookConfiguration',
  },
};

interface Attribute {
  readonly baseName: string;
  readonly type: string;
}

function attributesOf(typeName: string): readonly Attribute[] | undefined {
  const model = (k8s as unknown as Record<string, unknown>)[typeName];
  if (typeof model !== 'function' || !('getAttributeTypeMap' in model)) return undefined;
  return (model as { getAttributeTypeMap(): readonly Attribute[] }).getAttributeTypeMap();
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Fields the kind does not define, found by walking the client-node attribute maps. */
function unknownFields(value: unknown, typeName: string, path: string, found: string[]): void {
  const arrayOf = /^Array<(.+)>$/.exec(typeName)?.[1];
  if (arrayOf !== undefined) {
    if (Array.isArray(value)) {
      value.forEach((item: unknown, index) => {
        unknownFields(item, arrayOf, `${path}[${index}]`, found);
      });
    }
    return;
  }
  const mapOf = /^\{ \[key: string\]: (.+); \}$/.exec(typeName)?.[1];
  if (mapOf !== undefined) {
    if (isRecord(value)) for (const [key, item] of Object.entries(value)) unknownFields(item, mapOf, `${path}.${key}`, found);
    return;
  }
  const attributes = attributesOf(typeName);
  if (attributes === undefined || !isRecord(value)) return;
  const types = new Map(attributes.map((a) => [a.baseName, a.type]));
  for (const [key, item] of Object.entries(value)) {
    const itemType = types.get(key);
    if (itemType === undefined) found.push(`${path}.${key}: unknown field in ${typeName}`);
    else unknownFields(item, itemType, `${path}.${key}`, found);
  }
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function metadataErrors(object: KubeObject): string[] {
  const errors: string[] = [];
  const name = object.metadata.name;
  if (!DNS_SUBDOMAIN.test(name) || name.length > 253) errors.push(`metadata.name ${JSON.stringify(name)} is not a DNS subdomain`);
  // Service names become DNS labels.
  if (object.kind === 'Service' && name.length > 63) errors.push(`metadata.name ${JSON.stringify(name)} is longer than 63 characters`);
  for (const [key, value] of Object.entries(object.metadata.labels ?? {})) {
    if (typeof value !== 'string' || value.length > 63 || !LABEL_VALUE.test(value)) errors.push(`label ${key}=${JSON.stringify(value)} is not a valid label value`);
  }
  for (const [key, value] of Object.entries(object.metadata.annotations ?? {})) {
    if (typeof value !== 'string') errors.push(`annotation ${key} is not a string`);
  }
  return errors;
}

/** Allowed `spec` fields and required ones, for the custom resources the chart renders. */
const CUSTOM_RESOURCES: Readonly<Record<string, { readonly allowed: readonly string[]; readonly required: readonly string[] }>> = {
  'cert-manager.io/v1/Issuer': { allowed: ['selfSigned', 'ca', 'acme', 'vault', 'venafi'], required: [] },
  'cert-manager.io/v1/Certificate': {
    allowed: ['secretName', 'issuerRef', 'commonName', 'dnsNames', 'ipAddresses', 'uris', 'duration', 'renewBefore', 'isCA', 'privateKey', 'usages', 'subject', 'secretTemplate'],
    required: ['secretName', 'issuerRef'],
  },
  'monitoring.coreos.com/v1/ServiceMonitor': {
    allowed: ['selector', 'namespaceSelector', 'endpoints', 'jobLabel', 'targetLabels', 'podTargetLabels', 'sampleLimit'],
    required: ['selector', 'endpoints'],
  },
  'monitoring.coreos.com/v1/PodMonitor': {
    allowed: ['selector', 'namespaceSelector', 'podMetricsEndpoints', 'jobLabel', 'podTargetLabels', 'sampleLimit'],
    required: ['selector', 'podMetricsEndpoints'],
  },
  'monitoring.coreos.com/v1/PrometheusRule': { allowed: ['groups'], required: ['groups'] },
};

function customResourceErrors(object: KubeObject, key: string): string[] | undefined {
  const shape = CUSTOM_RESOURCES[key];
  if (shape === undefined) return undefined;
  const spec = object.spec;
  if (!isRecord(spec)) return ['spec: must be an object'];
  const errors = Object.keys(spec).filter((field) => !shape.allowed.includes(field)).map((field) => `spec.${field}: unknown field in ${object.kind}`);
  for (const field of shape.required) if (spec[field] === undefined) errors.push(`spec.${field}: required`);
  if (object.kind === 'Issuer' && Object.keys(spec).length !== 1) errors.push('spec: an Issuer has exactly one issuer type');
  if (object.kind === 'Certificate') errors.push(...certificateErrors(spec));
  if (object.kind === 'ServiceMonitor') errors.push(...serviceMonitorErrors(spec));
  if (object.kind === 'PrometheusRule') errors.push(...prometheusRuleErrors(spec));
  return errors;
}

function certificateErrors(spec: Record<string, unknown>): string[] {
  const errors: string[] = [];
  const issuerRef = spec.issuerRef;
  if (!isRecord(issuerRef) || typeof issuerRef.name !== 'string' || issuerRef.name === '') errors.push('spec.issuerRef.name: required');
  for (const field of ['duration', 'renewBefore'] as const) {
    const value = spec[field];
    if (value !== undefined && (typeof value !== 'string' || !/^(\d+h)?(\d+m)?(\d+s)?$/.test(value) || value === '')) errors.push(`spec.${field}: not a Go duration`);
  }
  if (spec.dnsNames !== undefined && !(Array.isArray(spec.dnsNames) && spec.dnsNames.every((n) => typeof n === 'string' && DNS_SUBDOMAIN.test(n)))) {
    errors.push('spec.dnsNames: must be DNS names');
  }
  return errors;
}

function serviceMonitorErrors(spec: Record<string, unknown>): string[] {
  const endpoints = spec.endpoints;
  if (!Array.isArray(endpoints) || endpoints.length === 0) return ['spec.endpoints: at least one endpoint'];
  return endpoints.flatMap((endpoint: unknown, index) =>
    isRecord(endpoint) && typeof endpoint.port === 'string' && ['http', 'https', undefined].includes(endpoint.scheme as string | undefined)
      ? []
      : [`spec.endpoints[${index}]: needs a named port and an http or https scheme`],
  );
}

const PROMETHEUS_DURATION = /^(\d+(ms|s|m|h|d|w|y))+$/;

/** The operator's CRD shape: named groups of rules, each an alert or a record with an expr. */
function prometheusRuleErrors(spec: Record<string, unknown>): string[] {
  const groups = spec.groups;
  if (!Array.isArray(groups) || groups.length === 0) return ['spec.groups: at least one group'];
  return groups.flatMap((group: unknown, g) => {
    if (!isRecord(group) || typeof group.name !== 'string' || !Array.isArray(group.rules)) return [`spec.groups[${g}]: needs a name and rules`];
    return group.rules.flatMap((rule: unknown, r) => {
      const at = `spec.groups[${g}].rules[${r}]`;
      if (!isRecord(rule)) return [`${at}: must be an object`];
      const unknown = Object.keys(rule).filter((k) => !['alert', 'record', 'expr', 'for', 'keep_firing_for', 'labels', 'annotations'].includes(k));
      return [
        ...unknown.map((k) => `${at}.${k}: unknown field`),
        ...(typeof rule.expr === 'string' && rule.expr !== '' ? [] : [`${at}.expr: required`]),
        ...(typeof rule.alert === 'string' || typeof rule.record === 'string' ? [] : [`${at}: needs alert or record`]),
        ...(rule.for === undefined || (typeof rule.for === 'string' && PROMETHEUS_DURATION.test(rule.for)) ? [] : [`${at}.for: not a Prometheus duration`]),
      ];
    });
  });
}

/** Everything wrong with one object; empty when it would pass strict validation. */
export function objectErrors(object: KubeObject): string[] {
  const key = `${object.apiVersion}/${object.kind}`;
  const errors = metadataErrors(object);
  const custom = customResourceErrors(object, key);
  if (custom !== undefined) return [...errors, ...custom];
  const schema = KINDS[key];
  if (schema === undefined) return [...errors, `${key}: no schema known to the tests`];
  try {
    schema.validate(object);
  } catch (error) {
    errors.push((error as Error).message);
  }
  unknownFields(object, schema.modelName, '', errors);
  return errors;
}

/** `{ "Kind/name": [errors…] }` for every object that has any; `{}` when all pass. */
export function manifestErrors(objects: readonly KubeObject[]): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  for (const object of objects) {
    const errors = objectErrors(object);
    if (errors.length > 0) result[`${object.kind}/${object.metadata.name}`] = errors;
  }
  return result;
}

export interface LabelSelector {
  readonly matchLabels?: Readonly<Record<string, string>>;
  readonly matchExpressions?: readonly { readonly key: string; readonly operator: string; readonly values?: readonly string[] }[];
}

/** Kubernetes label-selector semantics, for asserting which webhook entry sees which pod. */
export function selectorMatches(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  const byLabel = Object.entries(selector.matchLabels ?? {}).every(([key, value]) => labels[key] === value);
  return (
    byLabel &&
    (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) => {
      const value = labels[key];
      switch (operator) {
        case 'In':
          return value !== undefined && values.includes(value);
        case 'NotIn':
          return value === undefined || !values.includes(value);
        case 'Exists':
          return value !== undefined;
        case 'DoesNotExist':
          return value === undefined;
        default:
          throw new Error(`unknown selector operator ${operator}`);
      }
    })
  );
}
