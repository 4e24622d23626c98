/**
 * The pure mutation: pod + plan → pod. Replaces by name, so applying twice changes nothing.
 * OWNER: webhook-core.
 */
import type { InjectionPlan } from './decide.ts';
import type { JsonObject } from './json.ts';

/** Returns a new pod; the input is not modified. */
export function applyInjection(_pod: JsonObject, _plan: InjectionPlan): JsonObject {
  throw new Error('not implemented');
}
