import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import type { JsonValue } from '../../webhook/json.ts';
import { MAX_ELEMENT_OPS, createPatch, escapePointerToken, type JsonPatchOperation } from '../../webhook/patch.ts';

const { applyPatch } = fastJsonPatch;

function patched(before: JsonValue, patch: readonly JsonPatchOperation[]): JsonValue {
  return applyPatch(structuredClone(before), structuredClone(patch) as Operation[], true, false).newDocument;
}

const agent = { name: 'anthropic-wif-agent', image: 'wif' };
const mesh = { name: 'istio-proxy', restartPolicy: 'Always' };
const migrate = { name: 'migrate', image: 'm' };
const vault = { name: 'vault-init', image: 'v' };

interface Case {
  readonly name: string;
  readonly before: JsonValue;
  readonly after: JsonValue;
  readonly patch: readonly JsonPatchOperation[];
}

const cases: readonly Case[] = [
  { name: 'equal documents', before: { a: [1, { b: 2 }] }, after: { a: [1, { b: 2 }] }, patch: [] },
  {
    name: 'object members added, removed and replaced',
    before: { keep: 1, drop: 2, change: 'x' },
    after: { keep: 1, change: 'y', add: { deep: true } },
    patch: [
      { op: 'remove', path: '/drop' },
      { op: 'replace', path: '/change', value: 'y' },
      { op: 'add', path: '/add', value: { deep: true } },
    ],
  },
  {
    name: 'a missing parent map is added whole, with "/" escaped as ~1',
    before: { metadata: { name: 'p' } },
    after: { metadata: { name: 'p', annotations: { 'anthropic.workload.identity/status': '{}' } } },
    patch: [{ op: 'add', path: '/metadata/annotations', value: { 'anthropic.workload.identity/status': '{}' } }],
  },
  {
    name: 'a key into an existing map is escaped (~0 for "~", ~1 for "/")',
    before: { annotations: { other: 'x' } },
    after: { annotations: { other: 'x', 'a~b/c': 'y' } },
    patch: [{ op: 'add', path: '/annotations/a~0b~1c', value: 'y' }],
  },
  {
    name: 'a value changing type is replaced',
    before: { a: { b: 1 } },
    after: { a: [1] },
    patch: [{ op: 'replace', path: '/a', value: [1] }],
  },
  {
    name: 'an insertion into a named list is one add at its index',
    before: { containers: [mesh, migrate] },
    after: { containers: [mesh, agent, migrate] },
    patch: [{ op: 'add', path: '/containers/1', value: agent }],
  },
  {
    name: 'a named element is edited where it stands, by name',
    before: { env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }] },
    after: { env: [{ name: 'A', value: '1' }, { name: 'B', value: '3' }, { name: 'C', value: '4' }] },
    patch: [
      { op: 'replace', path: '/env/1/value', value: '3' },
      { op: 'add', path: '/env/2', value: { name: 'C', value: '4' } },
    ],
  },
  {
    name: 'removals in a named list go from the highest index down',
    before: { env: [{ name: 'A' }, { name: 'B' }, { name: 'C' }, { name: 'D' }] },
    after: { env: [{ name: 'A' }, { name: 'D' }] },
    patch: [
      { op: 'remove', path: '/env/2' },
      { op: 'remove', path: '/env/1' },
    ],
  },
  {
    name: "the webhook's own container moves ahead of an inserted init container; the other stays",
    before: { initContainers: [vault, agent, migrate] },
    after: { initContainers: [agent, vault, migrate] },
    patch: [
      { op: 'remove', path: '/initContainers/1' },
      { op: 'add', path: '/initContainers/0', value: agent },
    ],
  },
  {
    name: 'a reorder of elements the webhook does not own replaces the list',
    before: { containers: [vault, migrate] },
    after: { containers: [migrate, vault] },
    patch: [{ op: 'replace', path: '/containers', value: [migrate, vault] }],
  },
  {
    name: 'volume mounts with a repeated volume name are identified by mountPath',
    before: {
      volumeMounts: [
        { name: 'data', mountPath: '/a', subPath: 'a' },
        { name: 'data', mountPath: '/b', subPath: 'b' },
      ],
    },
    after: {
      volumeMounts: [
        { name: 'data', mountPath: '/a', subPath: 'a' },
        { name: 'anthropic-credentials', mountPath: '/var/run/anthropic', readOnly: true },
        { name: 'data', mountPath: '/b', subPath: 'b' },
      ],
    },
    patch: [{ op: 'add', path: '/volumeMounts/1', value: { name: 'anthropic-credentials', mountPath: '/var/run/anthropic', readOnly: true } }],
  },
  {
    name: 'env with a repeated name falls back to the plain list diff (append)',
    before: { env: [{ name: 'A', value: '1' }, { name: 'A', value: '2' }] },
    after: { env: [{ name: 'A', value: '1' }, { name: 'A', value: '2' }, { name: 'B', value: '3' }] },
    patch: [{ op: 'add', path: '/env/2', value: { name: 'B', value: '3' } }],
  },
  {
    name: 'a plain list insertion in the middle is adds at the index',
    before: { args: ['a', 'd'] },
    after: { args: ['a', 'b', 'c', 'd'] },
    patch: [
      { op: 'add', path: '/args/1', value: 'b' },
      { op: 'add', path: '/args/2', value: 'c' },
    ],
  },
  {
    name: 'a plain list deletion is removes from the highest index down',
    before: { args: ['a', 'b', 'c', 'd'] },
    after: { args: ['a', 'd'] },
    patch: [
      { op: 'remove', path: '/args/2' },
      { op: 'remove', path: '/args/1' },
    ],
  },
  {
    name: 'a plain list edit of the same length is element-wise',
    before: { drop: ['NET_RAW', 'ALL'] },
    after: { drop: ['NET_RAW', 'CHOWN'] },
    patch: [{ op: 'replace', path: '/drop/1', value: 'CHOWN' }],
  },
  {
    name: 'a plain list with both insertions and deletions is replaced',
    before: { args: ['a', 'b'] },
    after: { args: ['c'] },
    patch: [{ op: 'replace', path: '/args', value: ['c'] }],
  },
  { name: 'a different root is replaced at ""', before: 1, after: 'x', patch: [{ op: 'replace', path: '', value: 'x' }] },
];

