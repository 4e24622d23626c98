/**
 * The check on the fleet simulation: sample pods run through the real Refresher
 * (agent/refresher.ts, with its async loop, file watch, heartbeat and state file) on a
 * FakeClock, against the same kubelet schedule and the same endpoint rule
 * (test/support/fake-token-world.ts), and their traces are compared with the simulation's.
 */
import type { IdentityTokenSource } from '../../agent/identity-sources.ts';
import type { IdentityToken } from '../../agent/identity-token.ts';
import type { Clock } from '../../runtime/clock.ts';
import { FakeClock, seededRandom } from '../../test/support/fake-clock.ts';
import { FakeTokenEndpoint, FakeTokenStore, IdentityTokenRegistry, refresherFor } from '../../test/support/fake-token-world.ts';
import { kubeletFor, type KubeletSchedule } from './fleet-model.ts';
import type { FleetScenario, PodTrace } from './fleet-sim.ts';

/** A projected token file replaced on the kubelet schedule; watchers told at once. */
class ScheduledKubelet {
  readonly #clock: Clock;
  readonly #registry: IdentityTokenRegistry;
  readonly #expirationSeconds: number;
  readonly #schedule: KubeletSchedule;
  readonly #watchers = new Set<() => void>();
  readonly #stop: AbortSignal;
  current: IdentityToken;

  constructor(world: { readonly clock: Clock; readonly registry: IdentityTokenRegistry; readonly stop: AbortSignal }, expirationSeconds: number, schedule: KubeletSchedule) {
    this.#clock = world.clock;
    this.#registry = world.registry;
    this.#expirationSeconds = expirationSeconds;
    this.#schedule = schedule;
    this.#stop = world.stop;
    this.current = this.#registry.issue(this.#clock.now(), expirationSeconds);
    void this.#rotateForever();
  }

  source(): IdentityTokenSource {
    return {
      kind: 'file',
      description: 'file /fleet/token',
      rotatesOnItsOwn: true,
      read: () => Promise.resolve(this.current),
      watch: (onChange) => {
        this.#watchers.add(onChange);
        return () => this.#watchers.delete(onChange);
      },
    };
  }

  async #rotateForever(): Promise<void> {
    for (;;) {
      const rotateAt = this.#schedule.nextRotationAt((this.current.claims.iat ?? 0) * 1000);
      try {
        await this.#clock.sleep(rotateAt - this.#clock.now(), this.#stop);
      } catch {
        return;
      }
      this.current = this.#registry.issue(this.#clock.now(), this.#expirationSeconds);
      for (const watcher of this.#watchers) watcher();
    }
  }
}

/** Runs the scenario's first `count` pods through the real Refresher; one trace per pod. */
export async function replayWithRefresher(scenario: FleetScenario, count: number): Promise<PodTrace[]> {
  const clock = new FakeClock(scenario.originMs);
  const registry = new IdentityTokenRegistry();
  const stop = new AbortController();
  const pods = scenario.pods.slice(0, count);
  const worlds = pods.map(() => ({ endpoint: new FakeTokenEndpoint(clock, registry, scenario.ruleLifetimeSeconds), store: new FakeTokenStore(clock) }));
  const runs: Promise<void>[] = [];
  pods.forEach((pod, i) => {
    const world = worlds[i]!;
    world.endpoint.latencyMs = scenario.exchangeLatencyMs;
    const started = clock.sleep(pod.startMs - scenario.originMs, stop.signal).then(() => {
      const kubelet = new ScheduledKubelet({ clock, registry, stop: stop.signal }, scenario.expirationSeconds, kubeletFor(scenario.kubelet, scenario.expirationSeconds, pod));
      const refresher = refresherFor({ clock, source: kubelet.source(), endpoint: world.endpoint, store: world.store }, { random: seededRandom(pod.agentSeed) });
      return refresher.run(stop.signal);
    });
    runs.push(started.catch(() => undefined));
  });
  await clock.advanceTo(scenario.originMs + scenario.durationMs);
  stop.abort();
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
