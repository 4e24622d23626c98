/**
 * The API server's side of admission, for one pod: wrap it in an AdmissionReview, POST it to
 * the webhook over TLS (trusting only the demo's throwaway CA), and apply the JSONPatch the
 * webhook answers with, as kube-apiserver does before it stores the pod.
 */
import { request } from 'node:https';
import fastJsonPatch from 'fast-json-patch';
import { HttpPath } from '../contract/index.ts';
import type { JsonObject } from './example-pod.ts';

export interface AdmissionOutcome {
  readonly allowed: boolean;
  readonly warnings: readonly string[];
  /** The denial message, when not allowed. */
  readonly message: string | undefined;
  readonly operations: readonly fastJsonPatch.Operation[];
  /** The pod with the patch applied (the input, unchanged, when there is no patch). */
  readonly patched: JsonObject;
}

interface AdmissionResponseShape {
  readonly uid?: unknown;
  readonly allowed?: unknown;
  readonly patch?: unknown;
  readonly warnings?: unknown;
  readonly status?: { readonly message?: unknown };
}

/** An AdmissionReview for the creation of `pod`, as kube-apiserver sends it. */
export function podCreationReview(pod: JsonObject, options: { readonly uid: string; readonly namespace: string }): JsonObject {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: options.uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      operation: 'CREATE',
      namespace: options.namespace,
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:serviceaccounts', 'system:authenticated'] },
      object: pod,
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
    },
  };
}

/** Reads the webhook's answer to `review` and applies its patch to `pod`. */
export function admissionOutcome(pod: JsonObject, uid: string, answer: unknown): AdmissionOutcome {
  const response = (answer as { response?: AdmissionResponseShape } | undefined)?.response;
  if (response?.uid !== uid || typeof response.allowed !== 'boolean') throw new Error('the webhook did not answer with an AdmissionReview response for this request');
  const warnings = Array.isArray(response.warnings) ? response.warnings.filter((w): w is string => typeof w === 'string') : [];
  const message = typeof response.status?.message === 'string' ? response.status.message : undefined;
  const operations =
    typeof response.patch === 'string' ? (JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as fastJsonPatch.Operation[]) : [];
  const patched = operations.length === 0 ? pod : (fastJsonPatch.applyPatch(structuredClone(pod), operations, true, false).newDocument);
  return { allowed: response.allowed, warnings, message, operations, patched };
}

/** POSTs `review` to `https://127.0.0.1:<port>/mutate` and returns the parsed JSON answer. */
export function postAdmissionReview(port: number, caPem: string, review: JsonObject): Promise<unknown> {
  const body = JSON.stringify(review);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, ca: caPem, servername: 'localhost', method: 'POST', path: HttpPath.mutate, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) {
            reject(new Error(`the webhook answered HTTP ${String(res.statusCode)}: ${text.slice(0, 300)}`));
            return;
          }
          try {
            resolve(JSON.parse(text));
          } catch {
            reject(new Error('the webhook answered with something that is not JSON'));
          }
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
