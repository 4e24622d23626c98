/**
 * The AdmissionReview envelope (admission.k8s.io/v1), decoded and encoded by pure
 * functions: the HTTP handler only decodes, looks up, reviews and encodes. Bad input is a
 * value (status + message for a JSON error body), never an exception or a stack trace.
 */
import { Limit } from '../contract/index.ts';
import type { JsonPatchOperation } from './patch.ts';
import { isJsonObject, nestsDeeperThan, type JsonObject, type JsonValue } from './json.ts';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';
export const ADMISSION_KIND = 'AdmissionReview';

/** What the shell needs from `request`; the pod itself stays raw JSON. */
export interface AdmissionRequestView {
  readonly uid: string;
  /** CREATE, UPDATE, DELETE or CONNECT. */
  readonly operation: string;
  /** The pod's namespace: set even when the pod has only a generateName. */
  readonly namespace: string | undefined;
  /** Empty for pods created with generateName. */
  readonly name: string | undefined;
  readonly subResource: string | undefined;
  readonly dryRun: boolean;
  /** The pod; present for CREATE (and UPDATE), absent for DELETE. */
  readonly object: JsonObject | undefined;
}

export interface AdmissionInputError {
  readonly status: 400 | 413;
  readonly message: string;
}

export type DecodedAdmission =
  | { readonly ok: true; readonly request: AdmissionRequestView }
  | { readonly ok: false; readonly error: AdmissionInputError };

/** What the webhook answers for one request. */
export interface AdmissionVerdict {
  readonly allowed: boolean;
  readonly patch: readonly JsonPatchOperation[];
  readonly warnings: readonly string[];
  /** Why the pod is denied; only read when `allowed` is false. */
  readonly denialMessage?: string | undefined;
}

const SHOWN_VALUE_MAX = 64;

/** A bounded, JSON-quoted rendering of a value the client sent, for error messages. */
function shown(value: JsonValue | undefined): string {
  if (value === undefined) return 'none';
  if (typeof value !== 'string') return Array.isArray(value) ? 'an array' : value === null ? 'null' : `a ${typeof value}`;
  const text = value.length > SHOWN_VALUE_MAX ? `${value.slice(0, SHOWN_VALUE_MAX)}…` : value;
  return JSON.stringify(text);
}

function invalid(message: string): DecodedAdmission {
  return { ok: false, error: { status: 400, message } };
}

function parseBody(bytes: Buffer): JsonValue | undefined {
  const text = bytes.toString('utf8');
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return undefined;
  }
}

function optionalString(value: JsonValue | undefined): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Null when `request` targets core/v1 pods; else what is wrong. */
function podTargetError(request: JsonObject): string | null {
  const kind = isJsonObject(request.kind) ? request.kind : {};
  const resource = isJsonObject(request.resource) ? request.resource : {};
  const isPodKind = kind.kind === 'Pod' && (kind.group ?? '') === '' && kind.version === 'v1';
  const isPodResource = resource.resource === 'pods' && (resource.group ?? '') === '' && resource.version === 'v1';
  if (isPodKind && isPodResource) return null;
  return `AdmissionReview request is for kind ${shown(kind.kind)} and resource ${shown(resource.resource)}; this webhook reviews only v1 Pods`;
}

/** Null when the object is acceptable for the operation; else what is wrong. */
function objectError(operation: string, object: JsonValue | undefined): string | null {
  if (operation !== 'CREATE' && operation !== 'UPDATE') return null;
  if (!isJsonObject(object)) return `AdmissionReview request.object is ${object === undefined ? 'missing' : 'not a JSON object'}; expected a Pod`;
  if (object.kind !== undefined && object.kind !== 'Pod') return `AdmissionReview request.object is of kind ${shown(object.kind)}; expected a Pod`;
  return null;
}

