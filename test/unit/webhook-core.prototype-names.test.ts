/**
 * Names a pod author chooses (containers, init containers, volumes, env, mounts, labels,
 * annotations) are never keys of a plain object: a pod that uses every Object.prototype
 * name gets exactly the answer a pod with ordinary names gets (issue #16: a container named
 * `constructor` used to get HTTP 500).
 */
import { Writable } from 'node:stream';
import fastJsonPatch, { type Operation } from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import { Annotation } from '../../contract/index.ts';
import { expandHeaders } from '../../agent/refresh/identity-sources.ts';
import { buildClientResponseHeaders, buildUpstreamHeaders } from '../../agent/proxy/forwarding.ts';
import { createLogger } from '../../runtime/logger.ts';
import type { ServiceAccountLookup } from '../../webhook/types.ts';
import type { JsonObject } from '../../webhook/json.ts';
import { createWebhookMetrics } from '../../webhook/metrics.ts';
import { reviewPod, type PodReview } from '../../webhook/review.ts';
import { createAdmissionHandler } from '../../webhook/server.ts';
import { testInjectionDefaults } from '../support/injection-defaults.ts';

const PROTOTYPE_NAMES: readonly string[] = Object.getOwnPropertyNames(Object.prototype);
/** An ordinary name that, like the hostile one, is or is not a DNS-1123 label (skip-containers checks). */
const ordinaryFor = (name: string): string => (/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name) ? 'plain-name' : 'Plain_Name');

type Place = 'container' | 'init container' | 'volume' | 'env' | 'mount' | 'label' | 'annotation' | 'prefixed annotation' | 'skipped container';
const PLACES: readonly Place[] = ['container', 'init container', 'volume', 'env', 'mount', 'label', 'annotation', 'prefixed annotation', 'skipped container'];

/** A pod that uses `name` at `place` (JSON.parse, so `__proto__` is an own key as in a real request). */
function podWith(place: Place, name: string): JsonObject {
  const is = (p: Place): string => (p === place ? name : `${p.replaceAll(' ', '-')}-x`);
  const annotations: Record<string, string> = { [Annotation.inject]: 'true', [is('annotation')]: 'a' };
  if (place === 'prefixed annotation') annotations[`${Annotation.inject.slice(0, Annotation.inject.indexOf('/') + 1)}${name}`] = 'p';
  if (place === 'skipped container') annotations[Annotation.skipContainers] = name;
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'team-a', labels: { [is('label')]: 'l' }, annotations },
    spec: {
      initContainers: [{ name: is('init container'), image: 'init:1', env: [{ name: 'E', value: '1' }] }],
      containers: [
        {
          name: place === 'skipped container' ? name : is('container'),
          image: 'app:1',
          env: [{ name: is('env'), value: 'v' }],
          volumeMounts: [{ name: is('volume'), mountPath: `/mnt/${is('mount')}` }],
        },
        { name: 'second', image: 'app:1' },
      ],
      volumes: [{ name: is('volume'), emptyDir: {} }],
    },
  };
  // Through JSON text, as a decoded request: a computed `__proto__` key is an own property.
  return JSON.parse(JSON.stringify(pod)) as JsonObject;
}

/**
 * Every occurrence of `name` (in keys, values, messages and the status JSON) written as the
 * ordinary name; settings hashes (which cover skip-containers) as one placeholder.
 */
function renamed<T>(value: T, name: string): T {
  return JSON.parse(JSON.stringify(value).replaceAll(name, ordinaryFor(name)).replace(/[0-9a-f]{64}/g, 'HASH')) as T;
}

function applied(pod: JsonObject, review: PodReview): JsonObject {
  return fastJsonPatch.applyPatch(structuredClone(pod), structuredClone(review.patch) as Operation[], true, false).newDocument;
}

const LOOKUPS: readonly [string, ServiceAccountLookup][] = [
  ['lookup disabled', { kind: 'disabled' }],
  ['ServiceAccount opts in', { kind: 'found', serviceAccount: { namespace: 'team-a', name: 'default', annotations: { [Annotation.inject]: 'true' } } }],
];
const MODES = ['file', 'proxy', 'sdk'] as const;

