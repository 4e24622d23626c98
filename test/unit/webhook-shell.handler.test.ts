import { Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { Limit } from '../../contract/index.ts';
import { createLogger } from '../../runtime/logger.ts';
import type { InjectionDefaults, ServiceAccountLookup } from '../../webhook/types.ts';
import type { JsonObject } from '../../webhook/json.ts';
import { createWebhookMetrics } from '../../webhook/metrics.ts';
import { createAdmissionHandler, webhookReadiness, type PodReviewAnswer, type ReviewPod } from '../../webhook/server.ts';
import type { ServiceAccountSource } from '../../webhook/service-accounts.ts';

const DEFAULTS = { mode: 'file', nativeSidecar: { enabled: true, reason: 'test' } } as unknown as InjectionDefaults;
const SECRET = 'sk-ant-api03-must-never-be-logged';
const POD: JsonObject = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { generateName: 'web-7d9f-', labels: { app: 'web' } },
  spec: { serviceAccountName: 'web', containers: [{ name: 'app', image: 'app:1', env: [{ name: 'ANTHROPIC_API_KEY', value: SECRET }] }] },
};

function body(request: JsonObject): Buffer {
  return Buffer.from(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request }));
}

function createRequest(overrides: JsonObject = {}): JsonObject {
  return { uid: 'uid-1', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, operation: 'CREATE', namespace: 'team-a', object: POD, ...overrides };
}

function setup(review: ReviewPod, lookup: ServiceAccountLookup = { kind: 'not-found' }): {
  handle: ReturnType<typeof createAdmissionHandler>;
  logs: () => Record<string, unknown>[];
  raw: () => string;
  lookups: [string, string][];
  metrics: ReturnType<typeof createWebhookMetrics>;
} {
  let text = '';
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString();
      callback();
    },
  });
  const lookups: [string, string][] = [];
  const serviceAccounts: ServiceAccountSource = {
    lookup: (namespace, name) => {
      lookups.push([namespace, name]);
      return Promise.resolve(lookup);
    },
    isReady: () => true,
    close: () => Promise.resolve(),
  };
  const metrics = createWebhookMetrics({ processMetrics: false });
  const handle = createAdmissionHandler({ reviewPod: review, serviceAccounts, defaults: () => DEFAULTS, metrics, logger: createLogger({ name: 'test', destination }) });
  return {
    handle,
    logs: () => text.trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>),
    raw: () => text,
    lookups,
    metrics,
  };
}

function answer(partial: Partial<PodReviewAnswer> & Pick<PodReviewAnswer, 'result'>): ReviewPod {
  return () => ({ patch: [], warnings: [], ...partial });
}

