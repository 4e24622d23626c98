/**
 * The report: findings merged per workload (the same finding on 300 pods of one Deployment is
 * one row with a pod count), grouped by namespace and owner, rendered as a table for people or
 * as JSON for tools. Memory grows with distinct findings, never with pods.
 */
import { AUDIT_SEVERITIES, type AuditSeverity } from '../contract/index.ts';
import { atLeast, severityRank, type Finding, type FindingDraft, type OwnerRef } from './model.ts';
import type { BindingSummary } from './sidecar-health.ts';
import { formatRelative } from '../runtime/time-format.ts';

const EXAMPLE_PODS = 3;
export const REPORT_VERSION = 1;

interface Entry {
  readonly namespace: string;
  readonly owner: OwnerRef;
  readonly draft: FindingDraft;
  pods: number;
  readonly examplePods: string[];
}

export interface ReportCounts {
  pods: number;
  workloads: number;
  serviceAccounts: number;
  secretsRead: number;
  sidecarsScraped: number;
}

export interface AuditReport {
  readonly version: number;
  readonly generatedAt: string;
  readonly counts: Readonly<ReportCounts>;
  readonly bySeverity: Readonly<Record<AuditSeverity, number>>;
  readonly findings: readonly Finding[];
  readonly bindings: readonly BindingSummary[] | undefined;
  readonly notes: readonly string[];
}

export class ReportBuilder {
  readonly #entries = new Map<string, Entry>();
  readonly #notes: string[] = [];
  readonly counts: ReportCounts = { pods: 0, workloads: 0, serviceAccounts: 0, secretsRead: 0, sidecarsScraped: 0 };

  /** Adds a finding about `owner`; `pod` counts it for that pod (absent for a workload's template). */
  add(namespace: string, owner: OwnerRef, draft: FindingDraft, pod?: string): void {
    const id = [namespace, owner.kind, owner.name, draft.kind, draft.message].join('\u0000');
    let entry = this.#entries.get(id);
    if (entry === undefined) {
      entry = { namespace, owner, draft, pods: 0, examplePods: [] };
      this.#entries.set(id, entry);
    }
    if (pod === undefined) return;
    entry.pods += 1;
    if (entry.examplePods.length < EXAMPLE_PODS) entry.examplePods.push(pod);
  }

  /** Adds a finding that already counts its pods (a binding's sidecars). */
  addCounted(namespace: string, owner: OwnerRef, draft: FindingDraft, pods: { readonly count: number; readonly examples: readonly string[] }): void {
    this.add(namespace, owner, draft);
    const entry = this.#entries.get([namespace, owner.kind, owner.name, draft.kind, draft.message].join('\u0000'));
    if (entry === undefined) return;
    entry.pods += pods.count;
    entry.examplePods.push(...pods.examples.slice(0, EXAMPLE_PODS - entry.examplePods.length));
  }

  note(text: string): void {
    this.#notes.push(text);
  }

