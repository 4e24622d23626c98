/**
 * The types the decision core shares: defaults, the ServiceAccount view, settings, the plan
 * and the decision. Types only, so every module of the core can import it and the core
 * stays a DAG (decide → opt-in → settings; decide → plan → injected-objects).
 */
import type { Mode } from '../contract/index.ts';
import type { JsonObject } from './json.ts';
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

export interface CaBundleSource {
  readonly configMap: string;
  readonly key: string;
}

export interface EnvVar {
  readonly name: string;
  readonly value: string;
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

/** One source of annotations, in precedence order. */
export interface AnnotationLayer {
  readonly annotations: Readonly<Record<string, string>>;
  /** How a message places a value: `""` for the Pod, `" on ServiceAccount ns/name"`. */
  readonly where: string;
}

export interface EffectiveSettings {
  readonly organizationId: string;
  readonly federationRuleId: string;
  readonly serviceAccountId: string | undefined;
  readonly workspaceId: string | undefined;
  readonly audience: string;
  readonly tokenExpirationSeconds: number;
  readonly mode: Mode;
  readonly baseUrl: string;
  readonly skipContainers: readonly string[];
}

/** What one container gets: variables to set and volumes to mount. */
export interface ContainerInjection {
  readonly env: readonly JsonObject[];
  readonly volumeMounts: readonly JsonObject[];
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
