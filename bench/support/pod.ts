/**
 * The benchmark's AdmissionReview: a pod as a Deployment's ReplicaSet creates it after the
 * API server's defaulting, opted in by label, with an app container, a log shipper, an init
 * container, env from literals, fields and Secrets, probes, resources and six volumes.
 * About 4 KB of JSON, which is what a real opted-in pod review weighs.
 */
import { Annotation, OPT_IN_LABEL } from '../../contract/index.ts';

export const BENCH_ORGANIZATION_ID = '6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b';
export const BENCH_FEDERATION_RULE_ID = 'fdrl_01benchmarkrule000000000';

const probe = (path: string, period: number): Record<string, unknown> => ({
  httpGet: { path, port: 8080, scheme: 'HTTP' },
  periodSeconds: period,
  timeoutSeconds: 1,
  successThreshold: 1,
  failureThreshold: 3,
});

const defaulted = { terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', imagePullPolicy: 'IfNotPresent' };

const serviceAccountMount = { name: 'kube-api-access-x7k2p', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true };

function appContainer(): Record<string, unknown> {
  return {
    name: 'api',
    image: 'registry.example/chat-api:1.4.2',
    args: ['serve', '--port=8080', '--config=/etc/chat-api/config.yaml'],
    ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }, { name: 'metrics', containerPort: 9090, protocol: 'TCP' }],
    env: [
      { name: 'LOG_LEVEL', value: 'info' },
      { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } } },
      { name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: 'chat-api-db', key: 'url' } } },
      { name: 'CLAUDE_MODEL', value: 'claude-sonnet-4-5' },
    ],
    resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '512Mi' } },
    readinessProbe: probe('/readyz', 5),
    livenessProbe: probe('/healthz', 10),
    volumeMounts: [
      { name: 'config', mountPath: '/etc/chat-api', readOnly: true },
      { name: 'cache', mountPath: '/var/cache/chat-api' },
      { name: 'tmp', mountPath: '/tmp' },
      serviceAccountMount,
    ],
    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
    ...defaulted,
  };
}

function logShipper(): Record<string, unknown> {
  return {
    name: 'log-shipper',
    image: 'registry.example/fluent-bit:3.1.9',
    args: ['--config=/fluent-bit/etc/fluent-bit.yaml'],
    env: [{ name: 'NODE_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'spec.nodeName' } } }],
    resources: { requests: { cpu: '20m', memory: '32Mi' }, limits: { memory: '64Mi' } },
    livenessProbe: { httpGet: { path: '/api/v1/health', port: 2020, scheme: 'HTTP' }, periodSeconds: 30, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
    volumeMounts: [{ name: 'shipper-config', mountPath: '/fluent-bit/etc', readOnly: true }, { name: 'tmp', mountPath: '/var/log/app', readOnly: true }, serviceAccountMount],
    ...defaulted,
  };
}

function migrations(): Record<string, unknown> {
  return {
    name: 'migrate',
    image: 'registry.example/chat-api:1.4.2',
    args: ['migrate', '--wait-for-lock=60s'],
    env: [{ name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: 'chat-api-db', key: 'url' } } }],
    resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '128Mi' } },
    volumeMounts: [serviceAccountMount],
    ...defaulted,
  };
}

function volumes(): Record<string, unknown>[] {
  return [
    { name: 'config', configMap: { name: 'chat-api-config', defaultMode: 420 } },
    { name: 'shipper-config', configMap: { name: 'chat-api-fluent-bit', defaultMode: 420 } },
    { name: 'cache', emptyDir: { sizeLimit: '1Gi' } },
    { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '64Mi' } },
    {
      name: 'kube-api-access-x7k2p',
      projected: {
        defaultMode: 420,
        sources: [
          { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
          { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
          { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
        ],
      },
    },
  ];
}

/** The pod, as the API server hands it to mutating webhooks. */
export function benchPod(): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'chat-api-7d9c6b5f4-',
      namespace: 'shop',
      labels: { app: 'chat-api', 'app.kubernetes.io/part-of': 'shop', 'pod-template-hash': '7d9c6b5f4', [OPT_IN_LABEL]: 'true' },
      annotations: { [Annotation.federationRuleId]: BENCH_FEDERATION_RULE_ID, 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9090' },
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'chat-api-7d9c6b5f4', uid: '6f1e8a52-1c51-4d6e-9a43-3a1f0e2b7c11', controller: true, blockOwnerDeletion: true },
      ],
    },
    spec: {
      serviceAccountName: 'chat-api',
      serviceAccount: 'chat-api',
      securityContext: { runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      initContainers: [migrations()],
      containers: [appContainer(), logShipper()],
      volumes: volumes(),
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      schedulerName: 'default-scheduler',
      enableServiceLinks: true,
      preemptionPolicy: 'PreemptLowerPriority',
      priority: 0,
      tolerations: [
        { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
        { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      ],
    },
    status: {},
  };
}

/** The AdmissionReview body the API server POSTs for the pod's creation. */
export function benchAdmissionReview(uid = '0b7d4c1e-9a2f-4e58-b3c6-1d2e3f4a5b6c'): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      operation: 'CREATE',
      namespace: 'shop',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', uid: '1c0f4d2a-8e7b-4c6d-9f5e-2a3b4c5d6e7f', groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'] },
      object: benchPod(),
      oldObject: null,
      dryRun: false,
      options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  });
}
