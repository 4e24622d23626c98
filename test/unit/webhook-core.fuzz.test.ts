/**
 * Property-based tests of the pure core (issue #16): generated pods, with hostile names,
 * wrong types, forged status annotations and unknown fields, under generated
 * ServiceAccount lookups and webhook defaults.
 *
 * - the core never throws: skip, inject, deny (or undecided when the ServiceAccount was unreadable);
 * - the input pod is never modified;
 * - an injection's patch applies cleanly (fast-json-patch, validating) and gives the mutated pod;
 * - a reinvocation on the patched pod is injected again with an empty patch;
 * - no `remove` touches anything the webhook does not own, and every field it does not
 *   own survives (containers' unknown fields, env entries, mounts, volumes, metadata);
 * - the admission handler answers every generated review with 200, 400 or 503, never 500.
 *
 * FUZZ_RUNS=n runs more cases (the default keeps `npm test` fast); FUZZ_SEED=s replays a
 * failure, whose seed, path and shrunk case fast-check prints.
 */
import { Writable } from 'node:stream';
import fc from 'fast-check';
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import { Annotation, ANNOTATION_PREFIX, ContainerName, Default, Path, SdkEnv, VolumeName } from '../../contract/index.ts';
import { createLogger } from '../../runtime/logger.ts';
import { decideInjection } from '../../webhook/decide.ts';
import type { InjectionDefaults, ServiceAccountLookup } from '../../webhook/types.ts';
import { applyInjection } from '../../webhook/inject.ts';
import { isJsonObject, jsonEqual, type JsonObject, type JsonValue } from '../../webhook/json.ts';
import { createWebhookMetrics } from '../../webhook/metrics.ts';
import { reviewPod } from '../../webhook/review.ts';
import { createAdmissionHandler } from '../../webhook/server.ts';
import { readStatus, type ContainerRecord } from '../../webhook/status.ts';
import { testInjectionDefaults } from '../support/injection-defaults.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? '300');
const SEED = process.env.FUZZ_SEED === undefined ? {} : { seed: Number(process.env.FUZZ_SEED) };
const PARAMETERS: fc.Parameters<unknown> = { numRuns: RUNS, ...SEED };

// ---------------------------------------------------------------------------------------
// Generators

const PROTOTYPE_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];
const WEBHOOK_CONTAINER_NAMES: readonly string[] = Object.values(ContainerName);
const WEBHOOK_VOLUME_NAMES: readonly string[] = Object.values(VolumeName);
const CONTAINER_NAMES = ['app', 'web', 'Bad_Name', ...PROTOTYPE_NAMES, ...WEBHOOK_CONTAINER_NAMES];
const ENV_NAMES = ['FOO', 'BAR', ...Object.values(SdkEnv), ...PROTOTYPE_NAMES];
const MOUNT_PATHS = ['/data', '/tmp', '/var/run', Path.outputDir, Path.identityTokenDir, Path.caBundleDir];

/** Mostly an ordinary name, sometimes an Object.prototype name, now and then one of the webhook's. */
function nameFrom(ordinary: readonly string[], webhook: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { arbitrary: fc.constantFrom(...ordinary), weight: 12 },
    { arbitrary: fc.constantFrom(...PROTOTYPE_NAMES), weight: 3 },
    { arbitrary: fc.constantFrom(...webhook), weight: 1 },
    { arbitrary: fc.string({ maxLength: 6 }), weight: 1 },
  );
}

/** Mostly `arbitrary`, sometimes any JSON value instead (a wrong type). */
function hostile<T>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T | JsonValue> {
  return fc.oneof({ arbitrary, weight: 40 }, { arbitrary: fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<JsonValue>, weight: 1 });
}

const unknownField = fc.jsonValue({ maxDepth: 3 });

const envEntry = fc.record(
  {
    name: nameFrom(['FOO', 'BAR'], Object.values(SdkEnv)),
    value: fc.oneof(fc.constantFrom('v', 'sk-ant-api03-x', ''), fc.string({ maxLength: 8 })),
    valueFrom: fc.constant({ secretKeyRef: { name: 's', key: 'k' } }),
  },
  { requiredKeys: ['name'] },
);

