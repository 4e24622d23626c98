/**
 * What the admission hot path relies on after its optimisation: applyInjection copies only
 * the objects on the way to a change (and never touches its input), the diff may skip the
 * subtrees it shares, cloneJson is a faithful deep copy, the settings hash memo answers as
 * the digest does, and the hand-written answer envelope is exactly JSON.stringify's.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { encodeAdmissionResponse, type AdmissionVerdict } from '../../webhook/admission.ts';
import { decideInjection } from '../../webhook/decide.ts';
import type { ServiceAccountLookup } from '../../webhook/types.ts';
import { applyInjection } from '../../webhook/inject.ts';
import { cloneJson, isJsonObject, type JsonObject, type JsonValue } from '../../webhook/json.ts';
import { createPatch, type JsonPatchOperation } from '../../webhook/patch.ts';
import { settingsHash } from '../../webhook/status.ts';
import { testInjectionDefaults } from '../support/injection-defaults.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/pods/', import.meta.url));

interface InjectedFixture {
  readonly file: string;
  readonly pod: JsonObject;
  readonly after: JsonObject;
}

/** Every golden fixture that is injected, with applyInjection's output. */
const injected: InjectedFixture[] = readdirSync(FIXTURES)
  .filter((file) => file.endsWith('.yaml'))
  .sort()
  .flatMap((file) => {
    const raw = YAML.parse(readFileSync(`${FIXTURES}${file}`, 'utf8')) as { pod: JsonObject; serviceAccount?: ServiceAccountLookup; defaults?: Record<string, unknown> };
    const defaults = testInjectionDefaults(Object.fromEntries(Object.entries(raw.defaults ?? {}).map(([key, value]) => [key, value ?? undefined])));
    const snapshot = structuredClone(raw.pod);
    const decision = decideInjection(raw.pod, raw.serviceAccount ?? { kind: 'disabled' }, defaults);
    if (decision.kind !== 'inject') return [];
    const after = applyInjection(raw.pod, decision.plan);
    expect(raw.pod, `${file}: applyInjection changed its input`).toEqual(snapshot);
    return [{ file, pod: raw.pod, after }];
  });

/** Every object and array reachable from a value. */
function containers(value: JsonValue, found = new Set<object>()): Set<object> {
  if (typeof value !== 'object' || value === null) return found;
  found.add(value);
  for (const item of Array.isArray(value) ? value : Object.values(value)) containers(item, found);
  return found;
}

describe('applyInjection shares what it does not change', () => {
  it('covers the injected golden fixtures', () => {
    expect(injected.length).toBeGreaterThanOrEqual(30);
  });

  it.each(injected)('$file: the pod it returns shares the untouched subtrees and the diff is the same as of an unshared copy', ({ pod, after }) => {
    const spec = pod.spec as JsonObject;
    const untouched = Object.keys(spec).filter((key) => !['containers', 'initContainers', 'volumes'].includes(key));
    expect(untouched.every((key) => (after.spec as JsonObject)[key] === spec[key])).toBe(true);
    expect(createPatch(pod, after)).toEqual(createPatch(pod, cloneJson(after)));
  });

  it.each(injected)('$file: the patch shares no object with the pods', ({ pod, after }) => {
    const patchObjects = containers(createPatch(pod, after) as unknown as JsonValue);
    const podObjects = new Set([...containers(pod), ...containers(after)]);
    expect([...patchObjects].filter((object) => podObjects.has(object))).toEqual([]);
  });
});

describe('cloneJson', () => {
  it('copies every level: equal, and no object of the copy is one of the original', () => {
    const original: JsonObject = { a: [1, { b: 'x', c: null }], d: { e: [true, []] } };
    const copy = cloneJson(original);
    expect(copy).toEqual(original);
    const originals = containers(original);
    expect([...containers(copy)].filter((object) => originals.has(object))).toEqual([]);
  });

  it('keeps a "__proto__" key from JSON.parse as an own key, not as the prototype', () => {
    const parsed = JSON.parse('{"__proto__":{"polluted":true},"x":1}') as JsonObject;
    const copy = cloneJson(parsed);
    expect([Object.getPrototypeOf(copy) === Object.prototype, Object.keys(copy), JSON.stringify(copy), (copy as { polluted?: unknown }).polluted]).toEqual([
      true,
      ['__proto__', 'x'],
      '{"__proto__":{"polluted":true},"x":1}',
      undefined,
    ]);
  });

  it.each<JsonValue>(['text', 0, false, null])('returns %j itself', (value) => {
    expect(cloneJson(value)).toBe(value);
  });
});

describe('settingsHash', () => {
  const digest = (value: Record<string, unknown>): string => createHash('sha256').update(JSON.stringify(value)).digest('hex');

  it('answers the SHA-256 of the JSON on a first call and on a remembered one', () => {
    const value = { mode: 'file', audience: 'https://api.anthropic.com', tokenExpirationSeconds: 600 };
    expect([settingsHash(value), settingsHash({ ...value })]).toEqual([digest(value), digest(value)]);
  });

  it('stays right past the memo limit', () => {
    const values = Array.from({ length: 1500 }, (_, i) => ({ serviceAccount: `sa-${i}` }));
    expect(values.map(settingsHash)).toEqual(values.map(digest));
    expect(settingsHash(values[0] ?? {})).toBe(digest(values[0] ?? {}));
  });
});

describe('encodeAdmissionResponse', () => {
  const patch: JsonPatchOperation[] = [{ op: 'add', path: '/metadata/annotations/a~1b', value: { 'k"\\': 'é\u2028' } }];

  function stringified(uid: string, verdict: AdmissionVerdict): string {
    const response: Record<string, unknown> = { uid, allowed: verdict.allowed };
    if (verdict.allowed && verdict.patch.length > 0) {
      response.patchType = 'JSONPatch';
      response.patch = Buffer.from(JSON.stringify(verdict.patch)).toString('base64');
    }
    if (verdict.warnings.length > 0) response.warnings = verdict.warnings;
    if (!verdict.allowed) response.status = { code: 403, message: verdict.denialMessage ?? 'denied by anthropic-wif' };
    return JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response });
  }

  it.each<[string, string, AdmissionVerdict]>([
    ['allowed with a patch and warnings', 'uid-"quoted"\\é', { allowed: true, patch, warnings: ['w "1"', 'w\n2'] }],
    ['allowed unchanged', 'uid-2', { allowed: true, patch: [], warnings: [] }],
    ['denied (a patch is never sent)', 'uid-3', { allowed: false, patch, warnings: ['w'], denialMessage: 'annotation "x" is wrong' }],
    ['denied with no message', 'uid-4', { allowed: false, patch: [], warnings: [] }],
  ])('%s: the exact text JSON.stringify gives', (_name, uid, verdict) => {
    const text = encodeAdmissionResponse(uid, verdict);
    expect(text).toBe(stringified(uid, verdict));
    expect(isJsonObject(JSON.parse(text))).toBe(true);
  });
});
