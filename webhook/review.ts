/**
 * The whole pure pipeline the HTTP handler calls for one Pod: decide, apply, diff.
 *
 * - `injected`: the pod carries the injection after this admission. `patch` is empty when it
 *   already did, with the same settings (a re-admission or a reinvocation with no change).
 * - `skipped`: the pod did not opt in (or opted out); `message` says why; no patch.
 * - `denied`: the pod cannot be injected correctly; `message` says what to fix; no patch.
 * - `undecided`: whether the pod opted in could not be known (its ServiceAccount was
 *   unreadable); the shell answers with an error so the failurePolicy decides.
 */
import type { Mode } from '../contract/index.ts';
import { applyInjection } from './inject.ts';
import { decideInjection } from './decide.ts';
import type { InjectionDefaults, ServiceAccountLookup } from './types.ts';
import type { JsonObject } from './json.ts';
import { createPatch, type JsonPatchOperation } from './patch.ts';

export interface PodReview {
  readonly result: 'injected' | 'skipped' | 'denied' | 'undecided';
  /** For metrics, when known (always when injected; when denied, once the mode was valid). */
  readonly mode?: Mode;
  /** Empty unless injected (and empty when the pod already carries the same injection). */
  readonly patch: readonly JsonPatchOperation[];
  /** Admission warnings. */
  readonly warnings: readonly string[];
  /** Denial message (what to fix), skip reason, or what was done. */
  readonly message?: string;
}

export const ALREADY_INJECTED = 'already injected with these settings';

export function reviewPod(pod: JsonObject, serviceAccount: ServiceAccountLookup, defaults: InjectionDefaults): PodReview {
  const decision = decideInjection(pod, serviceAccount, defaults);
  switch (decision.kind) {
    case 'skip':
      return { result: 'skipped', patch: [], warnings: decision.warnings, message: decision.reason };
    case 'undecided':
      return { result: 'undecided', patch: [], warnings: [], message: decision.reason };
    case 'deny': {
      const mode = decision.mode === undefined ? {} : { mode: decision.mode };
      return { result: 'denied', ...mode, patch: [], warnings: decision.warnings, message: decision.reason };
    }
    case 'inject': {
      const { plan } = decision;
      const patch = createPatch(pod, applyInjection(pod, plan));
      const message = patch.length === 0 ? ALREADY_INJECTED : `injected in ${plan.mode} mode (${plan.layout === 'none' ? 'no sidecar' : `${plan.layout} sidecar layout`})`;
      return { result: 'injected', mode: plan.mode, patch, warnings: decision.warnings, message };
    }
  }
}
