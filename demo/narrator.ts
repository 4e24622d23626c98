/**
 * The demo's voice: every line stamped with the time since the start (`[+12.3s]`), section
 * headings, and a unified diff; coloured only when the output is a terminal.
 */
import type { Writable } from 'node:stream';

export interface NarratorOptions {
  readonly out: Writable;
  readonly color: boolean;
  readonly startedAtMs: number;
  readonly now: () => number;
  /** Secrets that must never be shown: any that slips into a line is replaced (a safety net). */
  readonly secrets?: () => readonly string[];
}

export interface Narrator {
  /** A numbered step heading, after a blank line. */
  section(title: string): void;
  say(text: string): void;
  /** Something that worked (green). */
  good(text: string): void;
  /** Something to notice (yellow). */
  warn(text: string): void;
  /** Supporting lines, indented and dimmed. */
  details(lines: readonly string[]): void;
  /** Unified diff lines, indented, `+` green and `-` red. */
  diff(lines: readonly string[]): void;
}

const Ansi = { reset: '\u001b[0m', bold: '\u001b[1m', dim: '\u001b[2m', red: '\u001b[31m', green: '\u001b[32m', yellow: '\u001b[33m', cyan: '\u001b[36m' } as const;
type Style = Exclude<keyof typeof Ansi, 'reset'>;

/** `[+12.3s]` for 12 345 ms after the start. */
export function elapsedStamp(elapsedMs: number): string {
  return `[+${(Math.max(0, elapsedMs) / 1000).toFixed(1)}s]`;
}

function diffStyle(line: string): Style | undefined {
  if (line.startsWith('+++') || line.startsWith('---')) return 'bold';
  if (line.startsWith('@@')) return 'cyan';
  if (line.startsWith('+')) return 'green';
  if (line.startsWith('-')) return 'red';
  return undefined;
}

export function createNarrator(options: NarratorOptions): Narrator {
  let sections = 0;
  const paint = (text: string, ...styles: (Style | undefined)[]): string => {
    const codes = styles.filter((s): s is Style => s !== undefined).map((s) => Ansi[s]);
    return options.color && codes.length > 0 ? `${codes.join('')}${text}${Ansi.reset}` : text;
  };
  const redact = (text: string): string => {
    let safe = text;
    for (const secret of options.secrets?.() ?? []) if (secret.length >= 8) safe = safe.replaceAll(secret, '[redacted]');
    return safe;
  };
  const write = (text: string): void => {
    if (options.out.destroyed) return;
    const stamp = elapsedStamp(options.now() - options.startedAtMs).padEnd(8);
    options.out.write(`${paint(stamp, 'dim')} ${redact(text)}\n`);
  };
  return {
    section: (title) => {
      sections += 1;
      options.out.write('\n');
      write(paint(`== ${String(sections)}. ${title}`, 'bold', 'cyan'));
    },
    say: write,
    good: (text) => {
      write(paint(text, 'green'));
    },
    warn: (text) => {
      write(paint(text, 'yellow'));
    },
    details: (lines) => {
      for (const line of lines) write(paint(`    ${line}`, 'dim'));
    },
    diff: (lines) => {
      for (const line of lines) write(`    ${paint(line, diffStyle(line))}`);
    },
  };
}
