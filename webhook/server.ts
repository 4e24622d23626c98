/**
 * The HTTPS side: an express app built once, on `node:https`, serving `POST /mutate`,
 * `/healthz`, `/readyz` and `/metrics`. The admission handler only decodes, looks up the
 * ServiceAccount, asks the pure core and encodes. Every answer is JSON; nothing ever echoes
 * a stack trace. An unexpected internal error is HTTP 500, so the MutatingWebhookConfiguration's
 * failurePolicy (not this process) decides whether the pod is admitted.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, DropArgument } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { SecureVersion } from 'node:tls';
import express, { type NextFunction, type Request, type Response } from 'express';
import { Default, HttpPath, type Mode } from '../contract/index.ts';
import { describeError } from '../runtime/errors.ts';
import type { Logger } from '../runtime/logger.ts';
import {
  decodeAdmissionReview,
  encodeAdmissionResponse,
  encodeErrorBody,
  podDisplayName,
  podNamespace,
  type AdmissionRequestView,
  type AdmissionVerdict,
} from './admission.ts';
import { serviceAccountName } from './pod.ts';
import { listenOn, type ListenAddress } from '../runtime/listen-address.ts';
import type { InjectionDefaults, ServiceAccountLookup } from './types.ts';
import type { JsonObject } from './json.ts';
import { NO_MODE, type AdmissionResult, type WebhookMetrics } from './metrics.ts';
import type { JsonPatchOperation } from './patch.ts';
import type { ServiceAccountSource } from './service-accounts.ts';
import { WEBHOOK_CIPHERS, type LoadedCertificate } from './tls.ts';

/** The core's answer (webhook/review.ts). */
export interface PodReviewAnswer {
  readonly result: 'injected' | 'skipped' | 'denied' | 'undecided';
  readonly mode?: Mode | undefined;
  readonly patch: readonly JsonPatchOperation[];
  readonly warnings: readonly string[];
  readonly message?: string | undefined;
}

export type ReviewPod = (pod: JsonObject, serviceAccount: ServiceAccountLookup, defaults: InjectionDefaults) => PodReviewAnswer;

export interface HttpAnswer {
  readonly status: number;
  /** JSON text. */
  readonly body: string;
}

export interface AdmissionHandlerOptions {
  readonly reviewPod: ReviewPod;
  readonly serviceAccounts: ServiceAccountSource;
  /** The current defaults (the sidecar layout may change when the cluster is upgraded). */
  readonly defaults: () => InjectionDefaults;
  readonly metrics: WebhookMetrics;
  readonly logger: Logger;
}

interface Outcome {
  readonly result: Exclude<AdmissionResult, 'error'>;
  readonly mode: Mode | undefined;
  readonly reason: string | undefined;
  readonly verdict: AdmissionVerdict;
}

/** The core could not decide (its ServiceAccount was unreadable): answer 503, the failurePolicy decides. */
class UndecidedAdmission extends Error {}

const ALLOW_UNCHANGED: AdmissionVerdict = { allowed: true, patch: [], warnings: [] };
export const INTERNAL_ERROR_MESSAGE = 'internal error while reviewing the pod (see the webhook log)';

async function admit(options: AdmissionHandlerOptions, request: AdmissionRequestView): Promise<Outcome> {
  const pod = request.object;
  if (request.operation !== 'CREATE' || request.subResource !== undefined || pod === undefined) {
    const what = request.subResource === undefined ? request.operation : `${request.operation} of pods/${request.subResource}`;
    return { result: 'skipped', mode: undefined, reason: `${what} is not reviewed (only pod creation is)`, verdict: ALLOW_UNCHANGED };
  }
  const namespace = podNamespace(pod, request);
  const serviceAccount: ServiceAccountLookup =
    namespace === undefined
      ? { kind: 'unavailable', reason: 'the admission request names no namespace' }
      : await options.serviceAccounts.lookup(namespace, serviceAccountName(pod));
  const review = options.reviewPod(pod, serviceAccount, options.defaults());
  if (review.result === 'undecided') throw new UndecidedAdmission(review.message ?? 'the pod could not be reviewed');
  const denied = review.result === 'denied';
  return {
    result: review.result,
    mode: review.mode,
    reason: review.message,
    verdict: { allowed: !denied, patch: denied ? [] : review.patch, warnings: review.warnings, denialMessage: review.message },
  };
}

