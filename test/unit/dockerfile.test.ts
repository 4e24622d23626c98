/**
 * There is no Docker engine here, so the Dockerfile is checked statically: pinned bases on
 * the Node.js the tests use, a multi-stage build that ships only production dependencies
 * and compiled JavaScript, a numeric non-root user, the entrypoint equal to the package's
 * bin, OCI labels, and a .dockerignore that keeps the context small but complete.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/k8s-tools.ts';

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

interface Stage {
  readonly name: string;
  readonly from: string;
  readonly instructions: Instruction[];
}

/** Instructions with continuation lines joined and comments dropped. */
function parseInstructions(text: string): Instruction[] {
  const logical = text
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return logical
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .map((line) => {
      const space = line.indexOf(' ');
      return { keyword: line.slice(0, space).toUpperCase(), args: line.slice(space + 1).trim().replace(/\s+/g, ' ') };
    });
}

function parseStages(instructions: readonly Instruction[]): { globalArgs: Map<string, string>; stages: Stage[] } {
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const match = /^(?:--platform=\S+\s+)?(\S+)\s+AS\s+(\S+)$/i.exec(instruction.args);
      if (match === null) throw new Error(`FROM without a stage name: ${instruction.args}`);
      stages.push({ from: match[1]!, name: match[2]!, instructions: [] });
    } else if (stages.length === 0) {
      if (instruction.keyword !== 'ARG') throw new Error(`${instruction.keyword} before the first FROM`);
      const [name, value = ''] = instruction.args.split('=', 2) as [string, string?];
      globalArgs.set(name, value);
    } else {
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return { globalArgs, stages };
}

const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
const { globalArgs, stages } = parseStages(parseInstructions(dockerfile));
const runtime = stages.at(-1)!;
const packageJson = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  version: string;
  license: string;
  bin: Record<string, string>;
  dependencies: Record<string, string>;
};
const lockedNodeVersion = (
  JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> }
).packages['node_modules/node']?.version;

function resolveImage(from: string): string {
  return from.replace(/^\$\{(\w+)\}$/, (_all, name: string) => globalArgs.get(name) ?? `<unset ${name}>`);
}

function stageNamed(name: string): Stage {
  const stage = stages.find((s) => s.name === name);
  if (stage === undefined) throw new Error(`no stage ${name}`);
  return stage;
}

function runs(stage: Stage): string[] {
  return stage.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
}

function copies(stage: Stage): { from: string | undefined; sources: string[]; destination: string }[] {
  return stage.instructions
    .filter((i) => i.keyword === 'COPY')
    .map((i) => {
      const words = i.args.split(/\s+/);
      const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
      const paths = words.filter((w) => !w.startsWith('--'));
      return { from, sources: paths.slice(0, -1), destination: paths.at(-1)! };
    });
}

describe('base images', () => {
  it('every stage starts from the pinned Node.js image the tests run on', () => {
    expect(lockedNodeVersion).toMatch(/^24\.\d+\.\d+$/);
    for (const stage of stages) {
      const image = resolveImage(stage.from);
      expect(image, stage.name).toMatch(/^node:\d+\.\d+\.\d+-[a-z]+-slim(@sha256:[a-f0-9]{64})?$/);
      expect(image.slice('node:'.length).split('-')[0], stage.name).toBe(lockedNodeVersion);
    }
  });

  it('names the runtime base in the OCI base-name label', () => {
    expect(dockerfile).toContain(`org.opencontainers.image.base.name="docker.io/library/${resolveImage(runtime.from).split('@')[0]!}"`);
  });
});

