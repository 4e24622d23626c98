/**
 * Reads the agent's JSON log lines as they come and turns the ones the narrative needs into
 * events: each new access token (with its expiry and the next planned refresh), the health
 * listener's port, and any warning or error.
 */
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

export type LogRecord = Readonly<Record<string, unknown>>;

/** The agent's `obtained a new access token` line. */
export const EXCHANGE_MESSAGE = 'obtained a new access token';

export interface LoggedExchange {
  /** 1 for the first token the agent obtained. */
  readonly number: number;
  readonly loggedAtMs: number;
  readonly expiresAtMs: number;
  readonly lifetimeSeconds: number;
  readonly nextRefreshAtMs: number;
  readonly requestId: string | undefined;
}

function timeOf(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/** The exchange a log record reports, or undefined for any other record. */
export function loggedExchange(record: LogRecord, number: number): LoggedExchange | undefined {
  if (record.msg !== EXCHANGE_MESSAGE) return undefined;
  const loggedAtMs = timeOf(record.time);
  const expiresAtMs = timeOf(record.expiresAt);
  const nextRefreshAtMs = timeOf(record.nextRefreshAt);
  if (loggedAtMs === undefined || expiresAtMs === undefined || nextRefreshAtMs === undefined) return undefined;
  return {
    number,
    loggedAtMs,
    expiresAtMs,
    lifetimeSeconds: typeof record.lifetimeSeconds === 'number' ? record.lifetimeSeconds : Math.round((expiresAtMs - loggedAtMs) / 1000),
    nextRefreshAtMs,
    requestId: typeof record.requestId === 'string' ? record.requestId : undefined,
  };
}

export interface AgentLogHandlers {
  readonly onExchange: (exchange: LoggedExchange) => void;
  /** A record at level warn or above. */
  readonly onProblem: (record: LogRecord) => void;
  readonly onRecord?: (record: LogRecord) => void;
}

function parseRecord(line: string): LogRecord | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value = JSON.parse(line) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as LogRecord) : undefined;
  } catch {
    return undefined;
  }
}

/** Calls the handlers for every JSON record `stdout` prints from now on. */
export function followAgentLog(stdout: Readable, handlers: AgentLogHandlers): void {
  let exchanges = 0;
  createInterface({ input: stdout, crlfDelay: Infinity }).on('line', (line) => {
    const record = parseRecord(line);
    if (record === undefined) return;
    handlers.onRecord?.(record);
    const exchange = loggedExchange(record, exchanges + 1);
    if (exchange !== undefined) {
      exchanges = exchange.number;
      handlers.onExchange(exchange);
    } else if (record.level === 'warn' || record.level === 'error' || record.level === 'fatal') {
      handlers.onProblem(record);
    }
  });
}

/** A list that can be awaited for its n-th item. */
export class Arrivals<T> {
  readonly #items: T[] = [];
  readonly #waiters = new Set<() => void>();

  get items(): readonly T[] {
    return this.#items;
  }

  push(item: T): void {
    this.#items.push(item);
    for (const waiter of [...this.#waiters]) waiter();
  }

  /** Resolves with item number `n` (1-based) once it arrives; rejects on timeout or abort. */
  waitFor(n: number, options: { readonly timeoutMs: number; readonly signal: AbortSignal; readonly what: string }): Promise<T> {
    return new Promise((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        options.signal.removeEventListener('abort', onAbort);
      };
      const check = (): void => {
        const item = this.#items[n - 1];
        if (item === undefined) return;
        finish();
        resolve(item);
      };
      const onAbort = (): void => {
        finish();
        reject(options.signal.reason as Error);
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out after ${String(Math.round(options.timeoutMs / 1000))} s waiting for ${options.what}`));
      }, options.timeoutMs);
      this.#waiters.add(check);
      options.signal.addEventListener('abort', onAbort, { once: true });
      check();
    });
  }
}
