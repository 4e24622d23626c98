/**
 * Who may call the webhook (issue #16): the suite's release runs with `webhook.clientAuth`,
 * trusting only the CA of the client certificate cluster:up gives the API server (through an
 * AdmissionConfiguration). Sent straight to a webhook pod on the pod network:
 * - a review with no client certificate, or with the cluster admin's (another CA), gets 403;
 * - the same review with the API server's webhook client certificate gets the review answer;
 * - the probes stay open (the pods are Ready, and /readyz answers a client without a certificate);
 * and through the API server, an opted-in pod is still injected.
 */
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Annotation, ContainerName, HttpPath } from '../../contract/index.ts';
import { CLIENT_REFUSED_MESSAGE } from '../../webhook/server.ts';
import { suiteCa } from './support/anthropic.ts';
import { getJson, kubectl, readClusterEnv, type ClusterEnv } from './support/cluster-env.ts';
import { RELEASE_NAMESPACE, WEBHOOK_DEPLOYMENT } from './support/release.ts';
import { createTestNamespace, deleteNamespace, labelledSleeper, type Pod } from './support/workloads.ts';

let env: ClusterEnv;
let namespace: string;
let webhookIp: string;
let webhookPodName: string;
let servingCa: string;

interface Reply {
  readonly status: number;
  readonly text: string;
}

const SERVICE_NAME = `${WEBHOOK_DEPLOYMENT}.${RELEASE_NAMESPACE}.svc`;
const REVIEW = JSON.stringify({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: {
    uid: 'client-auth-1',
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    namespace: 'default',
    operation: 'CREATE',
    object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'plain', namespace: 'default' }, spec: { containers: [{ name: 'app', image: 'app' }] } },
  },
});

function call(path: string, client: { certFile: string; keyFile: string } | undefined): Promise<Reply> {
  const credentials = client === undefined ? {} : { cert: readFileSync(client.certFile), key: readFileSync(client.keyFile) };
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: webhookIp, port: 8443, servername: SERVICE_NAME, ca: servingCa, path, method: path === HttpPath.mutate ? 'POST' : 'GET', agent: false, timeout: 10_000, ...credentials },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(path === HttpPath.mutate ? REVIEW : undefined);
  });
}

beforeAll(async () => {
  env = readClusterEnv();
  namespace = await createTestNamespace(env, 'client-auth', (await suiteCa()).certPem);
  const pods = (await getJson<{ items: Pod[] }>(env, ['pods', '-n', RELEASE_NAMESPACE, '-l', 'app.kubernetes.io/component=webhook'])).items;
  const ready = pods.find((pod) => pod.status.podIP !== undefined && pod.metadata.deletionTimestamp === undefined);
  if (ready?.status.podIP === undefined) throw new Error('no running webhook pod');
  webhookIp = ready.status.podIP;
  webhookPodName = ready.metadata.name;
  const secret = await getJson<{ data: Record<string, string> }>(env, ['secret', '-n', RELEASE_NAMESPACE, `${WEBHOOK_DEPLOYMENT}-tls`]);
  servingCa = Buffer.from(secret.data['ca.crt'] ?? '', 'base64').toString('utf8');
});

afterAll(async () => {
  await deleteNamespace(env, namespace);
});

const REFUSED = { status: 403, text: JSON.stringify({ error: { code: 403, message: CLIENT_REFUSED_MESSAGE } }) };

describe('the webhook with webhook.clientAuth, called straight on the pod network', () => {
  it('refuses a review with no client certificate, and logs why', async () => {
    expect(await call(HttpPath.mutate, undefined)).toEqual(REFUSED);
    const logs = (await kubectl(env, ['logs', '-n', RELEASE_NAMESPACE, webhookPodName])).stdout;
    const refusals = logs.split('\n').filter((line) => line.includes('admission request refused')).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(refusals.map((line) => line.reason)).toContain('no client certificate');
  });

  it("refuses the cluster admin's certificate (signed by the cluster CA, not the webhook client CA)", async () => {
    expect(await call(HttpPath.mutate, { certFile: env.adminCertFile, keyFile: env.adminKeyFile })).toEqual(REFUSED);
  });

  it("answers the same review sent with the API server's webhook client certificate", async () => {
    const reply = await call(HttpPath.mutate, { certFile: env.webhookClientCertFile, keyFile: env.webhookClientKeyFile });
    expect([reply.status, JSON.parse(reply.text)]).toEqual([200, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'client-auth-1', allowed: true } }]);
  });

  it('keeps /readyz and /healthz open to a client without a certificate (the kubelet probes)', async () => {
    expect([(await call(HttpPath.readyz, undefined)).status, (await call(HttpPath.healthz, undefined)).status]).toEqual([200, 200]);
  });
});

describe('through the API server', () => {
  it('an opted-in pod is injected: the API server presents its certificate', async () => {
    const result = await kubectl(env, ['create', '--dry-run=server', '-o', 'json', '-f', '-'], { input: JSON.stringify(labelledSleeper(env, namespace, 'client-auth')) });
    const pod = JSON.parse(result.stdout) as Pod;
    expect([pod.metadata.annotations?.[Annotation.status] !== undefined, (pod.spec.initContainers ?? []).map((c) => c.name)]).toEqual([true, [ContainerName.agent]]);
  });
});
