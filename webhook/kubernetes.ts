/**
 * The webhook's only contact with the Kubernetes API: a kubeconfig (flag, else the client
 * library's default loading: KUBECONFIG, ~/.kube/config, in-cluster), bounded JSON GETs and
 * an informer that caches slim objects. It knows no resource kind: callers name the path and
 * the slimming. Loaded lazily, so `--service-account-lookup=false` never imports the client
 * library at all.
 */
import { HttpMethod, KubeConfig, ListWatch, RequestContext, V1ListMeta, V1ObjectMeta, Watch, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { fetch } from 'undici';
import { ConfigError, WifError, describeError } from '../runtime/errors.ts';
import { USER_AGENT } from '../contract/index.ts';

export interface KubernetesGetResult {
  readonly status: number;
  /** Parsed JSON, or undefined when the body was not JSON. */
  readonly body: unknown;
}

/** An object reduced to what a cache keeps: its name and the annotations that matter. */
export interface SlimObject {
  readonly namespace: string;
  readonly name: string;
  readonly resourceVersion: string | undefined;
  readonly annotations: Readonly<Record<string, string>>;
}

export interface SlimList<T extends SlimObject> {
  readonly resourceVersion: string;
  readonly items: readonly T[];
}

/** A watch cache of slim objects (the client library's ListWatch underneath). */
export interface Informer<T extends SlimObject> {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The informer stops after an error; the supervisor restarts it. */
  onError(callback: (error: unknown) => void): void;
  get(namespace: string, name: string): T | undefined;
}

/** What to watch and how to slim it: `slim` returns undefined for an object it cannot read. */
export interface InformerSource<T extends SlimObject> {
  readonly path: string;
  readonly slim: (object: unknown) => T | undefined;
  readonly list: () => Promise<SlimList<T>>;
}

/** A bounded JSON GET against the API server; rejects on timeout or network failure. */
export interface KubernetesApi {
  getJson(path: string, options: { readonly timeoutMs: number; readonly signal?: AbortSignal | undefined }): Promise<KubernetesGetResult>;
}

/** Throws ConfigError when an explicitly named kubeconfig cannot be loaded. */
export function loadKubeConfig(path: string | undefined): KubeConfig {
  const kubeConfig = new KubeConfig();
  try {
    if (path === undefined) kubeConfig.loadFromDefault();
    else kubeConfig.loadFromFile(path);
  } catch (error) {
    const source = path === undefined ? 'the default kubeconfig' : `--kubeconfig "${path}"`;
    throw new ConfigError(`cannot load ${source}: ${describeError(error)}`);
  }
  return kubeConfig;
}

function failure(path: string, timeoutMs: number, error: unknown): WifError {
  if (error instanceof Error && error.name === 'TimeoutError') {
    return new WifError('kubernetes', `GET ${path} timed out after ${timeoutMs} ms`, { retryable: true });
  }
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  return new WifError('kubernetes', `GET ${path} failed: ${describeError(cause)}`, { retryable: true });
}

export function createKubernetesApi(kubeConfig: KubeConfig): KubernetesApi {
  return {
    async getJson(path, options): Promise<KubernetesGetResult> {
      const cluster = kubeConfig.getCurrentCluster();
      if (cluster === null) throw new WifError('kubernetes', 'the kubeconfig has no current cluster');
      const context = new RequestContext(`${cluster.server}${path}`, HttpMethod.GET);
      await kubeConfig.applySecurityAuthentication(context);
      const timeout = AbortSignal.timeout(options.timeoutMs);
      const signal = options.signal === undefined ? timeout : AbortSignal.any([timeout, options.signal]);
      try {
        const response = await fetch(context.getUrl(), {
          method: 'GET',
          headers: { ...context.getHeaders(), accept: 'application/json', 'user-agent': USER_AGENT },
          dispatcher: context.getDispatcher(),
          signal,
        });
        const text = await response.text();
        return { status: response.status, body: parseJson(text) };
      } catch (error) {
        throw failure(path, options.timeoutMs, error);
      }
    },
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** What the informer stores: the slim view, shaped as a Kubernetes object for ListWatch. */
function asStored(slim: SlimObject): KubernetesObject {
  const metadata = new V1ObjectMeta();
  metadata.name = slim.name;
  metadata.namespace = slim.namespace;
  metadata.resourceVersion = slim.resourceVersion;
  metadata.annotations = { ...slim.annotations };
  return { metadata };
}

/**
 * ListWatch keeps whatever its Watch delivers, so the Watch is wrapped to slim each object
 * first: the cache then holds names and the annotations `slim` keeps only, even in clusters
 * with many objects of the kind. (makeInformer is exactly `new ListWatch(path, new Watch(kc), …)`.)
 */
function slimmingWatch(kubeConfig: KubeConfig, slimObject: (object: unknown) => SlimObject | undefined): Watch {
  const watch = new Watch(kubeConfig);
  const original = watch.watch.bind(watch);
  watch.watch = (path, queryParams, callback, done) =>
    original(
      path,
      queryParams,
      (phase: string, object: unknown, raw?: unknown) => {
        const slim = phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED' ? slimObject(object) : undefined;
        callback(phase, slim === undefined ? object : asStored(slim), raw);
      },
      done,
    );
  return watch;
}

export function createInformer<T extends SlimObject>(kubeConfig: KubeConfig, source: InformerSource<T>): Informer<T> {
  const listFn = async (): Promise<KubernetesListObject<KubernetesObject>> => {
    const result = await source.list();
    const metadata = new V1ListMeta();
    metadata.resourceVersion = result.resourceVersion;
    return { metadata, items: result.items.map(asStored) };
  };
  const informer = new ListWatch<KubernetesObject>(source.path, slimmingWatch(kubeConfig, source.slim), listFn, false);
  const fromStored = (object: KubernetesObject | undefined): T | undefined => (object === undefined ? undefined : source.slim(object));
  return {
    start: () => informer.start(),
    stop: () => informer.stop(),
    onError: (callback) => {
      informer.on('error', callback);
    },
    get: (namespace, name) => fromStored(informer.get(name, namespace)),
  };
}