const mount = fc.record(
  { name: nameFrom(['data', 'cache'], WEBHOOK_VOLUME_NAMES), mountPath: fc.constantFrom(...MOUNT_PATHS), readOnly: fc.boolean(), futureMountField: unknownField },
  { requiredKeys: ['name', 'mountPath'] },
);

const container = fc.record(
  {
    name: nameFrom(['app', 'web', 'Bad_Name'], WEBHOOK_CONTAINER_NAMES),
    image: fc.constant('registry.example/app:1'),
    env: hostile(fc.array(hostile(envEntry), { maxLength: 4 })),
    volumeMounts: hostile(fc.array(hostile(mount), { maxLength: 3 })),
    ports: fc.array(fc.record({ containerPort: mostly(['8080'], [String(Default.proxyPort), String(Default.agentHealthPort)]).map(Number) }), { maxLength: 2 }),
    securityContext: fc.record({ runAsUser: fc.constantFrom(0, 1000, 1001) }),
    restartPolicy: fc.constantFrom('Always', 'Never'),
    futureContainerField: unknownField,
  },
  { requiredKeys: ['name'] },
);

/** Container names are mostly unique within a list (a pod with duplicates is denied, and should not be most pods). */
const nameOrSelf = (item: unknown): unknown => (isJsonObject(item) ? item.name : JSON.stringify(item));

const volume = fc.record(
  { name: nameFrom(['data', 'cache'], WEBHOOK_VOLUME_NAMES), emptyDir: fc.constant({}), futureVolumeField: unknownField },
  { requiredKeys: ['name'] },
);

/** A status annotation: one this webhook could have written (claiming generated env names and paths), or garbage. */
const statusValue = fc.oneof(
  fc
    .record({
      mode: fc.constantFrom('file', 'proxy', 'sdk'),
      layout: fc.constantFrom('native', 'legacy', 'none'),
      containers: fc.array(
        fc.tuple(fc.constantFrom(...CONTAINER_NAMES), fc.record({ env: fc.array(fc.constantFrom(...ENV_NAMES), { maxLength: 4 }), mountPaths: fc.array(fc.constantFrom(...MOUNT_PATHS), { maxLength: 3 }) })),
        { maxLength: 3 },
      ),
    })
    .map(({ mode, layout, containers }) => JSON.stringify({ version: 1, mode, serviceAccount: 'default', layout, hash: '0'.repeat(64), containers: Object.fromEntries(containers) })),
  fc.constantFrom('{', '[]', '{"containers":{"app":{"env":[1]}}}'),
);

/** Usually one of the valid values, sometimes one of the invalid ones. */
function mostly(valid: readonly string[], invalid: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof({ arbitrary: fc.constantFrom(...valid), weight: 30 }, { arbitrary: fc.constantFrom(...invalid), weight: 1 });
}

/** Values for each annotation: mostly valid, some not. */
const ANNOTATION_VALUES: Readonly<Record<string, fc.Arbitrary<string>>> = {
  [Annotation.inject]: mostly(['true', 'true', 'true', 'true', 'true', 'false'], ['yes']),
  [Annotation.mode]: mostly(['file', 'proxy', 'sdk'], ['bogus']),
  [Annotation.federationRuleId]: mostly(['fdrl_fuzz'], ['nope']),
  [Annotation.organizationId]: mostly(['6d8f3c1e-2b4a-4c5d-9e8f-0a1b2c3d4e5f'], ['nope']),
  [Annotation.workspaceId]: mostly(['default', 'wrkspc_x'], ['bad']),
  [Annotation.serviceAccountId]: mostly(['svac_x'], ['bad']),
  [Annotation.audience]: mostly(['https://api.anthropic.com', 'https://aud.example'], ['aud\n', '']),
  [Annotation.tokenExpiration]: mostly(['600', '3600'], ['59', 'abc']),
  [Annotation.skipContainers]: mostly(['web', 'app,web', 'constructor'], ['Bad_Name', '__proto__']),
  [Annotation.baseUrl]: mostly(['https://api.anthropic.com', 'http://127.0.0.1:8080'], ['http://evil.example', 'https://u@h.example', 'http://127.0.0.1\\@evil.example']),
};

