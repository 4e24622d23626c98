import { describe, expect, it, vi } from 'vitest';
import { WifError } from '../../runtime/errors.ts';
import { silentLogger } from '../../runtime/logger.ts';
import type { KubernetesApi, KubernetesGetResult } from '../../webhook/kubernetes.ts';
import type { ServiceAccountCacheResult } from '../../webhook/metrics.ts';
import {
  SERVICE_ACCOUNT_SYNC_WAIT_MS,
  listServiceAccounts,
  readServiceAccount,
  slimServiceAccount,
  startServiceAccountSource,
  type ServiceAccountInformer,
  type SlimServiceAccount,
  type SlimServiceAccountList,
} from '../../webhook/service-accounts.ts';
import { FakeClock, flushMicrotasks } from '../support/fake-clock.ts';

const WEB: SlimServiceAccount = { namespace: 'team-a', name: 'web', resourceVersion: '7', annotations: { 'anthropic.workload.identity/inject': 'true' } };

function serviceAccountObject(namespace: string, name: string, annotations: Record<string, string>): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { namespace, name, resourceVersion: '12', uid: 'x', annotations, managedFields: [{ manager: 'kubectl' }] },
    secrets: [{ name: `${name}-token` }],
  };
}

describe('slimServiceAccount', () => {
  it("keeps the name, namespace, resourceVersion and only this project's annotations", () => {
    const object = serviceAccountObject('team-a', 'web', {
      'anthropic.workload.identity/inject': 'true',
      'anthropic.workload.identity/mode': 'proxy',
      'kubectl.kubernetes.io/last-applied-configuration': '{"big":"json"}',
      'eks.amazonaws.com/role-arn': 'arn:aws:iam::1:role/x',
    });
    expect(slimServiceAccount(object)).toEqual({
      namespace: 'team-a',
      name: 'web',
      resourceVersion: '12',
      annotations: { 'anthropic.workload.identity/inject': 'true', 'anthropic.workload.identity/mode': 'proxy' },
    });
  });

  it.each([{ object: null }, { object: {} }, { object: { metadata: { name: 'x' } } }, { object: { metadata: { namespace: 'x' } } }])('rejects $object', ({ object }) => {
    expect(slimServiceAccount(object)).toBeUndefined();
  });

  it('gives an empty map when there are no annotations', () => {
    expect(slimServiceAccount({ metadata: { namespace: 'n', name: 'a' } })?.annotations).toEqual({});
  });
});

function fakeApi(answers: Record<string, KubernetesGetResult | Error>): KubernetesApi & { readonly calls: { path: string; timeoutMs: number }[] } {
  const calls: { path: string; timeoutMs: number }[] = [];
  return {
    calls,
    getJson: (path, options) => {
      calls.push({ path, timeoutMs: options.timeoutMs });
      const answer = answers[path];
      if (answer === undefined) return Promise.resolve({ status: 404, body: { kind: 'Status', code: 404 } });
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
    },
  };
}

describe('readServiceAccount (the live GET on a cache miss)', () => {
  const path = '/api/v1/namespaces/team-a/serviceaccounts/web';

  it('returns the slim ServiceAccount on 200, with the lookup timeout', async () => {
    const api = fakeApi({ [path]: { status: 200, body: serviceAccountObject('team-a', 'web', { 'anthropic.workload.identity/inject': 'true', other: 'x' }) } });
    await expect(readServiceAccount(api, { namespace: 'team-a', name: 'web' }, 2000)).resolves.toEqual({ ...WEB, resourceVersion: '12' });
    expect(api.calls).toEqual([{ path, timeoutMs: 2000 }]);
  });

  it('returns undefined on 404', async () => {
    await expect(readServiceAccount(fakeApi({}), { namespace: 'team-a', name: 'web' }, 2000)).resolves.toBeUndefined();
  });

  it.each([
    { answer: { status: 403, body: { kind: 'Status' } }, message: `GET ${path} answered HTTP 403` },
    { answer: { status: 200, body: 'not an object' }, message: `GET ${path} answered HTTP 200` },
    { answer: new WifError('kubernetes', `GET ${path} timed out after 2000 ms`), message: `GET ${path} timed out after 2000 ms` },
  ])('throws "$message"', async ({ answer, message }) => {
    await expect(readServiceAccount(fakeApi({ [path]: answer }), { namespace: 'team-a', name: 'web' }, 2000)).rejects.toThrow(message);
  });

  it('escapes the namespace and name in the path', async () => {
    const api = fakeApi({});
    await readServiceAccount(api, { namespace: 'a/b', name: 'c?d' }, 100);
    expect(api.calls[0]?.path).toBe('/api/v1/namespaces/a%2Fb/serviceaccounts/c%3Fd');
  });
});