describe('stages', () => {
  it('builds in separate stages from the runtime', () => {
    expect(stages.map((s) => s.name)).toEqual(['build', 'production-dependencies', 'runtime']);
  });

  it('compiles every source directory of tsconfig.build.json in the build stage', () => {
    const include = (JSON.parse(readFileSync(join(REPO_ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] }).include;
    const copied = copies(stageNamed('build')).flatMap((c) => c.sources);
    expect(include.filter((dir) => !copied.includes(dir))).toEqual([]);
    expect(runs(stageNamed('build'))).toEqual(['npm ci --ignore-scripts --no-audit --no-fund', 'npm run build && chmod 0755 dist/cli/anthropic-wif.js']);
  });

  it('installs production dependencies only, without install scripts', () => {
    expect(runs(stageNamed('production-dependencies'))).toEqual(['npm ci --omit=dev --ignore-scripts --no-audit --no-fund']);
  });

  it('the runtime takes node_modules from the production stage, dist from the build, and nothing else but package.json', () => {
    expect(copies(runtime)).toEqual([
      { from: 'production-dependencies', sources: ['/app/node_modules'], destination: './node_modules' },
      { from: 'build', sources: ['/src/dist'], destination: './dist' },
      { from: undefined, sources: ['package.json'], destination: './' },
    ]);
    expect(runs(runtime).join('\n')).not.toMatch(/npm (ci|install)/);
  });

  it('never copies the whole context', () => {
    for (const stage of stages) for (const copy of copies(stage)) expect(copy.sources, stage.name).not.toContain('.');
  });

  it('production dependencies cover every package the compiled sources import', () => {
    const include = (JSON.parse(readFileSync(join(REPO_ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] }).include;
    const files = include.flatMap((dir) => sourceFiles(join(REPO_ROOT, dir)));
    const imported = new Set<string>();
    for (const file of files) {
      for (const match of readFileSync(file, 'utf8').matchAll(/(?:from|import\()\s*'([^'.][^']*)'/g)) {
        const specifier = match[1]!;
        if (specifier.startsWith('node:')) continue;
        imported.add(specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!);
      }
    }
    expect(imported.size).toBeGreaterThan(0);
    expect([...imported].filter((name) => !(name in packageJson.dependencies))).toEqual([]);
  });
});

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') && !path.endsWith('.test.ts') ? [path] : [];
  });
}

describe('the runtime image', () => {
  const instruction = (keyword: string): string[] => runtime.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);

  it('runs as a numeric non-root user', () => {
    expect(instruction('USER')).toEqual(['65532:65532']);
  });

  it("has the package's bin as its exec-form entrypoint, on PATH with no shell", () => {
    const [binName, binPath] = Object.entries(packageJson.bin)[0]!;
    expect(Object.keys(packageJson.bin)).toEqual(['anthropic-wif']);
    expect(instruction('ENTRYPOINT')).toEqual([JSON.stringify([binName])]);
    expect(instruction('WORKDIR')).toEqual(['/app']);
    expect(runs(runtime).join('\n')).toContain(`ln -s /app/${binPath} /usr/local/bin/${binName}`);
    expect(readFileSync(join(REPO_ROOT, 'cli', 'anthropic-wif.ts'), 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
    expect(runs(stageNamed('build')).join('\n')).toContain(`chmod 0755 ${binPath}`);
  });

  it('carries the OCI labels, with the package version and license', () => {
    const labels = instruction('LABEL').join(' ');
    for (const key of ['title', 'description', 'version', 'revision', 'source', 'licenses']) {
      expect(labels).toContain(`org.opencontainers.image.${key}=`);
    }
    expect(labels).toContain(`org.opencontainers.image.licenses="${packageJson.license}"`);
    expect(instruction('ARG')).toContain(`VERSION=${packageJson.version}`);
  });

  it('keeps /usr/local/bin/node, which the shebang and the chart\'s preStop hook run', () => {
    const removed = runs(runtime).flatMap((command) => [...command.matchAll(/rm -rf ([^&]+)/g)].flatMap((m) => m[1]!.trim().split(' ')));
    expect(removed).toContain('/usr/local/bin/npm');
    expect(removed.filter((path) => '/usr/local/bin/node'.startsWith(path.replace(/\*$/, '')))).toEqual([]);
    expect(readFileSync(join(REPO_ROOT, 'charts', 'anthropic-workload-identity', 'templates', 'deployment.yaml'), 'utf8')).toContain('command: ["/usr/local/bin/node", "-e"');
  });

  it('runs in production mode', () => {
    expect(instruction('ENV')).toContain('NODE_ENV=production');
  });
});

describe('.dockerignore', () => {
  const patterns = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const ignored = (path: string): boolean =>
    patterns.some((pattern) => {
      const regex = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*\//g, '(.*/)?').replace(/\*/g, '[^/]*')}(/.*)?$`);
      return regex.test(path);
    });

  it.each(['node_modules', '.git', 'test', 'dist', 'coverage', '.env', 'README.md', 'agent/foo.test.ts', 'charts'])('excludes %s', (path) => {
    expect(ignored(path)).toBe(true);
  });

  it('keeps every file the Dockerfile copies from the context', () => {
    const fromContext = stages.flatMap((stage) => copies(stage).filter((c) => c.from === undefined).flatMap((c) => c.sources));
    expect(fromContext.length).toBeGreaterThan(5);
    expect(fromContext.filter((path) => ignored(path))).toEqual([]);
  });
});