const annotations = fc
  .tuple(
    fc.record(ANNOTATION_VALUES, { requiredKeys: [] }),
    fc.oneof({ arbitrary: fc.constant({}), weight: 4 }, { arbitrary: statusValue.map((status) => ({ [Annotation.status]: status })), weight: 1 }),
    fc.array(fc.tuple(fc.constantFrom(...PROTOTYPE_NAMES, `${ANNOTATION_PREFIX}unknown`, 'example.com/other'), fc.string({ maxLength: 6 })), { maxLength: 3 }),
  )
  .map(([known, status, extra]) => ({ ...Object.fromEntries(extra), ...known, ...status }));

const labels = fc.array(fc.tuple(fc.constantFrom(Annotation.inject, 'app', ...PROTOTYPE_NAMES), fc.constantFrom('true', 'false', 'web')), { maxLength: 3 }).map((entries) => Object.fromEntries(entries));

const pod = fc
  .record({
    metadata: hostile(fc.record({ name: fc.constantFrom('web', '__proto__'), namespace: fc.constant('team-a'), labels: hostile(labels), annotations: hostile(annotations), futureMetadata: unknownField }, { requiredKeys: ['annotations'] })),
    spec: hostile(
      fc.record(
        {
          serviceAccountName: fc.constantFrom('default', 'web'),
          containers: hostile(fc.uniqueArray(hostile(container), { maxLength: 4, selector: nameOrSelf })),
          initContainers: hostile(fc.uniqueArray(hostile(container), { maxLength: 2, selector: nameOrSelf })),
          volumes: hostile(fc.array(hostile(volume), { maxLength: 3 })),
          hostNetwork: mostly(['false'], ['true']).map((value) => value === 'true'),
          os: mostly(['linux'], ['windows']).map((name) => ({ name })),
          securityContext: fc.record({ runAsUser: fc.constantFrom(0, 1000) }),
          futureSpec: unknownField,
        },
        { requiredKeys: ['containers'] },
      ),
    ),
    futurePodField: unknownField,
  }, { requiredKeys: ['metadata', 'spec'] })
  // Through JSON text, as a decoded request is: a `__proto__` key is then an own property.
  .map((raw) => JSON.parse(JSON.stringify({ apiVersion: 'v1', kind: 'Pod', ...raw })) as JsonObject);

const lookup: fc.Arbitrary<ServiceAccountLookup> = fc.oneof(
  fc.constant<ServiceAccountLookup>({ kind: 'disabled' }),
  fc.constant<ServiceAccountLookup>({ kind: 'not-found' }),
  fc.constant<ServiceAccountLookup>({ kind: 'unavailable', reason: 'timed out after 2000 ms' }),
  fc.record(ANNOTATION_VALUES, { requiredKeys: [] }).map((found): ServiceAccountLookup => ({ kind: 'found', serviceAccount: { namespace: 'team-a', name: 'default', annotations: Object.fromEntries(Object.entries(found).filter((entry): entry is [string, string] => entry[1] !== undefined)) } })),
);

const defaults: fc.Arbitrary<InjectionDefaults> = fc
  .record({
    mode: fc.constantFrom('file', 'proxy', 'sdk'),
    nativeSidecar: fc.boolean(),
    shadowing: fc.constantFrom('warn', 'deny'),
    organizationKnown: fc.boolean(),
  })
  .map(({ mode, nativeSidecar, shadowing, organizationKnown }) =>
    testInjectionDefaults({
      mode,
      shadowing,
      nativeSidecar: { enabled: nativeSidecar, reason: 'fuzz' },
      ...(organizationKnown ? {} : { organizationId: undefined }),
    }),
  );

// ---------------------------------------------------------------------------------------
// What the webhook owns, written out independently of webhook/ownership.ts

function objectAt(value: JsonValue | undefined, key: string): JsonObject | undefined {
  const field = isJsonObject(value) ? value[key] : undefined;
  return isJsonObject(field) ? field : undefined;
}

