/**
 * The pure classification of one object: a workload's pod template (finding 1) or a pod
 * (findings 1–4), as plain objects in, finding drafts out. No client, no environment.
 */
import { objectField, stringField, type JsonObject } from '../webhook/json.ts';
import { podSpec, serviceAccountName } from '../webhook/pod.ts';
import type { InjectionDefaults, ServiceAccountLookup, ServiceAccountView } from '../webhook/types.ts';
import { injectionDrafts } from './injection-state.ts';
import type { FindingDraft, OwnerRef } from './model.ts';
import { POD_KIND, controllerOf, restartHint, type OwnerIndex } from './owners.ts';
import { staticCredentialDrafts, type SecretLookup } from './static-credentials.ts';

/** A workload's pod spec: `spec.template.spec`, or a CronJob's `spec.jobTemplate.spec.template.spec`. */
export function templateSpec(kind: string, object: JsonObject): JsonObject | undefined {
  const spec = objectField(object, 'spec');
  const jobSpec = kind === 'CronJob' ? objectField(objectField(spec, 'jobTemplate'), 'spec') : spec;
  return objectField(objectField(jobSpec, 'template'), 'spec');
}

export function objectName(object: JsonObject): string {
  return stringField(objectField(object, 'metadata'), 'name') ?? '';
}

export function objectNamespace(object: JsonObject): string {
  return stringField(objectField(object, 'metadata'), 'namespace') ?? '';
}

/** Finding 1 for a workload's template: reported under the workload itself. */
export function classifyWorkload(kind: string, object: JsonObject, secrets: SecretLookup): FindingDraft[] {
  const spec = templateSpec(kind, object);
  return spec === undefined ? [] : staticCredentialDrafts(spec, objectNamespace(object), secrets);
}

/** What the pod classification needs besides the pod. */
export interface PodContext {
  readonly owners: OwnerIndex;
  /** The pod's ServiceAccount by namespace and name; undefined when it does not exist. */
  readonly serviceAccount: (namespace: string, name: string) => ServiceAccountView | undefined;
  /** False when the webhook runs with --service-account-lookup=false. */
  readonly serviceAccountLookup: boolean;
  readonly defaults: InjectionDefaults | undefined;
  readonly secrets: SecretLookup;
}

export interface PodClassification {
  /** The workload the findings are about. */
  readonly owner: OwnerRef;
  readonly drafts: readonly FindingDraft[];
}

function lookupFor(pod: JsonObject, context: PodContext): ServiceAccountLookup {
  if (!context.serviceAccountLookup) return { kind: 'disabled' };
  const account = context.serviceAccount(objectNamespace(pod), serviceAccountName(pod));
  return account === undefined ? { kind: 'not-found' } : { kind: 'found', serviceAccount: account };
}

export function podOwner(pod: JsonObject, owners: OwnerIndex): OwnerRef {
  return owners.topOwner(objectNamespace(pod), controllerOf(pod), { kind: POD_KIND, name: objectName(pod) });
}

export function classifyPod(pod: JsonObject, context: PodContext): PodClassification {
  const namespace = objectNamespace(pod);
  const owner = podOwner(pod, context.owners);
  const drafts = [
    ...staticCredentialDrafts(podSpec(pod), namespace, context.secrets),
    ...injectionDrafts(pod, { serviceAccount: lookupFor(pod, context), defaults: context.defaults, restart: restartHint(namespace, owner) }),
  ];
  return { owner, drafts };
}
