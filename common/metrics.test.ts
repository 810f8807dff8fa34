import { describe, expect, it } from 'vitest';
import { createHistogram, ServiceMetrics } from './metrics.ts';
import { metricFamilies } from '../test/support/metrics.ts';

describe('ServiceMetrics', () => {
  it('serves what its sources write, prefixed, with HELP and TYPE, read at each scrape', async () => {
    const counters = { messages: 3, byReason: new Map([['not_json', 2]]) };
    const metrics = new ServiceMetrics('fp_test');
    metrics.addSource((m) =>
      m
        .counter('messages_total', 'Messages', counters.messages)
        .counter('dead_letters_total', 'Dead letters by reason', [...counters.byReason].map(([reason, n]) => [{ reason }, n] as const))
        .gauge('queue_length', 'Queued', 7),
    );
    const first = await metrics.text();
    expect(first).toContain('# HELP fp_test_messages_total Messages\n# TYPE fp_test_messages_total counter\nfp_test_messages_total 3\n');
    expect(first).toMatch(/^fp_test_dead_letters_total\{reason="not_json"\} 2$/m);
    expect(first).toMatch(/^# TYPE fp_test_queue_length gauge\nfp_test_queue_length 7$/m);

    counters.messages = 10;
    counters.byReason.set('too_large', 1);
    const second = await metrics.text();
    expect(second).toMatch(/^fp_test_messages_total 10$/m);
    expect(second).toMatch(/^fp_test_dead_letters_total\{reason="too_large"\} 1$/m);
  });

  it("carries the process's default metrics under their standard names", async () => {
    const families = metricFamilies(await new ServiceMetrics('fp_test').text());
    expect(families.get('process_cpu_seconds_total')).toBe('counter');
    expect(families.get('process_resident_memory_bytes')).toBe('gauge');
    expect(families.get('nodejs_eventloop_lag_seconds')).toBe('gauge');
    expect(families.get('nodejs_gc_duration_seconds')).toBe('histogram');
  });

  it('keeps services in one process apart', async () => {
    const a = new ServiceMetrics('fp_same');
    const b = new ServiceMetrics('fp_same');
    a.addSource((m) => m.counter('x_total', 'X', 1));
    b.addSource((m) => m.counter('x_total', 'X', 2));
    expect(await a.text()).toMatch(/^fp_same_x_total 1$/m);
    expect(await b.text()).toMatch(/^fp_same_x_total 2$/m);
  });

  it('leaves out a family its source did not write in this scrape, and one without a sample', async () => {
    let archive = true;
    const metrics = new ServiceMetrics('fp_test');
    metrics.addSource((m) => {
      m.counter('refusals_total', 'Refusals by reason', []);
      if (archive) m.gauge('archive_rows_buffered', 'Rows', 4);
    });
    const families = (text: string) => [...metricFamilies(text).keys()].filter((name) => name.startsWith('fp_test_'));
    expect(families(await metrics.text())).toEqual(['fp_test_archive_rows_buffered']);
    archive = false;
    expect(families(await metrics.text())).toEqual([]);
    archive = true;
    expect(await metrics.text()).toMatch(/^fp_test_archive_rows_buffered 4$/m);
  });

  it('serves a histogram observed elsewhere, and the new one of a component made again', async () => {
    let histogram = createHistogram('fp_test_write_seconds', 'Write duration', [0.1, 1]);
    histogram.observe(0.05);
    histogram.observe(0.5);
    const metrics = new ServiceMetrics('fp_test');
    metrics.addSource((m) => m.histogram(histogram));
    const text = await metrics.text();
    expect(text).toMatch(/^fp_test_write_seconds_bucket\{le="0.1"\} 1$/m);
    expect(text).toMatch(/^fp_test_write_seconds_bucket\{le="1"\} 2$/m);
    expect(text).toMatch(/^fp_test_write_seconds_bucket\{le="\+Inf"\} 2$/m);
    expect(text).toMatch(/^fp_test_write_seconds_count 2$/m);

    histogram = createHistogram('fp_test_write_seconds', 'Write duration', [0.1, 1]);
    expect(await metrics.text()).toMatch(/^fp_test_write_seconds_count 0$/m);
  });

  it('refuses a family written twice in one scrape (FP_METRIC_DUPLICATE)', async () => {
    const metrics = new ServiceMetrics('fp_test');
    metrics.addSource((m) => m.counter('x_total', 'X', 1));
    metrics.addSource((m) => m.gauge('x_total', 'X again', 1));
    await expect(metrics.text()).rejects.toMatchObject({ code: 'FP_METRIC_DUPLICATE' });
  });
});
