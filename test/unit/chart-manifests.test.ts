/**
 * What is generated from the chart (manifests/install.yaml, the values reference) must not
 * drift from it, and the plain manifests and examples must pass strict schema validation.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ANNOTATION_PREFIX, Annotation, IdPattern, OPT_IN_LABEL } from '../../contract/index.ts';
import {
  INSTALL_MANIFEST,
  INSTALL_NAMESPACE,
  PLACEHOLDER_ORGANIZATION_ID,
  VALUES_FILE,
  generatedFiles,
  renderValuesReference,
  valuesRows,
  withValuesReference,
} from '../../scripts/render-manifests.ts';
import { findObject, kindsOf, manifestErrors, parseManifests } from '../support/chart.ts';
import type { KubeObject } from '../support/chart.ts';
import { CHART_DIR, REPO_ROOT } from '../support/k8s-tools.ts';

const EXAMPLES_DIR = join(REPO_ROOT, 'manifests', 'examples');

describe('generated files are up to date (npm run manifests)', () => {
  it.each(generatedFiles().map((file) => [relative(REPO_ROOT, file.path), file] as const))('%s', (_name, file) => {
    expect(file.actual).toBe(file.expected);
  });

  it('include the install manifest and the values reference (README.md)', () => {
    const names = generatedFiles().map((f) => relative(REPO_ROOT, f.path));
    expect(names[0]).toBe('manifests/install.yaml');
    expect(names).toContain('README.md');
  });
});

describe('manifests/install.yaml', () => {
  let objects: KubeObject[];
  beforeAll(() => {
    objects = parseManifests(readFileSync(INSTALL_MANIFEST, 'utf8'));
  });

  it('creates its namespace first, labelled so that the webhook skips it even on 1.20', () => {
    expect(objects[0]).toEqual({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name: INSTALL_NAMESPACE,
        labels: { 'kubernetes.io/metadata.name': INSTALL_NAMESPACE, 'pod-security.kubernetes.io/enforce': 'restricted' },
      },
    });
  });

  it('holds the webhook with cert-manager certificates and no private key', () => {
    expect(kindsOf(objects).sort()).toEqual(
      [
        `Namespace/${INSTALL_NAMESPACE}`,
        `PodDisruptionBudget/${INSTALL_NAMESPACE}`,
        `ServiceAccount/${INSTALL_NAMESPACE}`,
        `ClusterRole/${INSTALL_NAMESPACE}`,
        `ClusterRoleBinding/${INSTALL_NAMESPACE}`,
        `Service/${INSTALL_NAMESPACE}`,
        `Deployment/${INSTALL_NAMESPACE}`,
        `Certificate/${INSTALL_NAMESPACE}-ca`,
        `Certificate/${INSTALL_NAMESPACE}-serving`,
        `Issuer/${INSTALL_NAMESPACE}-ca`,
        `Issuer/${INSTALL_NAMESPACE}-selfsigned`,
        `MutatingWebhookConfiguration/${INSTALL_NAMESPACE}`,
      ].sort(),
    );
    expect(findObject(objects, 'MutatingWebhookConfiguration').metadata.annotations).toEqual({
      'cert-manager.io/inject-ca-from': `${INSTALL_NAMESPACE}/${INSTALL_NAMESPACE}-serving`,
    });
    expect(readFileSync(INSTALL_MANIFEST, 'utf8')).not.toContain('PRIVATE KEY');
  });

  it('passes strict schema validation', () => {
    expect(manifestErrors(objects)).toEqual({});
  });

  it('carries the placeholder organization id that its header tells the user to replace', () => {
    const text = readFileSync(INSTALL_MANIFEST, 'utf8');
    expect(text).toContain(`# Before applying, replace the placeholder organization id ${PLACEHOLDER_ORGANIZATION_ID}`);
    expect(text).toContain(`- --organization-id=${PLACEHOLDER_ORGANIZATION_ID}\n`);
    expect(IdPattern.organizationId.test(PLACEHOLDER_ORGANIZATION_ID)).toBe(true);
  });
});

describe('manifests/examples', () => {
  const files = readdirSync(EXAMPLES_DIR).filter((f) => f.endsWith('.yaml')).sort();
  const objects = files.flatMap((file) => parseManifests(readFileSync(join(EXAMPLES_DIR, file), 'utf8')));
  const contractKeys: readonly string[] = Object.values(Annotation);

  it('are an annotated ServiceAccount, a Deployment and a Job', () => {
    expect(files).toEqual(['deployment.yaml', 'job.yaml', 'service-account.yaml']);
    expect(kindsOf(objects)).toEqual(['Deployment/claude-agent', 'Job/claude-once', 'ServiceAccount/claude-agent']);
  });

  it('pass strict schema validation', () => {
    expect(manifestErrors(objects)).toEqual({});
  });

  it('the ServiceAccount opts in with contract annotations and well-formed ids', () => {
    const annotations = findObject(objects, 'ServiceAccount').metadata.annotations ?? {};
    expect(Object.keys(annotations).filter((k) => k.startsWith(ANNOTATION_PREFIX) && !contractKeys.includes(k))).toEqual([]);
    expect(annotations[Annotation.inject]).toBe('true');
    expect(IdPattern.federationRuleId.test(annotations[Annotation.federationRuleId] ?? '')).toBe(true);
  });

  it.each([
    ['Deployment', 'claude-agent'],
    ['Job', 'claude-once'],
  ])('the %s runs as the ServiceAccount, carries the opt-in label and reads the token file', (kind, name) => {
    const object = findObject(objects, kind, name) as unknown as {
      spec: { template: { metadata: { labels: Record<string, string> }; spec: { serviceAccountName: string; containers: { args: string[] }[] } } };
    };
    const pod = object.spec.template;
    expect(pod.metadata.labels[OPT_IN_LABEL]).toBe('true');
    expect(pod.spec.serviceAccountName).toBe('claude-agent');
    expect(pod.spec.containers[0]!.args.join('\n')).toContain('"$(cat "$ANTHROPIC_ACCESS_TOKEN_FILE")"');
  });

  it('the Job never restarts its pod in place, so it completes when the app exits', () => {
    const job = findObject(objects, 'Job') as unknown as { spec: { template: { spec: { restartPolicy: string } } } };
    expect(job.spec.template.spec.restartPolicy).toBe('Never');
  });
});

describe('the values reference', () => {
  const valuesText = readFileSync(VALUES_FILE, 'utf8');

  it('documents every key of values.yaml, and fails naming a key without a description', () => {
    expect(valuesRows(valuesText).length).toBeGreaterThan(60);
    expect(() => valuesRows(`${valuesText}\nundocumentedKey: 1\n`)).toThrow('values.yaml keys without a "# --" description: undocumentedKey');
  });

  it('covers every property of values.schema.json', () => {
    interface Node {
      type?: string | string[];
      properties?: Record<string, Node>;
    }
    const schema = JSON.parse(readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8')) as Node;
    const paths = (node: Node, prefix: string): string[] =>
      Object.entries(node.properties ?? {}).flatMap(([key, child]) => (child.properties === undefined ? [`${prefix}${key}`] : paths(child, `${prefix}${key}.`)));
    const documented = valuesRows(valuesText).map((r) => r.key);
    const undocumented = paths(schema, '').filter((path) => path !== 'global' && !documented.some((key) => path === key || path.startsWith(`${key}.`)));
    expect(undocumented).toEqual([]);
  });

  it('renders one table row per key, with the default as JSON', () => {
    const table = renderValuesReference('# -- The mode.\nmode: file\nsection:\n  # -- A | pipe.\n  list: []\n');
    expect(table).toBe(['| Key | Default | Description |', '| --- | --- | --- |', '| `mode` | `"file"` | The mode. |', '| `section.list` | `[]` | A \\| pipe. |'].join('\n'));
  });

  it('replaces only the text between the markers', () => {
    const start = '<!-- values-reference:start (generated by npm run manifests from values.yaml; do not edit) -->';
    const end = '<!-- values-reference:end -->';
    expect(withValuesReference(`intro\n${start}\nold\n${end}\noutro\n`, 'new')).toBe(`intro\n${start}\nnew\n${end}\noutro\n`);
    expect(withValuesReference('no markers\n', 'new')).toBe('no markers\n');
  });
});
