/**
 * JSON Patch (RFC 6902) from a diff of the raw JSON before and after the mutation, so
 * fields the webhook does not know survive.
 * OWNER: webhook-core.
 */
import type { JsonValue } from './json.ts';

export interface JsonPatchOperation {
  readonly op: 'add' | 'remove' | 'replace';
  readonly path: string;
  readonly value?: JsonValue;
}

export function createPatch(_before: JsonValue, _after: JsonValue): JsonPatchOperation[] {
  throw new Error('not implemented');
}
