/**
 * Charts as standalone SVG text, for the benchmark document: a line chart, a histogram, and
 * a grid of either (small multiples). Pure: the same spec gives the same bytes (coordinates
 * rounded to 0.1 px, tick labels from d3-scale's fixed formats), no DOM, no external fonts or
 * scripts, every text escaped. d3-scale maps data to pixels; d3-shape draws the lines.
 */
import { scaleLinear, type ScaleLinear } from 'd3-scale';
import { line } from 'd3-shape';

export interface AxisSpec {
  readonly label: string;
  /** [min, max] in data units; by default the data's extent (x), or 0 to the data's max made nice (y). */
  readonly domain?: readonly [number, number];
  /** Roughly how many ticks (d3's `ticks(count)`); 5 by default. */
  readonly ticks?: number;
  /** Exactly these ticks, instead of d3's choice. */
  readonly tickValues?: readonly number[];
  /** Tick label text; d3-scale's `tickFormat` for the ticks by default. */
  readonly format?: (value: number) => string;
}

export interface LineSeries {
  readonly name: string;
  /** [x, y] pairs in data units, in drawing order. */
  readonly points: readonly (readonly [number, number])[];
}

export interface LineChartSpec {
  readonly title: string;
  readonly x: AxisSpec;
  readonly y: AxisSpec;
  readonly series: readonly LineSeries[];
}

export interface Bar {
  /** The bin's bounds on x, and its height on y (a count, or a share of one). */
  readonly x0: number;
  readonly x1: number;
  readonly value: number;
}

/** A labelled vertical line (a threshold) across the plot. */
export interface Marker {
  readonly at: number;
  readonly label: string;
}

export interface HistogramSpec {
  readonly title: string;
  readonly x: AxisSpec;
  readonly y: AxisSpec;
  readonly bars: readonly Bar[];
  readonly markers?: readonly Marker[];
  /** A line of text in the plot's top-left corner (e.g. why there are no bars). */
  readonly note?: string;
}

export type Panel = ({ readonly kind: 'line' } & LineChartSpec) | ({ readonly kind: 'histogram' } & HistogramSpec);

export interface GridSpec {
  readonly title: string;
  readonly columns: number;
  readonly panelWidth: number;
  readonly panelHeight: number;
  readonly panels: readonly Panel[];
}

export interface Size {
  readonly width: number;
  readonly height: number;
}

/** Space around the plot: title and legend above, tick labels and axis labels below and left. */
export const MARGIN = { top: 44, right: 16, bottom: 48, left: 64 } as const;
export const DEFAULT_SIZE: Size = { width: 640, height: 360 };
/** Tableau 10's first colours: distinct, and readable on white. */
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'] as const;
const GRID_TITLE_HEIGHT = 32;
const FONT = 'font-family="sans-serif"';

/** Text and attribute values: the five characters XML reserves, as entities. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

/** A pixel coordinate, rounded to 0.1 px, as d3-path writes them with `digits(1)`. */
function px(value: number): string {
  const rounded = Math.round(value * 10) / 10;
  return String(rounded === 0 ? 0 : rounded);
}

function colour(i: number): string {
  return PALETTE[i % PALETTE.length] ?? '#000000';
}

function extent(values: readonly number[]): [number, number] {
  if (values.length === 0) return [0, 1];
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  return lo === hi ? [lo, lo + 1] : [lo, hi];
}

function xScale(axis: AxisSpec, values: readonly number[], size: Size): ScaleLinear<number, number> {
  return scaleLinear()
    .domain(axis.domain ?? extent(values))
    .range([MARGIN.left, size.width - MARGIN.right]);
}

function yScale(axis: AxisSpec, values: readonly number[], size: Size): ScaleLinear<number, number> {
  const range = [size.height - MARGIN.bottom, MARGIN.top];
  if (axis.domain !== undefined) return scaleLinear().domain(axis.domain).range(range);
  const [lo, hi] = extent([0, ...values]);
  return scaleLinear().domain([lo, hi]).range(range).nice(axis.ticks ?? 5);
}

