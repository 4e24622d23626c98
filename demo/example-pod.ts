/**
 * The pod the demo sends to the webhook: the Deployment in manifests/examples/ turned into the
 * Pod its ReplicaSet controller would create (generated name, owner reference, the template's
 * labels, annotations and spec), which is what a webhook sees at admission.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const EXAMPLE_DEPLOYMENT_PATH = 'manifests/examples/deployment.yaml';
export const EXAMPLE_DEPLOYMENT_FILE = fileURLToPath(new URL(`../${EXAMPLE_DEPLOYMENT_PATH}`, import.meta.url));

export type JsonObject = Record<string, unknown>;

export interface ExamplePod {
  readonly pod: JsonObject;
  readonly namespace: string;
  readonly podName: string;
  readonly serviceAccount: string;
}

interface DeploymentShape {
  readonly kind?: unknown;
  readonly metadata?: { readonly name?: unknown };
  readonly spec?: { readonly template?: { readonly metadata?: JsonObject; readonly spec?: JsonObject } };
}

/** A ReplicaSet's pod-template-hash and a pod suffix, fixed so the demo output is stable. */
const TEMPLATE_HASH = '6d5f8c7b9';
const POD_SUFFIX = 'x7k2p';

/** The Pod the ReplicaSet controller creates from `deploymentYaml`'s template, in `namespace`. */
export function podFromDeployment(deploymentYaml: string, namespace: string): ExamplePod {
  const deployment = parse(deploymentYaml) as DeploymentShape;
  const name = deployment.metadata?.name;
  const template = deployment.spec?.template;
  if (deployment.kind !== 'Deployment' || typeof name !== 'string' || template?.spec === undefined) {
    throw new Error(`${EXAMPLE_DEPLOYMENT_PATH} is not a Deployment with a pod template`);
  }
  const replicaSet = `${name}-${TEMPLATE_HASH}`;
  const podName = `${replicaSet}-${POD_SUFFIX}`;
  const templateLabels = (template.metadata?.labels ?? {}) as JsonObject;
  const templateAnnotations = template.metadata?.annotations as JsonObject | undefined;
  const metadata: JsonObject = {
    name: podName,
    generateName: `${replicaSet}-`,
    namespace,
    labels: { ...templateLabels, 'pod-template-hash': TEMPLATE_HASH },
    ...(templateAnnotations === undefined ? {} : { annotations: templateAnnotations }),
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: replicaSet, uid: 'b3f1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d', controller: true, blockOwnerDeletion: true }],
  };
  const spec = structuredClone(template.spec);
  const serviceAccount = typeof spec.serviceAccountName === 'string' ? spec.serviceAccountName : 'default';
  return { pod: { apiVersion: 'v1', kind: 'Pod', metadata, spec }, namespace, podName, serviceAccount };
}

export async function readExamplePod(namespace: string): Promise<ExamplePod> {
  return podFromDeployment(await readFile(EXAMPLE_DEPLOYMENT_FILE, 'utf8'), namespace);
}