describe('admission handler', () => {
  it('looks up the pod ServiceAccount in the request namespace and passes lookup and defaults to the core', async () => {
    const lookup: ServiceAccountLookup = { kind: 'found', serviceAccount: { namespace: 'team-a', name: 'web', annotations: {} } };
    const review = vi.fn<ReviewPod>(answer({ result: 'injected', mode: 'file', patch: [{ op: 'add', path: '/metadata/annotations', value: {} }], warnings: ['w1', 'w2'] }));
    const h = setup(review, lookup);
    const result = await h.handle(body(createRequest()));
    expect(h.lookups).toEqual([['team-a', 'web']]);
    expect(review).toHaveBeenCalledWith(POD, lookup, DEFAULTS);
    expect(result.status).toBe(200);
    expect(JSON.parse(result.body)).toEqual({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: {
        uid: 'uid-1',
        allowed: true,
        patchType: 'JSONPatch',
        patch: Buffer.from(JSON.stringify([{ op: 'add', path: '/metadata/annotations', value: {} }])).toString('base64'),
        warnings: ['w1', 'w2'],
      },
    });
  });

  it('logs one line per admission with who, what and how long, and never a pod env value', async () => {
    const h = setup(answer({ result: 'injected', mode: 'proxy', warnings: ['ANTHROPIC_API_KEY is set on container app'] }));
    await h.handle(body(createRequest({ dryRun: true })));
    const [line] = h.logs();
    expect(h.logs()).toHaveLength(1);
    expect(line).toMatchObject({ msg: 'admission', uid: 'uid-1', namespace: 'team-a', pod: 'web-7d9f-', operation: 'CREATE', dryRun: true, result: 'injected', mode: 'proxy', warnings: 1, patchOperations: 0 });
    expect(typeof line?.durationMs).toBe('number');
    expect(h.raw()).not.toContain(SECRET);
  });

  it('denies with the core message and a 403 status, dropping any patch', async () => {
    const h = setup(answer({ result: 'denied', mode: 'proxy', message: 'annotation anthropic.workload.identity/mode: "env" is not one of file, proxy, sdk', patch: [{ op: 'add', path: '/x', value: 1 }] }));
    const result = await h.handle(body(createRequest()));
    expect(JSON.parse(result.body)).toEqual({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: 'uid-1', allowed: false, status: { code: 403, message: 'annotation anthropic.workload.identity/mode: "env" is not one of file, proxy, sdk' } },
    });
    expect(h.logs()[0]).toMatchObject({ result: 'denied', reason: 'annotation anthropic.workload.identity/mode: "env" is not one of file, proxy, sdk' });
  });

  it.each([
    { operation: 'UPDATE', subResource: undefined, reason: 'UPDATE is not reviewed (only pod creation is)' },
    { operation: 'DELETE', subResource: undefined, reason: 'DELETE is not reviewed (only pod creation is)' },
    { operation: 'CREATE', subResource: 'ephemeralcontainers', reason: 'CREATE of pods/ephemeralcontainers is not reviewed (only pod creation is)' },
  ])('allows $operation $subResource unchanged without asking the core', async ({ operation, subResource, reason }) => {
    const review = vi.fn<ReviewPod>();
    const h = setup(review);
    const result = await h.handle(body(createRequest({ operation, ...(subResource === undefined ? {} : { subResource }), ...(operation === 'DELETE' ? { object: null } : {}) })));
    expect(review).not.toHaveBeenCalled();
    expect(h.lookups).toEqual([]);
    expect(JSON.parse(result.body)).toEqual({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'uid-1', allowed: true } });
    expect(h.logs()[0]).toMatchObject({ result: 'skipped', reason });
  });

  it('answers 500 with a JSON error and no stack when the core throws', async () => {
    const h = setup(() => {
      throw new TypeError('Cannot read properties of undefined (reading "containers")');
    });
    const result = await h.handle(body(createRequest()));
    expect(result).toEqual({ status: 500, body: JSON.stringify({ error: { code: 500, message: 'internal error while reviewing the pod (see the webhook log)' } }) });
    expect(h.logs()[0]).toMatchObject({ msg: 'admission failed', level: 'error', uid: 'uid-1', result: 'error', err: 'Cannot read properties of undefined (reading "containers")' });
  });

  it('answers 503 when the core cannot decide, so the failurePolicy decides', async () => {
    const message = 'could not read ServiceAccount team-a/default (timed out after 2000 ms) to see whether it opts this pod in';
    const h = setup(answer({ result: 'undecided', message }), { kind: 'unavailable', reason: 'timed out after 2000 ms' });
    const result = await h.handle(body(createRequest()));
    expect(result).toEqual({ status: 503, body: JSON.stringify({ error: { code: 503, message } }) });
    expect(h.logs()[0]).toMatchObject({ msg: 'admission undecided; the failurePolicy decides', level: 'warn', uid: 'uid-1', result: 'error', reason: message });
  });

  it('answers 400 for a bad envelope', async () => {
    const h = setup(vi.fn<ReviewPod>());
    expect(await h.handle(Buffer.from('nope'))).toEqual({ status: 400, body: JSON.stringify({ error: { code: 400, message: 'request body is not JSON; expected an AdmissionReview' } }) });
  });

  it('answers 400, never reaching the core, for a pod nested 10,000 levels deep', async () => {
    const review = vi.fn<ReviewPod>();
    const h = setup(review);
    const deep = `${'{"a":['.repeat(5_000)}1${']}'.repeat(5_000)}`;
    const text = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: createRequest() }).replace('"image":"app:1"', `"image":"app:1","x":${deep}`);
    const result = await h.handle(Buffer.from(text));
    const message = `request body nests objects and arrays deeper than ${Limit.admissionJsonMaxDepth} levels; no Pod does`;
    expect(result).toEqual({ status: 400, body: JSON.stringify({ error: { code: 400, message } }) });
    expect(review).not.toHaveBeenCalled();
    expect(h.logs()[0]).toMatchObject({ msg: 'invalid admission request', level: 'warn', status: 400, err: message });
  });

  it('counts every answer by result and mode', async () => {
    const results: PodReviewAnswer[] = [
      { result: 'injected', mode: 'file', patch: [], warnings: [] },
      { result: 'injected', mode: 'file', patch: [], warnings: [] },
      { result: 'skipped', patch: [], warnings: [], message: 'not opted in' },
      { result: 'denied', mode: 'sdk', patch: [], warnings: [], message: 'no' },
    ];
    let i = 0;
    const h = setup(() => results[i++] ?? { result: 'skipped', patch: [], warnings: [] });
    for (let n = 0; n < results.length; n++) await h.handle(body(createRequest()));
    await h.handle(Buffer.from('{}'));
    const text = await h.metrics.registry.metrics();
    expect(text).toContain('anthropic_wif_admission_requests_total{result="injected",mode="file"} 2');
    expect(text).toContain('anthropic_wif_admission_requests_total{result="skipped",mode="none"} 1');
    expect(text).toContain('anthropic_wif_admission_requests_total{result="denied",mode="sdk"} 1');
    expect(text).toContain('anthropic_wif_admission_requests_total{result="error",mode="none"} 1');
    expect(text).toContain('anthropic_wif_admission_duration_seconds_count 5');
  });
});

describe('webhookReadiness', () => {
  const ready = { closing: false, certificateLoaded: true, layoutDecided: true, serviceAccountsReady: true };

  it.each([
    { inputs: ready, want: { ready: true, reasons: [] } },
    { inputs: { ...ready, closing: true }, want: { ready: false, reasons: ['shutting down'] } },
    { inputs: { ...ready, certificateLoaded: false }, want: { ready: false, reasons: ['no serving certificate loaded yet'] } },
    { inputs: { ...ready, layoutDecided: false }, want: { ready: false, reasons: ['API server version not read yet'] } },
    { inputs: { ...ready, serviceAccountsReady: false }, want: { ready: false, reasons: ['ServiceAccount cache not synced yet'] } },
    {
      inputs: { closing: true, certificateLoaded: false, layoutDecided: false, serviceAccountsReady: false },
      want: { ready: false, reasons: ['shutting down', 'no serving certificate loaded yet', 'API server version not read yet', 'ServiceAccount cache not synced yet'] },
    },
  ])('$inputs → $want', ({ inputs, want }) => {
    expect(webhookReadiness(inputs)).toEqual(want);
  });
});
