/** Changing the suite's chart release (helm upgrade with the values of global setup plus overrides). */
import { inject } from 'vitest';
import { CHART_DIR } from '../../support/k8s-tools.ts';
import { helm, kubectl, type ClusterEnv } from './cluster-env.ts';

export const RELEASE = 'awi';
export const RELEASE_NAMESPACE = 'anthropic-workload-identity';
/** The ConfigMap holding the CA of the API server's webhook client certificate (scripts/cluster/up.sh). */
export const WEBHOOK_CLIENT_CA_CONFIGMAP = 'apiserver-webhook-client-ca';
/** The CN of that certificate, the one name `webhook.clientAuth.allowedNames` accepts. */
export const WEBHOOK_CLIENT_NAME = 'kube-apiserver-webhook-client';
export const WEBHOOK_DEPLOYMENT = 'awi-anthropic-workload-identity';

function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] =
      typeof value === 'object' && value !== null && !Array.isArray(value) && typeof current === 'object' && current !== null
        ? merge(current as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return out;
}

/** `helm upgrade --install --wait` with the suite's values and `overrides`; `{}` restores them. */
export async function upgradeRelease(env: ClusterEnv, overrides: Record<string, unknown>): Promise<void> {
  const values = merge(inject('chartValues'), overrides);
  await helm(env, ['upgrade', '--install', RELEASE, CHART_DIR, '--namespace', RELEASE_NAMESPACE, '--wait', '--timeout', '5m', '--values', '-'], { input: JSON.stringify(values) });
  await kubectl(env, ['rollout', 'status', '-n', RELEASE_NAMESPACE, `deployment/${WEBHOOK_DEPLOYMENT}`, '--timeout=180s']);
}
