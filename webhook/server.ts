/**
 * The HTTPS side, on `node:https` with one small router: `POST /mutate`, `/healthz`,
 * `/readyz` and `/metrics`. Optionally only a client certificate signed by the API server's
 * client CA may ask for admissions. The admission handler only decodes, looks up the
 * ServiceAccount, asks the pure core and encodes. Every answer is JSON; nothing ever echoes
 * a stack trace. An unexpected internal error is HTTP 500, so the MutatingWebhookConfiguration's
 * failurePolicy (not this process) decides whether the pod is admitted.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, DropArgument } from 'node:net';
import { performance } from 'node:perf_hooks';
import { TLSSocket, type PeerCertificate, type SecureVersion } from 'node:tls';
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
import { readRequestBody } from './request-body.ts';
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
  /** Answer `POST /mutate` only for clients whose certificate the loaded certificate's `ca` signed. */
  readonly clientAuth?: ClientAuth | undefined;
  readonly handleAdmission: (body: Uint8Array | undefined) => Promise<HttpAnswer>;
  readonly readiness: () => Readiness;
  readonly metrics: WebhookMetrics;
  readonly logger: Logger;
}

export interface ClientAuth {
  /** Subject CNs or DNS SANs accepted; empty accepts any certificate the CA signed. */
  readonly allowedNames: readonly string[];
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


const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

function pathOf(url: string | undefined): string {
  const raw = url ?? '';
  const query = raw.indexOf('?');
  return query === -1 ? raw : raw.slice(0, query);
}

interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly isClosing: () => boolean;
}

/**
 * Every answer goes out here. While shutting down, every answer (even to a request that
 * arrived before) closes its connection, so keep-alive connections drain instead of idling
 * until the deadline; `close` also ends a connection whose request body was left unread.
 */
function send({ res, isClosing }: Exchange, answer: HttpAnswer, options: { readonly contentType?: string; readonly close?: boolean } = {}): void {
  const headers: OutgoingHttpHeaders = { 'content-type': options.contentType ?? JSON_CONTENT_TYPE, 'content-length': Buffer.byteLength(answer.body) };
  if (isClosing() || options.close === true) headers.connection = 'close';
  res.writeHead(answer.status, headers);
  res.end(answer.body);
}

function notFound(req: IncomingMessage, path: string): HttpAnswer {
  return { status: 404, body: encodeErrorBody(404, `no route for ${String(req.method)} ${path}`) };
}

/** Counts events and says which to log: the 1st, 10th, 100th… so a flood stays a few log lines. */
function powersOfTen(): () => number | undefined {
  let count = 0;
  let next = 1;
  return () => {
    count += 1;
    if (count !== next) return undefined;
    next *= 10;
    return count;
  };
}

/** Why this connection's client may not ask for admissions, or undefined when it may. */
export function clientRefusal(socket: TLSSocket, clientAuth: ClientAuth): string | undefined {
  const peer = socket.getPeerCertificate();
  // Node gives an empty object when the client sent no certificate.
  if (Object.keys(peer).length === 0) return 'no client certificate';
  if (!socket.authorized) return `client certificate not trusted (${String(socket.authorizationError)})`;
  if (clientAuth.allowedNames.length === 0) return undefined;
  const names = certificateNames(peer);
  return names.some((name) => clientAuth.allowedNames.includes(name)) ? undefined : `client certificate names none of --client-allowed-names (it names ${names.slice(0, 4).join(', ') || 'nothing'})`;
}

/** The subject CN and the DNS subject alternative names of a peer certificate. */
function certificateNames(peer: PeerCertificate): string[] {
  const names: string[] = [];
  // Typed as one string, but an array when the subject has several CNs.
  const subject: unknown = peer.subject;
  const cn = typeof subject === 'object' && subject !== null ? (subject as Readonly<Record<string, unknown>>).CN : undefined;
  if (typeof cn === 'string') names.push(cn);
  else if (Array.isArray(cn)) names.push(...(cn as unknown[]).filter((name): name is string => typeof name === 'string'));
  for (const entry of (peer.subjectaltname ?? '').split(', ')) {
    if (entry.startsWith('DNS:')) names.push(entry.slice(4));
  }
  return names;
}