describe('listServiceAccounts', () => {
  it('follows continue tokens and slims every item', async () => {
    const api = fakeApi({
      '/api/v1/serviceaccounts?limit=500': { status: 200, body: { metadata: { resourceVersion: '100', continue: 'page 2' }, items: [serviceAccountObject('a', 'one', {})] } },
      '/api/v1/serviceaccounts?limit=500&continue=page%202': { status: 200, body: { metadata: { resourceVersion: '100' }, items: [serviceAccountObject('b', 'two', { 'anthropic.workload.identity/mode': 'sdk' })] } },
    });
    await expect(listServiceAccounts(api)).resolves.toEqual({
      resourceVersion: '100',
      items: [
        { namespace: 'a', name: 'one', resourceVersion: '12', annotations: {} },
        { namespace: 'b', name: 'two', resourceVersion: '12', annotations: { 'anthropic.workload.identity/mode': 'sdk' } },
      ],
    });
  });

  it('fails on a non-200 answer', async () => {
    const api = fakeApi({ '/api/v1/serviceaccounts?limit=500': { status: 403, body: {} } });
    await expect(listServiceAccounts(api)).rejects.toThrow('listing ServiceAccounts answered HTTP 403');
  });
});

/** An informer whose list and failures the test drives. */
class FakeInformer implements ServiceAccountInformer {
  readonly cached = new Map<string, SlimServiceAccount>();
  starts = 0;
  stopped = false;
  #onError: ((error: unknown) => void) | undefined;
  readonly #list: () => Promise<SlimServiceAccountList>;
  /** What the next start does: list (calling the supervisor's list function) or fail. */
  nextStart: 'list' | Error = 'list';

  constructor(list: () => Promise<SlimServiceAccountList>) {
    this.#list = list;
  }

  async start(): Promise<void> {
    this.starts += 1;
    if (this.nextStart instanceof Error) throw this.nextStart;
    const list = await this.#list();
    for (const item of list.items) this.cached.set(`${item.namespace}/${item.name}`, item);
  }

  stop(): Promise<void> {
    this.stopped = true;
    return Promise.resolve();
  }

  onError(callback: (error: unknown) => void): void {
    this.#onError = callback;
  }

  fail(error: unknown): void {
    this.#onError?.(error);
  }

  get(namespace: string, name: string): SlimServiceAccount | undefined {
    return this.cached.get(`${namespace}/${name}`);
  }
}

interface Harness {
  readonly informer: FakeInformer;
  readonly clock: FakeClock;
  readonly recorded: ServiceAccountCacheResult[];
  readonly read: ReturnType<typeof vi.fn<(namespace: string, name: string) => Promise<SlimServiceAccount | undefined>>>;
  readonly source: ReturnType<typeof startServiceAccountSource>;
  list: (signal?: AbortSignal) => Promise<SlimServiceAccountList>;
}

function harness(options: { readonly list?: (signal?: AbortSignal) => Promise<SlimServiceAccountList>; readonly read?: (namespace: string, name: string) => Promise<SlimServiceAccount | undefined> } = {}): Harness {
  const clock = new FakeClock();
  const recorded: ServiceAccountCacheResult[] = [];
  const read = vi.fn(options.read ?? (() => Promise.resolve(undefined)));
  let informer: FakeInformer | undefined;
  const state: { list: (signal?: AbortSignal) => Promise<SlimServiceAccountList> } = { list: options.list ?? (() => Promise.resolve({ resourceVersion: '1', items: [WEB] })) };
  const source = startServiceAccountSource({
    createInformer: (list) => (informer = new FakeInformer(list)),
    list: (signal) => state.list(signal),
    read,
    clock,
    logger: silentLogger(),
    record: (result) => recorded.push(result),
  });
  if (informer === undefined) throw new Error('no informer created');
  return {
    informer,
    clock,
    recorded,
    read,
    source,
    get list() {
      return state.list;
    },
    set list(fn) {
      state.list = fn;
    },
  };
}

