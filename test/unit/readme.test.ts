/**
 * The README is the reference users read: every flag, variable, annotation, injected name,
 * file and metric the code defines must appear in it, so docs cannot silently fall behind.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AgentEnv, Annotation, ClaudeCodeEnv, ClaudeCodeSetting, ContainerName, Metric, OutputFile, Path, ProxyEnv, SdkEnv, VolumeName } from '../../contract/index.ts';
import { AGENT_SPECS, TOKEN_SPECS } from '../../agent/config.ts';
import { AUDIT_OPTIONS } from '../../cli/audit.ts';
import { DOCTOR_OPTIONS } from '../../doctor/doctor.ts';
import { ISSUER_OPTIONS } from '../../issuer/issuer.ts';
import type { OptionSpecs } from '../../runtime/config.ts';
import { webhookOptions } from '../../webhook/config.ts';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

function flagsAndVariables(specs: OptionSpecs): string[] {
  return Object.values(specs).flatMap((spec) => [`\`--${spec.flag}`, ...(spec.env === undefined ? [] : [spec.env])]);
}

describe('README reference', () => {
  it.each([
    ['webhook', webhookOptions],
    ['agent', AGENT_SPECS],
    ['token', TOKEN_SPECS],
    ['doctor', DOCTOR_OPTIONS],
    ['issuer', ISSUER_OPTIONS],
    ['audit', AUDIT_OPTIONS],
  ] as const)('documents every flag and variable of `anthropic-wif %s`', (_command, specs) => {
    const missing = flagsAndVariables(specs).filter((name) => !README.includes(name));
    expect(missing).toEqual([]);
  });

  it('documents every annotation, injected name, path, file, variable and metric of the contract', () => {
    const names = [
      ...Object.values(Annotation),
      ...Object.values(VolumeName),
      ...Object.values(ContainerName),
      ...Object.values(Path),
      ...Object.values(OutputFile),
      ...Object.values(SdkEnv).filter((name) => name !== SdkEnv.profile),
      ...Object.values(AgentEnv),
      ...Object.values(ProxyEnv).flat(),
      ...Object.values(Metric),
    ];
    expect(names.filter((name) => !README.includes(name))).toEqual([]);
  });

  it('names every Claude Code variable and setting, and the egress proxy variables, it relies on', () => {
    const names = [...Object.values(ClaudeCodeEnv), ...Object.values(ClaudeCodeSetting), ...Object.values(ProxyEnv).map((spellings) => spellings[1])];
    expect(names.filter((name) => !README.includes(`\`${name}`))).toEqual([]);
  });

  it('keeps the two quick-start commands', () => {
    expect(README).toContain('npm ci && npm run demo');
    expect(README).toContain('npm ci && npm test');
  });
});
