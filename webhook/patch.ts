/**
 * JSON Patch (RFC 6902) from a diff of the raw JSON before and after the mutation, so
 * fields the webhook does not know survive.
 *
 * Arrays of named objects (containers, volumes, env, …) and of volume mounts (keyed by
 * `mountPath`, since one volume may be mounted twice) are diffed by identity: an insertion
 * is one `add` at its index, not a cascade of `replace`s over everything after it. Any other
 * array falls back to a common prefix/suffix diff, or to replacing the array when the
 * change is not a pure insertion, deletion or same-length edit.
 *
 * The cost is linear in the pod (a pod author controls its size, up to the API server's
 * 3 MiB): elements the mutation shared with the input at the start and end of an array are
 * skipped by reference before anything else, ids are looked up in sets, and an array that
 * would need more than MAX_ELEMENT_OPS element operations is replaced whole instead (its
 * value is the mutated array, so every field the webhook does not own is still kept).
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

/** Past this many element operations in one array, one `replace` of the array is cheaper to apply. */
export const MAX_ELEMENT_OPS = 256;

/** Element fields tried, in order, as an array's identity. */
const IDENTITY_KEYS = ['name', 'mountPath'] as const;

interface DiffContext {
  readonly ops: JsonPatchOperation[];
  readonly movableNames: ReadonlySet<string>;
  /** Adds and removes of elements of the array being diffed (not of arrays inside it). */
  elementOps: number;
}

export function createPatch(before: JsonValue, after: JsonValue, options: PatchOptions = {}): JsonPatchOperation[] {
  const context: DiffContext = { ops: [], movableNames: options.movableNames ?? WEBHOOK_CONTAINERS, elementOps: 0 };
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
  // Elements shared by reference at both ends are unchanged and in place: diff only the middle.
  const shorter = Math.min(before.length, after.length);
  let prefix = 0;
  while (prefix < shorter && before[prefix] === after[prefix]) prefix += 1;
  let suffix = 0;
  while (suffix < shorter - prefix && before[before.length - 1 - suffix] === after[after.length - 1 - suffix]) suffix += 1;
  const window: ArrayWindow = { path, offset: prefix, whole: after };
  const middleBefore = prefix === 0 && suffix === 0 ? before : before.slice(prefix, before.length - suffix);
  const middleAfter = prefix === 0 && suffix === 0 ? after : after.slice(prefix, after.length - suffix);
  const local: DiffContext = { ops: [], movableNames: context.movableNames, elementOps: 0 };
  const identified = identifyElements(middleBefore, middleAfter);
  if (identified === undefined) diffPlainArray(middleBefore, middleAfter, window, local);
  else diffIdentifiedArray(identified, window, local);
  if (local.elementOps > MAX_ELEMENT_OPS) context.ops.push({ op: 'replace', path, value: cloneJson(after) });
  else context.ops.push(...local.ops);
}

/** The part of an array being diffed: its path, where the part starts, and the whole mutated array (for a replace). */
interface ArrayWindow {
  readonly path: string;
  readonly offset: number;
  readonly whole: JsonValue[];
}

interface IdentifiedArrays {
  readonly before: readonly JsonObject[];
  readonly after: readonly JsonObject[];
  readonly beforeIds: readonly string[];
  readonly afterIds: readonly string[];
  /** The same ids as sets: membership tests stay O(1), so a diff is linear in the arrays. */
  readonly beforeSet: ReadonlySet<string>;
  readonly afterSet: ReadonlySet<string>;
}

/** Both arrays with their ids, by the first field that identifies every element of both uniquely, if any. */
function identifyElements(before: readonly JsonValue[], after: readonly JsonValue[]): IdentifiedArrays | undefined {
  for (const key of IDENTITY_KEYS) {
    const beforeIds = uniqueIds(before, key);
    const afterIds = beforeIds === undefined ? undefined : uniqueIds(after, key);
    if (beforeIds !== undefined && afterIds !== undefined) {
      return { before: before as JsonObject[], after: after as JsonObject[], beforeIds: beforeIds.ids, afterIds: afterIds.ids, beforeSet: beforeIds.set, afterSet: afterIds.set };
    }
  }
  return undefined;
}

/** The elements' `key` values, when every element has a distinct string one. */
function uniqueIds(items: readonly JsonValue[], key: string): { readonly ids: string[]; readonly set: Set<string> } | undefined {
  const ids: string[] = [];
  const set = new Set<string>();
  for (const item of items) {
    const id = isJsonObject(item) && Object.hasOwn(item, key) ? item[key] : undefined;
    if (typeof id !== 'string' || set.has(id)) return undefined;
    ids.push(id);
    set.add(id);
  }
  return { ids, set };
}

function diffIdentifiedArray(arrays: IdentifiedArrays, window: ArrayWindow, context: DiffContext): void {
  const { before, after, beforeIds, afterIds, afterSet } = arrays;
  const { path, offset } = window;
  const movers = elementsToMove(arrays, context.movableNames);
  if (movers === undefined) {
    context.ops.push({ op: 'replace', path, value: cloneJson(window.whole) });
    return;
  }
  const remaining: JsonObject[] = [];
  const remainingIds: string[] = [];
  for (let i = before.length - 1; i >= 0; i -= 1) {
    const id = beforeIds[i] as string;
    if (afterSet.has(id) && !movers.has(id)) {
      remaining.push(before[i] as JsonObject);
      remainingIds.push(id);
    } else {
      context.ops.push({ op: 'remove', path: child(path, offset + i) });
      context.elementOps += 1;
    }
  }
  remaining.reverse();
  remainingIds.reverse();
  let cursor = 0;
  for (let i = 0; i < after.length; i += 1) {
    const item = after[i] as JsonObject;
    if (cursor < remaining.length && remainingIds[cursor] === afterIds[i]) {
      const existing = remaining[cursor] as JsonObject;
      if (existing !== item) diffValue(existing, item, child(path, offset + i), context);
      cursor += 1;
    } else {
      context.ops.push({ op: 'add', path: child(path, offset + i), value: cloneJson(item) });
      context.elementOps += 1;
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
  const { beforeIds, afterIds, beforeSet, afterSet } = arrays;
  const keptBefore = beforeIds.filter((id) => afterSet.has(id));
  const keptAfter = afterIds.filter((id) => beforeSet.has(id));
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

function diffPlainArray(before: JsonValue[], after: JsonValue[], window: ArrayWindow, context: DiffContext): void {
  const { path, offset } = window;
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
    for (let i = prefix; i < prefix + removed; i += 1) diffValue(before[i] as JsonValue, after[i] as JsonValue, child(path, offset + i), context);
  } else if (removed === 0 || added === 0) {
    context.elementOps += removed + added;
    for (let i = prefix + removed - 1; i >= prefix; i -= 1) context.ops.push({ op: 'remove', path: child(path, offset + i) });
    for (let i = prefix; i < prefix + added; i += 1) context.ops.push({ op: 'add', path: child(path, offset + i), value: cloneJson(after[i] as JsonValue) });
  } else {
    context.ops.push({ op: 'replace', path, value: cloneJson(window.whole) });
  }
}
