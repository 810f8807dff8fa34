import { describe, expect, it } from 'vitest';
import { binShares, histogramChart } from './histogram-chart.ts';
import { lineChart } from './line-chart.ts';
import { niceDomain, niceStep } from './scale.ts';
import { escapeXml } from './svg.ts';

describe('plot', () => {
  it('picks nice ticks', () => {
    expect(niceStep(0, 97, 5)).toBe(20);
    expect(niceDomain(3, 97, 5)).toEqual({ domain: [0, 100], ticks: [0, 20, 40, 60, 80, 100] });
    expect(niceDomain(0.12, 0.91, 4).ticks).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
  });

  it('bins shares that sum to 1, the top edge inclusive', () => {
    const shares = binShares([0, 1, 1, 2, 3, 4, Number.NaN], [0, 2, 4]);
    expect(shares).toEqual([3 / 6, 3 / 6]);
  });

  it('draws a line chart with title, legend, ticks and one path per series', () => {
    const svg = lineChart({ title: 'RPM <sim & real>', xLabel: 'time (s)', series: [{ label: 'a', points: [[0, 1], [1, 3], [2, Number.NaN], [3, 2]] }, { label: 'b', points: [[0, 2], [3, 0]] }] });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('RPM &lt;sim &amp; real&gt;');
    expect(svg.match(/<path /g)).toHaveLength(2);
    expect(svg).toMatch(/M[\d.]+ [\d.]+ L[\d.]+ [\d.]+ M/); // the NaN breaks the line
    expect(svg).toContain('>time (s)<');
  });

  it('draws overlaid histograms with sample counts in the legend', () => {
    const svg = histogramChart({ title: 'Speed', series: [{ label: 'real', values: [1, 2, 3] }, { label: 'sim', values: [2, 2] }], bins: 4 });
    expect(svg.match(/<path /g)).toHaveLength(2);
    expect(svg).toContain('real (n=3)');
    expect(svg).toContain('share of samples (%)');
    expect(escapeXml(`"'`)).toBe('&quot;&apos;');
  });
});
