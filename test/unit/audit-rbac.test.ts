/**
 * manifests/audit-rbac.yaml grants the audit exactly what it reads: list on every resource it
 * pages through (KubePath), get on Deployments for --webhook-deployment, and, in two opt-in
 * roles, get secrets (--read-secrets) and get pods/proxy (--metrics). test/e2e/audit.test.ts
 * applies the same file to a real API server and runs the audit with it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KubePath } from '../../contract/index.ts';
import { INSTALL_NAMESPACE } from '../../scripts/render-manifests.ts';
import { findObject, manifestErrors, parseManifests } from '../support/chart.ts';
import { REPO_ROOT } from '../support/k8s-tools.ts';

const objects = parseManifests(readFileSync(join(REPO_ROOT, 'manifests', 'audit-rbac.yaml'), 'utf8'));

interface Rule {
  readonly apiGroups: string[];
  readonly resources: string[];
  readonly verbs: string[];
}

/** `group resource verb` for every combination a ClusterRole's rules grant, sorted. */
function grants(name: string): string[] {
  const rules = (findObject(objects, 'ClusterRole', name) as unknown as { rules: Rule[] }).rules;
  return rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g === '' ? 'core' : g} ${res} ${v}`)))).sort();
}

/** `group resource` of an API list path: `/api/v1/pods` → `core pods`, `/apis/apps/v1/deployments` → `apps deployments`. */
function listedResource(path: string): string {
  const parts = path.split('/').filter((p) => p !== '');
  return parts[0] === 'api' ? `core ${parts[2] ?? ''}` : `${parts[1] ?? ''} ${parts[3] ?? ''}`;
}

describe('manifests/audit-rbac.yaml', () => {
  it('passes strict schema validation', () => {
    expect(manifestErrors(objects)).toEqual({});
  });

  it('the base role: list on every resource the audit pages through, get on Deployments, nothing else', () => {
    const lists = Object.entries(KubePath).filter(([key]) => key !== 'version').map(([, path]) => `${listedResource(path)} list`);
    expect(grants('anthropic-wif-audit')).toEqual([...new Set([...lists, 'apps deployments get'])].sort());
  });

  it.each([
    ['anthropic-wif-audit-read-secrets', ['core secrets get']],
    ['anthropic-wif-audit-metrics', ['core pods/proxy get']],
  ])('the opt-in role %s grants %j only', (name, expected) => {
    expect(grants(name)).toEqual(expected);
  });

  it('binds only the base role, to the ServiceAccount the file creates in the install namespace', () => {
    const account = findObject(objects, 'ServiceAccount', 'anthropic-wif-audit');
    expect(account.metadata.namespace).toBe(INSTALL_NAMESPACE);
    expect(objects.filter((o) => o.kind === 'ClusterRoleBinding')).toEqual([
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: 'anthropic-wif-audit' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'anthropic-wif-audit' },
        subjects: [{ kind: 'ServiceAccount', name: 'anthropic-wif-audit', namespace: INSTALL_NAMESPACE }],
      },
    ]);
  });
});
