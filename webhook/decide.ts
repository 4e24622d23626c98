/**
 * The pure decision: pod + ServiceAccount + defaults → skip | inject(plan) | deny(reason).
 * No logger, no client, no process.env.
 *
 * A linear pipeline: opt-in (Pod annotation > Pod label > ServiceAccount annotation) →
 * settings (Pod annotation > ServiceAccount annotation > defaults, each validated) → the
 * pod-dependent plan (plan.ts). Any invalid input is a denial: nothing is half-injected.
 */
import { Annotation } from '../contract/index.ts';
import type { JsonObject } from './json.ts';
import { decideOptIn } from './opt-in.ts';
import { planInjection } from './plan.ts';
import { podAnnotations, podLabels, podNamespace, serviceAccountName } from './pod.ts';
import { resolveSettings, unknownAnnotationWarnings } from './settings.ts';
import type { AnnotationLayer, InjectionDecision, InjectionDefaults, ServiceAccountLookup } from './types.ts';

/** How the ServiceAccount lookup shapes the decision. */
interface AccountContext {
  readonly name: string;
  readonly layer: AnnotationLayer | undefined;
  readonly warnings: readonly string[];
  readonly missingHint: string | undefined;
  readonly unreadable: string | undefined;
}

function accountContext(pod: JsonObject, lookup: ServiceAccountLookup): AccountContext {
  const name = serviceAccountName(pod);
  const namespace = podNamespace(pod);
  const label = namespace === undefined ? name : `${namespace}/${name}`;
  const none = { name, layer: undefined, warnings: [], missingHint: undefined, unreadable: undefined };
  switch (lookup.kind) {
    case 'found': {
      const { serviceAccount } = lookup;
      const where = ` on ServiceAccount ${serviceAccount.namespace}/${serviceAccount.name}`;
      return { ...none, layer: { annotations: serviceAccount.annotations, where } };
    }
    case 'disabled':
      return none;
    case 'not-found':
      return { ...none, warnings: [`ServiceAccount ${label} was not found: only the Pod's annotations and the webhook defaults apply`] };
    case 'unavailable':
      return {
        ...none,
        warnings: [
          `could not read ServiceAccount ${label} (${lookup.reason}): its annotations were not consulted, ` +
            `so only the Pod's annotations and the webhook defaults apply`,
        ],
        missingHint: `ServiceAccount ${label}, which may set them, could not be read (${lookup.reason}): retry`,
        unreadable:
          `could not read ServiceAccount ${label} (${lookup.reason}) to see whether its ${Annotation.inject} annotation ` +
          `opts this pod in; retry, or set ${Annotation.inject} on the Pod`,
      };
  }
}

export function decideInjection(pod: JsonObject, serviceAccount: ServiceAccountLookup, defaults: InjectionDefaults): InjectionDecision {
  const account = accountContext(pod, serviceAccount);
  const podLayer: AnnotationLayer = { annotations: podAnnotations(pod), where: '' };
  const optIn = decideOptIn({ podAnnotations: podLayer.annotations, podLabels: podLabels(pod), serviceAccount: account.layer });
  if (optIn.kind === 'invalid') return { kind: 'deny', reason: optIn.message, warnings: [] };
  if (optIn.kind === 'out') {
    if (!optIn.decided && account.unreadable !== undefined) return { kind: 'undecided', reason: account.unreadable, warnings: [] };
    return { kind: 'skip', reason: optIn.reason, warnings: [] };
  }
  const layers = account.layer === undefined ? [podLayer] : [podLayer, account.layer];
  const warnings = [...account.warnings, ...layers.flatMap(unknownAnnotationWarnings)];
  const resolved = resolveSettings(layers, defaults, account.missingHint === undefined ? {} : { missingHint: account.missingHint });
  if (!resolved.ok) {
    const mode = resolved.mode === undefined ? {} : { mode: resolved.mode };
    return { kind: 'deny', reason: resolved.errors.join('; '), warnings, ...mode };
  }
  return planInjection({ pod, settings: resolved.settings, defaults, serviceAccount: account.name, warnings });
}
