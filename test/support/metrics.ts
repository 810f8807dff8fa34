/** Reading Prometheus metrics in tests. */
import type { Histogram } from 'prom-client';

/** How many values a prom-client histogram has observed (its `_count`). */
export async function observationCount(histogram: Histogram): Promise<number> {
  const { values } = await histogram.get();
  return values.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
}

/** The families of a Prometheus text exposition: name → type, from its `# TYPE` lines. */
export function metricFamilies(text: string): Map<string, string> {
  return new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
}