function listAt(value: JsonValue | undefined, key: string): JsonValue[] {
  const field = isJsonObject(value) ? value[key] : undefined;
  return Array.isArray(field) ? field : [];
}

function nameOf(value: JsonValue | undefined, key = 'name'): string | undefined {
  const field = isJsonObject(value) ? value[key] : undefined;
  return typeof field === 'string' ? field : undefined;
}

const isWebhookContainerValue = (value: JsonValue | undefined): boolean => WEBHOOK_CONTAINER_NAMES.includes(nameOf(value) ?? '');

function recordsOf(original: JsonObject): Map<string, ContainerRecord> {
  const raw = objectAt(objectAt(original, 'metadata'), 'annotations')?.[Annotation.status];
  const status = readStatus(typeof raw === 'string' ? raw : undefined);
  return new Map(status.kind === 'present' ? Object.entries(status.containers) : []);
}

function ownedListEntry(field: string, entry: JsonValue | undefined, record: ContainerRecord | undefined): boolean {
  if (record === undefined) return false;
  if (field === 'env') return record.env.includes(nameOf(entry) ?? '');
  return record.mountPaths.includes(nameOf(entry, 'mountPath') ?? '') && WEBHOOK_VOLUME_NAMES.includes(nameOf(entry) ?? '');
}

function unescapeToken(token: string): string {
  return token.replaceAll('~1', '/').replaceAll('~0', '~');
}

/** Whether removing `path` from `doc` takes away only what the webhook owns. */
function removesOnlyOwned(doc: JsonObject, path: string, records: Map<string, ContainerRecord>): boolean {
  const tokens = path.split('/').slice(1).map(unescapeToken);
  const [top, list, index, field, entryIndex] = tokens;
  if (top === 'metadata') return tokens.length === 3 && tokens[1] === 'annotations' && tokens[2] === Annotation.status;
  const spec = objectAt(doc, 'spec');
  if (top !== 'spec' || list === undefined || index === undefined) return false;
  const item = listAt(spec, list)[Number(index)];
  if (list === 'volumes') return tokens.length === 3 && WEBHOOK_VOLUME_NAMES.includes(nameOf(item) ?? '');
  if (list !== 'containers' && list !== 'initContainers') return false;
  if (isWebhookContainerValue(item)) return true;
  if (field !== 'env' && field !== 'volumeMounts') return false;
  const record = records.get(nameOf(item) ?? '');
  const entries = listAt(item, field);
  if (entryIndex === undefined) return entries.every((entry) => ownedListEntry(field, entry, record));
  return tokens.length === 5 && ownedListEntry(field, entries[Number(entryIndex)], record);
}

/** Applies the patch one operation at a time, checking each removal against the document as it is then. */
function applyCheckingRemovals(original: JsonObject, patch: readonly Operation[]): { readonly doc: JsonObject; readonly foreignRemovals: string[] } {
  const records = recordsOf(original);
  let doc = structuredClone(original);
  const foreignRemovals: string[] = [];
  for (const operation of patch) {
    if (operation.op === 'remove' && !removesOnlyOwned(doc, operation.path, records)) foreignRemovals.push(operation.path);
    doc = fastJsonPatch.applyOperation(doc, structuredClone(operation), true, true).newDocument;
  }
  return { doc, foreignRemovals };
}

/** The items of a list that are not the webhook's, as they are. */
function foreignItems(parent: JsonValue | undefined, key: string, webhookNames: readonly string[]): JsonValue[] {
  return listAt(parent, key).filter((item) => !webhookNames.includes(nameOf(item) ?? ''));
}

function withoutKeys(value: JsonValue | undefined, keys: readonly string[]): JsonValue | undefined {
  if (!isJsonObject(value)) return value;
  return Object.fromEntries(Object.entries(value).filter(([key]) => !keys.includes(key)));
}

