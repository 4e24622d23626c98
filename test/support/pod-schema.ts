/**
 * Validates a Pod the way the API server would, as far as tests can without one:
 *
 * 1. the Kubernetes OpenAPI schema for `v1/Pod` (kubernetes-models' compiled validator);
 * 2. fields that schema does not know: kubernetes-models accepts unknown fields silently, so a
 *    typo such as `readOnlyRootFileSystem` would pass. The compiled validator reads every
 *    property it knows from the object it checks, so running it over a recording Proxy and
 *    listing the properties it never read finds every unknown field. Fixtures that carry
 *    deliberate future fields (to prove they survive) list their JSON Pointers in
 *    `allowedUnknownFields`; those alone are tolerated;
 * 3. rules the schema cannot express (unique names, mounts of existing volumes, native
 *    sidecar rules, projected token expiration).
 */
import { Pod } from 'kubernetes-models/v1';

export interface PodSchemaOptions {
  /** JSON Pointers of deliberate unknown fields (e.g. `/spec/someFutureField`). */
  readonly allowedUnknownFields?: readonly string[];
}

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type JsonMap = Record<string, Json>;

function isMap(value: unknown): value is JsonMap {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function pointerToken(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** A read-only view of `value` that records the JSON Pointer of every property read. */
function recording(value: unknown, path: string, read: Set<string>): unknown {
  if (typeof value !== 'object' || value === null) return value;
  return new Proxy(value, {
    get(target, key, receiver): unknown {
      const result: unknown = Reflect.get(target, key, receiver);
      if (typeof key !== 'string') return result;
      const childPath = `${path}/${pointerToken(key)}`;
      read.add(childPath);
      return recording(result, childPath, read);
    },
  });
}

function unreadPaths(value: unknown, path: string, read: ReadonlySet<string>): string[] {
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, child]) => {
    const childPath = `${path}/${pointerToken(key)}`;
    return read.has(childPath) ? unreadPaths(child, childPath, read) : [childPath];
  });
}

function schemaErrors(pod: JsonMap, allowed: readonly string[]): string[] {
  const read = new Set<string>();
  const document = { apiVersion: 'v1', kind: 'Pod', ...pod };
  const errors: string[] = [];
  try {
    Pod.prototype.validate.call(recording(document, '', read) as Pod);
  } catch (error) {
    errors.push(error instanceof Error ? error.message : String(error));
  }
  const unknown = unreadPaths(document, '', read).filter((path) => !allowed.includes(path));
  return [...errors, ...unknown.map((path) => `unknown field ${path}`)];
}

function maps(value: Json | undefined): JsonMap[] {
  return Array.isArray(value) ? value.filter(isMap) : [];
}

function duplicates(names: readonly Json[]): Json[] {
  return names.filter((name, i) => names.indexOf(name) !== i);
}

function containerErrors(container: JsonMap, where: string, volumeNames: readonly Json[]): string[] {
  const errors: string[] = [];
  const mounts = maps(container.volumeMounts);
  if (typeof container.image !== 'string' || container.image === '') errors.push(`${where}: no image`);
  for (const mount of mounts) {
    if (!volumeNames.includes(mount.name ?? null)) errors.push(`${where}: mounts unknown volume ${JSON.stringify(mount.name)}`);
  }
  for (const path of duplicates(mounts.map((mount) => mount.mountPath ?? null))) errors.push(`${where}: mountPath ${JSON.stringify(path)} used twice`);
  for (const name of duplicates(maps(container.env).map((entry) => entry.name ?? null))) errors.push(`${where}: env ${JSON.stringify(name)} set twice`);
  return errors;
}

function initContainerErrors(container: JsonMap, where: string): string[] {
  const native = container.restartPolicy === 'Always';
  const errors: string[] = [];
  if (container.restartPolicy !== undefined && !native) errors.push(`${where}: restartPolicy must be Always when set`);
  for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
    if (!native && container[probe] !== undefined) errors.push(`${where}: ${probe} is allowed only on a native sidecar`);
  }
  return errors;
}

function projectedTokenErrors(volumes: readonly JsonMap[]): string[] {
  return volumes.flatMap((volume) => {
    const sources = isMap(volume.projected) ? maps(volume.projected.sources) : [];
    return sources
      .map((source) => source.serviceAccountToken)
      .filter(isMap)
      .filter((token) => typeof token.expirationSeconds === 'number' && token.expirationSeconds < 600)
      .map(() => `volume ${JSON.stringify(volume.name)}: serviceAccountToken.expirationSeconds must be at least 600`);
  });
}

/** API-server validation rules that the OpenAPI schema cannot express. */
function ruleErrors(pod: JsonMap): string[] {
  const spec = isMap(pod.spec) ? pod.spec : {};
  const containers = maps(spec.containers);
  const initContainers = maps(spec.initContainers);
  const volumes = maps(spec.volumes);
  const volumeNames = volumes.map((volume) => volume.name ?? null);
  const errors: string[] = [];
  if (containers.length === 0) errors.push('spec.containers: at least one container is required');
  for (const name of duplicates([...initContainers, ...containers].map((c) => c.name ?? null))) errors.push(`container name ${JSON.stringify(name)} used twice`);
  for (const name of duplicates(volumeNames)) errors.push(`volume name ${JSON.stringify(name)} used twice`);
  containers.forEach((container, i) => {
    const where = `spec.containers[${String(i)}]`;
    errors.push(...containerErrors(container, where, volumeNames));
    if (container.restartPolicy !== undefined) errors.push(`${where}: restartPolicy is allowed only on init containers`);
  });
  initContainers.forEach((container, i) => {
    const where = `spec.initContainers[${String(i)}]`;
    errors.push(...containerErrors(container, where, volumeNames), ...initContainerErrors(container, where));
  });
  return [...errors, ...projectedTokenErrors(volumes)];
}

/** Every reason the API server would reject `pod` (as far as known here); empty when valid. */
export function podSchemaErrors(pod: unknown, options: PodSchemaOptions = {}): string[] {
  if (!isMap(pod)) return ['a Pod must be a JSON object'];
  return [...schemaErrors(pod, options.allowedUnknownFields ?? []), ...ruleErrors(pod)];
}
