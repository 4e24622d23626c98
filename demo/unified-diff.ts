/**
 * A line-based unified diff (the `diff -u` format without timestamps), enough to show what
 * the webhook changed in a pod's YAML. Longest common subsequence by dynamic programming:
 * pod manifests are a few hundred lines, so the quadratic table is small.
 */

export interface DiffLine {
  readonly kind: 'context' | 'added' | 'removed';
  readonly text: string;
}

export interface UnifiedDiffOptions {
  readonly fromLabel: string;
  readonly toLabel: string;
  /** Unchanged lines shown around each change. Default 3. */
  readonly context?: number;
}

/** The edit script turning `before` into `after`, line by line. */
export function diffLines(before: readonly string[], after: readonly string[]): DiffLine[] {
  const rows = before.length;
  const cols = after.length;
  // common[i][j]: length of the LCS of before[i..] and after[j..].
  const common: number[][] = Array.from({ length: rows + 1 }, () => new Array<number>(cols + 1).fill(0));
  for (let i = rows - 1; i >= 0; i--) {
    const row = common[i]!;
    const below = common[i + 1]!;
    for (let j = cols - 1; j >= 0; j--) {
      row[j] = before[i] === after[j] ? below[j + 1]! + 1 : Math.max(below[j]!, row[j + 1]!);
    }
  }
  const lines: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < rows || j < cols) {
    if (i < rows && j < cols && before[i] === after[j]) {
      lines.push({ kind: 'context', text: before[i]! });
      i++;
      j++;
    } else if (i < rows && (j === cols || common[i + 1]![j]! >= common[i]![j + 1]!)) {
      lines.push({ kind: 'removed', text: before[i]! });
      i++;
    } else {
      lines.push({ kind: 'added', text: after[j]! });
      j++;
    }
  }
  return lines;
}

interface Hunk {
  readonly start: number;
  readonly end: number;
}

/** Groups changed lines with `context` lines around them, merging hunks that touch. */
function hunks(lines: readonly DiffLine[], context: number): Hunk[] {
  const result: Hunk[] = [];
  lines.forEach((line, index) => {
    if (line.kind === 'context') return;
    const start = Math.max(0, index - context);
    const end = Math.min(lines.length, index + context + 1);
    const last = result.at(-1);
    if (last !== undefined && start <= last.end) result[result.length - 1] = { start: last.start, end };
    else result.push({ start, end });
  });
  return result;
}

function hunkHeader(lines: readonly DiffLine[], hunk: Hunk): string {
  let fromLine = 1;
  let toLine = 1;
  for (const line of lines.slice(0, hunk.start)) {
    if (line.kind !== 'added') fromLine++;
    if (line.kind !== 'removed') toLine++;
  }
  const body = lines.slice(hunk.start, hunk.end);
  const fromCount = body.filter((l) => l.kind !== 'added').length;
  const toCount = body.filter((l) => l.kind !== 'removed').length;
  const range = (first: number, count: number): string => (count === 0 ? `${first - 1},0` : `${first},${count}`);
  return `@@ -${range(fromLine, fromCount)} +${range(toLine, toCount)} @@`;
}

const PREFIX: Readonly<Record<DiffLine['kind'], string>> = { context: ' ', added: '+', removed: '-' };

/** `before` and `after` as a unified diff; no lines at all when they are equal. */
export function unifiedDiff(before: string, after: string, options: UnifiedDiffOptions): string[] {
  const lines = diffLines(splitLines(before), splitLines(after));
  const groups = hunks(lines, options.context ?? 3);
  if (groups.length === 0) return [];
  const out = [`--- ${options.fromLabel}`, `+++ ${options.toLabel}`];
  for (const hunk of groups) {
    out.push(hunkHeader(lines, hunk));
    for (const line of lines.slice(hunk.start, hunk.end)) out.push(`${PREFIX[line.kind]}${line.text}`);
  }
  return out;
}

function splitLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}
