/**
 * Just enough of a Pod's shape to read what the webhook injected: containers (regular and
 * init), their env and mounts, and the volumes. Also the two things the demo derives from a
 * stored pod: a summary of what admission added, and a container's environment with its
 * mount paths moved under a local root (the demo has no kubelet to mount volumes).
 */
import { join } from 'node:path';
import type { JsonObject } from './example-pod.ts';

export interface EnvVarView {
  readonly name: string;
  readonly value?: string;
}

export interface VolumeMountView {
  readonly name: string;
  readonly mountPath: string;
  readonly readOnly?: boolean;
}

export interface ContainerView {
  readonly name: string;
  readonly image?: string;
  readonly args?: readonly string[];
  readonly restartPolicy?: string;
  readonly env?: readonly EnvVarView[];
  readonly volumeMounts?: readonly VolumeMountView[];
}

export interface VolumeView {
  readonly name: string;
  readonly emptyDir?: { readonly medium?: string; readonly sizeLimit?: string };
  readonly projected?: { readonly sources?: readonly { readonly serviceAccountToken?: { readonly audience?: string; readonly expirationSeconds?: number; readonly path?: string } }[] };
}

interface PodSpecView {
  readonly containers?: readonly ContainerView[];
  readonly initContainers?: readonly ContainerView[];
  readonly volumes?: readonly VolumeView[];
}

function specOf(pod: JsonObject): PodSpecView {
  return (pod.spec ?? {});
}

function annotationsOf(pod: JsonObject): Readonly<Record<string, string>> {
  return ((pod.metadata as { annotations?: Record<string, string> } | undefined)?.annotations ?? {});
}

export function allContainers(pod: JsonObject): readonly ContainerView[] {
  const spec = specOf(pod);
  return [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
}

export function findContainer(pod: JsonObject, name: string): ContainerView {
  const container = allContainers(pod).find((c) => c.name === name);
  if (container === undefined) throw new Error(`the pod has no container named ${name}`);
  return container;
}

export function findVolume(pod: JsonObject, name: string): VolumeView {
  const volume = specOf(pod).volumes?.find((v) => v.name === name);
  if (volume === undefined) throw new Error(`the pod has no volume named ${name}`);
  return volume;
}

/** The projected service-account token a volume asks the kubelet for. */
export function projectedTokenOf(volume: VolumeView): { readonly audience: string; readonly expirationSeconds: number } {
  const token = volume.projected?.sources?.find((s) => s.serviceAccountToken !== undefined)?.serviceAccountToken;
  if (token?.audience === undefined || token.expirationSeconds === undefined) throw new Error(`volume ${volume.name} is not a projected service-account token`);
  return { audience: token.audience, expirationSeconds: token.expirationSeconds };
}

function describeVolume(volume: VolumeView): string {
  if (volume.emptyDir !== undefined) return `emptyDir${volume.emptyDir.medium === undefined ? '' : ` (medium ${volume.emptyDir.medium}, sizeLimit ${volume.emptyDir.sizeLimit ?? 'none'})`}`;
  const token = volume.projected?.sources?.find((s) => s.serviceAccountToken !== undefined)?.serviceAccountToken;
  if (token !== undefined) return `projected service-account token (audience ${token.audience ?? '?'}, expirationSeconds ${String(token.expirationSeconds ?? '?')})`;
  return 'volume';
}

function describeContainer(container: ContainerView, init: boolean): string {
  const kind = init ? (container.restartPolicy === 'Always' ? 'native sidecar (init container, restartPolicy: Always)' : 'init container') : 'container';
  return `${kind} ${container.name}: ${[container.image, ...(container.args ?? [])].filter((part) => part !== undefined).join(' ')}`;
}

function addedNames<T extends { readonly name: string }>(before: readonly T[] | undefined, after: readonly T[] | undefined): T[] {
  const known = new Set((before ?? []).map((item) => item.name));
  return (after ?? []).filter((item) => !known.has(item.name));
}

/** One line per thing admission added: containers, volumes, env and mounts of existing containers, annotations. */
export function summarizeInjection(before: JsonObject, after: JsonObject): string[] {
  const was = specOf(before);
  const now = specOf(after);
  const lines = [
    ...addedNames(was.initContainers, now.initContainers).map((c) => `added ${describeContainer(c, true)}`),
    ...addedNames(was.containers, now.containers).map((c) => `added ${describeContainer(c, false)}`),
    ...addedNames(was.volumes, now.volumes).map((v) => `added volume ${v.name}: ${describeVolume(v)}`),
  ];
  for (const container of allContainers(before)) {
    const changed = allContainers(after).find((c) => c.name === container.name);
    const env = addedNames(container.env, changed?.env).map((e) => `${e.name}=${e.value ?? '(from a reference)'}`);
    const mounts = addedNames(container.volumeMounts, changed?.volumeMounts).map((m) => `${m.name} at ${m.mountPath}${m.readOnly === true ? ' (read-only)' : ''}`);
    if (env.length > 0) lines.push(`container ${container.name}: env ${env.join(', ')}`);
    if (mounts.length > 0) lines.push(`container ${container.name}: mounts ${mounts.join(', ')}`);
  }
  const oldAnnotations = annotationsOf(before);
  for (const key of Object.keys(annotationsOf(after))) {
    if (!(key in oldAnnotations)) lines.push(`added annotation ${key}`);
  }
  return lines;
}

/**
 * A container's literal env, with every value that is a path inside one of its volume mounts
 * moved under `root` (so `/var/run/anthropic/token` becomes `<root>/var/run/anthropic/token`).
 */
export function containerEnvUnderRoot(container: ContainerView, root: string): Record<string, string> {
  const mounts = (container.volumeMounts ?? []).map((m) => m.mountPath);
  const env: Record<string, string> = {};
  for (const variable of container.env ?? []) {
    if (variable.value === undefined) continue;
    const value = variable.value;
    const inMount = mounts.some((mount) => value === mount || value.startsWith(`${mount}/`));
    env[variable.name] = inMount ? join(root, value) : value;
  }
  return env;
}

/** Where a container's mount of `volumeName` lives under `root`. */
export function mountPathUnderRoot(container: ContainerView, volumeName: string, root: string): string {
  const mount = container.volumeMounts?.find((m) => m.name === volumeName);
  if (mount === undefined) throw new Error(`container ${container.name} does not mount ${volumeName}`);
  return join(root, mount.mountPath);
}
