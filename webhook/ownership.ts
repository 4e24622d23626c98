/**
 * What the webhook owns in a pod: its containers and volumes (by their contract names, once
 * the status annotation says the webhook injected them) and the variables and mounts the
 * status annotation records per container. Nothing else is ever removed or replaced.
 */
import { ContainerName, VolumeName } from '../agent/contract.ts';
import { stringField, type JsonObject } from './json.ts';
import type { ContainerRecord } from './status.ts';

/** The names of the containers the webhook injects. */
export const WEBHOOK_CONTAINERS: ReadonlySet<string> = new Set(Object.values(ContainerName));
const WEBHOOK_VOLUMES: ReadonlySet<string> = new Set(Object.values(VolumeName));

export function isWebhookContainer(container: JsonObject): boolean {
  return WEBHOOK_CONTAINERS.has(stringField(container, 'name') ?? '');
}

export function isWebhookVolume(volume: JsonObject): boolean {
  return WEBHOOK_VOLUMES.has(stringField(volume, 'name') ?? '');
}

export function isPreviousEnv(entry: JsonObject, record: ContainerRecord | undefined): boolean {
  return record?.env.includes(stringField(entry, 'name') ?? '') ?? false;
}

/** A mount the webhook added: at a recorded path, of one of the webhook's volumes. */
export function isPreviousMount(mount: JsonObject, record: ContainerRecord | undefined): boolean {
  const recorded = record?.mountPaths.includes(stringField(mount, 'mountPath') ?? '') ?? false;
  return recorded && WEBHOOK_VOLUMES.has(stringField(mount, 'name') ?? '');
}
