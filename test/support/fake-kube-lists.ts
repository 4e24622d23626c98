/**
 * A Kubernetes API stand-in for `anthropic-wif audit`: paged lists (`limit`/`continue`, with
 * `labelSelector` on equality terms), named GETs, `/version`, and the pod proxy to each
 * sidecar's `/metrics`. Lists may be generated on the fly (`count` + `item(i)`), so the
 * benchmark can serve 10,000 pods without the stand-in holding them. Loopback only.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { closeServer, writeFakeKubeconfig } from './fake-kube-api.ts';

export type KubeItem = Record<string, unknown>;

/** A list: fixed items, or `count` items made by `item(i)`. */
export type ListSource = readonly KubeItem[] | { readonly count: number; readonly item: (index: number) => KubeItem };

export interface FakeKubeListsOptions {
  /** By cluster-wide list path, e.g. `/api/v1/pods`; namespaced paths are filtered from it. */
  readonly lists: ReadonlyMap<string, ListSource>;
  /** By exact path, e.g. a Secret or a Deployment. */
  readonly objects?: ReadonlyMap<string, KubeItem>;
  /** By `namespace/pod`: the text of the sidecar's /metrics, or an HTTP status. */
  readonly metrics?: ReadonlyMap<string, string | number>;
  readonly version?: { readonly major: string; readonly minor: string; readonly gitVersion: string };
  /** Paths answered 403 (RBAC), checked before anything else. */
  readonly forbidden?: readonly string[];
}

export interface FakeKubeLists {
  readonly kubeconfigPath: string;
  readonly url: string;
  /** `path?query` of every request, in order. */
  readonly requests: string[];
  close(): Promise<void>;
}

const NAMESPACED = /^(\/apis?\/(?:[^/]+\/)?[^/]+)\/namespaces\/([^/]+)\/([^/]+)$/;
const PROXY = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/:]+):\d+\/proxy\/metrics$/;

function sizeOf(source: ListSource): number {
  return 'count' in source ? source.count : source.length;
}

function at(source: ListSource, index: number): KubeItem {
  return 'count' in source ? source.item(index) : (source[index] as KubeItem);
}

function labelsOf(item: KubeItem): Record<string, string> {
  return ((item.metadata as { labels?: Record<string, string> } | undefined)?.labels ?? {});
}

function namespaceOf(item: KubeItem): string | undefined {
  return (item.metadata as { namespace?: string } | undefined)?.namespace;
}

function matches(item: KubeItem, namespace: string | undefined, selector: string | null): boolean {
  if (namespace !== undefined && namespaceOf(item) !== namespace) return false;
  if (selector === null || selector === '') return true;
  const labels = labelsOf(item);
  return selector.split(',').every((term) => {
    const [key = '', value = ''] = term.split('=');
    return labels[key] === value;
  });
}

function send(response: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  response.statusCode = status;
  response.setHeader('content-type', type);
  response.end(typeof body === 'string' ? body : JSON.stringify(body));
}

function notFound(response: ServerResponse): void {
  send(response, 404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 });
}

/** One page: items from offset `continue` that match, at most `limit`. */
function page(source: ListSource, url: URL, namespace: string | undefined): { items: KubeItem[]; next: string | undefined } {
  const limit = Number(url.searchParams.get('limit') ?? '0') || Number.POSITIVE_INFINITY;
  const selector = url.searchParams.get('labelSelector');
  const items: KubeItem[] = [];
  let index = Number(url.searchParams.get('continue') ?? '0');
  const size = sizeOf(source);
  for (; index < size && items.length < limit; index++) {
    const item = at(source, index);
    if (matches(item, namespace, selector)) items.push(item);
  }
  return { items, next: index < size ? String(index) : undefined };
}

export async function startFakeKubeLists(options: FakeKubeListsOptions, directory: string): Promise<FakeKubeLists> {
  const requests: string[] = [];
  const handle = (request: IncomingMessage, response: ServerResponse): void => {
    const url = new URL(request.url ?? '/', 'http://fake');
    requests.push(`${url.pathname}${url.search}`);
    if (options.forbidden?.some((path) => url.pathname.startsWith(path)) === true) {
      send(response, 403, { kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403 });
      return;
    }
    if (url.pathname === '/version') {
      send(response, 200, options.version ?? { major: '1', minor: '33', gitVersion: 'v1.33.1' });
      return;
    }
    const proxy = PROXY.exec(url.pathname);
    if (proxy !== null) {
      const metrics = options.metrics?.get(`${proxy[1] ?? ''}/${proxy[2] ?? ''}`);
      if (metrics === undefined) send(response, 503, 'no endpoints', 'text/plain');
      else if (typeof metrics === 'number') send(response, metrics, 'error', 'text/plain');
      else send(response, 200, metrics, 'text/plain; version=0.0.4');
      return;
    }
    const object = options.objects?.get(url.pathname);
    if (object !== undefined) {
      send(response, 200, object);
      return;
    }
    const namespaced = NAMESPACED.exec(url.pathname);
    const listPath = namespaced === null ? url.pathname : `${namespaced[1] ?? ''}/${namespaced[3] ?? ''}`;
    const source = options.lists.get(listPath);
    if (source === undefined) {
      notFound(response);
      return;
    }
    const { items, next } = page(source, url, namespaced?.[2]);
    send(response, 200, { kind: 'List', apiVersion: 'v1', metadata: { resourceVersion: '1', ...(next === undefined ? {} : { continue: next }) }, items });
  };
  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${String(port)}`;
  const kubeconfigPath = join(directory, 'audit-kubeconfig');
  writeFakeKubeconfig(kubeconfigPath, url, { insecureSkipTlsVerify: true });
  return {
    kubeconfigPath,
    url,
    requests,
    close: () => closeServer(server),
  };
}
