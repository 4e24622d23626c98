/**
 * An earlier commit's code, its webhook built as this tree's is (tsc to dist/) and its proxy
 * runnable from source, so one benchmark run can measure before and after an optimisation
 * side by side, under the same conditions.
 * Needs the commit in this clone's history.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './processes.ts';

export interface EarlierBuild {
  readonly commit: string;
  /** Its `dist/cli/anthropic-wif.js`. */
  readonly cli: string;
  /** bench/support/admission-stages.ts placed in its tree, timing its own modules. */
  readonly stagesScript: string;
  /** bench/support/proxy-process.ts placed in its tree, running its own proxy. */
  readonly proxyScript: string;
}

/** What the build needs, where the commit has it (folders came and went: contract/, doctor/, audit/…). */
const SOURCES = ['contract', 'agent', 'webhook', 'doctor', 'issuer', 'audit', 'runtime', 'cli', 'test/support', 'tsconfig.json', 'tsconfig.build.json', 'package.json', 'package-lock.json'];
const SUPPORT_FILES = ['admission-stages.ts', 'pod.ts', 'proxy-process.ts'];

export function buildEarlierCommit(commit: string, dir: string): EarlierBuild {
  mkdirSync(dir, { recursive: true });
  const archive = join(dir, 'sources.tar');
  const present = SOURCES.filter((path) => execFileSync('git', ['ls-tree', '--name-only', commit, path], { cwd: REPO_ROOT, encoding: 'utf8' }).trim() !== '');
  execFileSync('git', ['archive', '--output', archive, commit, ...present], { cwd: REPO_ROOT });
  execFileSync('tar', ['-xf', archive, '-C', dir]);
  // Its own dependencies when they differ from this tree's (express, say, before it was dropped).
  const sameLock = readFileSync(join(dir, 'package-lock.json'), 'utf8') === readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8');
  if (sameLock) symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'));
  else execFileSync('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'inherit' });
  execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: dir, stdio: 'inherit' });
  mkdirSync(join(dir, 'bench', 'support'), { recursive: true });
  for (const file of SUPPORT_FILES) copyFileSync(join(REPO_ROOT, 'bench', 'support', file), join(dir, 'bench', 'support', file));
  const support = join(dir, 'bench', 'support');
  return { commit, cli: join(dir, 'dist', 'cli', 'anthropic-wif.js'), stagesScript: join(support, 'admission-stages.ts'), proxyScript: join(support, 'proxy-process.ts') };
}
