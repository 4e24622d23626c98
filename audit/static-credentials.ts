/**
 * Finding 1: static Anthropic credentials in a pod spec (a pod's, or a workload's template).
 * A container or init container that sets ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN itself:
 * as a literal (critical), from a Secret or ConfigMap key (high), or perhaps through envFrom
 * (medium, or settled by the Secret's keys with --read-secrets). Values are never kept: the
 * shell reduces a Secret to SecretFacts (which keys exist, which hold an API key) at once.
 */
import { API_KEY_VALUE_PREFIX, OPT_IN_LABEL, PROXY_PLACEHOLDER_AUTH_TOKEN, SHADOWING_ENV } from '../contract/index.ts';
import { isWebhookContainer } from '../webhook/ownership.ts';
import { objectField, objectsField, stringField, type JsonObject } from '../webhook/json.ts';
import type { FindingDraft } from './model.ts';

/** Where a variable's value comes from. */
export type CredentialSource =
  | { readonly kind: 'literal'; readonly looksLikeApiKey: boolean }
  | { readonly kind: 'secret-key'; readonly secret: string; readonly key: string }
  | { readonly kind: 'config-map-key'; readonly configMap: string; readonly key: string }
  | { readonly kind: 'env-from-secret'; readonly secret: string; readonly prefix: string }
  | { readonly kind: 'env-from-config-map'; readonly configMap: string; readonly prefix: string };

export interface CredentialUse {
  readonly container: string;
  readonly init: boolean;
  /** The variable; for envFrom, the variables it may set (all of SHADOWING_ENV). */
  readonly variable: string;
  readonly source: CredentialSource;
}

/** What --read-secrets learnt about one Secret: key names only, and which keys hold an API key. */
export type SecretFacts =
  | { readonly kind: 'missing' }
  | { readonly kind: 'forbidden' }
  | { readonly kind: 'read'; readonly keys: ReadonlySet<string>; readonly apiKeyKeys: ReadonlySet<string> };

/** By `namespace/name`; absent when Secrets are not read. */
export type SecretLookup = (namespace: string, name: string) => SecretFacts | undefined;

const ENV_FROM_VARIABLES = SHADOWING_ENV.join(' or ');

/** True when a value is an Anthropic API key; the only question ever asked of a Secret's value. */
export function looksLikeApiKey(value: string): boolean {
  return value.startsWith(API_KEY_VALUE_PREFIX);
}

function literalOrRef(entry: JsonObject): CredentialSource | undefined {
  const valueFrom = objectField(entry, 'valueFrom');
  const secretRef = objectField(valueFrom, 'secretKeyRef');
  if (secretRef !== undefined) return { kind: 'secret-key', secret: stringField(secretRef, 'name') ?? '', key: stringField(secretRef, 'key') ?? '' };
  const configMapRef = objectField(valueFrom, 'configMapKeyRef');
  if (configMapRef !== undefined) return { kind: 'config-map-key', configMap: stringField(configMapRef, 'name') ?? '', key: stringField(configMapRef, 'key') ?? '' };
  if (valueFrom !== undefined) return undefined;
  const value = stringField(entry, 'value') ?? '';
  // An empty value counts as unset in the SDKs; proxy mode's placeholder is the webhook's own.
  if (value === '' || value === PROXY_PLACEHOLDER_AUTH_TOKEN) return undefined;
  return { kind: 'literal', looksLikeApiKey: looksLikeApiKey(value) };
}

function envFromSources(container: JsonObject): CredentialSource[] {
  return objectsField(container, 'envFrom').flatMap((source): CredentialSource[] => {
    const prefix = stringField(source, 'prefix') ?? '';
    const secret = stringField(objectField(source, 'secretRef'), 'name');
    if (secret !== undefined) return [{ kind: 'env-from-secret', secret, prefix }];
    const configMap = stringField(objectField(source, 'configMapRef'), 'name');
    return configMap === undefined ? [] : [{ kind: 'env-from-config-map', configMap, prefix }];
  });
}

function containerUses(container: JsonObject, init: boolean): CredentialUse[] {
  const name = stringField(container, 'name') ?? '';
  const explicit = objectsField(container, 'env').flatMap((entry): CredentialUse[] => {
    const variable = stringField(entry, 'name') ?? '';
    if (!SHADOWING_ENV.includes(variable)) return [];
    const source = literalOrRef(entry);
    return source === undefined ? [] : [{ container: name, init, variable, source }];
  });
  const fromEnvFrom = envFromSources(container).map((source) => ({ container: name, init, variable: ENV_FROM_VARIABLES, source }));
  return [...explicit, ...fromEnvFrom];
}

/** Every static-credential use in a pod spec, init containers first; the webhook's containers set none. */
export function credentialUses(spec: JsonObject): CredentialUse[] {
  const inits = objectsField(spec, 'initContainers').filter((c) => !isWebhookContainer(c));
  const apps = objectsField(spec, 'containers').filter((c) => !isWebhookContainer(c));
  return [...inits.flatMap((c) => containerUses(c, true)), ...apps.flatMap((c) => containerUses(c, false))];
}

function where(use: CredentialUse): string {
  return `${use.init ? 'init container' : 'container'} ${JSON.stringify(use.container)}`;
}

