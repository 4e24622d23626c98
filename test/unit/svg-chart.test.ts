/**
 * bench/support/svg-chart.ts: the SVG it writes is well-formed XML, carries its title and
 * axis labels escaped, maps the data's extremes to the plot's corners, and draws one bar per
 * bin with heights proportional to the values. The plot area of the default 640 × 360 chart
 * is x 64…624, y 312 (bottom) … 44 (top): MARGIN is left 64, right 16, top 44, bottom 48.
 */
import { describe, expect, it } from 'vitest';
import { lifeBars, perMinute } from '../../bench/agent-support/fleet-charts.ts';
import { chartGridSvg, escapeXml, histogramSvg, lineChartSvg, type Bar, type HistogramSpec, type LineChartSpec } from '../../bench/support/svg-chart.ts';

// ---------------------------------------------------------------------------------------
// A small XML well-formedness check: declaration, one root, matched tags, quoted and unique
// attributes, no raw `<` or stray `&` in text or attribute values.

const ENTITY = /&(?:amp|lt|gt|quot|apos|#\d+);/g;
const NAME = /^[A-Za-z_][\w.:-]*$/;

function attributeErrors(body: string, where: string): string[] {
  const errors: string[] = [];
  const seen = new Set<string>();
  const rest = body.replace(/\s*([^\s=]+)="([^"]*)"/g, (_, name: string, value: string) => {
    if (seen.has(name)) errors.push(`${where}: attribute ${name} twice`);
    seen.add(name);
    if (/[<&]/.test(value.replace(ENTITY, ''))) errors.push(`${where}: unescaped value of ${name}`);
    return '';
  });
  if (rest.trim() !== '') errors.push(`${where}: not an attribute: "${rest.trim()}"`);
  return errors;
}