/** Everything in the original pod the webhook does not own, checked to be in the mutated one; what is missing, as paths. */
function lostForeignFields(original: JsonObject, mutated: JsonObject): string[] {
  const lost: string[] = [];
  const records = recordsOf(original);
  const check = (what: string, before: JsonValue | undefined, after: JsonValue | undefined): void => {
    if (!jsonEqual(before ?? null, after ?? null)) lost.push(what);
  };
  check('pod', withoutKeys(original, ['metadata', 'spec']), withoutKeys(mutated, ['metadata', 'spec']));
  const [metadataBefore, metadataAfter] = [original.metadata, mutated.metadata];
  check('metadata', withoutKeys(metadataBefore, ['annotations']), withoutKeys(metadataAfter, ['annotations']));
  check('annotations', withoutKeys(objectAt(metadataBefore, 'annotations') ?? {}, [Annotation.status]), withoutKeys(objectAt(metadataAfter, 'annotations') ?? {}, [Annotation.status]));
  const [specBefore, specAfter] = [original.spec, mutated.spec];
  check('spec', withoutKeys(specBefore, ['containers', 'initContainers', 'volumes']), withoutKeys(specAfter, ['containers', 'initContainers', 'volumes']));
  check('volumes', foreignItems(specBefore, 'volumes', WEBHOOK_VOLUME_NAMES), foreignItems(specAfter, 'volumes', WEBHOOK_VOLUME_NAMES));
  for (const list of ['containers', 'initContainers']) {
    const before = foreignItems(specBefore, list, WEBHOOK_CONTAINER_NAMES);
    const after = foreignItems(specAfter, list, WEBHOOK_CONTAINER_NAMES);
    if (before.length !== after.length) lost.push(`${list} (${String(before.length)} → ${String(after.length)})`);
    before.forEach((item, i) => {
      const record = records.get(nameOf(item) ?? '');
      check(`${list}[${String(i)}]`, withoutKeys(item, ['env', 'volumeMounts']), withoutKeys(after[i], ['env', 'volumeMounts']));
      for (const field of ['env', 'volumeMounts']) {
        const kept = listAt(after[i], field).map((entry) => JSON.stringify(entry));
        for (const entry of listAt(item, field)) {
          if (!ownedListEntry(field, entry, record) && !kept.includes(JSON.stringify(entry))) lost.push(`${list}[${String(i)}].${field} ${JSON.stringify(entry)}`);
        }
      }
    });
  }
  return lost;
}

// ---------------------------------------------------------------------------------------
// Properties

const seen = { injected: 0, skipped: 0, denied: 0, undecided: 0 };

describe('the ownership checks of these properties', () => {
  const status = JSON.stringify({ version: 1, mode: 'file', serviceAccount: 'default', layout: 'native', hash: '0'.repeat(64), containers: { app: { env: ['OWNED'], mountPaths: [Path.outputDir] } } });
  const input: JsonObject = {
    metadata: { annotations: { [Annotation.status]: status, other: 'x' } },
    spec: {
      containers: [{ name: 'app', env: [{ name: 'OWNED' }, { name: 'MINE' }], volumeMounts: [{ name: VolumeName.credentials, mountPath: Path.outputDir }, { name: 'data', mountPath: '/data' }] }],
      initContainers: [{ name: ContainerName.agent }],
      volumes: [{ name: VolumeName.credentials }, { name: 'data' }],
    },
  };

  it('accept removing what the status annotation records and the webhook containers and volumes', () => {
    const owned = ['/spec/containers/0/env/0', '/spec/containers/0/volumeMounts/0', '/spec/initContainers/0', '/spec/volumes/0'];
    expect(owned.map((path) => applyCheckingRemovals(input, [{ op: 'remove', path }]).foreignRemovals)).toEqual([[], [], [], []]);
  });

  it('flag removing anything else, and a lost field', () => {
    const foreign = ['/spec/containers/0/env/1', '/spec/containers/0/volumeMounts/1', '/spec/containers/0/env', '/spec/volumes/1', '/metadata/annotations/other', '/spec/containers/0'];
    expect(foreign.flatMap((path) => applyCheckingRemovals(input, [{ op: 'remove', path }]).foreignRemovals)).toEqual(foreign);
    const { doc } = applyCheckingRemovals(input, [{ op: 'remove', path: '/spec/containers/0/env/1' }, { op: 'remove', path: '/spec/volumes/1' }]);
    expect(lostForeignFields(input, doc)).toEqual(['volumes', 'containers[0].env {"name":"MINE"}']);
  });
});