/** Body in, answer out: the whole admission path without HTTP, so tests can drive it directly. */
export function createAdmissionHandler(options: AdmissionHandlerOptions): (body: Uint8Array | undefined) => Promise<HttpAnswer> {
  const { logger, metrics } = options;
  return async (body) => {
    const started = performance.now();
    const seconds = (): number => (performance.now() - started) / 1000;
    const decoded = decodeAdmissionReview(body);
    if (!decoded.ok) {
      metrics.recordAdmission('error', NO_MODE, seconds());
      logger.warn({ status: decoded.error.status, err: decoded.error.message }, 'invalid admission request');
      return { status: decoded.error.status, body: encodeErrorBody(decoded.error.status, decoded.error.message) };
    }
    const request = decoded.request;
    const fields = { uid: request.uid, namespace: podNamespace(request.object, request), pod: podDisplayName(request.object, request), operation: request.operation, dryRun: request.dryRun };
    try {
      const outcome = await admit(options, request);
      const answer = encodeAdmissionResponse(request.uid, outcome.verdict);
      const duration = seconds();
      metrics.recordAdmission(outcome.result, outcome.mode ?? NO_MODE, duration);
      logger.info(
        { ...fields, result: outcome.result, mode: outcome.mode, reason: outcome.reason, warnings: outcome.verdict.warnings.length, patchOperations: outcome.verdict.patch.length, durationMs: Math.round(duration * 1e6) / 1e3 },
        'admission',
      );
      return { status: 200, body: answer };
    } catch (error) {
      metrics.recordAdmission('error', NO_MODE, seconds());
      if (error instanceof UndecidedAdmission) {
        logger.warn({ ...fields, result: 'error', reason: error.message }, 'admission undecided; the failurePolicy decides');
        return { status: 503, body: encodeErrorBody(503, error.message) };
      }
      logger.error({ ...fields, result: 'error', err: describeError(error) }, 'admission failed');
      return { status: 500, body: encodeErrorBody(500, INTERNAL_ERROR_MESSAGE) };
    }
  };
}

export interface Readiness {
  readonly ready: boolean;
  /** Why not, when not ready. */
  readonly reasons: readonly string[];
}

export interface ReadinessInputs {
  readonly closing: boolean;
  readonly certificateLoaded: boolean;
  /** The first `/version` read (or the forced setting) decided the sidecar layout. */
  readonly layoutDecided: boolean;
  /** The ServiceAccount cache synced, or its bounded wait is over, or lookup is off. */
  readonly serviceAccountsReady: boolean;
}

/** Ready only when every input is; otherwise says which are not. */
export function webhookReadiness(inputs: ReadinessInputs): Readiness {
  const reasons: string[] = [];
  if (inputs.closing) reasons.push('shutting down');
  if (!inputs.certificateLoaded) reasons.push('no serving certificate loaded yet');
  if (!inputs.layoutDecided) reasons.push('API server version not read yet');
  if (!inputs.serviceAccountsReady) reasons.push('ServiceAccount cache not synced yet');
  return { ready: reasons.length === 0, reasons };
}

/** See `Default.webhookConnectionLimits`; tests shorten them. */
export type WebhookConnectionLimits = { readonly [K in keyof typeof Default.webhookConnectionLimits]: number };

export interface WebhookServerOptions {
  readonly listen: ListenAddress;
  /** Default: `Default.webhookConnectionLimits`. */
  readonly limits?: WebhookConnectionLimits;
  readonly minVersion: SecureVersion;
  readonly maxBodyBytes: number;
  readonly handleAdmission: (body: Uint8Array | undefined) => Promise<HttpAnswer>;
  readonly readiness: () => Readiness;
  readonly metrics: WebhookMetrics;
  readonly logger: Logger;
}

