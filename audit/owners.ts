/**
 * Which workload a pod belongs to (the one to edit or restart): its controller owner, followed
 * up one more level for ReplicaSet → Deployment and Job → CronJob. The index keeps only the
 * owner links of ReplicaSets and Jobs, by `namespace/name` in a Map, so it stays small.
 */
import { objectField, objectsField, stringField, type JsonObject } from '../webhook/json.ts';
import type { OwnerRef } from './model.ts';

/** The workload kinds audit reads, in the order the report lists them. */
export const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'CronJob', 'Job', 'ReplicaSet'] as const;
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];

/** The kinds whose pods belong to a higher owner (ReplicaSet → Deployment, Job → CronJob). */
export const INTERMEDIATE_KINDS: ReadonlySet<string> = new Set(['ReplicaSet', 'Job']);

export const POD_KIND = 'Pod';

/** The controller owner reference of an object, if any. */
export function controllerOf(object: JsonObject): OwnerRef | undefined {
  const refs = objectsField(objectField(object, 'metadata'), 'ownerReferences');
  const ref = refs.find((r) => r.controller === true) ?? refs[0];
  const kind = stringField(ref, 'kind');
  const name = stringField(ref, 'name');
  return kind === undefined || name === undefined ? undefined : { kind, name };
}

export class OwnerIndex {
  readonly #parents = new Map<string, OwnerRef>();

  static key(kind: string, namespace: string, name: string): string {
    return `${kind}/${namespace}/${name}`;
  }

  /** Records that `kind namespace/name` is controlled by `parent`. */
  add(kind: string, namespace: string, name: string, parent: OwnerRef): void {
    this.#parents.set(OwnerIndex.key(kind, namespace, name), parent);
  }

  get size(): number {
    return this.#parents.size;
  }

  /** The workload to act on for an object of `namespace` owned by `owner` (or the object itself). */
  topOwner(namespace: string, owner: OwnerRef | undefined, self: OwnerRef): OwnerRef {
    if (owner === undefined) return self;
    if (!INTERMEDIATE_KINDS.has(owner.kind)) return owner;
    return this.#parents.get(OwnerIndex.key(owner.kind, namespace, owner.name)) ?? owner;
  }
}

/** How to restart a workload's pods so the webhook admits them afresh. */
export function restartHint(namespace: string, owner: OwnerRef): string {
  const ns = `-n ${namespace}`;
  switch (owner.kind) {
    case 'Deployment':
    case 'StatefulSet':
    case 'DaemonSet':
      return `restart it: kubectl rollout restart ${owner.kind.toLowerCase()}/${owner.name} ${ns}`;
    case 'ReplicaSet':
      return `delete its pods so the ReplicaSet re-creates them: kubectl delete pods ${ns} -l <the ReplicaSet's selector>`;
    case 'CronJob':
      return `the next run is admitted afresh; delete a running Job's pods to re-create them now`;
    case 'Job':
      return `delete the Job's pods so it re-creates them: kubectl delete pods ${ns} -l job-name=${owner.name}`;
    case POD_KIND:
      return `re-create the pod from its manifest: kubectl delete pod ${owner.name} ${ns}, then apply the manifest again`;
    default:
      return `re-create its pods (owner ${owner.kind}/${owner.name})`;
  }
}