describe('the core on generated pods', () => {
  it('never throws, never modifies its input, and answers skip, inject or deny (undecided only for an unreadable ServiceAccount)', () => {
    fc.assert(
      fc.property(pod, lookup, defaults, (input, account, settings) => {
        const before = JSON.stringify(input);
        const review = reviewPod(input, account, settings);
        seen[review.result] += 1;
        expect(JSON.stringify(input)).toBe(before);
        if (review.result === 'undecided') expect(account.kind).toBe('unavailable');
        if (review.result !== 'injected') expect(review.patch).toEqual([]);
        if (review.result === 'denied') expect(review.message).toMatch(/\S/);
      }),
      PARAMETERS,
    );
    console.log(`generated pods: ${JSON.stringify(seen)}`);
    // The generators must reach every answer, or the properties below would test little.
    expect(Math.min(seen.injected, seen.skipped, seen.denied)).toBeGreaterThan(0);
  });

  it('an injection patch applies cleanly, gives the mutated pod, removes only what the webhook owns and keeps everything else', () => {
    fc.assert(
      fc.property(pod, lookup, defaults, (input, account, settings) => {
        const decision = decideInjection(input, account, settings);
        if (decision.kind !== 'inject') return;
        const review = reviewPod(input, account, settings);
        const applied = applyCheckingRemovals(input, review.patch as Operation[]);
        expect(applied.foreignRemovals).toEqual([]);
        expect(jsonEqual(applied.doc, applyInjection(input, decision.plan))).toBe(true);
        expect(lostForeignFields(input, applied.doc)).toEqual([]);
      }),
      PARAMETERS,
    );
  });

  it('a reinvocation on the patched pod is injected again with an empty patch', () => {
    fc.assert(
      fc.property(pod, lookup, defaults, (input, account, settings) => {
        const first = reviewPod(input, account, settings);
        if (first.result !== 'injected') return;
        const patched = fastJsonPatch.applyPatch(structuredClone(input), structuredClone(first.patch) as Operation[], true, false).newDocument;
        const again = reviewPod(patched, account, settings);
        expect([again.result, again.patch]).toEqual(['injected', []]);
      }),
      PARAMETERS,
    );
  });
});

describe('the admission handler on generated reviews', () => {
  const silent = new Writable({ write: (_chunk, _encoding, done) => { done(); } });
  const envelope = fc.record({
    uid: hostile(fc.constantFrom('uid-1', '')),
    kind: hostile(fc.constant({ group: '', version: 'v1', kind: 'Pod' })),
    resource: hostile(fc.constant({ group: '', version: 'v1', resource: 'pods' })),
    operation: hostile(fc.constantFrom('CREATE', 'CREATE', 'UPDATE', 'DELETE')),
    namespace: hostile(fc.constant('team-a')),
    subResource: fc.constantFrom('status', 'ephemeralcontainers'),
  }, { requiredKeys: ['uid', 'kind', 'resource', 'operation'] });

  it('answers 200, 400 or 503, never 500', async () => {
    await fc.assert(
      fc.asyncProperty(envelope, hostile(pod), lookup, defaults, async (request, object, account, settings) => {
        const handle = createAdmissionHandler({
          reviewPod,
          serviceAccounts: { lookup: () => Promise.resolve(account), isReady: () => true, close: () => Promise.resolve() },
          defaults: () => settings,
          metrics: createWebhookMetrics({ processMetrics: false }),
          logger: createLogger({ name: 'fuzz', destination: silent }),
        });
        const body = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { ...request, object } });
        const answer = await handle(Buffer.from(body));
        expect([200, 400, 503]).toContain(answer.status);
        if (answer.status === 200) expect(JSON.parse(answer.body)).toMatchObject({ response: { uid: request.uid } });
      }),
      { ...PARAMETERS, numRuns: Math.max(1, Math.floor(RUNS / 3)) },
    );
  });
});
