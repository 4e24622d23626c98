/**
 * A discrete-event simulation of a fleet of agents, each deciding with the REAL planner
 * (agent/refresh/refresh-schedule.ts: initialState, decideAfterRead, decideAfterExchange,
 * expireToken, onSourceChanged, nextWakeAt) on a simulated clock: one priority queue of
 * events (agent wake-ups, kubelet rotations, exchange answers) instead of ten thousand
 * Refresher instances with promises and timers.
 *
 * `stepAgent` is the Refresher's loop (agent/refresh/refresher.ts, #step) with its I/O made
 * instantaneous: drop an expired token and remove the files, read the source when the plan
 * says so, exchange or wait, sleep until the plan's next wake. The Refresher's 60 s
 * heartbeat wake-ups are left out: with nothing due they change nothing. A rotation wakes an
 * agent at once only while it is awaiting an assertion, as the Refresher's file watch does.
 * fleet-replay.ts runs sample pods through the real Refresher to check the two agree.
 */
import type { Random } from '../../runtime/clock.ts';
import {
  DEFAULT_REFRESH_POLICY,
  decideAfterExchange,
  decideAfterRead,
  expireToken,
  initialState,
  nextWakeAt,
  onSourceChanged,
  type AssertionFacts,
  type PlanContext,
  type RefreshState,
  type TokenTimes,
} from '../../agent/refresh/refresh-schedule.ts';
import { seededRandom } from '../../test/support/fake-clock.ts';
import { mintedLifetimeSeconds } from '../../test/support/lifetime-rule.ts';
import { kubeletFor, type KubeletKind, type KubeletSchedule, type PodSpec } from './fleet-model.ts';

export interface FleetScenario {
  readonly expirationSeconds: number;
  readonly ruleLifetimeSeconds: number;
  readonly kubelet: KubeletKind;
  /** Every exchange takes this long (request sent → answer). */
  readonly exchangeLatencyMs: number;
  readonly pods: readonly PodSpec[];
  readonly originMs: number;
  readonly durationMs: number;
}

/** What one pod's files saw each time the token in them was replaced or removed. */
export interface PodTrace {
  /** Request times (ms since the origin) of every exchange, in order. */
  readonly exchangesAtMs: number[];
  /** For each write that replaced a token: what the replaced one still had left (ms; negative: it had expired). */
  readonly remainingAtReplaceMs: number[];
  /** Spans with no token in the files after the first one was written: [removed at, next written at]. */
  readonly emptySpans: [number, number][];
}

export interface FleetResult {
  readonly scenario: FleetScenario;
  /** Exchanges per second of simulated time, indexed from the origin. */
  readonly exchangesPerSecond: Uint32Array;
  /** Projected tokens issued per second (at pod start and at each rotation): what an agent exchanging every new assertion at once would send. */
  readonly rotationsPerSecond: Uint32Array;
  readonly exchanges: number;
  readonly replays: number;
  readonly rejections: number;
  /** Smallest lifetime left in any pod's files when its token was replaced (ms). */
  readonly minRemainingMs: number;
  /** Replacements with under the SDKs' 120 s left, and the pods that had one. */
  readonly replacementsUnderWindow: number;
  readonly podsUnderWindow: number;
  readonly replacements: number;
  /** Every replacement's remaining lifetime, ascending (seconds), for percentiles. */
  readonly remainingSeconds: Float64Array;
  readonly emptySpans: number;
  readonly longestEmptyMs: number;
  readonly totalEmptyMs: number;
  /** Per-pod traces for the first `tracePods` pods (for the replay check). */
  readonly traces: readonly PodTrace[];
  readonly events: number;
  readonly wallMs: number;
}

// ---------------------------------------------------------------------------------------
// The event queue: a binary min-heap on (time, insertion order), as a timer queue orders ties.

/** `start`: the kubelet mounts the first projected token and the agent starts. */
const Kind = { start: 0, wake: 1, rotate: 2, answer: 3 } as const;
type EventKind = (typeof Kind)[keyof typeof Kind];

interface SimEvent {
  readonly atMs: number;
  readonly seq: number;
  readonly pod: number;
  readonly kind: EventKind;
  /** For wake-ups: the pod's wake generation it belongs to (a newer sleep supersedes it). */
  readonly generation: number;
}

class EventQueue {
  readonly #heap: SimEvent[] = [];
  #seq = 0;

  get size(): number {
    return this.#heap.length;
  }

  push(atMs: number, pod: number, kind: EventKind, generation: number): void {
    const heap = this.#heap;
    const event: SimEvent = { atMs, seq: this.#seq++, pod, kind, generation };
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const above = heap[parent]!;
      if (!before(event, above)) break;
      heap[i] = above;
      i = parent;
    }
    heap[i] = event;
  }

  pop(): SimEvent | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && before(heap[right]!, heap[left]!) ? right : left;
      if (!before(heap[child]!, last)) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
    return top;
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
}

// ---------------------------------------------------------------------------------------
// Pods

interface Assertion extends AssertionFacts {
  readonly expSeconds: number;
}