function tickFormatter(axis: AxisSpec, scale: ScaleLinear<number, number>): (value: number) => string {
  return axis.format ?? scale.tickFormat(axis.ticks ?? 5);
}

function tickValues(axis: AxisSpec, scale: ScaleLinear<number, number>): readonly number[] {
  return axis.tickValues ?? scale.ticks(axis.ticks ?? 5);
}

/** Both axes: lines, ticks, tick labels, light horizontal grid lines, the two axis labels. */
function axes(x: ScaleLinear<number, number>, y: ScaleLinear<number, number>, spec: { readonly x: AxisSpec; readonly y: AxisSpec }, size: Size): string[] {
  const [left, right] = x.range() as [number, number];
  const [bottom, top] = y.range() as [number, number];
  const xFormat = tickFormatter(spec.x, x);
  const yFormat = tickFormatter(spec.y, y);
  const xTicks = tickValues(spec.x, x).map((t) => {
    const at = px(x(t));
    return `<line x1="${at}" y1="${px(bottom)}" x2="${at}" y2="${px(bottom + 5)}" stroke="#333"/><text x="${at}" y="${px(bottom + 17)}" text-anchor="middle">${escapeXml(xFormat(t))}</text>`;
  });
  const yTicks = tickValues(spec.y, y).map((t) => {
    const at = px(y(t));
    return `<line x1="${px(left)}" y1="${at}" x2="${px(right)}" y2="${at}" stroke="#e5e5e5"/><line x1="${px(left - 5)}" y1="${at}" x2="${px(left)}" y2="${at}" stroke="#333"/><text x="${px(left - 8)}" y="${at}" dy="0.32em" text-anchor="end">${escapeXml(yFormat(t))}</text>`;
  });
  const middleX = px((left + right) / 2);
  const middleY = px((top + bottom) / 2);
  return [
    `<g class="axes" font-size="11" fill="#333">`,
    ...yTicks,
    ...xTicks,
    `<line x1="${px(left)}" y1="${px(bottom)}" x2="${px(right)}" y2="${px(bottom)}" stroke="#333"/>`,
    `<line x1="${px(left)}" y1="${px(top)}" x2="${px(left)}" y2="${px(bottom)}" stroke="#333"/>`,
    `<text class="x-label" x="${middleX}" y="${px(size.height - 10)}" text-anchor="middle" font-size="12">${escapeXml(spec.x.label)}</text>`,
    `<text class="y-label" transform="translate(16,${middleY}) rotate(-90)" text-anchor="middle" font-size="12">${escapeXml(spec.y.label)}</text>`,
    `</g>`,
  ];
}

function title(text: string): string {
  return `<text class="title" x="${px(MARGIN.left)}" y="18" font-size="14" font-weight="bold" fill="#111">${escapeXml(text)}</text>`;
}

/** One row of swatches and names under the title, left to right. */
function legend(names: readonly string[]): string[] {
  let at = MARGIN.left;
  const items = names.map((name, i) => {
    const item = `<line x1="${px(at)}" y1="32" x2="${px(at + 18)}" y2="32" stroke="${colour(i)}" stroke-width="3"/><text x="${px(at + 22)}" y="32" dy="0.32em">${escapeXml(name)}</text>`;
    at += 22 + name.length * 6.2 + 14;
    return item;
  });
  return [`<g class="legend" font-size="11" fill="#333">`, ...items, `</g>`];
}

