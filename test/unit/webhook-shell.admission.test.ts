import { describe, expect, it } from 'vitest';
import {
  decodeAdmissionReview,
  encodeAdmissionResponse,
  encodeErrorBody,
  podDisplayName,
  podNamespace,
  type AdmissionRequestView,
} from '../../webhook/admission.ts';
import { Limit } from '../../contract/index.ts';
import { nestsDeeperThan, type JsonObject } from '../../webhook/json.ts';
import { serviceAccountName } from '../../webhook/pod.ts';

const POD_KIND = { group: '', version: 'v1', kind: 'Pod' };
const POD_RESOURCE = { group: '', version: 'v1', resource: 'pods' };
const POD: JsonObject = { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'web-7d9f-', namespace: 'team-a' }, spec: { serviceAccountName: 'web', containers: [{ name: 'app', image: 'app:1' }] } };

function review(request: JsonObject | undefined, envelope: JsonObject = {}): string {
  return JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', ...envelope, ...(request === undefined ? {} : { request }) });
}

function podRequest(overrides: JsonObject = {}): JsonObject {
  return { uid: 'b7c1-uid', kind: POD_KIND, resource: POD_RESOURCE, operation: 'CREATE', namespace: 'team-a', object: POD, ...overrides };
}

describe('decodeAdmissionReview: valid requests', () => {
  it('decodes a pod CREATE from bytes', () => {
    const decoded = decodeAdmissionReview(Buffer.from(review(podRequest({ dryRun: true }))));
    expect(decoded).toEqual({
      ok: true,
      request: { uid: 'b7c1-uid', operation: 'CREATE', namespace: 'team-a', name: undefined, subResource: undefined, dryRun: true, object: POD },
    });
  });

  it('decodes a DELETE with no object', () => {
    const decoded = decodeAdmissionReview(review(podRequest({ operation: 'DELETE', name: 'web-1', object: null })));
    expect(decoded).toEqual({
      ok: true,
      request: { uid: 'b7c1-uid', operation: 'DELETE', namespace: 'team-a', name: 'web-1', subResource: undefined, dryRun: false, object: undefined },
    });
  });

  it('accepts an object without kind (the request kind already says Pod)', () => {
    const { kind: _kind, ...bare } = POD;
    expect(decodeAdmissionReview(review(podRequest({ object: bare }))).ok).toBe(true);
  });
});

describe('decodeAdmissionReview: bad input is a 400 with a precise message', () => {
  it.each([
    { name: 'no body', body: undefined, message: 'request body is empty; expected an AdmissionReview' },
    { name: 'empty body', body: '', message: 'request body is empty; expected an AdmissionReview' },
    { name: 'not JSON', body: '{"apiVersion":', message: 'request body is not JSON; expected an AdmissionReview' },
    { name: 'a JSON array', body: '[]', message: 'request body is not a JSON object; expected an AdmissionReview' },
    { name: 'a JSON string', body: '"hello"', message: 'request body is not a JSON object; expected an AdmissionReview' },
    {
      name: 'v1beta1',
      body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: podRequest() }),
      message: 'expected apiVersion "admission.k8s.io/v1" and kind "AdmissionReview", got apiVersion "admission.k8s.io/v1beta1" and kind "AdmissionReview"',
    },
    {
      name: 'another kind',
      body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'Pod' }),
      message: 'expected apiVersion "admission.k8s.io/v1" and kind "AdmissionReview", got apiVersion "admission.k8s.io/v1" and kind "Pod"',
    },
    {
      name: 'no apiVersion',
      body: JSON.stringify({ kind: 'AdmissionReview', request: podRequest() }),
      message: 'expected apiVersion "admission.k8s.io/v1" and kind "AdmissionReview", got apiVersion none and kind "AdmissionReview"',
    },
    {
      name: 'a long apiVersion (truncated in the message)',
      body: JSON.stringify({ apiVersion: 'x'.repeat(100), kind: 7 }),
      message: `expected apiVersion "admission.k8s.io/v1" and kind "AdmissionReview", got apiVersion "${'x'.repeat(64)}…" and kind a number`,
    },
    { name: 'no request', body: review(undefined), message: 'AdmissionReview has no request' },
    { name: 'a null request', body: review(undefined, { request: null }), message: 'AdmissionReview has no request' },
    { name: 'no uid', body: review(podRequest({ uid: null })), message: 'AdmissionReview request has no uid' },
    { name: 'an empty uid', body: review(podRequest({ uid: '' })), message: 'AdmissionReview request has no uid' },
    { name: 'a numeric uid', body: review(podRequest({ uid: 42 })), message: 'AdmissionReview request has no uid' },
    {
      name: 'a Deployment',
      body: review(podRequest({ kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, resource: { group: 'apps', version: 'v1', resource: 'deployments' } })),
      message: 'AdmissionReview request is for kind "Deployment" and resource "deployments"; this webhook reviews only v1 Pods',
    },
    {
      name: 'Pod kind but another resource',
      body: review(podRequest({ resource: { group: '', version: 'v1', resource: 'configmaps' } })),
      message: 'AdmissionReview request is for kind "Pod" and resource "configmaps"; this webhook reviews only v1 Pods',
    },
    {
      name: 'no kind at all',
      body: review(podRequest({ kind: null, resource: null })),
      message: 'AdmissionReview request is for kind none and resource none; this webhook reviews only v1 Pods',
    },
    { name: 'no operation', body: review(podRequest({ operation: null })), message: 'AdmissionReview request has no operation' },
    { name: 'CREATE without object', body: review(podRequest({ object: null })), message: 'AdmissionReview request.object is not a JSON object; expected a Pod' },
    {
      name: 'CREATE with object missing',
      body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u', kind: POD_KIND, resource: POD_RESOURCE, operation: 'CREATE' } }),
      message: 'AdmissionReview request.object is missing; expected a Pod',
    },
    { name: 'object is an array', body: review(podRequest({ object: [] })), message: 'AdmissionReview request.object is not a JSON object; expected a Pod' },
    { name: 'object is a ConfigMap', body: review(podRequest({ object: { apiVersion: 'v1', kind: 'ConfigMap', data: {} } })), message: 'AdmissionReview request.object is of kind "ConfigMap"; expected a Pod' },
  ])('$name', ({ body, message }) => {
    expect(decodeAdmissionReview(body)).toEqual({ ok: false, error: { status: 400, message } });
  });
});

