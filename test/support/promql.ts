/**
 * Just enough of PromQL and Markdown for the monitoring tests: the metric names an expression
 * reads, the metrics the README's reference documents, and the anchors its headings get.
 */

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

/**
 * Metric names read by a PromQL expression, sorted, each once. Strings, label matchers,
 * ranges, grouping clauses and function names are not metric names.
 */
export function metricNamesInPromQL(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const match of stripped.matchAll(/(?<![\w:.$])([a-zA-Z_:][\w:]*)(?![\w:])(\s*\()?/g)) {
    const [, name, call] = match;
    if (name === undefined || call !== undefined || KEYWORDS.has(name.toLowerCase())) continue;
    names.add(name);
  }
  return [...names].sort();
}

/** `anthropic_wif_…` names in the first column of the README's `### Metrics` table. */
export function documentedMetricNames(readme: string): string[] {
  const start = readme.indexOf('\n### Metrics\n');
  if (start < 0) throw new Error('README.md has no "### Metrics" section');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/^\| `(anthropic_wif_[a-z_]+)[`{]/gm)].map((m) => m[1] ?? '').sort();
}

/** The series names a family exposes: a histogram's `_bucket`, `_sum` and `_count` besides its own. */
export function seriesNamesOf(family: string, histogram: boolean): string[] {
  return histogram ? [family, `${family}_bucket`, `${family}_sum`, `${family}_count`] : [family];
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function headingAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\- _]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors of every Markdown heading outside code fences. */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6} (.+)$/.exec(line);
    if (heading?.[1] !== undefined) anchors.add(headingAnchor(heading[1]));
  }
  return anchors;
}