function xmlErrors(xml: string): string[] {
  const errors: string[] = [];
  if (!xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n')) errors.push('no XML declaration');
  const open: string[] = [];
  let roots = 0;
  for (const [, text, tag] of xml.replace(/^<\?xml[^?]*\?>/, '').matchAll(/([^<]*)(<[^>]*>|$)/g)) {
    if (text !== undefined && /[<>&]/.test(text.replace(ENTITY, ''))) errors.push(`unescaped text "${text}"`);
    if (tag === undefined || tag === '') continue;
    const closing = /^<\/([^\s>]+)\s*>$/.exec(tag);
    if (closing !== null) {
      const expected = open.pop();
      if (expected !== closing[1]) errors.push(`</${closing[1]}> closes <${expected ?? 'nothing'}>`);
      continue;
    }
    const element = /^<([^\s/>]+)([^]*?)(\/?)>$/.exec(tag);
    if (element === null || !NAME.test(element[1]!)) {
      errors.push(`malformed tag ${tag}`);
      continue;
    }
    if (open.length === 0) roots += 1;
    errors.push(...attributeErrors(element[2]!, `<${element[1]!}>`));
    if (element[3] !== '/') open.push(element[1]!);
  }
  if (open.length > 0) errors.push(`unclosed: ${open.join(', ')}`);
  if (roots !== 1) errors.push(`${roots} root elements`);
  return errors;
}

/** Every element `<name …>` with the given class, as its attributes. */
function elements(svg: string, name: string, className: string): Record<string, string>[] {
  return [...svg.matchAll(new RegExp(`<${name} class="${className}"([^>]*)>`, 'g'))].map((m) => Object.fromEntries([...(m[1] ?? '').matchAll(/([\w-]+)="([^"]*)"/g)].map((a) => [a[1]!, a[2]!])));
}

function textOf(svg: string, className: string): string[] {
  return [...svg.matchAll(new RegExp(`<text class="${className}"[^>]*>([^<]*)</text>`, 'g'))].map((m) => m[1]!);
}

// ---------------------------------------------------------------------------------------

const line: LineChartSpec = { title: 'Rate', x: { label: 'hours' }, y: { label: 'per minute' }, series: [{ name: 'E=600', points: [[0, 0], [10, 5]] }] };
const bars = (values: readonly number[]): Bar[] => values.map((value, i) => ({ x0: i, x1: i + 1, value }));
const histogram: HistogramSpec = { title: 'Life', x: { label: 'seconds' }, y: { label: 'share' }, bars: bars([1, 2, 4]) };

describe('svg-chart: the document', () => {
  it.each([
    { chart: 'line chart', svg: lineChartSvg(line), titles: ['Rate'], xLabels: ['hours'], yLabels: ['per minute'] },
    { chart: 'histogram', svg: histogramSvg({ ...histogram, markers: [{ at: 1, label: '1 s' }], note: 'a note' }), titles: ['Life'], xLabels: ['seconds'], yLabels: ['share'] },
    {
      chart: 'grid',
      svg: chartGridSvg({ title: 'Both', columns: 2, panelWidth: 320, panelHeight: 200, panels: [{ kind: 'line', ...line }, { kind: 'histogram', ...histogram }] }),
      titles: ['Rate', 'Life'],
      xLabels: ['hours', 'seconds'],
      yLabels: ['per minute', 'share'],
    },
  ])('the $chart is well-formed XML with its title and axis labels', ({ svg, titles, xLabels, yLabels }) => {
    expect(xmlErrors(svg)).toEqual([]);
    expect(svg).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<svg xmlns="http:\/\/www.w3.org\/2000\/svg" /);
    expect(textOf(svg, 'title')).toEqual(titles);
    expect(textOf(svg, 'x-label')).toEqual(xLabels);
    expect(textOf(svg, 'y-label')).toEqual(yLabels);
    expect(svg).not.toMatch(/<script|<style|@import|href=|url\(/);
  });

  it('the checker itself rejects broken XML', () => {
    expect(xmlErrors('<?xml version="1.0" encoding="UTF-8"?>\n<svg><g></svg>')).toEqual(['</svg> closes <g>', 'unclosed: svg']);
    expect(xmlErrors('<?xml version="1.0" encoding="UTF-8"?>\n<svg><text>a &b; 1 > 0</text></svg>')).toEqual(['unescaped text "a &b; 1 > 0"']);
    expect(xmlErrors('<?xml version="1.0" encoding="UTF-8"?>\n<svg><text x=1>t</text></svg>')).toEqual(['<text>: not an attribute: "x=1"']);
    expect(xmlErrors('<svg/><svg/>')).toEqual(['no XML declaration', '2 root elements']);
    expect(xmlErrors('<?xml version="1.0" encoding="UTF-8"?>\n<svg a="1" a="2"/>')).toEqual(['<svg>: attribute a twice']);
  });

  it('gives the same bytes for the same spec', () => {
    expect(lineChartSvg(line)).toBe(lineChartSvg(line));
    expect(histogramSvg(histogram)).toBe(histogramSvg(histogram));
  });

  it.each([
    { text: 'a <b> & "c"', escaped: 'a &lt;b&gt; &amp; &quot;c&quot;' },
    { text: "it's", escaped: 'it&#39;s' },
    { text: '&amp;', escaped: '&amp;amp;' },
    { text: 'plain', escaped: 'plain' },
  ])('escapeXml("$text") is "$escaped"', ({ text, escaped }) => {
    expect(escapeXml(text)).toBe(escaped);
  });

  it('escapes <, & and > in the title, axis labels, legend and notes', () => {
    const hostile = 'p<1 & q>2';
    const escaped = 'p&lt;1 &amp; q&gt;2';
    const svg = lineChartSvg({ title: hostile, x: { label: hostile }, y: { label: hostile }, series: [line.series[0]!, { name: hostile, points: [[0, 1]] }] });
    const note = histogramSvg({ ...histogram, note: hostile, markers: [{ at: 1, label: hostile }] });
    expect(xmlErrors(svg)).toEqual([]);
    expect(xmlErrors(note)).toEqual([]);
    expect(textOf(svg, 'title')).toEqual([escaped]);
    expect(textOf(svg, 'x-label')).toEqual([escaped]);
    expect(textOf(svg, 'y-label')).toEqual([escaped]);
    expect(svg).toContain(`>${escaped}</text>`);
    expect(textOf(note, 'note')).toEqual([escaped]);
    expect(svg + note).not.toContain(hostile);
  });
});

describe('svg-chart: line chart', () => {
  it.each([
    { data: 'the extremes, default domains', x: {}, y: {}, points: [[0, 0], [10, 5]], d: 'M64,312L624,44' },
    { data: 'a midpoint', x: {}, y: {}, points: [[0, 0], [5, 2.5], [10, 5]], d: 'M64,312L344,178L624,44' },
    { data: 'a negative minimum (y spans it)', x: {}, y: {}, points: [[0, -4], [10, 4]], d: 'M64,312L624,44' },
    { data: 'given domains', x: { domain: [0, 20] as const }, y: { domain: [0, 10] as const }, points: [[0, 0], [20, 10], [10, 5]], d: 'M64,312L624,44L344,178' },
    { data: 'points inside given domains', x: { domain: [0, 20] as const }, y: { domain: [0, 10] as const }, points: [[5, 2.5]], d: 'M204,245Z' },
  ] as const)('maps $data to the plot: $d', ({ x, y, points, d }) => {
    const svg = lineChartSvg({ title: 't', x: { label: 'x', ...x }, y: { label: 'y', ...y }, series: [{ name: 's', points }] });
    expect(elements(svg, 'path', 'series').map((p) => p['d'])).toEqual([d]);
  });

  it('y starts at zero and is made nice: 0…5 stays, 0…4.3 becomes 0…5 (4.3 at 312 − 268 × 0.86)', () => {
    const svg = lineChartSvg({ ...line, series: [{ name: 's', points: [[0, 0], [10, 4.3]] }] });
    expect(elements(svg, 'path', 'series').map((p) => p['d'])).toEqual(['M64,312L624,81.5']);
  });

  it('draws one line per series in its own colour, with a legend naming each', () => {
    const svg = lineChartSvg({ ...line, series: [line.series[0]!, { name: 'E=3600', points: [[0, 5], [10, 0]] }] });
    const paths = elements(svg, 'path', 'series');
    expect(paths.map((p) => p['d'])).toEqual(['M64,312L624,44', 'M64,44L624,312']);
    expect(paths.map((p) => p['stroke'])).toEqual(['#1f77b4', '#d62728']);
    expect(svg).toMatch(/<g class="legend"[^>]*>.*>E=600<\/text>.*>E=3600<\/text>/s);
    expect(lineChartSvg(line)).not.toContain('class="legend"');
  });

  it('labels the ticks d3 picks, or exactly the ones given', () => {
    const picked = lineChartSvg(line);
    expect([...picked.matchAll(/text-anchor="middle">([^<]*)<\/text>/g)].map((m) => m[1])).toEqual(['0', '2', '4', '6', '8', '10']);
    expect([...picked.matchAll(/text-anchor="end">([^<]*)<\/text>/g)].map((m) => m[1])).toEqual(['0', '1', '2', '3', '4', '5']);
    const given = lineChartSvg({ ...line, x: { label: 'hours', tickValues: [0, 3, 6, 9], format: (v) => `${v} h` } });
    expect([...given.matchAll(/text-anchor="middle">([^<]*)<\/text>/g)].map((m) => m[1])).toEqual(['0 h', '3 h', '6 h', '9 h']);
  });
});

describe('svg-chart: histogram', () => {
  it.each([
    { values: [1, 2, 4], heights: ['67', '134', '268'], tops: ['245', '178', '44'] },
    { values: [3, 0, 6], heights: ['134', '0', '268'], tops: ['178', '312', '44'] },
    { values: [5], heights: ['268'], tops: ['44'] },
  ])('draws one bar per bin for $values, heights proportional to the values', ({ values, heights, tops }) => {
    const rects = elements(histogramSvg({ ...histogram, bars: bars(values) }), 'rect', 'bar');
    expect(rects.map((r) => r['height'])).toEqual(heights);
    expect(rects.map((r) => r['y'])).toEqual(tops);
    // Bars sit on the x axis, side by side across the whole plot width (560 px).
    for (const r of rects) expect(Number(r['y']) + Number(r['height'])).toBe(312);
    expect(rects.map((r) => Number(r['width'])).reduce((a, b) => a + b, 0)).toBeCloseTo(560, 0);
    expect(rects[0]?.['x']).toBe('64');
  });

  it('places bins on x by their bounds: [0, 1), [1, 2), [2, 3) over 64…624', () => {
    const rects = elements(histogramSvg(histogram), 'rect', 'bar');
    expect(rects.map((r) => [r['x'], r['width']])).toEqual([
      ['64', '186.7'],
      ['250.7', '186.7'],
      ['437.3', '186.7'],
    ]);
  });

  it('draws a dashed line for each marker at its x, from the top of the plot to the bottom', () => {
    const markers = elements(histogramSvg({ ...histogram, markers: [{ at: 1.5, label: 'half' }] }), 'line', 'marker');
    expect(markers.map((m) => [m['x1'], m['x2'], m['y1'], m['y2'], m['stroke-dasharray']])).toEqual([['344', '344', '44', '312', '4 3']]);
  });
});

describe('svg-chart: grid', () => {
  it('puts panels in rows of `columns` under a 32 px title', () => {
    const panel = { kind: 'histogram', ...histogram } as const;
    const svg = chartGridSvg({ title: 'Grid', columns: 2, panelWidth: 300, panelHeight: 200, panels: [panel, panel, panel] });
    expect([...svg.matchAll(/<g class="panel" transform="([^"]*)">/g)].map((m) => m[1])).toEqual(['translate(0,32)', 'translate(300,32)', 'translate(0,232)']);
    expect(svg).toContain('width="600" height="432" viewBox="0 0 600 432"');
    expect(textOf(svg, 'grid-title')).toEqual(['Grid']);
    expect(elements(svg, 'rect', 'bar')).toHaveLength(9);
  });
});

describe('the fleet figures’ data', () => {
  it.each([
    { values: [5, 15, 15, 25], max: 30, shares: [25, 50, 25] },
    { values: [0, 9.99, 10, 30], max: 30, shares: [50, 25, 25] },
    { values: [], max: 20, shares: [0, 0] },
  ])('lifeBars($values) in 10 s bins up to $max: $shares %', ({ values, max, shares }) => {
    const result = lifeBars(Float64Array.from(values), max, 10);
    expect(result.map((b) => [b.x0, b.x1])).toEqual(shares.map((_, i) => [i * 10, (i + 1) * 10]));
    expect(result.map((b) => b.value)).toEqual(shares);
  });

  it('perMinute sums each whole minute and places it at its start, in hours', () => {
    const perSecond = new Uint32Array(181);
    perSecond[0] = 2;
    perSecond[59] = 1;
    perSecond[60] = 4;
    perSecond[180] = 9;
    expect(perMinute(perSecond, 180_000)).toEqual([
      [0, 3],
      [1 / 60, 4],
      [2 / 60, 0],
    ]);
  });
});