export const CLIENT_REFUSED_MESSAGE = 'this webhook answers admission requests only from the Kubernetes API server: present a client certificate signed by the CA of --client-ca-file';

async function serveAdmission(exchange: Exchange, options: WebhookServerOptions, refusedClients: () => number | undefined): Promise<void> {
  const { req } = exchange;
  if (options.clientAuth !== undefined) {
    const refusal = req.socket instanceof TLSSocket ? clientRefusal(req.socket, options.clientAuth) : 'not a TLS connection';
    if (refusal !== undefined) {
      const refused = refusedClients();
      if (refused !== undefined) options.logger.warn({ refused, remoteAddress: req.socket.remoteAddress, reason: refusal }, 'admission request refused: the client is not the API server');
      send(exchange, { status: 403, body: encodeErrorBody(403, CLIENT_REFUSED_MESSAGE) }, { close: true });
      return;
    }
  }
  const read = await readRequestBody(req, options.maxBodyBytes);
  if (read.kind === 'aborted') {
    options.logger.warn({ status: 400, err: read.reason }, 'bad request');
    exchange.res.destroy();
    return;
  }
  if (read.kind === 'refused') {
    if (read.status === 413) options.metrics.recordAdmission('error', NO_MODE, undefined);
    options.logger.warn({ status: read.status, err: read.message }, 'bad request');
    send(exchange, { status: read.status, body: encodeErrorBody(read.status, read.message) }, { close: true });
    return;
  }
  send(exchange, await options.handleAdmission(read.body));
}

/** The one request path: `POST /mutate` (any query), `GET`/`HEAD` of the three probes, else 404. */
async function route(exchange: Exchange, options: WebhookServerOptions, refusedClients: () => number | undefined): Promise<void> {
  const { req } = exchange;
  const path = pathOf(req.url);
  if (path === HttpPath.mutate && req.method === 'POST') {
    await serveAdmission(exchange, options, refusedClients);
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(exchange, notFound(req, path));
    return;
  }
  switch (path) {
    case HttpPath.healthz:
      send(exchange, { status: 200, body: '{"status":"ok"}' });
      return;
    case HttpPath.readyz: {
      const readiness = options.readiness();
      send(exchange, readiness.ready ? { status: 200, body: '{"status":"ready"}' } : { status: 503, body: JSON.stringify({ status: 'not ready', reasons: readiness.reasons }) });
      return;
    }
    case HttpPath.metrics:
      send(exchange, { status: 200, body: await options.metrics.registry.metrics() }, { contentType: options.metrics.registry.contentType });
      return;
    default:
      send(exchange, notFound(req, path));
  }
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

/** Warns on the 1st, 10th, 100th… connection dropped at `maxConnections`. */
function warnOnDrops(server: Server, maxConnections: number, logger: Logger): void {
  const count = powersOfTen();
  server.on('drop', (data?: DropArgument) => {
    const dropped = count();
    if (dropped === undefined) return;
    logger.warn({ dropped, maxConnections, remoteAddress: data?.remoteAddress }, 'connection refused: the webhook holds its maximum number of connections');
  });
}

export function createWebhookServer(options: WebhookServerOptions): WebhookServer {
  let closing = false;
  const isClosing = (): boolean => closing;
  const limits = options.limits ?? Default.webhookConnectionLimits;
  const tls = { minVersion: options.minVersion, ciphers: WEBHOOK_CIPHERS, honorCipherOrder: true };
  // With client authentication the handshake asks for a certificate but admits a connection
  // without one: the probes and the scrape present none, and /mutate answers such a client 403.
  const clientCertificates = { requestCert: options.clientAuth !== undefined, rejectUnauthorized: false };
  const refusedClients = powersOfTen();
  const server: Server = createServer({ ...tls, ...clientCertificates, ...serverLimitOptions(limits) }, (req, res) => {
    const exchange: Exchange = { req, res, isClosing };
    route(exchange, options, refusedClients).catch((error: unknown) => {
      options.logger.error({ err: describeError(error) }, 'request failed');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      send(exchange, { status: 500, body: encodeErrorBody(500, 'internal error (see the webhook log)') });
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
