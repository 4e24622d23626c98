/**
 * `doctor`'s human-readable report: facts first (which credential, the identity token's
 * claims, the access token's expiry, the last exchange, the files), then every check with
 * its fix. Pure: a report in, text out.
 */
import { formatRelative } from '../runtime/time-format.ts';
import type { Finding, Severity } from './findings.ts';
import type { DoctorReport, FileFacts } from './types.ts';

const LABEL: Record<Severity, string> = { ok: 'ok     ', info: 'info   ', warning: 'WARNING', problem: 'PROBLEM' };

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

function verdict(findings: readonly Finding[]): string {
  const problems = findings.filter((f) => f.severity === 'problem').length;
  const warnings = findings.filter((f) => f.severity === 'warning').length;
  if (problems === 0 && warnings === 0) return 'healthy';
  if (problems === 0) return `healthy, with ${plural(warnings, 'warning')}`;
  return `${plural(problems, 'problem')}${warnings === 0 ? '' : `, ${plural(warnings, 'warning')}`}`;
}

function relative(seconds: number | undefined): string {
  if (seconds === undefined) return '';
  return ` (${formatRelative(seconds)})`;
}

function identityLines(report: DoctorReport): string[] {
  const token = report.identityToken;
  if (token === undefined) return [];
  return [
    `Identity token (${token.source}):`,
    `  iss  ${token.iss ?? '(none)'}`,
    `  sub  ${token.sub ?? '(none)'}`,
    `  aud  ${token.aud.join(', ') || '(none)'}${token.audienceMatches ? ' (matches)' : ' (does not match)'}`,
    `  exp  ${token.expiresAt ?? '(none)'}${relative(token.secondsLeft)}${token.expired ? ', EXPIRED' : ''}`,
    `  jti  ${token.hasJti ? 'present (single-use)' : 'absent'}`,
    '',
  ];
}

function fileLine(file: FileFacts): string {
  const owner = file.kind === 'missing' ? 'missing' : `${file.mode ?? '????'}  uid ${String(file.uid ?? '?').padEnd(6)} gid ${String(file.gid ?? '?').padEnd(6)} ${file.readable ? 'readable  ' : 'UNREADABLE'}`;
  return `  ${owner.padEnd(44)} ${file.path} (${file.role})`;
}

function findingLines(finding: Finding): string[] {
  const lines = [`  ${LABEL[finding.severity]}  ${finding.message}`];
  if (finding.fix !== undefined && finding.severity !== 'ok' && finding.severity !== 'info') lines.push(`           fix: ${finding.fix}`);
  return lines;
}

/** The report as text for a terminal. */
export function formatDoctorText(report: DoctorReport): string {
  const lines = [`anthropic-wif doctor (${report.role} container) at ${report.checkedAt}, uid ${report.uid}: ${verdict(report.findings)}`, ''];
  lines.push('Credential an SDK would use here:', `  ${report.credential.summary}`, '  because:');
  for (const step of report.credential.why) lines.push(`    - ${step}`);
  lines.push('', ...identityLines(report));
  if (report.accessToken !== undefined) {
    lines.push(`Access token (${report.accessToken.path}): expires ${report.accessToken.expiresAt}${relative(report.accessToken.secondsLeft)}`, '');
  }
  if (report.lastExchange !== undefined) lines.push(`Last exchange: ${report.lastExchange.outcome}${report.lastExchange.at === '' ? '' : ` at ${report.lastExchange.at}`}`, '');
  if (report.files.length > 0) {
    lines.push(`Files (as seen by uid ${report.uid}):`, ...report.files.map(fileLine), '');
  }
  lines.push('Checks:');
  for (const finding of report.findings) lines.push(...findingLines(finding));
  return `${lines.join('\n')}\n`;
}
