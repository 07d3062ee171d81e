/** Percentiles and the result table shared by all benchmarks. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export interface Row {
  group: string;
  name: string;
  unit: 'ms' | 'µs' | 'ops/s' | 'MiB';
  p50: number;
  p99: number;
  n: number;
  /** The baseline row's name (same group), when this row is compared to one. */
  baseline?: string;
  /** The issue's target, in the row's unit, and how it is judged. */
  target?: { value: number; kind: 'max' | 'min'; of: 'p50' | 'value'; note?: string };
}

export function summarize(group: string, name: string, unit: Row['unit'], samples: number[], extra: Partial<Row> = {}): Row {
  return { group, name, unit, p50: percentile(samples, 50), p99: percentile(samples, 99), n: samples.length, ...extra };
}

export function format(rows: Row[]): string {
  const out: string[] = [];
  const head = ['group', 'measure', 'p50', 'p99', 'n', 'vs baseline', 'target', 'met'];
  const lines = rows.map((r) => {
    const base = r.baseline ? rows.find((b) => b.group === r.group && b.name === r.baseline) : undefined;
    const ratio = base ? `${(r.p50 / base.p50).toPrecision(2)}× ${base.name.replace(' (baseline)', '')}` : '';
    const fmt = (v: number) => (Number.isNaN(v) ? '-' : v >= 100 ? v.toFixed(0) : v.toFixed(2));
    const target = r.target
      ? `${r.target.kind === 'max' ? '≤' : '≥'} ${fmt(r.target.value)} ${r.unit}${r.target.note ? ` (${r.target.note})` : ''}`
      : '';
    const met = r.target ? ((r.target.kind === 'max' ? r.p50 <= r.target.value : r.p50 >= r.target.value) ? 'yes' : 'NO') : '';
    return [r.group, r.name, `${fmt(r.p50)} ${r.unit}`, `${fmt(r.p99)} ${r.unit}`, String(r.n), ratio, target, met];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const row = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  out.push(row(head), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const l of lines) out.push(row(l));
  return out.join('\n');
}
