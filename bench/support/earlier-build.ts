/**
 * An earlier commit's code, its webhook built as this tree's is (tsc to dist/) and its proxy
 * runnable from source, so one benchmark run can measure before and after an optimisation
 * side by side, under the same conditions.
 * Needs the commit in this clone's history.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, symlinkSync } from 'node:fs';
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

const SOURCES = ['agent', 'webhook', 'runtime', 'cli', 'test/support', 'tsconfig.json', 'tsconfig.build.json', 'package.json'];
const SUPPORT_FILES = ['admission-stages.ts', 'pod.ts', 'proxy-process.ts'];

export function buildEarlierCommit(commit: string, dir: string): EarlierBuild {
  mkdirSync(dir, { recursive: true });
  const archive = join(dir, 'sources.tar');
  execFileSync('git', ['archive', '--output', archive, commit, ...SOURCES], { cwd: REPO_ROOT });
  execFileSync('tar', ['-xf', archive, '-C', dir]);
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'));
  execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: dir, stdio: 'inherit' });
  mkdirSync(join(dir, 'bench', 'support'), { recursive: true });
  for (const file of SUPPORT_FILES) copyFileSync(join(REPO_ROOT, 'bench', 'support', file), join(dir, 'bench', 'support', file));
  const support = join(dir, 'bench', 'support');
  return { commit, cli: join(dir, 'dist', 'cli', 'anthropic-wif.js'), stagesScript: join(support, 'admission-stages.ts'), proxyScript: join(support, 'proxy-process.ts') };
}
