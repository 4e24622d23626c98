/**
 * The `status` annotation: what the webhook injected (so a later admission can take exactly
 * that back before injecting again) and a hash of the settings it injected with.
 */
import { createHash } from 'node:crypto';
import type { Mode } from '../contract/index.ts';
import { isJsonObject, nameRecord, type JsonValue } from './json.ts';

export const STATUS_VERSION = 1;

/** `native`: sidecar in initContainers; `legacy`: init container + regular sidecar; `none`: sdk mode. */
export type Layout = 'native' | 'legacy' | 'none';

/** What the webhook added to one container. */
export interface ContainerRecord {
  readonly env: readonly string[];
  readonly mountPaths: readonly string[];
}

export interface InjectionStatus {
  readonly version: number;
  readonly mode: Mode;
  readonly serviceAccount: string;
  readonly layout: Layout;
  readonly hash: string;
  /** By container name (unique across containers and init containers). */
  readonly containers: Readonly<Record<string, ContainerRecord>>;
}

export type StatusRead =
  | { readonly kind: 'absent' }
  | { readonly kind: 'present'; readonly containers: Readonly<Record<string, ContainerRecord>> }
  | { readonly kind: 'invalid' };

export function formatStatus(status: InjectionStatus): string {
  return JSON.stringify({
    version: status.version,
    mode: status.mode,
    serviceAccount: status.serviceAccount,
    layout: status.layout,
    hash: status.hash,
    containers: status.containers,
  });
}

function isStringArray(value: JsonValue | undefined): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

/** Reads back only what undoing needs; anything not written by this webhook is `invalid`. */
export function readStatus(raw: string | undefined): StatusRead {
  if (raw === undefined) return { kind: 'absent' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return { kind: 'invalid' };
  }
  const containers = isJsonObject(parsed) ? parsed.containers : undefined;
  if (!isJsonObject(containers)) return { kind: 'invalid' };
  const records = nameRecord<ContainerRecord>();
  for (const [name, record] of Object.entries(containers)) {
    if (!isJsonObject(record) || !isStringArray(record.env) || !isStringArray(record.mountPaths)) return { kind: 'invalid' };
    records[name] = { env: record.env, mountPaths: record.mountPaths };
  }
  return { kind: 'present', containers: records };
}

/** A cluster has few distinct settings; past this many, the memo starts over. */
const HASH_MEMO_LIMIT = 1024;
const hashMemo = new Map<string, string>();

/**
 * Hex SHA-256 of a value's JSON (callers build it with a fixed key order; undefined fields
 * drop out). Memoized by that JSON: pods of one workload share their settings, and the
 * digest was a tenth of an admission's review time.
 */
export function settingsHash(value: Readonly<Record<string, unknown>>): string {
  const json = JSON.stringify(value);
  const known = hashMemo.get(json);
  if (known !== undefined) return known;
  if (hashMemo.size >= HASH_MEMO_LIMIT) hashMemo.clear();
  const digest = createHash('sha256').update(json).digest('hex');
  hashMemo.set(json, digest);
  return digest;
}
