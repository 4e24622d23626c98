/**
 * What `anthropic-wif audit` reports: findings, each about one workload (its top owner, or
 * the bare pod), with a severity and a one-line fix. Types only, so every audit module can
 * import it and the folder stays a DAG. No finding ever carries a secret value.
 */
import { AUDIT_SEVERITIES, type AuditSeverity } from '../contract/index.ts';

export type { AuditSeverity };

export type FindingKind =
  /** 1: ANTHROPIC_API_KEY / ANTHROPIC_AUTH_TOKEN set by a container (literal, Secret, ConfigMap, or maybe envFrom). */
  | 'static-credential'
  /** 2: opted in, but no injection status (the webhook was down under the Ignore entry, or the pod predates it). */
  | 'missed-injection'
  /** 3: injected with settings the webhook would no longer use. */
  | 'stale-injection'
  /** 4: a sidecar image other than the configured one. */
  | 'sidecar-image-drift'
  /** 4: sdk mode with several containers exchanging one single-use assertion. */
  | 'sdk-several-exchangers'
  /** A status annotation this webhook did not write. */
  | 'foreign-status'
  /** 5: a binding (namespace, ServiceAccount, federation rule) whose sidecars fail. */
  | 'binding-failing';

/** The workload a finding is about: what to edit or restart. */
export interface OwnerRef {
  readonly kind: string;
  readonly name: string;
}

export interface Finding {
  readonly kind: FindingKind;
  readonly severity: AuditSeverity;
  readonly namespace: string;
  readonly owner: OwnerRef;
  /** One line: what is wrong (names containers, variables, Secrets; never a value). */
  readonly message: string;
  /** One line: what to do. */
  readonly fix: string;
  /** Pods this finding covers (0 for a template with no pod, e.g. a CronJob between runs). */
  readonly pods: number;
  /** A few of the pods' names, for the reader to look at. */
  readonly examplePods: readonly string[];
}

/** A finding before it is merged with the same finding of sibling pods. */
export interface FindingDraft {
  readonly kind: FindingKind;
  readonly severity: AuditSeverity;
  readonly message: string;
  readonly fix: string;
}

export function severityRank(severity: AuditSeverity): number {
  return AUDIT_SEVERITIES.indexOf(severity);
}

export function atLeast(severity: AuditSeverity, threshold: AuditSeverity): boolean {
  return severityRank(severity) >= severityRank(threshold);
}
