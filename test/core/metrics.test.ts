import { describe, expect, it } from 'vitest';
import { escapeLabelValue, formatLabels, frameBytes, Meter, renderPrometheus, sumSamples } from '../../src/core/metrics';

describe('Meter and the Prometheus text format', () => {
  it('counts, observes into cumulative buckets, and continues after a restore', () => {
    const m = new Meter();
    m.inc('x_total', { a: '1' });
    m.inc('x_total', { a: '1' }, 2);
    m.observe('lat_ms', {}, 0.7);
    m.observe('lat_ms', {}, 7);
    const samples = m.samples();
    expect(samples.find((s) => s.name === 'x_total')?.value).toBe(3);
    const bucket = (le: string) => samples.find((s) => s.name === 'lat_ms_bucket' && s.labels.le === le)?.value;
    expect([bucket('0.5'), bucket('1'), bucket('5'), bucket('10'), bucket('+Inf')]).toEqual([0, 1, 1, 2, 2]);
    expect(samples.find((s) => s.name === 'lat_ms_sum')?.value).toBe(7.7);
    const again = new Meter();
    again.restore(JSON.parse(JSON.stringify(m.export())));
    again.inc('x_total', { a: '1' });
    expect(again.samples().find((s) => s.name === 'x_total')?.value).toBe(4);
    expect(again.samples().find((s) => s.name === 'lat_ms_count')?.value).toBe(2);
  });

  it('escapes label values and renders HELP, TYPE and sorted samples', () => {
    expect(escapeLabelValue('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
    expect(formatLabels({ z: '1', a: 'x"y' })).toBe('{a="x\\"y",z="1"}');
    const summed = sumSamples([
      [{ name: 'c_total', labels: { k: 'v' }, value: 2 }],
      [{ name: 'c_total', labels: { k: 'v' }, value: 3 }],
    ]);
    const text = renderPrometheus(
      [
        { name: 'c_total', type: 'counter', help: 'A counter\nwith two lines' },
        { name: 'g', type: 'gauge', help: 'Nothing yet' },
      ],
      summed,
    );
    expect(text).toBe(
      '# HELP c_total A counter\\nwith two lines\n# TYPE c_total counter\nc_total{k="v"} 5\n# HELP g Nothing yet\n# TYPE g gauge\n',
    );
  });

  it('measures frames in UTF-8 bytes', () => {
    expect(frameBytes('aé€😀')).toBe(1 + 2 + 3 + 4);
    expect(frameBytes(new Uint8Array(7))).toBe(7);
  });
});
