/**
 * The chart frame every chart draws in: SVG document, title, axes with ticks and labels, legend.
 * Output is plain SVG 1.1 text with no scripts and no external references, so it renders in
 * GitHub Markdown, browsers and image converters alike.
 */
import { formatTick, type LinearScale } from './scale.ts';

/** A colour-blind-safe palette (Okabe–Ito). */
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9', '#F0E442', '#000000'] as const;

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

export interface ChartLayout {
  width: number;
  height: number;
  margin: { top: number; right: number; bottom: number; left: number };
}

export const DEFAULT_LAYOUT: ChartLayout = { width: 720, height: 360, margin: { top: 40, right: 20, bottom: 50, left: 64 } };

export interface FrameOptions {
  title: string;
  xLabel?: string;
  yLabel?: string;
  x: LinearScale;
  y: LinearScale;
  xTicks: readonly number[];
  yTicks: readonly number[];
  legend: readonly { label: string; color: string }[];
  layout: ChartLayout;
}

const r1 = (v: number): string => String(Math.round(v * 10) / 10);

/** Wraps the plot body in a titled frame with axes, grid lines, tick labels and a legend. */
export function frame(o: FrameOptions, body: string): string {
  const { width, height, margin } = o.layout;
  const left = margin.left;
  const right = width - margin.right;
  const top = margin.top;
  const bottom = height - margin.bottom;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  parts.push(`<text x="${width / 2}" y="${top / 2 + 5}" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(o.title)}</text>`);
  for (const t of o.yTicks) {
    const y = r1(o.y(t));
    parts.push(`<line x1="${left}" x2="${right}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${escapeXml(formatTick(t))}</text>`);
  }
  for (const t of o.xTicks) {
    const x = r1(o.x(t));
    parts.push(`<line x1="${x}" x2="${x}" y1="${bottom}" y2="${bottom + 5}" stroke="#333"/>`);
    parts.push(`<text x="${x}" y="${bottom + 18}" text-anchor="middle">${escapeXml(formatTick(t))}</text>`);
  }
  parts.push(`<clipPath id="plot-area"><rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}"/></clipPath>`);
  parts.push(`<g clip-path="url(#plot-area)">${body}</g>`);
  parts.push(`<line x1="${left}" x2="${right}" y1="${bottom}" y2="${bottom}" stroke="#333"/>`);
  parts.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${bottom}" stroke="#333"/>`);
  if (o.xLabel) parts.push(`<text x="${(left + right) / 2}" y="${height - 12}" text-anchor="middle">${escapeXml(o.xLabel)}</text>`);
  if (o.yLabel) parts.push(`<text transform="translate(16 ${(top + bottom) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(o.yLabel)}</text>`);
  // SVG cannot measure text before rendering: size the legend from an average glyph width so
  // long labels stay inside the plot, on a light backdrop so they stay readable over the data.
  const labelWidth = Math.max(0, ...o.legend.map((item) => item.label.length)) * 6.8;
  const legendLeft = Math.max(left + 4, right - labelWidth - 30);
  if (o.legend.length > 0) {
    parts.push(`<rect x="${legendLeft - 4}" y="${top + 1}" width="${right - legendLeft + 2}" height="${o.legend.length * 18 + 6}" fill="#fff" fill-opacity="0.85"/>`);
  }
  o.legend.forEach((item, i) => {
    const y = top + 10 + i * 18;
    parts.push(`<rect x="${legendLeft}" y="${y - 6}" width="12" height="12" fill="${item.color}" fill-opacity="0.8"/>`);
    parts.push(`<text x="${legendLeft + 18}" y="${y}" dominant-baseline="middle">${escapeXml(item.label)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
