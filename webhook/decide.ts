/**
 * The pure decision: pod + ServiceAccount + defaults → skip | inject(plan) | deny(reason).
 * No logger, no client, no process.env.
 * OWNER: webhook-core. Signatures here are what the shell (admission.ts) codes against.
 */
import type { Mode } from '../agent/contract.ts';
import type { JsonObject } from './json.ts';

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
}

/** Everything applyInjection needs; produced only by decideInjection. */
export interface InjectionPlan {
  readonly mode: Mode;
  readonly [key: string]: unknown;
}

export type InjectionDecision =
  | { readonly kind: 'skip'; readonly reason: string; readonly warnings: readonly string[] }
  | { readonly kind: 'inject'; readonly plan: InjectionPlan; readonly warnings: readonly string[] }
  | { readonly kind: 'deny'; readonly reason: string; readonly warnings: readonly string[] };

export function decideInjection(_pod: JsonObject, _serviceAccount: ServiceAccountLookup, _defaults: InjectionDefaults): InjectionDecision {
  throw new Error('not implemented');
}
