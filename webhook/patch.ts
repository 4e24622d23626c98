/**
 * JSON Patch (RFC 6902) from a diff of the raw JSON before and after the mutation, so
 * fields the webhook does not know survive.
 *
 * Arrays of named objects (containers, volumes, env, …) and of volume mounts (keyed by
 * `mountPath`, since one volume may be mounted twice) are diffed by identity: an insertion
 * is one `add` at its index, not a cascade of `replace`s over everything after it. Any other
 * array falls back to a common prefix/suffix diff, or to replacing the array when the
 * change is not a pure insertion, deletion or same-length edit.
 */
import { ContainerName } from '../agent/contract.ts';
import { cloneJson, isJsonObject, jsonEqual, type JsonObject, type JsonValue } from './json.ts';

export interface JsonPatchOperation {
  readonly op: 'add' | 'remove' | 'replace';
  readonly path: string;
  readonly value?: JsonValue;
}

export interface PatchOptions {
  /**
   * Names of array elements that may move (be removed and added again elsewhere) when the
   * order of identified elements changed; the webhook moves only its own containers.
   */
  readonly movableNames?: ReadonlySet<string>;
}

const WEBHOOK_CONTAINER_NAMES: ReadonlySet<string> = new Set(Object.values(ContainerName));

/** Element fields tried, in order, as an array's identity. */
const IDENTITY_KEYS = ['name', 'mountPath'] as const;

interface DiffContext {
  readonly ops: JsonPatchOperation[];
  readonly movableNames: ReadonlySet<string>;
}

export function createPatch(before: JsonValue, after: JsonValue, options: PatchOptions = {}): JsonPatchOperation[] {
  const context: DiffContext = { ops: [], movableNames: options.movableNames ?? WEBHOOK_CONTAINER_NAMES };
  diffValue(before, after, '', context);
  return context.ops;
}

/** RFC 6901: `~` → `~0`, `/` → `~1` (annotation keys contain `/`). */
export function escapePointerToken(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1');
}

function child(path: string, token: string | number): string {
  return `${path}/${typeof token === 'number' ? String(token) : escapePointerToken(token)}`;
}

function diffValue(before: JsonValue, after: JsonValue, path: string, context: DiffContext): void {
  if (jsonEqual(before, after)) return;
  if (isJsonObject(before) && isJsonObject(after)) {
    diffObject(before, after, path, context);
  } else if (Array.isArray(before) && Array.isArray(after)) {
    diffArray(before, after, path, context);
  } else {
    context.ops.push({ op: 'replace', path, value: cloneJson(after) });
  }
}

function diffObject(before: JsonObject, after: JsonObject, path: string, context: DiffContext): void {
  for (const [key, value] of Object.entries(before)) {
    const next = after[key];
    if (next === undefined) context.ops.push({ op: 'remove', path: child(path, key) });
    else diffValue(value, next, child(path, key), context);
  }
  for (const [key, value] of Object.entries(after)) {
    if (!(key in before)) context.ops.push({ op: 'add', path: child(path, key), value: cloneJson(value) });
  }
}

function diffArray(before: JsonValue[], after: JsonValue[], path: string, context: DiffContext): void {
  const key = identityKey(before, after);
  if (key === undefined) diffPlainArray(before, after, path, context);
  else diffIdentifiedArray({ before: before as JsonObject[], after: after as JsonObject[], key }, path, context);
}

/** The field that identifies every element of both arrays uniquely, if any. */
function identityKey(before: readonly JsonValue[], after: readonly JsonValue[]): string | undefined {
  return IDENTITY_KEYS.find((key) => hasUniqueKeys(before, key) && hasUniqueKeys(after, key));
}

function hasUniqueKeys(items: readonly JsonValue[], key: string): boolean {
  const seen = new Set<string>();
  for (const item of items) {
    const id = isJsonObject(item) ? item[key] : undefined;
    if (typeof id !== 'string' || seen.has(id)) return false;
    seen.add(id);
  }
  return true;
}

interface IdentifiedArrays {
  readonly before: readonly JsonObject[];
  readonly after: readonly JsonObject[];
  readonly key: string;
}

function diffIdentifiedArray(arrays: IdentifiedArrays, path: string, context: DiffContext): void {
  const { before, after } = arrays;
  const idOf = (item: JsonObject): string => item[arrays.key] as string;
  const movers = elementsToMove(arrays, context.movableNames);
  if (movers === undefined) {
    context.ops.push({ op: 'replace', path, value: cloneJson([...after]) });
    return;
  }
  const afterIds = new Set(after.map(idOf));
  const stays = (item: JsonObject): boolean => afterIds.has(idOf(item)) && !movers.has(idOf(item));
  for (let i = before.length - 1; i >= 0; i -= 1) {
    if (!stays(before[i] as JsonObject)) context.ops.push({ op: 'remove', path: child(path, i) });
  }
  const remaining = before.filter(stays);
  let cursor = 0;
  after.forEach((item, i) => {
    const existing = remaining[cursor];
    if (existing !== undefined && idOf(existing) === idOf(item)) {
      diffValue(existing, item, child(path, i), context);
      cursor += 1;
    } else {
      context.ops.push({ op: 'add', path: child(path, i), value: cloneJson(item) });
    }
  });
}

/**
 * Which kept elements must be removed and added again so the rest keep their order:
 * none when the order is unchanged, the movable ones when moving them suffices, and
 * `undefined` when other elements were reordered (the array is then replaced).
 */
function elementsToMove(arrays: IdentifiedArrays, movableNames: ReadonlySet<string>): ReadonlySet<string> | undefined {
  const beforeIds = arrays.before.map((item) => item[arrays.key] as string);
  const afterIds = arrays.after.map((item) => item[arrays.key] as string);
  const keptBefore = beforeIds.filter((id) => afterIds.includes(id));
  const keptAfter = afterIds.filter((id) => beforeIds.includes(id));
  if (sameSequence(keptBefore, keptAfter)) return new Set();
  const movers = new Set(keptBefore.filter((id) => movableNames.has(id)));
  const fixed = (id: string): boolean => !movers.has(id);
  return sameSequence(keptBefore.filter(fixed), keptAfter.filter(fixed)) ? movers : undefined;
}

function sameSequence(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((item, i) => item === b[i]);
}

function diffPlainArray(before: JsonValue[], after: JsonValue[], path: string, context: DiffContext): void {
  const shorter = Math.min(before.length, after.length);
  let prefix = 0;
  while (prefix < shorter && jsonEqual(before[prefix] as JsonValue, after[prefix] as JsonValue)) prefix += 1;
  let suffix = 0;
  while (
    suffix < shorter - prefix &&
    jsonEqual(before[before.length - 1 - suffix] as JsonValue, after[after.length - 1 - suffix] as JsonValue)
  ) {
    suffix += 1;
  }
  const removed = before.length - prefix - suffix;
  const added = after.length - prefix - suffix;
  if (removed === added) {
    for (let i = prefix; i < prefix + removed; i += 1) diffValue(before[i] as JsonValue, after[i] as JsonValue, child(path, i), context);
  } else if (removed === 0 || added === 0) {
    for (let i = prefix + removed - 1; i >= prefix; i -= 1) context.ops.push({ op: 'remove', path: child(path, i) });
    for (let i = prefix; i < prefix + added; i += 1) context.ops.push({ op: 'add', path: child(path, i), value: cloneJson(after[i] as JsonValue) });
  } else {
    context.ops.push({ op: 'replace', path, value: cloneJson(after) });
  }
}
