/**
 * The worst case a pod author can send (issue #16): an opted-in pod as large as the API
 * server accepts (3 MiB), with many containers, env entries, mounts and volumes, and deep
 * fields the webhook does not know. `scale` multiplies the number of containers and volumes
 * (each container keeps its size), so scale 3 is three times the input of scale 1. `forgedStatus` adds a status annotation that claims every env
 * entry as the webhook's, so the webhook takes them all back (its removal path).
 */
import { Annotation } from '../../contract/index.ts';
import { BENCH_FEDERATION_RULE_ID, BENCH_ORGANIZATION_ID } from './pod.ts';

export interface HostileShape {
  readonly scale: number;
  readonly forgedStatus: boolean;
}

const CONTAINERS_PER_SCALE = 12;
const ENV_PER_CONTAINER = 1150;
const MOUNTS_PER_CONTAINER = 40;
const VOLUMES_PER_SCALE = 200;
const UNKNOWN_DEPTH = 40;

/** A chain of unknown objects `UNKNOWN_DEPTH` deep, each level with a sibling list. */
function deepUnknown(seed: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: seed };
  for (let level = 0; level < UNKNOWN_DEPTH; level += 1) value = { [`level${String(level)}`]: value, siblings: [level, `s${String(seed)}`] };
  return value;
}

function container(index: number): Record<string, unknown> {
  const env = Array.from({ length: ENV_PER_CONTAINER }, (_, i) => ({ name: `E_${String(index)}_${String(i)}`, value: `value-${String(i)}-xxxxxxxx` }));
  const volumeMounts = Array.from({ length: MOUNTS_PER_CONTAINER }, (_, i) => ({ name: `v${String(i)}`, mountPath: `/mnt/c${String(index)}/v${String(i)}` }));
  return { name: `c${String(index)}`, image: 'registry.example/app:1', env, volumeMounts, securityContext: { runAsUser: 1000 }, futureField: deepUnknown(index) };
}

export function hostilePod(shape: HostileShape): Record<string, unknown> {
  const containers = Array.from({ length: CONTAINERS_PER_SCALE * shape.scale }, (_, i) => container(i));
  const volumes = Array.from({ length: VOLUMES_PER_SCALE * shape.scale }, (_, i) => ({ name: `v${String(i)}`, emptyDir: {}, futureVolumeField: deepUnknown(i) }));
  const annotations: Record<string, string> = {
    [Annotation.federationRuleId]: BENCH_FEDERATION_RULE_ID,
    [Annotation.organizationId]: BENCH_ORGANIZATION_ID,
  };
  if (shape.forgedStatus) {
    const records = Object.fromEntries(
      containers.map((c) => [c.name as string, { env: (c.env as { name: string }[]).map((e) => e.name), mountPaths: [] as string[] }]),
    );
    annotations[Annotation.status] = JSON.stringify({ version: 1, mode: 'file', serviceAccount: 'default', layout: 'native', hash: 'forged', containers: records });
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: 'hostile-', namespace: 'tenant-b', labels: { [Annotation.inject]: 'true' }, annotations, futureMetadata: deepUnknown(-1) },
    spec: { containers, volumes, futureSpec: deepUnknown(-2) },
  };
}

export function hostileAdmissionReview(shape: HostileShape, uid = 'hostile-0000'): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      operation: 'CREATE',
      namespace: 'tenant-b',
      object: hostilePod(shape),
      dryRun: false,
    },
  });
}
