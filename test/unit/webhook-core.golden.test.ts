/**
 * Golden fixtures: every file in test/fixtures/pods/ holds an input pod, the ServiceAccount
 * lookup, default overrides and the exact expected outcome (result, mode, message, warnings,
 * patch). `UPDATE_GOLDEN=1 npx vitest run test/unit/webhook-core.golden.test.ts` rewrites the
 * `expected` sections (comments survive); review every rewritten expectation by hand.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { Annotation, ContainerName, VolumeName } from '../../contract/index.ts';
import { decideInjection } from '../../webhook/decide.ts';
import type { InjectionDefaults, ServiceAccountLookup } from '../../webhook/types.ts';
import { applyInjection } from '../../webhook/inject.ts';
import { isJsonObject, type JsonObject, type JsonValue } from '../../webhook/json.ts';
import type { JsonPatchOperation } from '../../webhook/patch.ts';
import { reviewPod, type PodReview } from '../../webhook/review.ts';
import { testInjectionDefaults } from '../support/injection-defaults.ts';
import { podSchemaErrors } from '../support/pod-schema.ts';

const { applyOperation, applyPatch, getValueByPointer } = fastJsonPatch;

const FIXTURES = fileURLToPath(new URL('../fixtures/pods/', import.meta.url));
const UPDATE = process.env.UPDATE_GOLDEN === '1';

interface Expected {
  readonly result: PodReview['result'];
  readonly mode?: string;
  readonly message?: string;
  readonly warnings: readonly string[];
  readonly patch: readonly JsonPatchOperation[];
}

interface Fixture {
  readonly file: string;
  readonly description: string;
  readonly pod: JsonObject;
  readonly lookup: ServiceAccountLookup;
  readonly defaults: InjectionDefaults;
  /** Deliberate future fields, tolerated by the strict schema check (and nothing else). */
  readonly allowedUnknownFields: readonly string[];
  readonly expected: Expected | undefined;
}

function loadFixture(file: string): Fixture {
  const raw = YAML.parse(readFileSync(`${FIXTURES}${file}`, 'utf8')) as Record<string, unknown>;
  if (!isJsonObject(raw.pod)) throw new Error(`${file}: no pod`);
  return {
    file,
    description: typeof raw.description === 'string' ? raw.description : '',
    pod: raw.pod,
    lookup: (raw.serviceAccount ?? { kind: 'disabled' }) as ServiceAccountLookup,
    // YAML null stands for "no default" (undefined).
    defaults: testInjectionDefaults(
      Object.fromEntries(Object.entries(raw.defaults ?? {}).map(([key, value]) => [key, value ?? undefined])),
    ),
    allowedUnknownFields: (raw.allowedUnknownFields ?? []) as string[],
    expected: raw.expected as Expected | undefined,
  };
}

function outcome(review: PodReview): Expected {
  return {
    result: review.result,
    ...(review.mode === undefined ? {} : { mode: review.mode }),
    ...(review.message === undefined ? {} : { message: review.message }),
    warnings: review.warnings,
    patch: review.patch,
  };
}

function writeExpected(file: string, expected: Expected): void {
  const path = `${FIXTURES}${file}`;
  const document = YAML.parseDocument(readFileSync(path, 'utf8'));
  document.set('expected', expected);
  writeFileSync(path, document.toString({ lineWidth: 0 }));
}

function applied(pod: JsonObject, patch: readonly JsonPatchOperation[]): JsonObject {
  return applyPatch(structuredClone(pod), structuredClone(patch) as Operation[], true, false).newDocument;
}

const fixtures = readdirSync(FIXTURES)
  .filter((file) => file.endsWith('.yaml'))
  .sort()
  .map(loadFixture);

// ---------------------------------------------------------------------------------------
// Ownership: what a remove / replace (or an add over an existing member) may touch.

interface Owned {
  readonly statusPresent: boolean;
  readonly env: Readonly<Record<string, readonly string[]>>;
  readonly mountPaths: Readonly<Record<string, readonly string[]>>;
}

function ownedBy(pod: JsonObject): Owned {
  const annotations = (pod.metadata as JsonObject | undefined)?.annotations as Record<string, string> | undefined;
  const raw = annotations?.[Annotation.status];
  if (raw === undefined) return { statusPresent: false, env: {}, mountPaths: {} };
  let status: { containers: Record<string, { env: string[]; mountPaths: string[] }> };
  try {
    status = JSON.parse(raw) as typeof status;
  } catch {
    return { statusPresent: false, env: {}, mountPaths: {} };
  }
  const entries = Object.entries(status.containers);
  return {
    statusPresent: true,
    env: Object.fromEntries(entries.map(([name, record]) => [name, record.env])),
    mountPaths: Object.fromEntries(entries.map(([name, record]) => [name, record.mountPaths])),
  };
}