/** The chart's elements, drawn in a box of `size` with its origin at the top left. */
function lineChartBody(spec: LineChartSpec, size: Size): string[] {
  const xs = spec.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = spec.series.flatMap((s) => s.points.map((p) => p[1]));
  const x = xScale(spec.x, xs, size);
  const y = yScale(spec.y, ys, size);
  const path = line<readonly [number, number]>()
    .x((p) => x(p[0]))
    .y((p) => y(p[1]))
    .digits(1);
  const lines = spec.series.map((s, i) => `<path class="series" d="${path(s.points) ?? ''}" fill="none" stroke="${colour(i)}" stroke-width="1.2" stroke-linejoin="round"><title>${escapeXml(s.name)}</title></path>`);
  return [title(spec.title), ...(spec.series.length > 1 ? legend(spec.series.map((s) => s.name)) : []), ...axes(x, y, spec, size), ...lines];
}

function histogramBody(spec: HistogramSpec, size: Size): string[] {
  const x = xScale(spec.x, spec.bars.flatMap((b) => [b.x0, b.x1]), size);
  const y = yScale(
    spec.y,
    spec.bars.map((b) => b.value),
    size,
  );
  const base = y(0);
  const bars = spec.bars.map((b) => {
    const top = y(b.value);
    return `<rect class="bar" x="${px(x(b.x0))}" y="${px(top)}" width="${px(x(b.x1) - x(b.x0))}" height="${px(base - top)}" fill="${colour(0)}" stroke="#fff" stroke-width="0.5"/>`;
  });
  const [top, bottom] = [MARGIN.top, size.height - MARGIN.bottom];
  const markers = (spec.markers ?? []).map((m) => {
    const at = px(x(m.at));
    return `<line class="marker" x1="${at}" y1="${px(top)}" x2="${at}" y2="${px(bottom)}" stroke="#d62728" stroke-dasharray="4 3"/><text x="${at}" y="${px(top - 3)}" text-anchor="middle" font-size="10" fill="#d62728">${escapeXml(m.label)}</text>`;
  });
  const note = spec.note === undefined ? [] : [`<text class="note" x="${px(MARGIN.left + 8)}" y="${px(top + 16)}" font-size="11" fill="#333">${escapeXml(spec.note)}</text>`];
  return [title(spec.title), ...axes(x, y, spec, size), ...bars, ...markers, ...note];
}

function panelBody(panel: Panel, size: Size): string[] {
  return panel.kind === 'line' ? lineChartBody(panel, size) : histogramBody(panel, size);
}

function document(size: Size, body: readonly string[]): string {
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${px(size.width)}" height="${px(size.height)}" viewBox="0 0 ${px(size.width)} ${px(size.height)}" ${FONT}>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    ...body,
    `</svg>`,
    '',
  ].join('\n');
}

/** A line chart with one line per series (a legend when there are several). */
export function lineChartSvg(spec: LineChartSpec, size: Size = DEFAULT_SIZE): string {
  return document(size, lineChartBody(spec, size));
}

/** A histogram: one bar per bin, from x0 to x1, `value` high. */
export function histogramSvg(spec: HistogramSpec, size: Size = DEFAULT_SIZE): string {
  return document(size, histogramBody(spec, size));
}

/** Panels in rows of `columns`, each a chart of panelWidth × panelHeight, under one title. */
export function chartGridSvg(spec: GridSpec): string {
  const panelSize: Size = { width: spec.panelWidth, height: spec.panelHeight };
  const rows = Math.ceil(spec.panels.length / spec.columns);
  const size: Size = { width: spec.columns * spec.panelWidth, height: GRID_TITLE_HEIGHT + rows * spec.panelHeight };
  const panels = spec.panels.flatMap((panel, i) => {
    const left = (i % spec.columns) * spec.panelWidth;
    const top = GRID_TITLE_HEIGHT + Math.floor(i / spec.columns) * spec.panelHeight;
    return [`<g class="panel" transform="translate(${px(left)},${px(top)})">`, ...panelBody(panel, panelSize), `</g>`];
  });
  const heading = `<text class="grid-title" x="${px(size.width / 2)}" y="22" text-anchor="middle" font-size="16" font-weight="bold" fill="#111">${escapeXml(spec.title)}</text>`;
  return document(size, [heading, ...panels]);
}