function removeFix(use: CredentialUse): string {
  return `remove ${use.variable} from ${where(use)}, opt the workload in (${OPT_IN_LABEL}: "true" on its pod template or its ServiceAccount), then revoke the key in the Console`;
}

function literalDraft(use: CredentialUse, source: Extract<CredentialSource, { kind: 'literal' }>): FindingDraft {
  const what = source.looksLikeApiKey ? 'a literal Anthropic API key' : 'a literal value';
  return {
    kind: 'static-credential',
    severity: 'critical',
    message: `${where(use)} sets ${use.variable} to ${what} in the spec (readable by anyone who can read the workload)`,
    fix: removeFix(use),
  };
}

function secretKeyDraft(use: CredentialUse, source: Extract<CredentialSource, { kind: 'secret-key' }>, facts: SecretFacts | undefined): FindingDraft {
  const ref = `Secret ${JSON.stringify(source.secret)} key ${JSON.stringify(source.key)}`;
  const base = { kind: 'static-credential', fix: removeFix(use) } as const;
  const sets = `${where(use)} sets ${use.variable} from ${ref}`;
  if (facts === undefined) return { ...base, severity: 'high', message: `${sets} (not read; --read-secrets checks what it holds)` };
  if (facts.kind === 'forbidden') return { ...base, severity: 'high', message: `${sets} (the Secret could not be read: forbidden)` };
  if (facts.kind === 'missing') return { ...base, severity: 'low', message: `${sets}, but the Secret does not exist (the pod cannot start, or it was deleted)` };
  if (!facts.keys.has(source.key)) return { ...base, severity: 'low', message: `${sets}, but the Secret has no such key` };
  const held = facts.apiKeyKeys.has(source.key) ? 'which holds an Anthropic API key' : 'which holds a value (not an API key: a static auth token?)';
  return { ...base, severity: 'high', message: `${sets}, ${held}` };
}

function envFromSecretDraft(use: CredentialUse, source: Extract<CredentialSource, { kind: 'env-from-secret' }>, facts: SecretFacts | undefined): FindingDraft | undefined {
  const ref = `envFrom Secret ${JSON.stringify(source.secret)}${source.prefix === '' ? '' : ` (prefix ${JSON.stringify(source.prefix)})`}`;
  const fix = `remove the key from Secret ${JSON.stringify(source.secret)} or the envFrom from ${where(use)}, opt the workload in, then revoke the key in the Console`;
  if (facts === undefined || facts.kind === 'forbidden') {
    const note = facts === undefined ? 'not read; --read-secrets checks its keys' : 'the Secret could not be read: forbidden';
    return { kind: 'static-credential', severity: 'medium', message: `${where(use)} may set ${use.variable} through ${ref} (${note})`, fix };
  }
  if (facts.kind === 'missing') return undefined;
  const variables = SHADOWING_ENV.filter((variable) => variable.startsWith(source.prefix) && facts.keys.has(variable.slice(source.prefix.length)));
  if (variables.length > 0) return { kind: 'static-credential', severity: 'high', message: `${where(use)} sets ${variables.join(' and ')} through ${ref}`, fix };
  const apiKeys = [...facts.apiKeyKeys].sort();
  if (apiKeys.length === 0) return undefined;
  const named = apiKeys.map((key) => JSON.stringify(`${source.prefix}${key}`)).join(', ');
  return { kind: 'static-credential', severity: 'medium', message: `${where(use)} gets an Anthropic API key through ${ref}, as variable ${named}`, fix };
}

/** One use → a finding, or none when --read-secrets showed the Secret cannot set the variable. */
export function credentialDraft(use: CredentialUse, namespace: string, secrets: SecretLookup): FindingDraft | undefined {
  const { source } = use;
  switch (source.kind) {
    case 'literal':
      return literalDraft(use, source);
    case 'secret-key':
      return secretKeyDraft(use, source, secrets(namespace, source.secret));
    case 'config-map-key':
      return {
        kind: 'static-credential',
        severity: 'high',
        message: `${where(use)} sets ${use.variable} from ConfigMap ${JSON.stringify(source.configMap)} key ${JSON.stringify(source.key)} (a credential in a ConfigMap)`,
        fix: removeFix(use),
      };
    case 'env-from-secret':
      return envFromSecretDraft(use, source, secrets(namespace, source.secret));
    case 'env-from-config-map':
      return {
        kind: 'static-credential',
        severity: 'medium',
        message: `${where(use)} may set ${use.variable} through envFrom ConfigMap ${JSON.stringify(source.configMap)} (ConfigMaps are not read)`,
        fix: `check ConfigMap ${JSON.stringify(source.configMap)} for ${use.variable}; if it holds one, remove it, opt the workload in, then revoke the key`,
      };
  }
}

/** The Secrets a spec's uses reference, which --read-secrets reads (each once). */
export function referencedSecrets(uses: readonly CredentialUse[]): string[] {
  return [
    ...new Set(
      uses.flatMap((use) => (use.source.kind === 'secret-key' || use.source.kind === 'env-from-secret' ? [use.source.secret] : [])),
    ),
  ];
}

export function staticCredentialDrafts(spec: JsonObject, namespace: string, secrets: SecretLookup): FindingDraft[] {
  return credentialUses(spec).flatMap((use) => {
    const draft = credentialDraft(use, namespace, secrets);
    return draft === undefined ? [] : [draft];
  });
}
