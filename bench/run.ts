/**
 * `npm run bench [-- <name>… [--flag=value…]]`: runs the named benchmarks (all when none is
 * named), stores each one's Markdown section in bench/results/<name>.md, and assembles
 * docs/benchmarks.md from the machine description and every stored section, so running one
 * benchmark regenerates the whole document. Not part of `npm test`.
 *
 * Setup first: the webhook and proxy load generator is Debian's `wrk` (installed with
 * apt-get when missing), and the webhook runs from `dist/` as in production (built here).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeMachine, formatMachine } from './machine.ts';
import type { BenchOptions } from './support/bench-options.ts';
import { REPO_ROOT } from './support/processes.ts';
import { wrkInstalled } from './support/wrk.ts';

/** Every benchmark, in the document's order. */
export const BENCHMARKS = ['webhook', 'proxy', 'agent-footprint', 'fleet', 'audit'] as const;
type BenchmarkName = (typeof BENCHMARKS)[number];

/** Which setup each benchmark needs. */
const NEEDS_WRK: ReadonlySet<BenchmarkName> = new Set(['webhook', 'proxy']);

const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');
const DOCUMENT = join(REPO_ROOT, 'docs', 'benchmarks.md');

interface BenchModule {
  run(options: BenchOptions): Promise<string>;
}

interface CommandLine {
  readonly names: readonly BenchmarkName[];
  /** No name was given: run every benchmark that exists. */
  readonly all: boolean;
  readonly flags: Readonly<Record<string, string>>;
}

function isBenchmarkName(name: string): name is BenchmarkName {
  return (BENCHMARKS as readonly string[]).includes(name);
}

export function parseCommandLine(argv: readonly string[]): CommandLine {
  const names: BenchmarkName[] = [];
  const flags: Record<string, string> = {};
  for (const arg of argv) {
    const flag = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/.exec(arg);
    if (flag !== null) {
      flags[flag[1] ?? ''] = flag[2] ?? 'true';
    } else if (isBenchmarkName(arg)) {
      names.push(arg);
    } else {
      throw new Error(`unknown benchmark "${arg}": expected one of ${BENCHMARKS.join(', ')}`);
    }
  }
  return { names: names.length === 0 ? [...BENCHMARKS] : names, all: names.length === 0, flags };
}

function progress(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

function aptInstallWrk(): boolean {
  try {
    execFileSync('apt-get', ['install', '-y', 'wrk'], { stdio: 'inherit' });
    return true;
  } catch {
    return false;
  }
}

/** wrk from Debian's packages, installed when missing (a fresh machine may need the package lists first). */
function ensureWrk(): void {
  if (wrkInstalled()) return;
  progress('wrk is missing: apt-get install -y wrk');
  if (!aptInstallWrk()) {
    progress('apt-get update, then apt-get install -y wrk again');
    execFileSync('apt-get', ['update'], { stdio: 'inherit' });
    aptInstallWrk();
  }
  if (!wrkInstalled()) throw new Error('wrk is still missing after apt-get install -y wrk: install it (Debian package wrk) and run again');
}

function buildDist(): void {
  progress('building dist/ (tsc -p tsconfig.build.json)');
  execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: REPO_ROOT, stdio: 'inherit' });
}

async function runOne(name: BenchmarkName, flags: Readonly<Record<string, string>>): Promise<void> {
  const module = (await import(join(REPO_ROOT, 'bench', `${name}.ts`))) as BenchModule;
  progress(`${name}: running`);
  const started = Date.now();
  const section = await module.run({
    flags,
    progress: (line) => {
      progress(`${name}: ${line}`);
    },
  });
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, `${name}.md`), `${section.trimEnd()}\n`);
  progress(`${name}: done in ${((Date.now() - started) / 1000).toFixed(0)} s, written to bench/results/${name}.md`);
}

const HEADER = `# Benchmarks

Reproducible measurements of the webhook, the agent's proxy, the agent's footprint, the
token endpoint's load from a fleet and the audit over a large cluster. Run them with:

- \`npm run bench\`: every benchmark (about half an hour, most of it the 1-million-admission RSS run);
- \`npm run bench -- webhook\` (or \`proxy\`, \`agent-footprint\`, \`fleet\`, \`audit\`): one benchmark; the
  document is rebuilt from the stored sections in \`bench/results/\`;
- flags after the names tune a run, e.g. \`npm run bench -- webhook --admissions=200000 --seconds=5\`
  (each section lists the flags it read); \`npm run bench -- --document-only\` only rebuilds this
  document from the stored sections.

The runner installs Debian's \`wrk\` (\`apt-get install -y wrk\`) when it is missing and builds
\`dist/\` (\`tsc -p tsconfig.build.json\`) first, so code runs as in the image; each section says how
it ran what it measured. Figures are what this machine gave, not pass/fail assertions; where a
target is missed the section says by how much and what bounds it. The machine may be shared with
other work, so each section records the load average it started with.

## Machine

`;

function assembleDocument(): void {
  const sections = BENCHMARKS.map((name) => {
    const file = join(RESULTS_DIR, `${name}.md`);
    return existsSync(file) ? readFileSync(file, 'utf8').trimEnd() : `## ${name}\n\nNot measured yet: \`npm run bench -- ${name}\`.`;
  });
  mkdirSync(join(REPO_ROOT, 'docs'), { recursive: true });
  writeFileSync(DOCUMENT, `${HEADER}${formatMachine(describeMachine())}\n\n${sections.join('\n\n')}\n`);
  progress('docs/benchmarks.md assembled');
}

function benchmarkExists(name: BenchmarkName): boolean {
  return existsSync(join(REPO_ROOT, 'bench', `${name}.ts`));
}

async function main(argv: readonly string[]): Promise<void> {
  const commandLine = parseCommandLine(argv);
  if (commandLine.flags['document-only'] === 'true') {
    assembleDocument();
    return;
  }
  const missing = commandLine.names.filter((name) => !benchmarkExists(name));
  if (missing.length > 0 && !commandLine.all) throw new Error(`no such benchmark module: ${missing.map((name) => `bench/${name}.ts`).join(', ')}`);
  for (const name of missing) progress(`${name}: bench/${name}.ts does not exist, skipped`);
  const names = commandLine.names.filter(benchmarkExists);
  if (names.some((name) => NEEDS_WRK.has(name))) ensureWrk();
  buildDist();
  for (const name of names) await runOne(name, commandLine.flags);
  assembleDocument();
}

if (import.meta.main) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exitCode = 1;
  });
}
