/**
 * Reading HTTP answers defensively: a bounded body, a deadline from the injected clock,
 * and descriptions of transport failures that never include a request or response body.
 */
import type { Clock } from './clock.ts';
import { WifError } from './errors.ts';

export interface BoundedBody {
  readonly bytes: Buffer;
  /** True when the body was longer than the cap; the rest was not read. */
  readonly truncated: boolean;
}

/** Reads at most `maxBytes`, then stops (destroying the stream) instead of buffering the rest. */
export async function readBoundedBody(body: AsyncIterable<Uint8Array | string>, maxBytes: number): Promise<BoundedBody> {
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of body) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (received + buffer.length > maxBytes) {
      chunks.push(buffer.subarray(0, maxBytes - received));
      // Leaving the loop destroys the stream, so the rest is never read.
      return { bytes: Buffer.concat(chunks), truncated: true };
    }
    chunks.push(buffer);
    received += buffer.length;
  }
  return { bytes: Buffer.concat(chunks), truncated: false };
}

/** An abort signal that fires after `timeoutMs` on `clock`, or when `parent` aborts. */
export interface Deadline {
  readonly signal: AbortSignal;
  /** True once the deadline (not the parent) fired. */
  timedOut(): boolean;
  /** Stops the timer; call when the work is done. */
  clear(): void;
}

export function startDeadline(clock: Clock, timeoutMs: number, parent?: AbortSignal): Deadline {
  const deadline = new AbortController();
  const timer = new AbortController();
  let fired = false;
  clock.sleep(timeoutMs, timer.signal).then(
    () => {
      fired = true;
      deadline.abort(new Error(`deadline of ${timeoutMs} ms passed`));
    },
    () => undefined,
  );
  const signal = parent === undefined ? deadline.signal : AbortSignal.any([parent, deadline.signal]);
  return {
    signal,
    timedOut: () => fired,
    clear: () => {
      timer.abort();
    },
  };
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

/** True for undici's connect/headers/body timeouts and a socket ETIMEDOUT. */
export function isTimeoutError(error: unknown): boolean {
  return TIMEOUT_CODES.has(errorCode(error) ?? '');
}

/** OpenSSL's and Node's codes for a peer certificate that does not verify against the trusted roots. */
const UNTRUSTED_CERTIFICATE_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'INVALID_CA',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** True when TLS failed because the peer's certificate is not trusted (or not for this name). */
export function isUntrustedCertificateError(error: unknown): boolean {
  return UNTRUSTED_CERTIFICATE_CODES.has(errorCode(error) ?? '');
}

export function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  const cause = (error as { cause?: unknown }).cause;
  return cause === undefined ? undefined : errorCode(cause);
}

/**
 * A transport failure in a few words: the error code and message of undici or the socket.
 * These never carry request or response bodies (undici does not echo them).
 */
export function describeTransportError(error: unknown): string {
  // This project's own errors (an egress proxy's) already say what happened, safely.
  if (error instanceof WifError) return error.message;
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : undefined;
  const text = cause !== undefined && cause !== message ? `${message}: ${cause}` : message;
  const line = text.replaceAll(/\s+/g, ' ').slice(0, 300);
  return code === undefined || line.includes(code) ? line : `${code} ${line}`;
}

/** `Retry-After` as seconds from now: delta-seconds or an HTTP-date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined) return undefined;
  const text = raw.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - nowMs) / 1000));
}

/** The first value of a response header. */
export function headerValue(headers: Readonly<Record<string, string | string[] | undefined>>, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** The URL without credentials, query or fragment: what a message may show. */
export function describeUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}
