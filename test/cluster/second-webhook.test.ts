/**
 * Scenario 9, a second mutating webhook that adds a container after ours, as Istio, Dapr and
 * Linkerd do. A small test webhook (in this process, registered by URL on the pod bridge's host
 * address) runs after ours (webhooks are called in the order of their configuration names)
 * and appends a `mesh-proxy` container; the API server then reinvokes ours
 * (`reinvocationPolicy: IfNeeded`), which must give the added container the same env and mounts
 * as the app container.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Annotation, ContainerName, OutputFile, Path } from '../../contract/index.ts';
import { listenStandIn } from '../support/listen.ts';
import { issueServingCertificate } from '../support/tls.ts';
import { startAnthropicStandIns, suiteCa, suiteRule, type AnthropicStandIns } from './support/anthropic.ts';
import { apply, kubectl, readClusterEnv, type ClusterEnv } from './support/cluster-env.ts';
import { APP_UID, INJECT_LABEL, NAMESPACE_PREFIX, TEST_CA_VOLUME, appContainer, createTestNamespace, deleteNamespace, getPod, successfulCalls, type Container, type Pod } from './support/workloads.ts';

const MESH_PORT = 9444;
/** Sorts after the chart's configuration (`awi-…`), so the API server calls it second. */
const MESH_CONFIG = 'zz-awi-test-mesh-injector';
const MESH_LABEL = 'awi-test/mesh';

let env: ClusterEnv;
let anthropic: AnthropicStandIns;
let namespace: string;
let close: () => Promise<void>;
const meshCalls: { hadAgent: boolean }[] = [];

function meshWebhook(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request: { uid: string; object: Pod } };
    const pod = review.request.object;
    const hadAgent = (pod.spec.initContainers ?? []).some((c) => c.name === ContainerName.agent);
    meshCalls.push({ hadAgent });
    const already = pod.spec.containers.some((c) => c.name === 'mesh-proxy');
    const patch = already
      ? []
      : [{ op: 'add', path: '/spec/containers/-', value: { name: 'mesh-proxy', image: env.imageApp, imagePullPolicy: 'Never', command: ['sleep', '3600'], securityContext: { runAsUser: APP_UID } } }];
    const response = {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: review.request.uid, allowed: true, ...(patch.length === 0 ? {} : { patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') }) },
    };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(response));
  });
}

beforeAll(async () => {
  env = readClusterEnv();
  anthropic = await startAnthropicStandIns(env, [suiteRule(NAMESPACE_PREFIX)]);
  const ca = await suiteCa();
  namespace = await createTestNamespace(env, 'mesh', ca.certPem);
  const serving = await issueServingCertificate(ca, { serial: BigInt(Date.now()), commonName: env.hostIp, ipAddresses: [env.hostIp], dnsNames: [] });
  const { server, url } = await listenStandIn(meshWebhook, { host: env.hostIp, port: MESH_PORT, tls: { cert: serving.certPem, key: serving.keyPem } });
  close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => {
        resolve();
      });
    });
  await apply(env, [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: MESH_CONFIG },
      webhooks: [
        {
          name: 'mesh.awi-test.example',
          admissionReviewVersions: ['v1'],
          sideEffects: 'None',
          failurePolicy: 'Fail',
          reinvocationPolicy: 'Never',
          timeoutSeconds: 5,
          clientConfig: { url: `${url}/mutate`, caBundle: Buffer.from(ca.certPem).toString('base64') },
          rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
          objectSelector: { matchLabels: { [MESH_LABEL]: 'true' } },
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } },
        },
      ],
    },
  ]);
});

afterAll(async () => {
  await kubectl(env, ['delete', 'mutatingwebhookconfiguration', MESH_CONFIG, '--ignore-not-found']);
  await close();
  await deleteNamespace(env, namespace);
  await anthropic.close();
});

const own = (names: readonly string[], app: readonly string[]): string[] => names.filter((n) => !app.includes(n));

describe('a second mutating webhook that adds a container after ours', () => {
  it('reinvocation gives the added container the same env and mounts as the app container', async () => {
    const app = appContainer(env, { baseUrl: anthropic.url, intervalMs: 2000 }) as unknown as Container;
    await apply(env, [
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'meshed', namespace, labels: { [INJECT_LABEL]: 'true', [MESH_LABEL]: 'true' } },
        spec: { serviceAccountName: 'app', containers: [app], volumes: [TEST_CA_VOLUME], terminationGracePeriodSeconds: 0 },
      },
    ]);
    await kubectl(env, ['wait', '-n', namespace, '--for=condition=Ready', 'pod/meshed', '--timeout=180s']);
    const pod = await getPod(env, namespace, 'meshed');

    // Ours ran first: the mesh webhook already saw our sidecar.
    expect(meshCalls.length).toBeGreaterThanOrEqual(1);
    expect(meshCalls[0]!.hadAgent).toBe(true);
    expect(pod.metadata.annotations?.[Annotation.status]).toBeDefined();

    const injectedApp = pod.spec.containers.find((c) => c.name === 'app')!;
    const mesh = pod.spec.containers.find((c) => c.name === 'mesh-proxy')!;
    expect(mesh).toBeDefined();
    const templateEnv = (app.env ?? []).map((e) => e.name);
    const templateMounts = (app.volumeMounts ?? []).map((m) => m.name);
    // What our webhook gave the app container (env and mounts beyond the pod template's) ...
    const ourEnv = own((injectedApp.env ?? []).map((e) => e.name), templateEnv);
    const ourMounts = own((injectedApp.volumeMounts ?? []).map((m) => m.name), templateMounts);
    expect(ourEnv.length).toBeGreaterThan(0);
    expect(ourMounts.length).toBeGreaterThan(0);
    // ... the mesh container got too, with the same values and paths.
    for (const name of ourEnv) expect(mesh.env?.find((e) => e.name === name)).toEqual(injectedApp.env?.find((e) => e.name === name));
    for (const name of ourMounts) expect(mesh.volumeMounts?.find((m) => m.name === name)).toEqual(injectedApp.volumeMounts?.find((m) => m.name === name));

    // And the pod works: the app's calls succeed.
    await successfulCalls(env, namespace, 'meshed', { count: 1 });
    // The mesh container can read the token files as the app does.
    const read = await kubectl(env, ['exec', '-n', namespace, 'meshed', '-c', 'mesh-proxy', '--', 'sh', '-c', `test -r ${Path.outputDir}/${OutputFile.token} && echo readable`]);
    expect(read.stdout.trim()).toBe('readable');
  });
});
