/**
 * The check on the fleet simulation: sample pods run through the real Refresher
 * (agent/refresh/refresher.ts, with its async loop, file watch, heartbeat and state file) on a
 * FakeClock, against the same kubelet schedule and the same endpoint rule (FakeKubelet and
 * FakeTokenEndpoint of test/support/fake-token-world.ts), and their traces are compared with
 * the simulation's.
 */
import { FakeClock, seededRandom } from '../../test/support/fake-clock.ts';
import { FakeKubelet, FakeTokenEndpoint, FakeTokenStore, IdentityTokenRegistry, refresherFor } from '../../test/support/fake-token-world.ts';
import { kubeletFor } from './fleet-model.ts';
import type { FleetScenario, PodTrace } from './fleet-sim.ts';

/** Runs the scenario's first `count` pods through the real Refresher; one trace per pod. */
export async function replayWithRefresher(scenario: FleetScenario, count: number): Promise<PodTrace[]> {
  const clock = new FakeClock(scenario.originMs);
  const registry = new IdentityTokenRegistry();
  const stop = new AbortController();
  const pods = scenario.pods.slice(0, count);
  const worlds = pods.map(() => ({ endpoint: new FakeTokenEndpoint(clock, registry, scenario.ruleLifetimeSeconds), store: new FakeTokenStore(clock) }));
  const runs: Promise<void>[] = [];
  const kubelets: FakeKubelet[] = [];
  pods.forEach((pod, i) => {
    const world = worlds[i]!;
    world.endpoint.latencyMs = scenario.exchangeLatencyMs;
    const started = clock.sleep(pod.startMs - scenario.originMs, stop.signal).then(() => {
      const kubelet = new FakeKubelet(clock, registry, scenario.expirationSeconds, kubeletFor(scenario.kubelet, scenario.expirationSeconds, pod));
      kubelets.push(kubelet);
      const refresher = refresherFor({ clock, source: kubelet.source(), endpoint: world.endpoint, store: world.store }, { random: seededRandom(pod.agentSeed) });
      return refresher.run(stop.signal);
    });
    runs.push(started.catch(() => undefined));
  });
  await clock.advanceTo(scenario.originMs + scenario.durationMs);
  stop.abort();
  for (const kubelet of kubelets) kubelet.stop();
  await Promise.all(runs);
  return worlds.map(({ endpoint, store }) => {
    const emptySpans: [number, number][] = [];
    let removedAt: number | undefined;
    for (const event of store.events) {
      if (event.kind === 'remove') removedAt = event.atMs;
      else if (removedAt !== undefined) {
        emptySpans.push([removedAt - scenario.originMs, event.atMs - scenario.originMs]);
        removedAt = undefined;
      }
    }
    return {
      exchangesAtMs: endpoint.records.map((r) => r.atMs - scenario.originMs),
      remainingAtReplaceMs: store.events.flatMap((e) => (e.kind === 'write' && e.previousRemainingMs !== undefined ? [e.previousRemainingMs] : [])),
      emptySpans,
    };
  });
}