describe('decodeAdmissionReview: nesting depth', () => {
  const MAX = Limit.admissionJsonMaxDepth;
  /** A review whose first container carries an unknown field; the envelope down to the container is 6 levels. */
  const withField = (value: string): string => review(podRequest()).replace('"image":"app:1"', `"image":"app:1","x":${value}`);
  const nested = (levels: number): string => `${'['.repeat(levels)}${']'.repeat(levels)}`;
  const tooDeep = { ok: false, error: { status: 400, message: `request body nests objects and arrays deeper than ${MAX} levels; no Pod does` } };

  it('accepts a body exactly at the limit and refuses one level more', () => {
    expect(decodeAdmissionReview(withField(nested(MAX - 6))).ok).toBe(true);
    expect(decodeAdmissionReview(withField(nested(MAX - 5)))).toEqual(tooDeep);
  });

  it.each([
    ['10,000 nested arrays', nested(10_000)],
    ['10,000 nested objects', `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`],
    ['1,000,000 unclosed brackets', '['.repeat(1_000_000)],
  ])('answers 400 for %s, as bytes and as text', (_name, value) => {
    expect(decodeAdmissionReview(withField(value))).toEqual(tooDeep);
    expect(decodeAdmissionReview(Buffer.from(withField(value)))).toEqual(tooDeep);
  });

  it('does not count brackets inside strings, escaped quotes included', () => {
    const text = JSON.stringify({ s: '[[[{{{\\"[[[', t: ['\\', '"]]]'] });
    expect(nestsDeeperThan(Buffer.from(text), 2)).toBe(false);
    expect(nestsDeeperThan(Buffer.from(text), 1)).toBe(true);
    expect(decodeAdmissionReview(withField(JSON.stringify('['.repeat(10_000)))).ok).toBe(true);
  });

  it('does not count brackets inside multi-byte UTF-8 text', () => {
    expect(nestsDeeperThan(Buffer.from(JSON.stringify({ s: 'ü[€{😀"[' })), 1)).toBe(false);
  });
});

describe('encodeAdmissionResponse', () => {
  const patch = [{ op: 'add' as const, path: '/metadata/annotations', value: { a: 'b' } }];

  it('echoes the uid and carries a base64 JSON patch and warnings when allowed with a patch', () => {
    const encoded = JSON.parse(encodeAdmissionResponse('uid-1', { allowed: true, patch, warnings: ['w1'] })) as Record<string, unknown>;
    expect(encoded).toEqual({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: 'uid-1', allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64'), warnings: ['w1'] },
    });
  });

  it('omits patch, patchType and warnings when there are none', () => {
    expect(JSON.parse(encodeAdmissionResponse('uid-2', { allowed: true, patch: [], warnings: [] }))).toEqual({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: 'uid-2', allowed: true },
    });
  });

  it('denies with status 403 and the message, never with a patch', () => {
    expect(JSON.parse(encodeAdmissionResponse('uid-3', { allowed: false, patch, warnings: ['w'], denialMessage: 'annotation x is wrong' }))).toEqual({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: 'uid-3', allowed: false, warnings: ['w'], status: { code: 403, message: 'annotation x is wrong' } },
    });
  });

  it('encodes error bodies as JSON', () => {
    expect(JSON.parse(encodeErrorBody(413, 'too big'))).toEqual({ error: { code: 413, message: 'too big' } });
  });
});

describe('pod facts for the lookup and the log', () => {
  const request: AdmissionRequestView = { uid: 'u', operation: 'CREATE', namespace: 'ns-from-request', name: undefined, subResource: undefined, dryRun: false, object: undefined };

  it.each<{ spec: JsonObject; want: string }>([
    { spec: { serviceAccountName: 'web' }, want: 'web' },
    { spec: { serviceAccount: 'legacy' }, want: 'legacy' },
    { spec: { serviceAccountName: '' }, want: 'default' },
    { spec: { serviceAccountName: '', serviceAccount: 'legacy' }, want: 'legacy' },
    { spec: {}, want: 'default' },
  ])('service account of $spec is $want (the same for the lookup and the core)', ({ spec, want }) => {
    expect(serviceAccountName({ spec })).toBe(want);
  });

  it.each<{ pod: JsonObject | undefined; req: AdmissionRequestView; want: string | undefined }>([
    { pod: { metadata: { name: 'p', generateName: 'g-' } }, req: request, want: 'p' },
    { pod: { metadata: { generateName: 'g-' } }, req: request, want: 'g-' },
    { pod: { metadata: {} }, req: { ...request, name: 'from-request' }, want: 'from-request' },
    { pod: undefined, req: request, want: undefined },
  ])('display name of $pod is $want', ({ pod, req, want }) => {
    expect(podDisplayName(pod, req)).toBe(want);
  });

  it('takes the namespace from the request first', () => {
    expect(podNamespace({ metadata: { namespace: 'pod-ns' } }, request)).toBe('ns-from-request');
    expect(podNamespace({ metadata: { namespace: 'pod-ns' } }, { ...request, namespace: undefined })).toBe('pod-ns');
  });
});
