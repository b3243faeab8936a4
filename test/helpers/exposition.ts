// Prometheus's text exposition format, as memlock/prometheus (prom-client)
// writes it: the series a scrape finds, with their type.

export interface ScrapedSeries {
  name: string;
  labels: Record<string, string>;
  value: number;
  type: string;
}

const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseExposition(text: string): ScrapedSeries[] {
  const types = new Map<string, string>();
  const series: ScrapedSeries[] = [];
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    if (line === '' || line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!sample) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (sample[2] ?? '').matchAll(LABEL)) labels[key!] = JSON.parse(`"${value}"`) as string;
    series.push({ name: sample[1]!, labels, value: Number(sample[3]), type: types.get(sample[1]!) ?? 'untyped' });
  }
  return series;
}

/** A series selector as PromQL writes it: name{a="b",...}. */
export function selector(name: string, labels: Record<string, string>): string {
  const pairs = Object.entries(labels).map(([key, value]) => `${key}=${JSON.stringify(value)}`);
  return `${name}{${pairs.join(',')}}`;
}
