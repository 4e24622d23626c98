/**
 * The pure classification, table-driven over the golden fixtures in test/fixtures/audit/:
 * each names its owner and the exact findings (kind, severity, message) it must produce, and
 * every finding carries a one-line fix and no secret value.
 */
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { classifyPod, classifyWorkload, objectName } from '../../audit/classify.ts';
import type { FindingDraft } from '../../audit/model.ts';
import { OwnerIndex } from '../../audit/owners.ts';
import type { JsonObject } from '../../webhook/json.ts';
import { auditFixtureFiles, loadAuditFixture, type AuditFixture } from '../support/audit-fixtures.ts';
import { testInjectionDefaults } from '../support/injection-defaults.ts';

function classify(fixture: AuditFixture): { owner: string; drafts: readonly FindingDraft[] } {
  if (fixture.workload !== undefined) {
    const { kind, object } = fixture.workload;
    return { owner: `${kind}/${objectName(object)}`, drafts: classifyWorkload(kind, object, fixture.secrets) };
  }
  const pod = fixture.pod!;
  const { owner, drafts } = classifyPod(pod, {
    owners: fixture.owners,
    serviceAccount: fixture.serviceAccount,
    serviceAccountLookup: true,
    defaults: fixture.defaults,
    secrets: fixture.secrets,
  });
  return { owner: `${owner.kind}/${owner.name}`, drafts };
}

const PLANTED = /sk-ant-api03-PLANTED|some-static-token/;

describe('audit classification (golden fixtures)', () => {
  it.each(auditFixtureFiles())('%s', (file) => {
    const fixture = loadAuditFixture(file);
    const { owner, drafts } = classify(fixture);
    expect(owner, fixture.description).toBe(fixture.expect.owner);
    expect(
      drafts.map(({ kind, severity, message }) => ({ kind, severity, message })),
      fixture.description,
    ).toEqual(fixture.expect.findings);
    for (const draft of drafts) {
      expect(draft.fix.length, 'a fix on one line').toBeGreaterThan(0);
      expect(draft.fix).not.toContain('\n');
      expect(`${draft.message} ${draft.fix}`).not.toMatch(PLANTED);
    }
  });

  it('a pod the webhook stored with its real hash (test/fixtures/pods/already-injected.yaml) is current', () => {
    const golden = YAML.parse(readFileSync(new URL('../fixtures/pods/already-injected.yaml', import.meta.url), 'utf8')) as { pod: JsonObject };
    const { drafts } = classifyPod(golden.pod, {
      owners: new OwnerIndex(),
      serviceAccount: (namespace, name) => ({ namespace, name, annotations: {} }),
      serviceAccountLookup: true,
      defaults: testInjectionDefaults(),
      secrets: () => undefined,
    });
    expect(drafts).toEqual([]);
  });

  it('the same pod is stale when the configured agent image and another setting changed', () => {
    const golden = YAML.parse(readFileSync(new URL('../fixtures/pods/already-injected.yaml', import.meta.url), 'utf8')) as { pod: JsonObject };
    const { drafts } = classifyPod(golden.pod, {
      owners: new OwnerIndex(),
      serviceAccount: (namespace, name) => ({ namespace, name, annotations: {} }),
      serviceAccountLookup: true,
      defaults: testInjectionDefaults({ agentImage: 'registry.example/anthropic-wif:new', federationRuleId: 'fdrl_other' }),
      secrets: () => undefined,
    });
    expect(drafts.map((d) => d.kind)).toEqual(['stale-injection']);
    expect(drafts[0]!.message).toContain('ANTHROPIC_FEDERATION_RULE_ID fdrl_test_rule → fdrl_other');
  });
});
