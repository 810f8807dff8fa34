/**
 * Line chart with several series on shared axes (e.g. a drive's RPM over time, simulated vs real).
 * Non-finite points break a line instead of drawing through the gap.
 */
import { linearScale, niceDomain } from './scale.ts';
import { type ChartLayout, DEFAULT_LAYOUT, PALETTE, frame } from './svg.ts';

export interface LineSeries {
  label: string;
  points: readonly (readonly [number, number])[];
  color?: string;
}

export interface LineChartOptions {
  title: string;
  series: readonly LineSeries[];
  xLabel?: string;
  yLabel?: string;
  /** Fixed y range; by default it fits the data. */
  yDomain?: readonly [number, number];
  layout?: ChartLayout;
}

/** Returns the chart as an SVG document. */
export function lineChart(o: LineChartOptions): string {
  const layout = o.layout ?? DEFAULT_LAYOUT;
  let xlo = Infinity, xhi = -Infinity, ylo = Infinity, yhi = -Infinity;
  for (const s of o.series) for (const [x, y] of s.points) {
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    xlo = Math.min(xlo, x); xhi = Math.max(xhi, x); ylo = Math.min(ylo, y); yhi = Math.max(yhi, y);
  }
  const xn = niceDomain(xlo, xhi, 8);
  const yn = niceDomain(o.yDomain?.[0] ?? ylo, o.yDomain?.[1] ?? yhi, 5);
  const { width, height, margin } = layout;
  const x = linearScale(xn.domain, [margin.left, width - margin.right]);
  const y = linearScale(yn.domain, [height - margin.bottom, margin.top]);
  const legend = o.series.map((s, i) => ({ label: s.label, color: s.color ?? PALETTE[i % PALETTE.length]! }));
  const body = o.series
    .map((s, i) => {
      const segments: string[] = [];
      let current: string[] = [];
      for (const [px, py] of s.points) {
        if (!Number.isFinite(px) || !Number.isFinite(py)) {
          if (current.length) segments.push(current.join(' '));
          current = [];
          continue;
        }
        current.push(`${current.length ? 'L' : 'M'}${x(px).toFixed(1)} ${y(py).toFixed(1)}`);
      }
      if (current.length) segments.push(current.join(' '));
      return `<path d="${segments.join(' ')}" fill="none" stroke="${legend[i]!.color}" stroke-width="1.4" stroke-linejoin="round"/>`;
    })
    .join('\n');
  return frame({ title: o.title, xLabel: o.xLabel, yLabel: o.yLabel, x, y, xTicks: xn.ticks, yTicks: yn.ticks, legend, layout }, body);
}
