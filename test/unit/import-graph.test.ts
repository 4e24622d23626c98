/**
 * No import circle anywhere, type-only imports included: lint's import-x/no-cycle skips
 * `import type`, and a circle of types still ties the modules' meaning together.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FOLDERS = ['contract', 'runtime', 'agent', 'doctor', 'issuer', 'webhook', 'audit', 'cli', 'test', 'bench', 'demo', 'scripts'];
const RELATIVE_IMPORT = /(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+\.ts)'/g;

function sources(folder: string): string[] {
  return readdirSync(join(ROOT, folder), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts') && !name.split('/').includes('node_modules'))
    .map((name) => join(folder, name));
}

function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of FOLDERS.flatMap(sources)) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    const targets = [...text.matchAll(RELATIVE_IMPORT)].map((match) => normalize(join(dirname(file), match[1]!)));
    graph.set(file, targets);
  }
  return graph;
}

/** Depth-first search; returns the first circle found, as a path that ends where it starts. */
function findCircle(graph: Map<string, string[]>): string[] | undefined {
  const done = new Set<string>();
  const path: string[] = [];
  const visit = (file: string): string[] | undefined => {
    const at = path.indexOf(file);
    if (at >= 0) return [...path.slice(at), file];
    if (done.has(file)) return undefined;
    path.push(file);
    for (const target of graph.get(file) ?? []) {
      const circle = visit(target);
      if (circle !== undefined) return circle;
    }
    path.pop();
    done.add(file);
    return undefined;
  };
  for (const file of graph.keys()) {
    const circle = visit(file);
    if (circle !== undefined) return circle;
  }
  return undefined;
}

describe('import graph', () => {
  it('reads the sources', () => {
    const graph = importGraph();
    expect(graph.get('webhook/decide.ts')).toContain('webhook/types.ts');
  });

  it('has no circle, type-only imports included', () => {
    expect(findCircle(importGraph())).toBeUndefined();
  });
});
