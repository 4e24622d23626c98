/**
 * Read-only views of a raw Pod: the fields the decision needs, with a missing or mistyped
 * field reading as absent (the webhook must never throw on a pod it does not understand).
 */
import { integerField, isJsonObject, objectField, objectsField, stringField, stringMap, type JsonObject, type JsonValue } from './json.ts';

/** The ServiceAccount the API server assigns when the pod names none. */
const DEFAULT_SERVICE_ACCOUNT = 'default';
const OS_LABEL = 'kubernetes.io/os';
const WINDOWS = 'windows';

export function podSpec(pod: JsonObject): JsonObject {
  return objectField(pod, 'spec') ?? {};
}

export function podAnnotations(pod: JsonObject): Record<string, string> {
  return stringMap(objectField(objectField(pod, 'metadata'), 'annotations'));
}

export function podLabels(pod: JsonObject): Record<string, string> {
  return stringMap(objectField(objectField(pod, 'metadata'), 'labels'));
}

export function podNamespace(pod: JsonObject): string | undefined {
  return stringField(objectField(pod, 'metadata'), 'namespace');
}

/** The pod's ServiceAccount: `serviceAccountName`, else the deprecated `serviceAccount`, else default (an empty name counts as none). */
export function serviceAccountName(pod: JsonObject): string {
  const spec = podSpec(pod);
  return stringField(spec, 'serviceAccountName') || stringField(spec, 'serviceAccount') || DEFAULT_SERVICE_ACCOUNT;
}

export function containerName(container: JsonObject): string {
  return stringField(container, 'name') ?? '';
}

/** An init container with `restartPolicy: Always` runs for the pod's life (a native sidecar). */
export function isNativeSidecar(container: JsonObject): boolean {
  return stringField(container, 'restartPolicy') === 'Always';
}

/**
 * Where the webhook's first init container goes: after the native sidecars the pod starts
 * with (a mesh proxy its traffic may need) and before every other init container.
 */
export function agentInitIndex(initContainers: readonly JsonObject[]): number {
  const index = initContainers.findIndex((container) => !isNativeSidecar(container));
  return index === -1 ? initContainers.length : index;
}

export function envEntries(container: JsonObject): JsonObject[] {
  return objectsField(container, 'env');
}

export function volumeMounts(container: JsonObject): JsonObject[] {
  return objectsField(container, 'volumeMounts');
}

export function containerPorts(container: JsonObject): number[] {
  return objectsField(container, 'ports')
    .map((port) => integerField(port, 'containerPort'))
    .filter((port) => port !== undefined);
}

/** The uid a container runs as when the pod says so: container level over pod level. */
export function declaredRunAsUser(container: JsonObject, spec: JsonObject): number | undefined {
  return (
    integerField(objectField(container, 'securityContext'), 'runAsUser') ?? integerField(objectField(spec, 'securityContext'), 'runAsUser')
  );
}

export function isWindowsPod(spec: JsonObject): boolean {
  return stringField(objectField(spec, 'os'), 'name') === WINDOWS || stringField(objectField(spec, 'nodeSelector'), OS_LABEL) === WINDOWS;
}

export function usesHostNetwork(spec: JsonObject): boolean {
  return spec.hostNetwork === true;
}

/** `"container \"a\""` or `"containers \"a\", \"b\""`, for messages. */
export function describeContainers(names: readonly string[]): string {
  const quoted = names.map((name) => JSON.stringify(name)).join(', ');
  return names.length === 1 ? `container ${quoted}` : `containers ${quoted}`;
}

/** Why `value` at `where` is not a list of objects (absent is fine), or undefined. */
function listOfObjectsError(value: JsonValue | undefined, where: string): string | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) return `${where} is not a list`;
  const index = value.findIndex((item) => !isJsonObject(item));
  return index === -1 ? undefined : `${where}[${String(index)}] is not an object`;
}

function objectError(value: JsonValue | undefined, where: string): string | undefined {
  return value === undefined || isJsonObject(value) ? undefined : `${where} is not an object`;
}

function containerListErrors(spec: JsonObject, key: string): (string | undefined)[] {
  const listError = listOfObjectsError(spec[key], `spec.${key}`);
  if (listError !== undefined) return [listError];
  return objectsField(spec, key).flatMap((container, i) => ['env', 'volumeMounts'].map((field) => listOfObjectsError(container[field], `spec.${key}[${String(i)}].${field}`)));
}

/**
 * A name used by two containers (init containers included), which the API server never admits.
 * Names as the rest of the core keys containers by (`containerName`: none is ""), so a nameless
 * container and one named "" are the same one to the status annotation, and a duplicate here.
 */
function duplicateContainerError(spec: JsonObject): string | undefined {
  const seen = new Set<string>();
  for (const container of [...objectsField(spec, 'initContainers'), ...objectsField(spec, 'containers')]) {
    const name = containerName(container);
    if (seen.has(name)) return `two containers are named ${JSON.stringify(name)}`;
    seen.add(name);
  }
  return undefined;
}

/**
 * What is not shaped as a Pod where an injection edits it (metadata, annotations, the spec, its
 * container and volume lists, each container's env and mounts, unique container names), or
 * undefined. The API server
 * only sends well-formed pods; anyone else's malformed one is denied rather than rewritten,
 * so a field the webhook does not understand is never dropped.
 */
export function podShapeError(pod: JsonObject): string | undefined {
  const spec = pod.spec;
  if (!isJsonObject(spec)) return 'spec is not an object';
  const metadata = pod.metadata;
  const errors = [
    objectError(metadata, 'metadata'),
    isJsonObject(metadata) ? objectError(metadata.annotations, 'metadata.annotations') : undefined,
    listOfObjectsError(spec.volumes, 'spec.volumes'),
    ...containerListErrors(spec, 'containers'),
    ...containerListErrors(spec, 'initContainers'),
    duplicateContainerError(spec),
  ];
  return errors.find((error) => error !== undefined);
}
