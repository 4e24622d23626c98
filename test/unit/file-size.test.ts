/**
 * No source file of the capability folders is over 450 lines: a longer one holds more than
 * one idea and should be split (issue #14).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FOLDERS = ['agent', 'webhook', 'doctor', 'issuer'];
const MAX_LINES = 450;

function lineCount(text: string): number {
  return text.endsWith('\n') ? text.split('\n').length - 1 : text.split('\n').length;
}

describe('file size', () => {
  it.each(FOLDERS)(`no .ts file under %s/ is over ${MAX_LINES} lines`, (folder) => {
    const files = readdirSync(join(ROOT, folder), { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(0);
    const over = files.map((name) => ({ file: `${folder}/${name}`, lines: lineCount(readFileSync(join(ROOT, folder, name), 'utf8')) })).filter((f) => f.lines > MAX_LINES);
    expect(over).toEqual([]);
  });
});