const WEBHOOK_CONTAINERS: readonly string[] = Object.values(ContainerName);
const WEBHOOK_VOLUMES: readonly string[] = Object.values(VolumeName);
const STATUS_POINTER = `/metadata/annotations/${Annotation.status.replace('/', '~1')}`;

/** Whether the webhook owns the value at `path` in `document` (the state before the op). */
function ownsPath(document: JsonObject, path: string, owned: Owned): boolean {
  if (path === STATUS_POINTER) return true;
  const match = /^\/spec\/(containers|initContainers|volumes)(?:\/(\d+)(?:\/(env|volumeMounts)(?:\/(\d+))?)?)?(?:\/|$)/.exec(path);
  if (match === null) return false;
  const [, list = '', index, field, item] = match;
  const items = (getValueByPointer(document, `/spec/${list}`) ?? []) as JsonObject[];
  if (index === undefined) return owned.statusPresent && items.every((entry) => ownsNamed(list, entry));
  const element = items[Number(index)];
  if (element === undefined) return false;
  if (ownsNamed(list, element) && owned.statusPresent) return true;
  if (field === undefined) return false;
  const name = element.name as string;
  const entries = (element[field] ?? []) as JsonObject[];
  const ownsEntry = (entry: JsonObject): boolean =>
    field === 'env'
      ? (owned.env[name] ?? []).includes(entry.name as string)
      : (owned.mountPaths[name] ?? []).includes(entry.mountPath as string) && WEBHOOK_VOLUMES.includes(entry.name as string);
  if (item === undefined) return entries.every(ownsEntry);
  const entry = entries[Number(item)];
  return entry !== undefined && ownsEntry(entry);
}

function ownsNamed(list: string, element: JsonObject): boolean {
  const names = list === 'volumes' ? WEBHOOK_VOLUMES : WEBHOOK_CONTAINERS;
  return names.includes(element.name as string);
}

/** Ops that take away or overwrite something, with the document state each one sees. */
function destructiveOps(pod: JsonObject, patch: readonly JsonPatchOperation[]): { op: JsonPatchOperation; owned: boolean }[] {
  const owned = ownedBy(pod);
  let document = structuredClone(pod);
  const found: { op: JsonPatchOperation; owned: boolean }[] = [];
  for (const op of patch) {
    const parentPath = op.path.slice(0, op.path.lastIndexOf('/'));
    const parent = getValueByPointer(document, parentPath) as JsonValue | undefined;
    const key = op.path.slice(op.path.lastIndexOf('/') + 1).replaceAll('~1', '/').replaceAll('~0', '~');
    const overwrites = op.op !== 'add' || (isJsonObject(parent) && key in parent);
    if (overwrites) found.push({ op, owned: ownsPath(document, op.path, owned) });
    document = applyOperation(document, structuredClone(op) as Operation, true, true).newDocument;
  }
  return found;
}

// ---------------------------------------------------------------------------------------

describe('golden pod fixtures', () => {
  it('finds the fixtures folder populated', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(40);
  });

  describe.each(fixtures)('$file', (fixture) => {
    const review = reviewPod(fixture.pod, fixture.lookup, fixture.defaults);

    it(`gives the expected outcome: ${fixture.description}`, () => {
      if (UPDATE) writeExpected(fixture.file, outcome(review));
      else expect(outcome(review)).toEqual(fixture.expected);
    });

    it('never removes or replaces what the webhook does not own', () => {
      const violations = destructiveOps(fixture.pod, review.patch).filter((entry) => !entry.owned);
      expect(violations).toEqual([]);
    });

    it.runIf(review.result === 'injected')('patches to applyInjection’s pod, which is a valid Pod', () => {
      const decision = decideInjection(fixture.pod, fixture.lookup, fixture.defaults);
      if (decision.kind !== 'inject') throw new Error(`expected an inject decision, got ${decision.kind}`);
      const patched = applied(fixture.pod, review.patch);
      expect(patched).toEqual(applyInjection(fixture.pod, decision.plan));
      expect(podSchemaErrors(patched, { allowedUnknownFields: fixture.allowedUnknownFields })).toEqual([]);
    });

    it.runIf(review.result === 'injected')('is idempotent: re-admitting the patched pod gives an empty patch', () => {
      const again = reviewPod(applied(fixture.pod, review.patch), fixture.lookup, fixture.defaults);
      expect(again).toEqual({ ...review, patch: [], message: 'already injected with these settings' });
    });

    it('is an input pod the API server would accept', () => {
      expect(podSchemaErrors(fixture.pod, { allowedUnknownFields: fixture.allowedUnknownFields })).toEqual([]);
    });
  });
});
