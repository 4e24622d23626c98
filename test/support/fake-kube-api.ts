/**
 * The smallest Kubernetes API a `helm template --dry-run=server` needs: discovery for the
 * chart's kinds and GET of named objects (404 unless given). It lets a test show that
 * the chart's `lookup` reuses an existing Secret, as `helm upgrade` would, with no cluster.
 * Listens on 127.0.0.1 only, on an ephemeral port.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeObject } from './chart.ts';

interface Resource {
  readonly groupVersion: string;
  readonly kind: string;
  readonly plural: string;
  readonly namespaced: boolean;
}

const RESOURCES: readonly Resource[] = [
  { groupVersion: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true },
  { groupVersion: 'v1', kind: 'Service', plural: 'services', namespaced: true },
  { groupVersion: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', namespaced: true },
  { groupVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments', namespaced: true },
  { groupVersion: 'policy/v1', kind: 'PodDisruptionBudget', plural: 'poddisruptionbudgets', namespaced: true },
  { groupVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', plural: 'clusterroles', namespaced: false },
  { groupVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', plural: 'clusterrolebindings', namespaced: false },
  { groupVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', plural: 'mutatingwebhookconfigurations', namespaced: false },
];

function groupVersionPath(groupVersion: string): string {
  return groupVersion === 'v1' ? '/api/v1' : `/apis/${groupVersion}`;
}

function objectPath(resource: Resource, name: string, namespace: string | undefined): string {
  const scope = resource.namespaced ? `/namespaces/${namespace ?? 'default'}` : '';
  return `${groupVersionPath(resource.groupVersion)}${scope}/${resource.plural}/${name}`;
}

function discovery(): Map<string, unknown> {
  const documents = new Map<string, unknown>();
  documents.set('/version', { major: '1', minor: '33', gitVersion: 'v1.33.0' });
  documents.set('/api', { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });
  const groupVersions = [...new Set(RESOURCES.map((r) => r.groupVersion))];
  documents.set('/apis', {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: groupVersions
      .filter((gv) => gv !== 'v1')
      .map((gv) => {
        const [group, version] = gv.split('/') as [string, string];
        return { name: group, versions: [{ groupVersion: gv, version }], preferredVersion: { groupVersion: gv, version } };
      }),
  });
  for (const gv of groupVersions) {
    documents.set(groupVersionPath(gv), {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: gv,
      resources: RESOURCES.filter((r) => r.groupVersion === gv).map((r) => ({
        name: r.plural,
        singularName: r.kind.toLowerCase(),
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: ['get', 'list'],
      })),
    });
  }
  return documents;
}

export interface FakeKubeApi {
  readonly kubeconfigPath: string;
  /** `METHOD path` of every request, in order. */
  readonly requests: readonly string[];
  close(): Promise<void>;
}

/** Starts the fake API serving `objects`; writes a kubeconfig for it into `directory`. */
export async function startFakeKubeApi(objects: readonly KubeObject[], directory: string): Promise<FakeKubeApi> {
  const documents = discovery();
  for (const object of objects) {
    const resource = RESOURCES.find((r) => r.kind === object.kind && r.groupVersion === object.apiVersion);
    if (resource === undefined) throw new Error(`the fake API does not serve ${object.apiVersion} ${object.kind}`);
    documents.set(objectPath(resource, object.metadata.name, object.metadata.namespace), object);
  }
  const requests: string[] = [];
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const path = (request.url ?? '/').split('?')[0]!;
    requests.push(`${request.method ?? 'GET'} ${path}`);
    const document = request.method === 'GET' ? documents.get(path) : undefined;
    response.setHeader('content-type', 'application/json');
    if (document === undefined) {
      response.statusCode = 404;
      response.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 }));
      return;
    }
    response.end(JSON.stringify(document));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const kubeconfigPath = join(directory, 'kubeconfig');
  writeFakeKubeconfig(kubeconfigPath, `http://127.0.0.1:${port}`);
  return {
    kubeconfigPath,
    requests,
    close: () => closeServer(server),
  };
}

/**
 * A kubeconfig for a stand-in API server on loopback, with a placeholder bearer token.
 * `insecureSkipTlsVerify`: client-node's request layer refuses plain http unless told to skip
 * TLS verification.
 */
export function writeFakeKubeconfig(path: string, server: string, options: { readonly insecureSkipTlsVerify?: boolean } = {}): void {
  const cluster = options.insecureSkipTlsVerify === true ? { server, 'insecure-skip-tls-verify': true } : { server };
  writeFileSync(
    path,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'fake', cluster }],
      users: [{ name: 'fake', user: { token: 'not-a-secret' } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake' } }],
      'current-context': 'fake',
    }),
  );
}

/** Closes a stand-in server, its open connections with it. */
export function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.closeAllConnections();
    server.close((error) => {
      if (error === undefined) resolve();
      else reject(error);
    });
  });
}