export interface WebhookServer {
  /** Installs a serving certificate; handshakes after this use it, open connections keep theirs. */
  setCertificate(certificate: LoadedCertificate): void;
  listen(): Promise<AddressInfo>;
  /** True from the moment shutdown begins (readiness turns false at once). */
  isClosing(): boolean;
  /** Stops accepting connections, lets in-flight requests finish; forces the rest closed after `graceMs`. */
  close(graceMs: number): Promise<void>;
}


interface HttpErrorLike {
  readonly status?: unknown;
  readonly type?: unknown;
  readonly expose?: unknown;
  readonly message?: unknown;
}

/** Body-parser errors carry a status; anything else is ours and gets a bare 500. */
function httpErrorAnswer(error: unknown, maxBodyBytes: number): HttpAnswer {
  const e = (typeof error === 'object' && error !== null ? error : {}) as HttpErrorLike;
  if (e.type === 'entity.too.large') return { status: 413, body: encodeErrorBody(413, `request body is larger than the limit of ${maxBodyBytes} bytes`) };
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
    const message = e.expose === true && typeof e.message === 'string' ? e.message : 'bad request';
    return { status: e.status, body: encodeErrorBody(e.status, message) };
  }
  return { status: 500, body: encodeErrorBody(500, 'internal error (see the webhook log)') };
}

function buildApp(options: WebhookServerOptions, isClosing: () => boolean): express.Express {
  const { logger, metrics } = options;
  // While shutting down, every answer (even to a request that arrived before) closes its
  // connection, so keep-alive connections drain instead of idling until the deadline.
  const closeIfClosing = (res: Response): Response => (isClosing() ? res.setHeader('connection', 'close') : res);
  const send = (res: Response, answer: HttpAnswer): void => {
    closeIfClosing(res).status(answer.status).type('application/json').send(answer.body);
  };
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.post(HttpPath.mutate, express.raw({ type: () => true, limit: options.maxBodyBytes }), async (req: Request, res: Response) => {
    send(res, await options.handleAdmission(req.body as Uint8Array | undefined));
  });
  app.get(HttpPath.healthz, (_req: Request, res: Response) => {
    send(res, { status: 200, body: '{"status":"ok"}' });
  });
  app.get(HttpPath.readyz, (_req: Request, res: Response) => {
    const readiness = options.readiness();
    send(res, readiness.ready ? { status: 200, body: '{"status":"ready"}' } : { status: 503, body: JSON.stringify({ status: 'not ready', reasons: readiness.reasons }) });
  });
  app.get(HttpPath.metrics, async (_req: Request, res: Response) => {
    const text = await metrics.registry.metrics();
    closeIfClosing(res).status(200).type(metrics.registry.contentType).send(text);
  });
  app.use((req: Request, res: Response) => {
    send(res, { status: 404, body: encodeErrorBody(404, `no route for ${req.method} ${req.path}`) });
  });
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const answer = httpErrorAnswer(error, options.maxBodyBytes);
    if (answer.status === 413) metrics.recordAdmission('error', NO_MODE, undefined);
    if (answer.status >= 500) logger.error({ err: describeError(error) }, 'request failed');
    else logger.warn({ status: answer.status, err: describeError(error) }, 'bad request');
    if (res.headersSent) {
      res.end();
      return;
    }
    send(res, answer);
  });
  return app;
}

const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/**
 * The admission requests the API server sends (POST /mutate, optional query, a declared
 * length within the limit, no content encoding) skip express: its router, body parser and
 * `res.send` cost more per request than reviewing the pod. Anything else (a chunked or
 * compressed body, an oversized declaration, another route) takes the express path, which
 * answers it exactly as before.
 */
function isPlainAdmission(req: IncomingMessage, maxBodyBytes: number): boolean {
  if (req.method !== 'POST') return false;
  const url = req.url ?? '';
  const query = url.indexOf('?');
  if ((query === -1 ? url : url.slice(0, query)) !== HttpPath.mutate) return false;
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return false;
  const length = req.headers['content-length'];
  return length !== undefined && /^\d+$/.test(length) && Number(length) <= maxBodyBytes;
}

