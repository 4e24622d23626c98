/**
 * ServiceAccount annotations for the core: a watch-backed cache that keeps only this
 * project's annotations, with a bounded live GET on a cache miss (a ServiceAccount created a
 * moment before its first pod may not have reached the watch yet). With
 * `--service-account-lookup=false` nothing here touches a cluster.
 */
import { ANNOTATION_PREFIX } from '../contract/index.ts';
import type { Clock } from '../runtime/clock.ts';
import { WifError, describeError } from '../runtime/errors.ts';
import { isRecord } from '../runtime/json.ts';
import type { Logger } from '../runtime/logger.ts';
import type { ServiceAccountLookup, ServiceAccountView } from './types.ts';
import type { Informer, KubernetesApi, SlimList } from './kubernetes.ts';
import { nameRecord } from './json.ts';
import type { ServiceAccountCacheResult } from './metrics.ts';

/** A ServiceAccount reduced to what the webhook needs. */
export interface SlimServiceAccount extends ServiceAccountView {
  readonly resourceVersion: string | undefined;
}

export type SlimServiceAccountList = SlimList<SlimServiceAccount>;

/** The watch cache (kubernetes.ts wraps the client library's ListWatch). */
export type ServiceAccountInformer = Informer<SlimServiceAccount>;

export interface ServiceAccountSource {
  lookup(namespace: string, name: string): Promise<ServiceAccountLookup>;
  /** False while the first list is pending, for at most SERVICE_ACCOUNT_SYNC_WAIT_MS after start. */
  isReady(): boolean;
  close(): Promise<void>;
}

/** Every ServiceAccount in every namespace: what the informer lists and watches. */
export const SERVICE_ACCOUNTS_PATH = '/api/v1/serviceaccounts';

/** Readiness waits this long at most for the first list; live reads cover the rest. */
export const SERVICE_ACCOUNT_SYNC_WAIT_MS = 10_000;
export const INFORMER_RESTART_BACKOFF = { initialMs: 1_000, maxMs: 30_000 } as const;
const LIST_PAGE_SIZE = 500;
const LIST_PAGE_TIMEOUT_MS = 60_000;

function ownAnnotations(annotations: unknown): Record<string, string> {
  const kept = nameRecord<string>();
  if (!isRecord(annotations)) return kept;
  for (const [key, value] of Object.entries(annotations)) {
    if (key.startsWith(ANNOTATION_PREFIX) && typeof value === 'string') kept[key] = value;
  }
  return kept;
}

/** Pure: a ServiceAccount object → name, namespace, resourceVersion and this project's annotations. */
export function slimServiceAccount(object: unknown): SlimServiceAccount | undefined {
  const metadata = isRecord(object) && isRecord(object.metadata) ? object.metadata : undefined;
  if (metadata === undefined || typeof metadata.name !== 'string' || typeof metadata.namespace !== 'string') return undefined;
  return {
    namespace: metadata.namespace,
    name: metadata.name,
    resourceVersion: typeof metadata.resourceVersion === 'string' ? metadata.resourceVersion : undefined,
    annotations: Object.freeze(ownAnnotations(metadata.annotations)),
  };
}