  build(generatedAt: Date, bindings: readonly BindingSummary[] | undefined): AuditReport {
    const findings = [...this.#entries.values()].map(
      (entry): Finding => ({ ...entry.draft, namespace: entry.namespace, owner: entry.owner, pods: entry.pods, examplePods: entry.examplePods }),
    );
    findings.sort(compareFindings);
    const bySeverity = Object.fromEntries(AUDIT_SEVERITIES.map((severity) => [severity, findings.filter((f) => f.severity === severity).length])) as Record<AuditSeverity, number>;
    const sortedBindings = bindings === undefined ? undefined : [...bindings].sort((a, b) => bindingId(a).localeCompare(bindingId(b)));
    return { version: REPORT_VERSION, generatedAt: generatedAt.toISOString(), counts: { ...this.counts }, bySeverity, findings, bindings: sortedBindings, notes: [...this.#notes] };
  }
}

function bindingId(b: BindingSummary): string {
  return `${b.namespace}/${b.serviceAccount}/${b.federationRuleId}`;
}

function compareFindings(a: Finding, b: Finding): number {
  return (
    a.namespace.localeCompare(b.namespace) ||
    `${a.owner.kind}/${a.owner.name}`.localeCompare(`${b.owner.kind}/${b.owner.name}`) ||
    severityRank(b.severity) - severityRank(a.severity) ||
    a.kind.localeCompare(b.kind) ||
    a.message.localeCompare(b.message)
  );
}

/** Whether any finding is at or above `threshold` (the exit code of `--fail-on`). */
export function failsAt(report: AuditReport, threshold: AuditSeverity): boolean {
  return report.findings.some((finding) => atLeast(finding.severity, threshold));
}

export function renderJson(report: AuditReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

function podsLabel(finding: Finding): string {
  if (finding.pods === 0) return 'template';
  const examples = finding.examplePods.join(', ');
  const more = finding.pods > finding.examplePods.length ? ', …' : '';
  return `${String(finding.pods)} pod${finding.pods === 1 ? '' : 's'}: ${examples}${more}`;
}

const SEVERITY_WIDTH = Math.max(...AUDIT_SEVERITIES.map((s) => s.length));

function findingLines(finding: Finding): string[] {
  const head = `    ${finding.severity.toUpperCase().padEnd(SEVERITY_WIDTH)}  ${finding.kind}  (${podsLabel(finding)})`;
  const pad = ' '.repeat(SEVERITY_WIDTH + 6);
  return [head, `${pad}${finding.message}`, `${pad}fix: ${finding.fix}`];
}

function groupedLines(findings: readonly Finding[]): string[] {
  const lines: string[] = [];
  let namespace: string | undefined;
  let owner: string | undefined;
  for (const finding of findings) {
    if (finding.namespace !== namespace) {
      namespace = finding.namespace;
      owner = undefined;
      lines.push('', `namespace ${namespace}`);
    }
    const ownerLabel = `${finding.owner.kind}/${finding.owner.name}`;
    if (ownerLabel !== owner) {
      owner = ownerLabel;
      lines.push(`  ${ownerLabel}`);
    }
    lines.push(...findingLines(finding));
  }
  return lines;
}

function table(rows: readonly (readonly string[])[]): string[] {
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  return rows.map((row) => `  ${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd()}`);
}

function bindingLines(bindings: readonly BindingSummary[], nowSeconds: number): string[] {
  if (bindings.length === 0) return ['', 'Bindings: no sidecar was running to read.'];
  const rows = bindings.map((b) => [
    b.namespace,
    b.serviceAccount,
    b.federationRuleId,
    String(b.sidecars),
    String(b.ok),
    String(b.low),
    String(b.failing),
    String(b.unreadable),
    b.minRemainingSeconds === undefined ? '-' : `${String(b.minRemainingSeconds)} s`,
    `${String(b.exchangesSucceeded)}/${String(b.exchangesFailed)}`,
    b.lastSuccessAt === undefined ? '-' : formatRelative(b.lastSuccessAt - nowSeconds),
  ]);
  return [
    '',
    'Bindings (from each sidecar /metrics, through the pod proxy):',
    ...table([['NAMESPACE', 'SERVICEACCOUNT', 'RULE', 'SIDECARS', 'OK', 'LOW', 'FAILING', 'UNREADABLE', 'MIN TOKEN LEFT', 'EXCHANGES OK/FAILED', 'LAST SUCCESS'], ...rows]),
  ];
}

export function summaryLine(report: AuditReport): string {
  const total = report.findings.length;
  const parts = [...AUDIT_SEVERITIES].reverse().map((severity) => `${String(report.bySeverity[severity])} ${severity}`);
  const { pods, workloads } = report.counts;
  return `${String(total)} finding${total === 1 ? '' : 's'} (${parts.join(', ')}) in ${String(pods)} pods and ${String(workloads)} workloads`;
}

export function renderTable(report: AuditReport): string {
  const lines = [`anthropic-wif audit: ${summaryLine(report)}`];
  lines.push(...groupedLines(report.findings));
  if (report.bindings !== undefined) lines.push(...bindingLines(report.bindings, Date.parse(report.generatedAt) / 1000));
  if (report.notes.length > 0) lines.push('', ...report.notes.map((note) => `note: ${note}`));
  return `${lines.join('\n')}\n`;
}