/** The body, or a rejection worded as express's body parser words it when the client goes away. */
function readDeclaredBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const aborted = (): void => {
      reject(new Error('request aborted'));
    };
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
    });
    req.on('error', aborted);
    req.on('close', () => {
      if (!req.complete) aborted();
    });
  });
}

async function serveAdmission(req: IncomingMessage, res: ServerResponse, options: WebhookServerOptions, isClosing: () => boolean): Promise<void> {
  let body: Buffer;
  try {
    body = await readDeclaredBody(req);
  } catch (error) {
    options.logger.warn({ status: 400, err: describeError(error) }, 'bad request');
    res.destroy();
    return;
  }
  const answer = await options.handleAdmission(body);
  const headers: OutgoingHttpHeaders = { 'content-type': JSON_CONTENT_TYPE, 'content-length': Buffer.byteLength(answer.body) };
  if (isClosing()) headers.connection = 'close';
  res.writeHead(answer.status, headers);
  res.end(answer.body);
}

/** Node's options for the limits: every timeout and the checking interval are set at construction. */
function serverLimitOptions(limits: WebhookConnectionLimits): { handshakeTimeout: number; headersTimeout: number; requestTimeout: number; keepAliveTimeout: number; connectionsCheckingInterval: number } {
  return {
    handshakeTimeout: limits.handshakeTimeoutMs,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: limits.timeoutCheckIntervalMs,
  };
}

/** Warns on the 1st, 10th, 100th… connection dropped at `maxConnections`: a flood stays a few log lines. */
function warnOnDrops(server: Server, maxConnections: number, logger: Logger): void {
  let dropped = 0;
  let warnAt = 1;
  server.on('drop', (data?: DropArgument) => {
    dropped += 1;
    if (dropped !== warnAt) return;
    warnAt *= 10;
    logger.warn({ dropped, maxConnections, remoteAddress: data?.remoteAddress }, 'connection refused: the webhook holds its maximum number of connections');
  });
}

export function createWebhookServer(options: WebhookServerOptions): WebhookServer {
  let closing = false;
  const isClosing = (): boolean => closing;
  const app = buildApp(options, isClosing);
  const limits = options.limits ?? Default.webhookConnectionLimits;
  const tls = { minVersion: options.minVersion, ciphers: WEBHOOK_CIPHERS, honorCipherOrder: true };
  const server: Server = createServer({ ...tls, ...serverLimitOptions(limits) }, (req, res) => {
    if (!isPlainAdmission(req, options.maxBodyBytes)) {
      app(req, res);
      return;
    }
    serveAdmission(req, res, options, isClosing).catch((error: unknown) => {
      options.logger.error({ err: describeError(error) }, 'request failed');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const answer = httpErrorAnswer(error, options.maxBodyBytes);
      res.writeHead(answer.status, { 'content-type': JSON_CONTENT_TYPE, 'content-length': Buffer.byteLength(answer.body) });
      res.end(answer.body);
    });
  });
  server.maxConnections = limits.maxConnections;
  warnOnDrops(server, limits.maxConnections, options.logger);
  server.on('tlsClientError', (error) => {
    options.logger.debug({ err: describeError(error) }, 'TLS handshake failed');
  });
  return {
    setCertificate: (certificate) => {
      // The suites and the floor are the server's, whatever options the certificate came with.
      server.setSecureContext({ ...certificate.options, ...tls });
    },
    listen: () => listenOn(server, options.listen),
    isClosing: () => closing,
    close: (graceMs) => closeServer(server, graceMs, () => (closing = true)),
  };
}

function closeServer(server: Server, graceMs: number, markClosing: () => void): Promise<void> {
  markClosing();
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      server.closeAllConnections();
      // A socket still in its TLS handshake is not an HTTP connection; do not wait for it.
      setTimeout(resolve, 250);
    }, graceMs);
    server.close(() => {
      clearTimeout(force);
      resolve();
    });
    server.closeIdleConnections();
  });
}
