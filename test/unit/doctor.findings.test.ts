/**
 * README's table of doctor findings is the catalog's (doctor/findings.ts): every code once,
 * with its severity, section and fix, and nothing the catalog does not know.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FINDINGS, finding, type FindingCode } from '../../doctor/findings.ts';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const START = '<!-- doctor-findings:start (checked against doctor/findings.ts by test/unit/doctor.findings.test.ts) -->';
const END = '<!-- doctor-findings:end -->';

function cell(text: string): string {
  return text.replaceAll('|', '\\|');
}

function fixCell(fix: string | Readonly<Record<string, string>> | undefined): string {
  if (fix === undefined) return '—';
  if (typeof fix === 'string') return cell(fix);
  return Object.entries(fix)
    .map(([variant, text]) => `\`${variant}\`: ${cell(text)}`)
    .join('<br>');
}

function catalogTable(): string {
  const rows = (Object.keys(FINDINGS) as FindingCode[]).map((code) => {
    const spec: { readonly severity: string; readonly section: string; readonly fix?: string | Readonly<Record<string, string>> } = FINDINGS[code];
    return `| \`${code}\` | ${spec.severity} | ${spec.section} | ${fixCell(spec.fix)} |`;
  });
  return ['| code | severity | section | fix (`{name}`: filled in from what was found) |', '|---|---|---|---|', ...rows].join('\n');
}

function readmeTable(): string {
  const start = README.indexOf(START);
  const end = README.indexOf(END);
  expect(start, 'README carries the doctor-findings markers').toBeGreaterThanOrEqual(0);
  expect(end).toBeGreaterThan(start);
  return README.slice(start + START.length, end).trim();
}

function codesIn(table: string): string[] {
  return [...table.matchAll(/^\| `([a-z-]+)` \|/gm)].map((match) => match[1]!);
}

describe('doctor findings catalog', () => {
  it('README lists every code of the catalog, and only those', () => {
    const documented = codesIn(readmeTable());
    expect(documented.filter((code) => !(code in FINDINGS))).toEqual([]);
    expect(Object.keys(FINDINGS).filter((code) => !documented.includes(code))).toEqual([]);
  });

  it("README's table is the catalog's: severity, section and fix of each code", () => {
    expect(readmeTable()).toBe(catalogTable());
  });

  it('fills a fix template from the facts, and picks a fix variant', () => {
    expect(finding('token-file-mode', { path: '/x/token', mode: '0644' })).toEqual({
      code: 'token-file-mode',
      severity: 'warning',
      section: 'files',
      message: '/x/token has mode 0644, not 0600: other users in the pod may read the token',
      fix: 'chmod 600 /x/token',
    });
    expect(finding('file-unreadable', { path: '/x/configs/default.json', owner: 'mode 0600, owner uid 1', uid: 2, fix: 'profile' }).fix).toBe(
      'the profile is written 0644; restore that mode',
    );
    expect(finding('agent-unreachable', { address: '127.0.0.1:8081', error: 'ECONNREFUSED' })).not.toHaveProperty('fix');
  });
});