function viewOf(request: JsonObject, uid: string, operation: string): AdmissionRequestView {
  return {
    uid,
    operation,
    namespace: optionalString(request.namespace),
    name: optionalString(request.name),
    subResource: optionalString(request.subResource),
    dryRun: request.dryRun === true,
    object: isJsonObject(request.object) ? request.object : undefined,
  };
}

function decodeRequest(request: JsonObject): DecodedAdmission {
  const uid = optionalString(request.uid);
  if (uid === undefined) return invalid('AdmissionReview request has no uid');
  const targetError = podTargetError(request);
  if (targetError !== null) return invalid(targetError);
  const operation = optionalString(request.operation);
  if (operation === undefined) return invalid('AdmissionReview request has no operation');
  const error = objectError(operation, request.object);
  if (error !== null) return invalid(error);
  return { ok: true, request: viewOf(request, uid, operation) };
}

/** Decodes a request body; every way it can be wrong is a 400 with a precise message. */
export function decodeAdmissionReview(body: Uint8Array | string | undefined): DecodedAdmission {
  if (body === undefined || body.length === 0) return invalid('request body is empty; expected an AdmissionReview');
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (nestsDeeperThan(bytes, Limit.admissionJsonMaxDepth)) {
    return invalid(`request body nests objects and arrays deeper than ${Limit.admissionJsonMaxDepth} levels; no Pod does`);
  }
  const review = parseBody(bytes);
  if (review === undefined) return invalid('request body is not JSON; expected an AdmissionReview');
  if (!isJsonObject(review)) return invalid('request body is not a JSON object; expected an AdmissionReview');
  if (review.apiVersion !== ADMISSION_API_VERSION || review.kind !== ADMISSION_KIND) {
    return invalid(
      `expected apiVersion "${ADMISSION_API_VERSION}" and kind "${ADMISSION_KIND}", got apiVersion ${shown(review.apiVersion)} and kind ${shown(review.kind)}`,
    );
  }
  if (!isJsonObject(review.request)) return invalid('AdmissionReview has no request');
  return decodeRequest(review.request);
}

const ENVELOPE_HEAD = `{"apiVersion":${JSON.stringify(ADMISSION_API_VERSION)},"kind":${JSON.stringify(ADMISSION_KIND)},"response":{"uid":`;

/**
 * The AdmissionReview answer, serialized once: the envelope is written around the base64
 * patch (which needs no escaping) instead of JSON.stringify scanning it a second time.
 */
export function encodeAdmissionResponse(uid: string, verdict: AdmissionVerdict): string {
  let json = `${ENVELOPE_HEAD}${JSON.stringify(uid)},"allowed":${String(verdict.allowed)}`;
  if (verdict.allowed && verdict.patch.length > 0) {
    json += `,"patchType":"JSONPatch","patch":"${Buffer.from(JSON.stringify(verdict.patch), 'utf8').toString('base64')}"`;
  }
  if (verdict.warnings.length > 0) json += `,"warnings":${JSON.stringify(verdict.warnings)}`;
  if (!verdict.allowed) json += `,"status":${JSON.stringify({ code: 403, message: verdict.denialMessage ?? 'denied by anthropic-wif' })}`;
  return `${json}}}`;
}

/** The JSON body of a 4xx / 5xx answer. */
export function encodeErrorBody(status: number, message: string): string {
  return JSON.stringify({ error: { code: status, message } });
}

/** The pod's name, or its generateName prefix when it has no name yet (for logs). */
export function podDisplayName(pod: JsonObject | undefined, request: AdmissionRequestView): string | undefined {
  const metadata = pod !== undefined && isJsonObject(pod.metadata) ? pod.metadata : {};
  return optionalString(metadata.name) ?? request.name ?? optionalString(metadata.generateName);
}

/** The namespace the pod is created in: the request's, else the pod's own. */
export function podNamespace(pod: JsonObject | undefined, request: AdmissionRequestView): string | undefined {
  const metadata = pod !== undefined && isJsonObject(pod.metadata) ? pod.metadata : {};
  return request.namespace ?? optionalString(metadata.namespace);
}
