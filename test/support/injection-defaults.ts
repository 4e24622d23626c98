/** Webhook defaults for tests: fixed values, so golden fixtures do not change with the version. */
import { Default } from '../../contract/index.ts';
import type { InjectionDefaults } from '../../webhook/types.ts';

export const TEST_ORGANIZATION_ID = '00000000-0000-4000-8000-000000000000';
export const TEST_FEDERATION_RULE_ID = 'fdrl_test_rule';
export const TEST_AGENT_IMAGE = 'registry.example/anthropic-wif:test';

export function testInjectionDefaults(overrides: Partial<InjectionDefaults> = {}): InjectionDefaults {
  return {
    organizationId: TEST_ORGANIZATION_ID,
    federationRuleId: TEST_FEDERATION_RULE_ID,
    audience: Default.audience,
    tokenExpirationSeconds: Default.tokenExpirationSeconds,
    mode: Default.mode,
    baseUrl: Default.baseUrl,
    agentImage: TEST_AGENT_IMAGE,
    agentImagePullPolicy: 'IfNotPresent',
    agentResources: Default.agentResources,
    nativeSidecar: { enabled: true, reason: 'the API server is v1.33.1, which runs native sidecars' },
    shadowing: 'warn',
    proxyPort: Default.proxyPort,
    caBundle: undefined,
    agentEnv: [],
    allowedBaseUrlOrigins: undefined,
    ...overrides,
  };
}