describe('ServiceAccount source: cache first, live read on a miss', () => {
  it('answers a cached ServiceAccount as a hit without a live read', async () => {
    const h = harness();
    await flushMicrotasks();
    await expect(h.source.lookup('team-a', 'web')).resolves.toEqual({
      kind: 'found',
      serviceAccount: { namespace: 'team-a', name: 'web', annotations: { 'anthropic.workload.identity/inject': 'true' } },
    });
    expect(h.read).not.toHaveBeenCalled();
    expect(h.recorded).toEqual(['hit']);
  });

  it('reads a missing one live: found', async () => {
    const fresh: SlimServiceAccount = { namespace: 'team-b', name: 'new', resourceVersion: '9', annotations: { 'anthropic.workload.identity/mode': 'sdk' } };
    const h = harness({ read: () => Promise.resolve(fresh) });
    await flushMicrotasks();
    await expect(h.source.lookup('team-b', 'new')).resolves.toEqual({
      kind: 'found',
      serviceAccount: { namespace: 'team-b', name: 'new', annotations: { 'anthropic.workload.identity/mode': 'sdk' } },
    });
    expect(h.read).toHaveBeenCalledWith('team-b', 'new');
    expect(h.recorded).toEqual(['miss']);
  });

  it('reads a missing one live: 404 is not-found', async () => {
    const h = harness();
    await flushMicrotasks();
    await expect(h.source.lookup('team-b', 'ghost')).resolves.toEqual({ kind: 'not-found' });
    expect(h.recorded).toEqual(['not_found']);
  });

  it('reads a missing one live: a timeout is unavailable, with the reason', async () => {
    const h = harness({ read: () => Promise.reject(new WifError('kubernetes', 'GET /api/v1/namespaces/team-b/serviceaccounts/slow timed out after 2000 ms')) });
    await flushMicrotasks();
    await expect(h.source.lookup('team-b', 'slow')).resolves.toEqual({
      kind: 'unavailable',
      reason: 'GET /api/v1/namespaces/team-b/serviceaccounts/slow timed out after 2000 ms',
    });
    expect(h.recorded).toEqual(['unavailable']);
  });
});

describe('ServiceAccount source: readiness and restarts', () => {
  it('is ready once the first list succeeded', async () => {
    let release: (() => void) | undefined;
    const h = harness({ list: () => new Promise((resolve) => (release = () => { resolve({ resourceVersion: '1', items: [] }); })) });
    await flushMicrotasks();
    expect(h.source.isReady()).toBe(false);
    release?.();
    await flushMicrotasks();
    expect(h.source.isReady()).toBe(true);
  });

  it('stops waiting for the first list after the bound', async () => {
    const h = harness({ list: () => new Promise(() => undefined) });
    await h.clock.advanceBy(SERVICE_ACCOUNT_SYNC_WAIT_MS - 1);
    expect(h.source.isReady()).toBe(false);
    await h.clock.advanceBy(1);
    expect(h.source.isReady()).toBe(true);
  });

  it('restarts a failed informer after 1 s, 2 s, 4 s…, and a successful list resets the backoff', async () => {
    const h = harness();
    await flushMicrotasks();
    expect(h.informer.starts).toBe(1);
    h.informer.nextStart = new Error('connection refused');
    h.informer.fail(new Error('watch ended: 500'));
    await h.clock.advanceBy(999);
    expect(h.informer.starts).toBe(1);
    await h.clock.advanceBy(1);
    expect(h.informer.starts).toBe(2);
    await h.clock.advanceBy(1999);
    expect(h.informer.starts).toBe(2);
    await h.clock.advanceBy(1);
    expect(h.informer.starts).toBe(3);
    h.informer.nextStart = 'list';
    await h.clock.advanceBy(4000);
    expect(h.informer.starts).toBe(4);
    h.informer.fail(new Error('watch ended again'));
    await h.clock.advanceBy(1000);
    expect(h.informer.starts).toBe(5);
  });

  it('ignores a second error while a restart is pending', async () => {
    const h = harness();
    await flushMicrotasks();
    h.informer.fail(new Error('one'));
    h.informer.fail(new Error('two'));
    await h.clock.advanceBy(1000);
    expect(h.informer.starts).toBe(2);
    expect(h.clock.pendingTimers).toBe(0);
  });

  it('close aborts a list in progress', async () => {
    let given: AbortSignal | undefined;
    const h = harness({
      list: (signal) => {
        given = signal;
        return new Promise(() => undefined);
      },
    });
    await flushMicrotasks();
    expect(given?.aborted).toBe(false);
    await h.source.close();
    expect(given?.aborted).toBe(true);
  });

  it('close stops the informer and cancels a pending restart', async () => {
    const h = harness();
    await flushMicrotasks();
    h.informer.fail(new Error('boom'));
    await h.source.close();
    await h.clock.advanceBy(60_000);
    expect(h.informer.stopped).toBe(true);
    expect(h.informer.starts).toBe(1);
  });
});
