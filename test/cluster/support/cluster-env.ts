/**
 * What `npm run cluster:up` left behind: `<cluster dir>/cluster.env` (kubeconfig, API server,
 * CA, host address on the pod bridge, image references), and kubectl/helm runners bound to it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { helmPath, kubectlPath, runToolAsync, type ToolResult } from '../../support/k8s-tools.ts';

export const CLUSTER_DIR = process.env.ANTHROPIC_WIF_CLUSTER_DIR ?? '/var/lib/anthropic-wif-cluster';

export interface ClusterEnv {
  readonly kubeconfig: string;
  readonly apiServer: string;
  readonly clusterCaFile: string;
  /** The CA of the API server's webhook client certificate, and that certificate and key. */
  readonly webhookClientCaFile: string;
  readonly webhookClientCertFile: string;
  readonly webhookClientKeyFile: string;
  /** The cluster admin's client certificate (signed by the cluster CA, not the webhook client CA). */
  readonly adminCertFile: string;
  readonly adminKeyFile: string;
  /** The host's address on the pod bridge: the stand-ins listen here. */
  readonly hostIp: string;
  readonly kubeVersion: string;
  readonly imageWif: string;
  readonly imageApp: string;
  readonly imageNodeBase: string;
  readonly dir: string;
}

export function readClusterEnv(dir: string = CLUSTER_DIR): ClusterEnv {
  const file = join(dir, 'cluster.env');
  const values = new Map<string, string>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) values.set(line.slice(0, at), line.slice(at + 1));
  }
  const need = (key: string): string => {
    const value = values.get(key);
    if (value === undefined || value === '') throw new Error(`${file} has no ${key}: run npm run cluster:up`);
    return value;
  };
  return {
    kubeconfig: need('KUBECONFIG'),
    apiServer: need('API_SERVER'),
    clusterCaFile: need('CLUSTER_CA'),
    webhookClientCaFile: need('WEBHOOK_CLIENT_CA'),
    webhookClientCertFile: need('WEBHOOK_CLIENT_CERT'),
    webhookClientKeyFile: need('WEBHOOK_CLIENT_KEY'),
    adminCertFile: need('ADMIN_CERT'),
    adminKeyFile: need('ADMIN_KEY'),
    hostIp: need('HOST_IP'),
    kubeVersion: need('KUBE_VERSION'),
    imageWif: need('IMAGE_WIF'),
    imageApp: need('IMAGE_APP'),
    imageNodeBase: need('IMAGE_NODE_BASE'),
    dir,
  };
}

/** `kubectl` against the cluster; throws with its stderr unless `allowFailure`. */
export async function kubectl(env: ClusterEnv, args: readonly string[], options: { input?: string; allowFailure?: boolean } = {}): Promise<ToolResult> {
  const result = await runToolAsync(kubectlPath(), args, { kubeconfig: env.kubeconfig, ...(options.input === undefined ? {} : { input: options.input }) });
  if (result.status !== 0 && options.allowFailure !== true) throw new Error(`kubectl ${args.join(' ')} failed (${result.status}): ${result.stderr.trim()}`);
  return result;
}

export async function helm(env: ClusterEnv, args: readonly string[], options: { input?: string; allowFailure?: boolean } = {}): Promise<ToolResult> {
  const result = await runToolAsync(helmPath(), args, { kubeconfig: env.kubeconfig, ...(options.input === undefined ? {} : { input: options.input }) });
  if (result.status !== 0 && options.allowFailure !== true) throw new Error(`helm ${args.join(' ')} failed (${result.status}): ${result.stderr.trim()}`);
  return result;
}

/** `kubectl apply` of objects given as JS values (sent as one JSON List). */
export async function apply(env: ClusterEnv, objects: readonly unknown[]): Promise<void> {
  await kubectl(env, ['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }) });
}

export async function getJson<T>(env: ClusterEnv, args: readonly string[]): Promise<T> {
  return JSON.parse((await kubectl(env, ['get', ...args, '-o', 'json'])).stdout) as T;
}

/** Polls `probe` every `intervalMs` until it returns a value other than undefined. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000, intervalMs = 1_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError instanceof Error ? `: ${lastError.message}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