describe('createPatch', () => {
  it.each(cases)('$name', ({ before, after, patch }) => {
    const result = createPatch(before, after);
    expect(result).toEqual(patch);
    expect(patched(before, result)).toEqual(after);
  });

  it('copies values, so editing the after document later does not change the patch', () => {
    const after = { containers: [{ name: 'a', env: [] as JsonValue[] }] };
    const patch = createPatch({}, after);
    after.containers[0]!.env.push('late');
    expect(patch).toEqual([{ op: 'add', path: '/containers', value: [{ name: 'a', env: [] }] }]);
  });

  it('moves only the names it is told it may move', () => {
    const before = { initContainers: [vault, migrate] };
    const after = { initContainers: [migrate, vault] };
    const patch = createPatch(before, after, { movableNames: new Set(['migrate']) });
    expect(patch).toEqual([
      { op: 'remove', path: '/initContainers/1' },
      { op: 'add', path: '/initContainers/0', value: migrate },
    ]);
    expect(patched(before, patch)).toEqual(after);
  });
});

describe('the cost bounds of a diff (issue #16: quadratic in the array length)', () => {
  const entries = (count: number, from = 0): JsonValue[] => Array.from({ length: count }, (_, i) => ({ name: `e${String(from + i)}`, extra: { kept: i } }));

  it('an append after 40,000 shared entries is one add at the end (the shared prefix is skipped)', () => {
    const env = entries(40_000);
    const added = { name: 'ANTHROPIC_CONFIG_DIR', value: '/var/run/anthropic' };
    const before = { env };
    const after = { env: [...env, added] };
    expect(createPatch(before, after)).toEqual([{ op: 'add', path: '/env/40000', value: added }]);
  });

  it('an insertion between shared elements is at its index in the whole array', () => {
    const env = entries(10);
    const added = { name: 'NEW' };
    const patch = createPatch({ env }, { env: [...env.slice(0, 4), added, ...env.slice(4)] });
    expect(patch).toEqual([{ op: 'add', path: '/env/4', value: added }]);
  });

  it(`${String(MAX_ELEMENT_OPS)} element operations are kept, one more replaces the array, with every other element kept`, () => {
    const kept = entries(1000, 10_000);
    const atLimit = { env: [...entries(MAX_ELEMENT_OPS), ...kept] };
    const overLimit = { env: [...entries(MAX_ELEMENT_OPS + 1), ...kept] };
    const limitPatch = createPatch(atLimit, { env: kept });
    expect(limitPatch).toHaveLength(MAX_ELEMENT_OPS);
    expect(limitPatch.every((op) => op.op === 'remove')).toBe(true);
    expect(patched(atLimit, limitPatch)).toEqual({ env: kept });
    expect(createPatch(overLimit, { env: kept })).toEqual([{ op: 'replace', path: '/env', value: kept }]);
  });

  it('only the elements of the array itself count towards its bound, not operations inside them', () => {
    const containers = Array.from({ length: 300 }, (_, i) => ({ name: `c${String(i)}`, env: [] as JsonValue[] }));
    const after = containers.map((container) => ({ ...container, env: [{ name: 'X' }] }));
    const patch = createPatch({ containers }, { containers: after });
    expect(patch).toHaveLength(300);
    expect(patch[0]).toEqual({ op: 'add', path: '/containers/0/env/0', value: { name: 'X' } });
  });
});

describe('escapePointerToken', () => {
  it.each([
    ['anthropic.workload.identity/status', 'anthropic.workload.identity~1status'],
    ['a~b', 'a~0b'],
    ['~/', '~0~1'],
    ['plain', 'plain'],
  ])('%s → %s', (token, escaped) => {
    expect(escapePointerToken(token)).toBe(escaped);
  });
});
