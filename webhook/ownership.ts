/**
 * What the webhook owns in a pod: its containers and volumes (by their contract names, once
 * the status annotation says the webhook injected them) and the variables and mounts the
 * status annotation records per container. Nothing else is ever removed or replaced.
 */
import { ContainerName, VolumeName } from '../contract/index.ts';
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

interface RecordSets {
  readonly env: ReadonlySet<string>;
  readonly mountPaths: ReadonlySet<string>;
}

/**
 * A record's lists as sets, made once per record: the status annotation is the pod author's to
 * write, so its lists may be as long as the pod's, and a list lookup per entry would be quadratic.
 */
const recordSets = new WeakMap<ContainerRecord, RecordSets>();

function setsOf(record: ContainerRecord): RecordSets {
  let sets = recordSets.get(record);
  if (sets === undefined) {
    sets = { env: new Set(record.env), mountPaths: new Set(record.mountPaths) };
    recordSets.set(record, sets);
  }
  return sets;
}

export function isPreviousEnv(entry: JsonObject, record: ContainerRecord | undefined): boolean {
  return record !== undefined && setsOf(record).env.has(stringField(entry, 'name') ?? '');
}

/** A mount the webhook added: at a recorded path, of one of the webhook's volumes. */
export function isPreviousMount(mount: JsonObject, record: ContainerRecord | undefined): boolean {
  const recorded = record !== undefined && setsOf(record).mountPaths.has(stringField(mount, 'mountPath') ?? '');
  return recorded && WEBHOOK_VOLUMES.has(stringField(mount, 'name') ?? '');
}