describe('Object.prototype names chosen by the pod author', () => {
  it('covers the names the issue lists', () => {
    expect(PROTOTYPE_NAMES).toEqual(
      expect.arrayContaining(['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf', 'propertyIsEnumerable', 'toLocaleString', '__defineGetter__']),
    );
  });

  it('builds pods whose `__proto__` names are own keys, as a decoded request has them', () => {
    const pod = podWith('label', '__proto__');
    const labels = (pod.metadata as JsonObject).labels as JsonObject;
    expect(Object.keys(labels)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(labels)).toBe(Object.prototype);
  });

  describe.each(MODES)('%s mode', (mode) => {
    describe.each(LOOKUPS)('%s', (_label, lookup) => {
      const defaults = testInjectionDefaults({ mode });
      describe.each(PLACES)('as a %s', (place) => {
        it.each(['plain-name', 'Plain_Name'])('the ordinary pod named %s is injected, or denied only for an invalid skip-containers value', (ordinary) => {
          const review = reviewPod(podWith(place, ordinary), lookup, defaults);
          const invalidSkip = place === 'skipped container' && ordinary === 'Plain_Name';
          expect(review.result).toBe(invalidSkip ? 'denied' : 'injected');
          if (invalidSkip) expect(review.message).toContain(`${Annotation.skipContainers} "Plain_Name"`);
          else expect(review.patch.length).toBeGreaterThan(0);
        });

        it.each(PROTOTYPE_NAMES)('%s gets the same answer, and an empty patch on re-admission', (name) => {
          const ordinary = ordinaryFor(name);
          const ordinaryPod = podWith(place, ordinary);
          const expected = reviewPod(ordinaryPod, lookup, defaults);
          const pod = podWith(place, name);
          const review = reviewPod(pod, lookup, defaults);
          expect(renamed(review, name)).toEqual(renamed(expected, ordinary));
          if (review.result !== 'injected') return;
          const patched = applied(pod, review);
          expect(renamed(patched, name)).toEqual(renamed(applied(ordinaryPod, expected), ordinary));
          expect(reviewPod(patched, lookup, defaults).patch).toEqual([]);
        });
      });
    });
  });
});

describe('Object.prototype names elsewhere', () => {
  it('the admission handler answers 200 with a patch for a container named constructor (it answered 500)', async () => {
    const handle = createAdmissionHandler({
      reviewPod,
      serviceAccounts: { lookup: () => Promise.resolve({ kind: 'not-found' }), isReady: () => true, close: () => Promise.resolve() },
      defaults: () => testInjectionDefaults(),
      metrics: createWebhookMetrics({ processMetrics: false }),
      logger: createLogger({ name: 'test', destination: new Writable({ write: (_c, _e, done) => {
        done();
      } }) }),
    });
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { labels: { [Annotation.inject]: 'true' } }, spec: { containers: [{ name: 'constructor', image: 'app:1', env: [{ name: 'A' }] }] } };
    const request = { uid: 'u1', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, operation: 'CREATE', namespace: 'team-a', object: pod };
    const answer = await handle(Buffer.from(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request })));
    expect(answer.status).toBe(200);
    const response = (JSON.parse(answer.body) as { response: { allowed: boolean; patchType?: string } }).response;
    expect(response).toMatchObject({ allowed: true, patchType: 'JSONPatch' });
  });

  it.each(['__proto__', 'constructor', 'toString'])('the agent keeps a %s header of its own and of a proxied client', (name) => {
    expect(Object.entries(expandHeaders([`${name}: v`], {}))).toEqual([[name.toLowerCase(), 'v']]);
    const client = JSON.parse(`{"${name}":"c","content-length":"0"}`) as Record<string, string>;
    expect(buildUpstreamHeaders(client, 'tok')[name]).toBe('c');
    expect(Object.entries(buildClientResponseHeaders(client))).toEqual([[name, 'c'], ['content-length', '0']]);
  });
});
