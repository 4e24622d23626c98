/**
 * Starts one real kube-apiserver + etcd for the e2e suite (building the apiserver first if
 * the cache has none) and stops both, by pid, when the suite ends.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { ensureKubeApiserver, startCluster, type Cluster } from './cluster.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    cluster: { dir: string; server: string; kubeconfig: string; caCert: string; caKey: string };
  }
}

let cluster: Cluster | undefined;
let dir: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  await ensureKubeApiserver();
  dir = await mkdtemp(join(tmpdir(), 'anthropic-wif-e2e-'));
  cluster = await startCluster(dir);
  project.provide('cluster', {
    dir: cluster.dir,
    server: cluster.server,
    kubeconfig: cluster.kubeconfig,
    caCert: cluster.pki.caCert,
    caKey: cluster.pki.caKey,
  });
}

export async function teardown(): Promise<void> {
  await cluster?.stop();
  if (dir !== undefined && process.env.ANTHROPIC_WIF_E2E_KEEP !== '1') await rm(dir, { recursive: true, force: true });
}
