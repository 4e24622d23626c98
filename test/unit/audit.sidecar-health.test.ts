/**
 * Finding 5's pure part: a sidecar's /metrics text reduced to numbers, each sidecar's state,
 * and a binding's finding, with the time of its newest successful exchange.
 */
import { describe, expect, it } from 'vitest';
import { BindingHealth, bindingDraft, parseSidecarMetrics, sidecarState, type SidecarMetrics } from '../../audit/sidecar-health.ts';
import { createAgentMetrics } from '../../agent/metrics.ts';
import { FakeClock } from '../support/fake-clock.ts';

const NOW = 1_800_000_000;
const KEY = { namespace: 'team-a', serviceAccount: 'summarizer', federationRuleId: 'fdrl_x' };

function sidecar(overrides: Partial<SidecarMetrics>): SidecarMetrics {
  return { exchangesSucceeded: 1, exchangesFailed: 0, accessTokenExpiry: NOW + 3000, identityTokenExpiry: NOW + 400, rotationGapSeconds: 0, lastSuccessAt: NOW - 60, lastFailureAt: 0, ...overrides };
}

describe('parseSidecarMetrics', () => {
  it("reads the agent's own exposition, the last-exchange times included", async () => {
    const clock = new FakeClock(NOW * 1000);
    const agent = createAgentMetrics({ processMetrics: false, clock });
    agent.exchangeFinished('failure', 120);
    await clock.advanceBy(30_000);
    agent.exchangeFinished('success', 80);
    agent.accessTokenOnDisk((NOW + 3600) * 1000);
    expect(parseSidecarMetrics(agent.render())).toEqual({
      exchangesSucceeded: 1,
      exchangesFailed: 1,
      accessTokenExpiry: NOW + 3600,
      identityTokenExpiry: 0,
      rotationGapSeconds: 0,
      lastSuccessAt: NOW + 30,
      lastFailureAt: NOW,
    });
  });

  it('takes an agent without the last-exchange series (an older image) as reporting none', () => {
    const text = ['anthropic_wif_exchanges_total{result="success"} 2', 'anthropic_wif_exchanges_total{result="failure"} 0', ''].join('\n');
    expect(parseSidecarMetrics(text)).toMatchObject({ exchangesSucceeded: 2, lastSuccessAt: 0, lastFailureAt: 0 });
  });

  it('is undefined for text that is not the agent’s metrics', () => {
    expect(parseSidecarMetrics('<html>502 Bad Gateway</html>')).toBeUndefined();
  });
});

describe('sidecarState', () => {
  it.each([
    { name: 'a token with time left', metrics: sidecar({}), want: 'ok' },
    { name: 'a token under the 120 s window', metrics: sidecar({ accessTokenExpiry: NOW + 100 }), want: 'low' },
    { name: 'no token', metrics: sidecar({ accessTokenExpiry: 0 }), want: 'failing' },
    { name: 'an expired token', metrics: sidecar({ accessTokenExpiry: NOW - 1 }), want: 'failing' },
    { name: 'only failed exchanges', metrics: sidecar({ exchangesSucceeded: 0, exchangesFailed: 4 }), want: 'failing' },
    { name: 'unreadable metrics', metrics: undefined, want: 'unreadable' },
  ])('$name: $want', ({ metrics, want }) => {
    expect(sidecarState({ pod: 'p', metrics }, NOW)).toBe(want);
  });
});

describe('bindingDraft', () => {
  function binding(readings: readonly (SidecarMetrics | undefined)[]): ReturnType<BindingHealth['summaries']>[number] {
    const health = new BindingHealth();
    readings.forEach((metrics, i) => {
      health.add(KEY, { pod: `pod-${String(i)}`, metrics }, NOW);
    });
    return health.summaries()[0]!;
  }

  it.each([
    {
      name: 'every sidecar fails: high, with the newest success among them',
      readings: [sidecar({ accessTokenExpiry: 0, lastSuccessAt: NOW - 7380, exchangesFailed: 3 }), sidecar({ accessTokenExpiry: 0, lastSuccessAt: NOW - 9000, exchangesFailed: 2 })],
      want: {
        severity: 'high',
        message: 'binding ServiceAccount "summarizer" → rule fdrl_x: all 2 sidecars fail (no valid token; 5 failed and 2 successful exchanges; last success 2h 3m ago)',
      },
    },
    {
      name: 'every sidecar fails and none ever succeeded',
      readings: [sidecar({ accessTokenExpiry: 0, exchangesSucceeded: 0, exchangesFailed: 6, lastSuccessAt: 0 })],
      want: {
        severity: 'high',
        message: 'binding ServiceAccount "summarizer" → rule fdrl_x: all 1 sidecars fail (no valid token; 6 failed and 0 successful exchanges; no success reported)',
      },
    },
    {
      name: 'one of two fails, one is low: medium',
      readings: [sidecar({ accessTokenExpiry: 0 }), sidecar({ accessTokenExpiry: NOW + 90 })],
      want: { severity: 'medium', message: 'binding ServiceAccount "summarizer" → rule fdrl_x: 1 of 2 sidecars fail, 1 hold a token under the SDKs\' 120 s window' },
    },
    { name: 'all healthy: no finding', readings: [sidecar({}), sidecar({})], want: undefined },
    { name: 'only unreadable sidecars: no finding', readings: [undefined], want: undefined },
  ])('$name', ({ readings, want }) => {
    const draft = bindingDraft(binding(readings), NOW);
    expect(draft === undefined ? undefined : { severity: draft.severity, message: draft.message }).toEqual(want);
  });

  it('keeps the newest success and failure of the binding', () => {
    const summary = binding([sidecar({ lastSuccessAt: NOW - 50, lastFailureAt: NOW - 400 }), sidecar({ lastSuccessAt: NOW - 20, lastFailureAt: 0 }), undefined]);
    expect([summary.lastSuccessAt, summary.lastFailureAt]).toEqual([NOW - 20, NOW - 400]);
  });
});