export function serviceAccountPath(namespace: string, name: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(name)}`;
}

/** Live GET: the slim ServiceAccount, undefined on 404; throws on anything else. */
export async function readServiceAccount(api: KubernetesApi, target: { readonly namespace: string; readonly name: string }, timeoutMs: number): Promise<SlimServiceAccount | undefined> {
  const path = serviceAccountPath(target.namespace, target.name);
  const result = await api.getJson(path, { timeoutMs });
  if (result.status === 404) return undefined;
  const slim = result.status === 200 ? slimServiceAccount(result.body) : undefined;
  if (slim === undefined) throw new WifError('kubernetes', `GET ${path} answered HTTP ${result.status}`, { status: result.status });
  return slim;
}

/** Lists every ServiceAccount page by page, slimming as it goes. */
export async function listServiceAccounts(api: KubernetesApi, signal?: AbortSignal): Promise<SlimServiceAccountList> {
  const items: SlimServiceAccount[] = [];
  let continueToken = '';
  let resourceVersion = '';
  do {
    const query = `?limit=${LIST_PAGE_SIZE}${continueToken === '' ? '' : `&continue=${encodeURIComponent(continueToken)}`}`;
    const result = await api.getJson(`${SERVICE_ACCOUNTS_PATH}${query}`, { timeoutMs: LIST_PAGE_TIMEOUT_MS, signal });
    const body = isRecord(result.body) ? result.body : {};
    if (result.status !== 200 || !Array.isArray(body.items)) {
      throw new WifError('kubernetes', `listing ServiceAccounts answered HTTP ${result.status}`, { status: result.status, retryable: true });
    }
    for (const item of body.items) {
      const slim = slimServiceAccount(item);
      if (slim !== undefined) items.push(slim);
    }
    const metadata = isRecord(body.metadata) ? body.metadata : {};
    resourceVersion = typeof metadata.resourceVersion === 'string' ? metadata.resourceVersion : resourceVersion;
    continueToken = typeof metadata.continue === 'string' ? metadata.continue : '';
  } while (continueToken !== '');
  return { resourceVersion, items };
}

export const disabledServiceAccountSource: ServiceAccountSource = {
  lookup: () => Promise.resolve({ kind: 'disabled' }),
  isReady: () => true,
  close: () => Promise.resolve(),
};

export interface ServiceAccountSourceOptions {
  /** Builds the informer around the list function it must use (so the supervisor sees each sync). */
  readonly createInformer: (list: () => Promise<SlimServiceAccountList>) => ServiceAccountInformer;
  /** Lists every ServiceAccount; the signal aborts it when the source closes. */
  readonly list: (signal: AbortSignal) => Promise<SlimServiceAccountList>;
  /** The live GET on a cache miss. */
  readonly read: (namespace: string, name: string) => Promise<SlimServiceAccount | undefined>;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly record: (result: ServiceAccountCacheResult) => void;
}

function found(serviceAccount: SlimServiceAccount): ServiceAccountLookup {
  return { kind: 'found', serviceAccount: { namespace: serviceAccount.namespace, name: serviceAccount.name, annotations: serviceAccount.annotations } };
}

/** Cache first; on a miss one live read; its failure is `unavailable` for the core to judge. */
async function lookupServiceAccount(options: ServiceAccountSourceOptions, informer: ServiceAccountInformer, target: { namespace: string; name: string }): Promise<ServiceAccountLookup> {
  const cached = informer.get(target.namespace, target.name);
  if (cached !== undefined) {
    options.record('hit');
    return found(cached);
  }
  try {
    const live = await options.read(target.namespace, target.name);
    options.record(live === undefined ? 'not_found' : 'miss');
    return live === undefined ? { kind: 'not-found' } : found(live);
  } catch (error) {
    options.record('unavailable');
    return { kind: 'unavailable', reason: describeError(error) };
  }
}

/**
 * Starts the informer and keeps it running: after an error (the client library's ListWatch
 * then stops) it is restarted with capped exponential backoff, reset by a successful list.
 */
export function startServiceAccountSource(options: ServiceAccountSourceOptions): ServiceAccountSource {
  const controller = new AbortController();
  const startedAt = options.clock.now();
  let synced = false;
  let backoffMs: number = INFORMER_RESTART_BACKOFF.initialMs;
  let restartPending = false;
  const list = async (): Promise<SlimServiceAccountList> => {
    const result = await options.list(controller.signal);
    if (!synced) options.logger.info({ serviceAccounts: result.items.length }, 'ServiceAccount cache synced');
    synced = true;
    backoffMs = INFORMER_RESTART_BACKOFF.initialMs;
    return result;
  };
  const informer = options.createInformer(list);
  const restartAfterBackoff = (error: unknown): void => {
    if (controller.signal.aborted || restartPending) return;
    restartPending = true;
    const delayMs = backoffMs;
    backoffMs = Math.min(backoffMs * 2, INFORMER_RESTART_BACKOFF.maxMs);
    options.logger.warn({ err: describeError(error), retryInMs: delayMs }, 'ServiceAccount watch failed; restarting');
    void options.clock
      .sleep(delayMs, controller.signal)
      .then(() => {
        restartPending = false;
        start();
      })
      .catch(() => undefined);
  };
  const start = (): void => {
    informer.start().catch(restartAfterBackoff);
  };
  informer.onError(restartAfterBackoff);
  start();
  return {
    lookup: (namespace, name) => lookupServiceAccount(options, informer, { namespace, name }),
    isReady: () => synced || options.clock.now() - startedAt >= SERVICE_ACCOUNT_SYNC_WAIT_MS,
    close: async () => {
      controller.abort();
      await informer.stop();
    },
  };
}
