/**
 * The pure decision: pod + ServiceAccount + defaults → skip | inject(plan) | deny(reason).
 * No logger, no client, no process.env.
 *
 * A linear pipeline: opt-in (Pod annotation > Pod label > ServiceAccount annotation) →
 * settings (Pod annotation > ServiceAccount annotation > defaults, each validated) → the
 * pod-dependent plan (plan.ts). Any invalid input is a denial: nothing is half-injected.
 */
import { Annotation, type Mode } from '../contract/index.ts';
import type { ContainerInjection } from './injected-objects.ts';
import type { JsonObject } from './json.ts';
import { decideOptIn } from './opt-in.ts';
import { planInjection } from './plan.ts';
import { podAnnotations, podLabels, podNamespace, serviceAccountName } from './pod.ts';
import { resolveSettings, unknownAnnotationWarnings, type AnnotationLayer } from './settings.ts';
import type { ContainerRecord, Layout } from './status.ts';

/** A ServiceAccount as the cache keeps it: only this project's annotations. */
export interface ServiceAccountView {
  readonly namespace: string;
  readonly name: string;
  readonly annotations: Readonly<Record<string, string>>;
}

/** How the shell found the pod's ServiceAccount. */
export type ServiceAccountLookup =
  | { readonly kind: 'found'; readonly serviceAccount: ServiceAccountView }
  | { readonly kind: 'not-found' }
  /** `--service-account-lookup=false`: annotations are not consulted. */
  | { readonly kind: 'disabled' }
  /** The API server could not be asked in time. */
  | { readonly kind: 'unavailable'; readonly reason: string };

export interface ContainerResources {
  readonly requests?: Readonly<Record<string, string>>;
  readonly limits?: Readonly<Record<string, string>>;
}

/** Webhook defaults (flags / chart values), already validated by the config parser. */
export interface InjectionDefaults {
  readonly organizationId: string | undefined;
  readonly federationRuleId: string | undefined;
  readonly audience: string;
  readonly tokenExpirationSeconds: number;
  readonly mode: Mode;
  readonly baseUrl: string;
  readonly agentImage: string;
  readonly agentImagePullPolicy: string | undefined;
  readonly agentResources: ContainerResources;
  /** Resolved by the shell from `--native-sidecar auto|true|false` and the cluster version. */
  readonly nativeSidecar: { readonly enabled: boolean; readonly reason: string };
  /** `deny` turns an ANTHROPIC_API_KEY / ANTHROPIC_AUTH_TOKEN on an app container into a denial. */
  readonly shadowing: 'warn' | 'deny';
  readonly proxyPort: number;
  /** `--ca-bundle-config-map`: a ConfigMap in the pod's namespace whose PEM bundle the sidecar trusts. */
  readonly caBundle: CaBundleSource | undefined;
  /** `--agent-env`: extra variables for every injected agent container (never an `ANTHROPIC_` one). */
  readonly agentEnv: readonly EnvVar[];
  /** `--allowed-base-urls`: origins a `base-url` annotation may name; undefined honours any (the default). */
  readonly allowedBaseUrlOrigins: readonly string[] | undefined;
}

export interface CaBundleSource {
  readonly configMap: string;
  readonly key: string;
}

export interface EnvVar {
  readonly name: string;
  readonly value: string;
}

/** Everything applyInjection needs; produced only by decideInjection. */
export interface InjectionPlan {
  readonly mode: Mode;
  readonly layout: Layout;
  /** The webhook's volumes as they must be; any other volume of the webhook's is removed. */
  readonly volumes: readonly JsonObject[];
  /** The native sidecar or the legacy init container, placed by `agentInitIndex`. */
  readonly initContainer: JsonObject | undefined;
  /** The legacy layout's regular sidecar container. */
  readonly sidecar: JsonObject | undefined;
  /** What each container gets, by name. */
  readonly containers: Readonly<Record<string, ContainerInjection>>;
  /** What an earlier injection added to each container (from the status annotation), taken back first. */
  readonly previous: Readonly<Record<string, ContainerRecord>>;
  /** The value of the status annotation. */
  readonly status: string;
}

export type InjectionDecision =
  | { readonly kind: 'skip'; readonly reason: string; readonly warnings: readonly string[] }
  | { readonly kind: 'inject'; readonly plan: InjectionPlan; readonly warnings: readonly string[] }
  | { readonly kind: 'deny'; readonly reason: string; readonly warnings: readonly string[]; readonly mode?: Mode }
  /**
   * The pod did not opt in itself and its ServiceAccount, which might opt it in, could not be
   * read. Not a denial: the shell answers with an error so the webhook entry's failurePolicy
   * decides (the chart's catch-all entry defaults to Ignore, so an API hiccup never blocks pods
   * that did not opt in; opted-in pods carry the label and go through the Fail entry).
   */
  | { readonly kind: 'undecided'; readonly reason: string; readonly warnings: readonly string[] };

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
