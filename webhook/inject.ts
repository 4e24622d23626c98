/**
 * The pure mutation: pod + plan → pod. Replaces by name, so applying twice changes nothing.
 *
 * Every list is edited in place: what an earlier injection added (the plan's `previous`, and
 * the webhook's own containers and volumes) is updated where it stands or removed when no
 * longer wanted, new items are appended, and everything else keeps its value and position.
 * The agent's init container alone is placed anew: right after the native sidecars the pod
 * starts with and before every other init container.
 */
import { Annotation } from '../contract/index.ts';
import type { ContainerInjection, InjectionPlan } from './types.ts';
import { isJsonObject, objectField, objectsField, stringField, type JsonObject } from './json.ts';
import { isPreviousEnv, isPreviousMount, isWebhookContainer, isWebhookVolume } from './ownership.ts';
import { agentInitIndex, containerName, envEntries, volumeMounts } from './pod.ts';
import type { ContainerRecord } from './status.ts';

interface Upsert {
  /** The field that identifies an item (`name`, or `mountPath` for mounts). */
  readonly key: string;
  readonly owned: (item: JsonObject) => boolean;
}

/**
 * An item the webhook owns, brought to its desired state: desired values win (lists whole),
 * and fields the desired item does not set are kept, because the API server fills in
 * defaults between admission webhooks (`terminationMessagePath`, a probe's `timeoutSeconds`,
 * a projected volume's `defaultMode`, …); dropping them would make every reinvocation a patch.
 */
export function mergeOwned(existing: JsonObject, desired: JsonObject): JsonObject {
  const result: JsonObject = { ...existing };
  for (const [key, value] of Object.entries(desired)) {
    const current = existing[key];
    result[key] = isJsonObject(current) && isJsonObject(value) ? mergeOwned(current, value) : value;
  }
  return result;
}

/**
 * Owned items are updated in place (mergeOwned) by the desired item with the same key, or
 * dropped; other desired items are appended, unless an item that is not owned has the key.
 */
function upsert(existing: readonly JsonObject[], desired: readonly JsonObject[], how: Upsert): JsonObject[] {
  const idOf = (item: JsonObject): string | undefined => stringField(item, how.key);
  const wanted = new Map(desired.map((item) => [idOf(item), item]));
  const result: JsonObject[] = [];
  // The desired ids already in `result`, as a set: the lists are the pod author's, of any length.
  const taken = new Set<string | undefined>();
  for (const item of existing) {
    if (!how.owned(item)) {
      result.push(item);
      // Only an id that is also desired can matter below; the set stays as small as `desired`.
      if (wanted.has(idOf(item))) taken.add(idOf(item));
      continue;
    }
    const id = idOf(item);
    const replacement = wanted.get(id);
    if (replacement !== undefined && !taken.has(id)) {
      result.push(mergeOwned(item, replacement));
      taken.add(id);
    }
  }
  return [...result, ...desired.filter((item) => !taken.has(idOf(item)))];
}

/** Writes a list back; a list the webhook emptied is removed, a list it never touched stays. */
function setList(parent: JsonObject, key: string, before: readonly JsonObject[], after: JsonObject[]): void {
  if (after.length > 0) parent[key] = after;
  else if (before.length > 0) Reflect.deleteProperty(parent, key);
}

function injectContainer(container: JsonObject, injection: ContainerInjection | undefined, record: ContainerRecord | undefined): JsonObject {
  if (injection === undefined && record === undefined) return container;
  const result = { ...container };
  const env = envEntries(container);
  const mounts = volumeMounts(container);
  setList(result, 'env', env, upsert(env, injection?.env ?? [], { key: 'name', owned: (entry) => isPreviousEnv(entry, record) }));
  setList(
    result,
    'volumeMounts',
    mounts,
    upsert(mounts, injection?.volumeMounts ?? [], { key: 'mountPath', owned: (mount) => isPreviousMount(mount, record) }),
  );
  return result;
}

/** The agent's init container is placed anew (after the leading native sidecars), merged with its earlier self. */
function injectInitContainers(spec: JsonObject, plan: InjectionPlan): JsonObject[] {
  const existing = objectsField(spec, 'initContainers');
  const others = existing.filter((container) => !isWebhookContainer(container));
  const desired = plan.initContainer;
  if (desired === undefined) return others;
  const earlier = existing.find((container) => isWebhookContainer(container) && containerName(container) === containerName(desired));
  others.splice(agentInitIndex(others), 0, earlier === undefined ? desired : mergeOwned(earlier, desired));
  return others;
}

/**
 * Returns a new pod; neither the pod nor the plan is modified. Only the objects on the way to
 * a change are new: the rest is shared with the input (which lets the diff skip it at once)
 * and the plan's objects are placed as they are, so treat all three as read-only.
 */
export function applyInjection(pod: JsonObject, plan: InjectionPlan): JsonObject {
  const result = { ...pod };
  const spec = { ...objectField(pod, 'spec') };
  result.spec = spec;
  const inject = (container: JsonObject): JsonObject =>
    isWebhookContainer(container)
      ? container
      : injectContainer(container, plan.containers[containerName(container)], plan.previous[containerName(container)]);

  const volumes = objectsField(spec, 'volumes');
  setList(spec, 'volumes', volumes, upsert(volumes, plan.volumes, { key: 'name', owned: isWebhookVolume }));
  const initContainers = objectsField(spec, 'initContainers');
  setList(spec, 'initContainers', initContainers, injectInitContainers(spec, plan).map(inject));
  const containers = objectsField(spec, 'containers');
  const sidecars = plan.sidecar === undefined ? [] : [plan.sidecar];
  spec.containers = upsert(containers, sidecars, { key: 'name', owned: isWebhookContainer }).map(inject);

  const metadata = { ...objectField(pod, 'metadata') };
  result.metadata = metadata;
  metadata.annotations = { ...objectField(metadata, 'annotations'), [Annotation.status]: plan.status };
  return result;
}
