/**
 * Overlaid histograms of several samples on shared bins, normalised to a share of each sample
 * (so samples of different sizes compare), drawn as translucent step areas.
 */
import { linearScale, niceDomain } from './scale.ts';
import { type ChartLayout, DEFAULT_LAYOUT, PALETTE, frame } from './svg.ts';

export interface HistogramSeries {
  label: string;
  values: readonly number[];
  color?: string;
}

export interface HistogramOptions {
  title: string;
  series: readonly HistogramSeries[];
  /** Bin edges; by default `bins` equal bins over the data's range. */
  edges?: readonly number[];
  bins?: number;
  xLabel?: string;
  layout?: ChartLayout;
}

/** Share of `values` (0…1) in each bin [edges[i], edges[i+1]); the last bin includes its upper edge. */
export function binShares(values: readonly number[], edges: readonly number[]): number[] {
  const counts = new Array<number>(Math.max(0, edges.length - 1)).fill(0);
  let n = 0;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    n++;
    for (let i = 0; i < counts.length; i++) {
      if (v >= edges[i]! && (v < edges[i + 1]! || (i === counts.length - 1 && v === edges[i + 1]))) {
        counts[i]!++;
        break;
      }
    }
  }
  return counts.map((c) => (n ? c / n : 0));
}

export function equalEdges(lo: number, hi: number, bins: number): number[] {
  return Array.from({ length: bins + 1 }, (_, i) => lo + ((hi - lo) * i) / bins);
}

/** Returns the chart as an SVG document. */
export function histogramChart(o: HistogramOptions): string {
  const layout = o.layout ?? DEFAULT_LAYOUT;
  let lo = Infinity, hi = -Infinity;
  for (const s of o.series) for (const v of s.values) if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  const edges = o.edges ?? equalEdges(Number.isFinite(lo) ? lo : 0, Number.isFinite(hi) && hi > lo ? hi : lo + 1, o.bins ?? 30);
  const shares = o.series.map((s) => binShares(s.values, edges));
  const top = Math.max(0.01, ...shares.flat());
  const xn = niceDomain(edges[0]!, edges[edges.length - 1]!, 8);
  const yn = niceDomain(0, top * 100, 5);
  const { width, height, margin } = layout;
  const x = linearScale(xn.domain, [margin.left, width - margin.right]);
  const y = linearScale(yn.domain, [height - margin.bottom, margin.top]);
  const legend = o.series.map((s, i) => ({ label: `${s.label} (n=${s.values.length})`, color: s.color ?? PALETTE[i % PALETTE.length]! }));
  const body = shares
    .map((sh, i) => {
      const base = y(0).toFixed(1);
      let d = `M${x(edges[0]!).toFixed(1)} ${base}`;
      sh.forEach((share, b) => {
        const yy = y(share * 100).toFixed(1);
        d += ` L${x(edges[b]!).toFixed(1)} ${yy} L${x(edges[b + 1]!).toFixed(1)} ${yy}`;
      });
      d += ` L${x(edges[edges.length - 1]!).toFixed(1)} ${base} Z`;
      const c = legend[i]!.color;
      return `<path d="${d}" fill="${c}" fill-opacity="0.35" stroke="${c}" stroke-width="1.2"/>`;
    })
    .join('\n');
  return frame({ title: o.title, xLabel: o.xLabel, yLabel: 'share of samples (%)', x, y, xTicks: xn.ticks, yTicks: yn.ticks, legend, layout }, body);
}
