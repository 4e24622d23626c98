/**
 * The README's layout and docs/architecture.md's tree list every folder of the project, one
 * line each (`- \`name/\`: …`), and nothing that does not exist: the top-level folders, and the
 * sub-rooms of the capability folders (issue #14).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Folders that are not the project's own: tools' output and caches. */
const NOT_SOURCE = new Set(['node_modules', 'dist', 'coverage', '.git', '.cache', '.ci', '.github', '.vscode']);
/** Capability folders whose sub-folders are rooms of their own. */
const WITH_ROOMS = ['agent', 'doctor', 'webhook', 'audit', 'issuer', 'runtime', 'contract', 'cli'];

function folders(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && !NOT_SOURCE.has(entry.name) && !entry.name.startsWith('.'))
    .map((entry) => (dir === '' ? entry.name : `${dir}/${entry.name}`));
}

function expectedFolders(): string[] {
  const top = folders('');
  return [...top, ...WITH_ROOMS.filter((room) => top.includes(room)).flatMap((room) => folders(room))].sort();
}

/** The folders a document lists, from its lines that start `- \`name/\`:`. */
function listedFolders(text: string): string[] {
  return [...text.matchAll(/^- `([a-z][a-z0-9-]*(?:\/[a-z][a-z0-9-]*)*)\/`:/gm)].map((m) => m[1] ?? '').sort();
}

describe('the documented tree', () => {
  it.each([
    ['README.md', readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n## Development')[1]?.split('\n## ')[0] ?? ''],
    ['docs/architecture.md', readFileSync(join(ROOT, 'docs', 'architecture.md'), 'utf8')],
  ])('%s lists every folder once, and only folders that exist', (_name, text) => {
    const listed = listedFolders(text);
    expect(listed).toEqual(expectedFolders());
    expect(new Set(listed).size).toBe(listed.length);
  });

  it('finds the sub-rooms of the sidecar and the doctor', () => {
    expect(expectedFolders()).toEqual(expect.arrayContaining(['agent/proxy', 'agent/refresh', 'doctor/checks']));
  });
});