interface Pod {
  readonly spec: PodSpec;
  readonly random: Random;
  readonly kubelet: KubeletSchedule;
  plan: RefreshState;
  /** The token in the files (the Refresher writes a minted token at once; here the write is instantaneous). */
  held: TokenTimes | undefined;
  /** The projected token the kubelet has in place now. */
  assertion: Assertion;
  serial: number;
  /** The assertion an exchange in flight is sending. */
  sending: Assertion | undefined;
  sentAtMs: number;
  wakeGeneration: number;
  emptySinceMs: number | undefined;
  readonly usedJtis: Set<string>;
  underWindow: boolean;
  readonly trace: PodTrace | undefined;
}

const SDK_WINDOW_MS = DEFAULT_REFRESH_POLICY.sdkWindowMs;

export function simulateFleet(scenario: FleetScenario, options: { readonly tracePods: number }): FleetResult {
  const started = performance.now();
  const seconds = Math.ceil(scenario.durationMs / 1000) + 1;
  const exchangesPerSecond = new Uint32Array(seconds);
  const rotationsPerSecond = new Uint32Array(seconds);
  const remaining: number[] = [];
  const queue = new EventQueue();
  const tally = { exchanges: 0, replays: 0, rejections: 0, minRemainingMs: Number.POSITIVE_INFINITY, under: 0, emptySpans: 0, longestEmptyMs: 0, totalEmptyMs: 0, events: 0 };
  const endMs = scenario.originMs + scenario.durationMs;
  const { expirationSeconds, ruleLifetimeSeconds, exchangeLatencyMs } = scenario;
  const bucket = (atMs: number): number => Math.floor((atMs - scenario.originMs) / 1000);

  const context = (pod: Pod, nowMs: number): PlanContext => ({ nowMs, rotatesOnItsOwn: true, policy: DEFAULT_REFRESH_POLICY, random: pod.random });

  const issue = (pod: Pod, nowMs: number): Assertion => {
    pod.serial += 1;
    const iat = Math.floor(nowMs / 1000);
    const jti = `${pod.spec.index}-${pod.serial}`;
    return { key: `key-${jti}`, hasJti: true, issuedAtMs: iat * 1000, expiresAtMs: (iat + expirationSeconds) * 1000, expSeconds: iat + expirationSeconds };
  };

  const sleepUntil = (pod: Pod, atMs: number): void => {
    pod.wakeGeneration += 1;
    if (atMs <= endMs) queue.push(atMs, pod.spec.index, Kind.wake, pod.wakeGeneration);
  };

  const write = (pod: Pod, token: TokenTimes, nowMs: number): void => {
    if (pod.held !== undefined) {
      const left = pod.held.expiresAtMs - nowMs;
      remaining.push(left / 1000);
      pod.trace?.remainingAtReplaceMs.push(left);
      tally.minRemainingMs = Math.min(tally.minRemainingMs, left);
      if (left < SDK_WINDOW_MS) {
        tally.under += 1;
        pod.underWindow = true;
      }
    }
    if (pod.emptySinceMs !== undefined) {
      const span = nowMs - pod.emptySinceMs;
      tally.emptySpans += 1;
      tally.totalEmptyMs += span;
      tally.longestEmptyMs = Math.max(tally.longestEmptyMs, span);
      pod.trace?.emptySpans.push([pod.emptySinceMs - scenario.originMs, nowMs - scenario.originMs]);
      pod.emptySinceMs = undefined;
    }
    pod.held = token;
  };

  /** The Refresher's #step, repeated until it sleeps or sends an exchange. */
  const stepAgent = (pod: Pod, nowMs: number): void => {
    for (;;) {
      pod.plan = expireToken(pod.plan, nowMs);
      if (pod.held !== undefined && pod.held.expiresAtMs <= nowMs) {
        pod.held = undefined;
        pod.emptySinceMs = nowMs;
      }
      if (nowMs < pod.plan.nextReadAtMs) {
        sleepUntil(pod, Math.min(nextWakeAt(pod.plan), pod.held?.expiresAtMs ?? Number.POSITIVE_INFINITY));
        return;
      }
      // checkIdentityToken: an expired projected token is unusable.
      const usable = pod.assertion.expSeconds > Math.floor(nowMs / 1000);
      const observation = usable ? ({ kind: 'assertion', assertion: pod.assertion } as const) : ({ kind: 'unusable' } as const);
      const decision = decideAfterRead(pod.plan, observation, context(pod, nowMs));
      pod.plan = decision.state;
      if (decision.action === 'exchange') {
        send(pod, pod.assertion, nowMs);
        return;
      }
    }
  };

  const send = (pod: Pod, assertion: Assertion, nowMs: number): void => {
    pod.sending = assertion;
    pod.sentAtMs = nowMs;
    // An exchange in flight: no earlier wake-up of this pod stands (the Refresher is not sleeping).
    pod.wakeGeneration += 1;
    tally.exchanges += 1;
    const second = bucket(nowMs);
    if (second < exchangesPerSecond.length) exchangesPerSecond[second] = (exchangesPerSecond[second] ?? 0) + 1;
    pod.trace?.exchangesAtMs.push(nowMs - scenario.originMs);
    queue.push(nowMs + exchangeLatencyMs, pod.spec.index, Kind.answer, 0);
  };

  /** The endpoint answers: single-use jti, the lifetime rule; then the agent plans and writes. */
  const answer = (pod: Pod, nowMs: number): void => {
    const assertion = pod.sending;
    if (assertion === undefined) throw new Error('an answer with no exchange in flight');
    pod.sending = undefined;
    const jti = assertion.key;
    const reused = pod.usedJtis.has(jti);
    pod.usedJtis.add(jti);
    if (reused) tally.replays += 1;
    if (reused || assertion.expSeconds <= Math.floor(nowMs / 1000)) {
      tally.rejections += 1;
      pod.plan = decideAfterExchange(pod.plan, assertion, { kind: 'rejected' }, context(pod, nowMs));
      stepAgent(pod, nowMs);
      return;
    }
    const lifetime = mintedLifetimeSeconds(ruleLifetimeSeconds, assertion.expSeconds, nowMs);
    const token = { obtainedAtMs: pod.sentAtMs, expiresAtMs: pod.sentAtMs + lifetime * 1000 };
    pod.plan = decideAfterExchange(pod.plan, assertion, { kind: 'minted', token }, context(pod, nowMs));
    write(pod, token, nowMs);
    stepAgent(pod, nowMs);
  };

  const countRotation = (nowMs: number): void => {
    const second = bucket(nowMs);
    if (second < rotationsPerSecond.length) rotationsPerSecond[second] = (rotationsPerSecond[second] ?? 0) + 1;
  };

  const rotate = (pod: Pod, nowMs: number): void => {
    pod.assertion = issue(pod, nowMs);
    countRotation(nowMs);
    queue.push(pod.kubelet.nextRotationAt(pod.assertion.issuedAtMs ?? nowMs), pod.spec.index, Kind.rotate, 0);
    // The file watch wakes an agent that sleeps awaiting an assertion, and no other.
    if (pod.sending === undefined && pod.plan.phase === 'awaiting-assertion') {
      pod.plan = onSourceChanged(pod.plan, nowMs);
      stepAgent(pod, nowMs);
    }
  };

  const pods: Pod[] = scenario.pods.map((spec) => ({
    spec,
    random: seededRandom(spec.agentSeed),
    kubelet: kubeletFor(scenario.kubelet, expirationSeconds, spec),
    plan: { phase: 'awaiting-assertion', token: undefined, nextReadAtMs: spec.startMs, spentKeys: [], failures: 0 },
    held: undefined,
    assertion: { key: '', hasJti: true, issuedAtMs: 0, expiresAtMs: 0, expSeconds: 0 },
    serial: 0,
    sending: undefined,
    sentAtMs: 0,
    wakeGeneration: 0,
    emptySinceMs: undefined,
    usedJtis: new Set(),
    underWindow: false,
    trace: spec.index < options.tracePods ? { exchangesAtMs: [], remainingAtReplaceMs: [], emptySpans: [] } : undefined,
  }));
  // Pod start: the kubelet mounts the first projected token, then the agent starts (initialState, first step).
  for (const pod of pods) queue.push(pod.spec.startMs, pod.spec.index, Kind.start, 0);

  for (let event = queue.pop(); event !== undefined && event.atMs <= endMs; event = queue.pop()) {
    tally.events += 1;
    const pod = pods[event.pod]!;
    if (event.kind === Kind.start) {
      pod.assertion = issue(pod, event.atMs);
      countRotation(event.atMs);
      queue.push(pod.kubelet.nextRotationAt(pod.assertion.issuedAtMs ?? event.atMs), pod.spec.index, Kind.rotate, 0);
      pod.plan = initialState({ adopted: undefined, saved: undefined }, context(pod, event.atMs));
      stepAgent(pod, event.atMs);
    } else if (event.kind === Kind.rotate) {
      rotate(pod, event.atMs);
    } else if (event.kind === Kind.answer) {
      answer(pod, event.atMs);
    } else if (event.generation === pod.wakeGeneration && pod.sending === undefined) {
      stepAgent(pod, event.atMs);
    }
  }

  remaining.sort((a, b) => a - b);
  return {
    scenario,
    exchangesPerSecond,
    rotationsPerSecond,
    exchanges: tally.exchanges,
    replays: tally.replays,
    rejections: tally.rejections,
    minRemainingMs: tally.minRemainingMs,
    replacementsUnderWindow: tally.under,
    podsUnderWindow: pods.filter((p) => p.underWindow).length,
    replacements: remaining.length,
    remainingSeconds: Float64Array.from(remaining),
    emptySpans: tally.emptySpans,
    longestEmptyMs: tally.longestEmptyMs,
    totalEmptyMs: tally.totalEmptyMs,
    traces: pods.flatMap((p) => (p.trace === undefined ? [] : [p.trace])),
    events: tally.events,
    wallMs: performance.now() - started,
  };
}
