/**
 * A Clock whose time moves only when a test says so. `advanceTo` fires due timers in time
 * order (ties in creation order), setting `now()` to each timer's instant and letting every
 * resulting promise chain settle before the next one, so hours of refresh cycles run in
 * milliseconds and each instant is observed exactly.
 */
import type { Clock, Random } from '../../runtime/clock.ts';

interface Timer {
  readonly id: number;
  readonly atMs: number;
  readonly resolve: () => void;
}

/** Lets every pending promise chain settle (the microtask queue drains before setImmediate runs). */
export async function flushMicrotasks(rounds = 2): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await new Promise<void>((resolve) => {
      setImmediate(resolve);
    });
  }
}

export class FakeClock implements Clock {
  #nowMs: number;
  #timers: Timer[] = [];
  #nextId = 1;
  /** Called after each instant has settled (every timer fired at it and its consequences). */
  onSettled: ((nowMs: number) => void) | undefined;

  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.#nowMs = startMs;
  }

  now(): number {
    return this.#nowMs;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(signal.reason as Error);
        return;
      }
      const id = this.#nextId++;
      const onAbort = (): void => {
        this.#timers = this.#timers.filter((t) => t.id !== id);
        reject(signal?.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#timers.push({
        id,
        atMs: this.#nowMs + Math.max(0, ms),
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      });
    });
  }

  /** Timers not yet fired. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  nextTimerAt(): number | undefined {
    return this.#earliest()?.atMs;
  }

  /** Fires every timer due at or before `targetMs`, in order, then sets the time to `targetMs`. */
  async advanceTo(targetMs: number): Promise<void> {
    await flushMicrotasks();
    for (;;) {
      const next = this.#earliest();
      if (next === undefined || next.atMs > targetMs) break;
      this.#nowMs = Math.max(this.#nowMs, next.atMs);
      this.#timers = this.#timers.filter((t) => t.id !== next.id);
      next.resolve();
      await flushMicrotasks();
      if (this.#earliest()?.atMs !== this.#nowMs) this.onSettled?.(this.#nowMs);
    }
    this.#nowMs = Math.max(this.#nowMs, targetMs);
    this.onSettled?.(this.#nowMs);
  }

  advanceBy(ms: number): Promise<void> {
    return this.advanceTo(this.#nowMs + ms);
  }

  #earliest(): Timer | undefined {
    let best: Timer | undefined;
    for (const timer of this.#timers) {
      if (best === undefined || timer.atMs < best.atMs || (timer.atMs === best.atMs && timer.id < best.id)) best = timer;
    }
    return best;
  }
}

/** A deterministic Random: the same seed gives the same sequence (mulberry32). */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A Random that always returns `value` (0.5 puts every jitter at its midpoint). */
export function constantRandom(value: number): Random {
  return () => value;
}
