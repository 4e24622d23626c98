/**
 * One error base class for the whole project. Errors carry context for operators
 * (status, request id, whether a retry may help) and never a secret: constructors take
 * only what is safe to print, and callers pass redacted text.
 */
export interface ErrorContext {
  /** HTTP status of the remote answer, when there was one. */
  readonly status?: number | undefined;
  /** The remote `Request-Id`, for support tickets and the Console's history. */
  readonly requestId?: string | undefined;
  /** True when the same operation may succeed if tried again later. */
  readonly retryable?: boolean | undefined;
  /** Seconds the remote asked us to wait (Retry-After). */
  readonly retryAfterSeconds?: number | undefined;
  /** A hint for the human reading the message. */
  readonly hint?: string | undefined;
  readonly cause?: unknown;
}

export class WifError extends Error {
  readonly code: string;
  readonly status: number | undefined;
  readonly requestId: string | undefined;
  readonly retryable: boolean;
  readonly retryAfterSeconds: number | undefined;
  readonly hint: string | undefined;

  constructor(code: string, message: string, context: ErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = context.status;
    this.requestId = context.requestId;
    this.retryable = context.retryable ?? false;
    this.retryAfterSeconds = context.retryAfterSeconds;
    this.hint = context.hint;
  }

  /** A log-safe summary: no stack, no cause chain (a cause may hold remote text). */
  toJSON(): Record<string, unknown> {
    return {
      type: this.name,
      code: this.code,
      message: this.message,
      ...(this.status === undefined ? {} : { status: this.status }),
      ...(this.requestId === undefined ? {} : { requestId: this.requestId }),
      retryable: this.retryable,
      ...(this.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: this.retryAfterSeconds }),
      ...(this.hint === undefined ? {} : { hint: this.hint }),
    };
  }
}

/** A bad flag, variable or argument: the process exits 2 with this one-line message. */
export class ConfigError extends WifError {
  constructor(message: string) {
    super('config', message);
  }
}

/** Exit codes shared by every subcommand (contract). */
export const ExitCode = { ok: 0, failure: 1, usage: 2 } as const;

/** A message safe to show for any thrown value. */
export function describeError(error: unknown): string {
  if (error instanceof WifError) {
    return error.hint === undefined ? error.message : `${error.message} (${error.hint})`;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}

/** Log-safe fields for any thrown value: WifError's own summary, never a stack or cause chain. */
export function errorFields(error: unknown): Record<string, unknown> {
  if (error instanceof WifError) return error.toJSON();
  return { message: describeError(error) };
}
