/**
 * Talking to the e2e API server through the real kubectl (v1.33, from the devDependency
 * layer), and reading what it stored.
 */
import { kubectlPath, runToolAsync, type ToolResult } from '../../support/k8s-tools.ts';
import type { JsonObject } from '../../../webhook/json.ts';

export interface Kubectl {
  run(args: readonly string[], input?: string): Promise<ToolResult>;
  /** Runs and throws with kubectl's stderr on a non-zero exit. */
  ok(args: readonly string[], input?: string): Promise<string>;
  getJson(kind: string, name: string, namespace?: string): Promise<JsonObject>;
}

export function kubectlFor(kubeconfig: string): Kubectl {
  const run = (args: readonly string[], input?: string): Promise<ToolResult> =>
    runToolAsync(kubectlPath(), args, { kubeconfig, ...(input === undefined ? {} : { input }) });
  const ok = async (args: readonly string[], input?: string): Promise<string> => {
    const result = await run(args, input);
    if (result.status !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${result.status}): ${result.stderr.trim()}`);
    return result.stdout;
  };
  return {
    run,
    ok,
    getJson: async (kind, name, namespace) =>
      JSON.parse(await ok(['get', kind, name, '-o', 'json', ...(namespace === undefined ? [] : ['-n', namespace])])) as JsonObject,
  };
}

/** Admission warnings as kubectl prints them on stderr (`Warning: <text>`). */
export function admissionWarnings(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((line) => line.startsWith('Warning: '))
    .map((line) => line.slice('Warning: '.length));
}

/** A Namespace with the `kubernetes.io/metadata.name` label, which 1.20 does not add by itself. */
export function namespaceManifest(name: string): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'kubernetes.io/metadata.name': name } } });
}
