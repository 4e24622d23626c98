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
import { WEBHOOK_CONTAINERS } from './ownership.ts';
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

/** Element fields tried, in order, as an array's identity. */
const IDENTITY_KEYS = ['name', 'mountPath'] as const;

interface DiffContext {
  readonly ops: JsonPatchOperation[];
  readonly movableNames: ReadonlySet<string>;
}

export function createPatch(before: JsonValue, after: JsonValue, options: PatchOptions = {}): JsonPatchOperation[] {
  const context: DiffContext = { ops: [], movableNames: options.movableNames ?? WEBHOOK_CONTAINERS };
  diffValue(before, after, '', context);
  return context.ops;
}

/** RFC 6901: `~` → `~0`, `/` → `~1` (annotation keys contain `/`). */
export function escapePointerToken(token: string): string {
  return token.includes('~') || token.includes('/') ? token.replaceAll('~', '~0').replaceAll('/', '~1') : token;
}

function child(path: string, token: string | number): string {
  return `${path}/${typeof token === 'number' ? String(token) : escapePointerToken(token)}`;
}

function diffValue(before: JsonValue, after: JsonValue, path: string, context: DiffContext): void {
  // No deep-equality check up front: diffing equal values emits nothing anyway, and the
  // shared-subtree check in diffObject and diffIdentifiedArray skips most unchanged values.
  if (before === after) return;
  if (isJsonObject(before) && isJsonObject(after)) {
    diffObject(before, after, path, context);
  } else if (Array.isArray(before) && Array.isArray(after)) {
    diffArray(before, after, path, context);
  } else if (!jsonEqual(before, after)) {
    context.ops.push({ op: 'replace', path, value: cloneJson(after) });
  }
}

function diffObject(before: JsonObject, after: JsonObject, path: string, context: DiffContext): void {
  for (const key of Object.keys(before)) {
    const value = before[key] as JsonValue;
    // Own members only: `after.constructor` of a plain object is not a field of the pod.
    const next = Object.hasOwn(after, key) ? after[key] : undefined;
    if (next === undefined) context.ops.push({ op: 'remove', path: child(path, key) });
    // A subtree the mutation shared with the input is unchanged: skip it before building its path.
    else if (next !== value) diffValue(value, next, child(path, key), context);
  }
  for (const key of Object.keys(after)) {
    if (!Object.hasOwn(before, key)) context.ops.push({ op: 'add', path: child(path, key), value: cloneJson(after[key] as JsonValue) });
  }
}

function diffArray(before: JsonValue[], after: JsonValue[], path: string, context: DiffContext): void {
  const identified = identifyElements(before, after);
  if (identified === undefined) diffPlainArray(before, after, path, context);
  else diffIdentifiedArray(identified, path, context);
}

interface IdentifiedArrays {
  readonly before: readonly JsonObject[];
  readonly after: readonly JsonObject[];
  readonly beforeIds: readonly string[];
  readonly afterIds: readonly string[];
}

/** Both arrays with their ids, by the first field that identifies every element of both uniquely, if any. */
function identifyElements(before: readonly JsonValue[], after: readonly JsonValue[]): IdentifiedArrays | undefined {
  for (const key of IDENTITY_KEYS) {
    const beforeIds = uniqueIds(before, key);
    const afterIds = beforeIds === undefined ? undefined : uniqueIds(after, key);
    if (beforeIds !== undefined && afterIds !== undefined) return { before: before as JsonObject[], after: after as JsonObject[], beforeIds, afterIds };
  }
  return undefined;
}

/** The elements' `key` values, when every element has a distinct string one. */
function uniqueIds(items: readonly JsonValue[], key: string): string[] | undefined {
  const ids: string[] = [];
  for (const item of items) {
    const id = isJsonObject(item) ? item[key] : undefined;
    if (typeof id !== 'string' || ids.includes(id)) return undefined;
    ids.push(id);
  }
  return ids;
}

function diffIdentifiedArray(arrays: IdentifiedArrays, path: string, context: DiffContext): void {
  const { before, after, beforeIds, afterIds } = arrays;
  const movers = elementsToMove(arrays, context.movableNames);
  if (movers === undefined) {
    context.ops.push({ op: 'replace', path, value: cloneJson([...after]) });
    return;
  }
  const remaining: JsonObject[] = [];
  const remainingIds: string[] = [];
  for (let i = before.length - 1; i >= 0; i -= 1) {
    const id = beforeIds[i] as string;
    if (afterIds.includes(id) && !movers.has(id)) {
      remaining.push(before[i] as JsonObject);
      remainingIds.push(id);
    } else {
      context.ops.push({ op: 'remove', path: child(path, i) });
    }
  }
  remaining.reverse();
  remainingIds.reverse();
  let cursor = 0;
  for (let i = 0; i < after.length; i += 1) {
    const item = after[i] as JsonObject;
    if (cursor < remaining.length && remainingIds[cursor] === afterIds[i]) {
      const existing = remaining[cursor] as JsonObject;
      if (existing !== item) diffValue(existing, item, child(path, i), context);
      cursor += 1;
    } else {
      context.ops.push({ op: 'add', path: child(path, i), value: cloneJson(item) });
    }
  }
}

const NOTHING_MOVES: ReadonlySet<string> = new Set();

/**
 * Which kept elements must be removed and added again so the rest keep their order:
 * none when the order is unchanged, the movable ones when moving them suffices, and
 * `undefined` when other elements were reordered (the array is then replaced).
 */
function elementsToMove(arrays: IdentifiedArrays, movableNames: ReadonlySet<string>): ReadonlySet<string> | undefined {
  const { beforeIds, afterIds } = arrays;
  const keptBefore = beforeIds.filter((id) => afterIds.includes(id));
  const keptAfter = afterIds.filter((id) => beforeIds.includes(id));
  if (sameSequence(keptBefore, keptAfter)) return NOTHING_MOVES;
  const movers = new Set(keptBefore.filter((id) => movableNames.has(id)));
  const fixed = (id: string): boolean => !movers.has(id);
  return sameSequence(keptBefore.filter(fixed), keptAfter.filter(fixed)) ? movers : undefined;
}

function sameSequence(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return false;
  return true;
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
