/**
 * A small Prometheus registry: counters and one latency histogram, rendered in the text
 * exposition format at GET /metrics. Labels never carry personal data or subject ids.
 */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export const metricsRegistry = () => {
  const counters = new Map<string, { help: string; values: Map<string, number> }>();
  const hist = { count: new Map<string, number>(), sum: new Map<string, number>(), buckets: new Map<string, number[]>() };
  const label = (labels: Record<string, string | number>) =>
    Object.entries(labels)
      .map(([k, v]) => `${k}="${String(v).replace(/["\\\n]/g, "_")}"`)
      .join(",");

  return {
    inc(name: string, help: string, labels: Record<string, string | number>, by = 1) {
      let c = counters.get(name);
      if (!c) counters.set(name, (c = { help, values: new Map() }));
      const k = label(labels);
      c.values.set(k, (c.values.get(k) ?? 0) + by);
    },
    observe(labels: Record<string, string | number>, seconds: number) {
      const k = label(labels);
      hist.count.set(k, (hist.count.get(k) ?? 0) + 1);
      hist.sum.set(k, (hist.sum.get(k) ?? 0) + seconds);
      let b = hist.buckets.get(k);
      if (!b) hist.buckets.set(k, (b = BUCKETS.map(() => 0)));
      for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) b[i]!++;
    },
    render(gauges: Record<string, { help: string; value: number }> = {}): string {
      const out: string[] = [];
      for (const [name, c] of counters) {
        out.push(`# HELP ${name} ${c.help}`, `# TYPE ${name} counter`);
        for (const [k, v] of c.values) out.push(`${name}{${k}} ${v}`);
      }
      const h = "haechi_http_request_duration_seconds";
      out.push(`# HELP ${h} HTTP request latency`, `# TYPE ${h} histogram`);
      for (const [k, n] of hist.count) {
        const b = hist.buckets.get(k)!;
        BUCKETS.forEach((le, i) => out.push(`${h}_bucket{${k},le="${le}"} ${b[i]}`));
        out.push(`${h}_bucket{${k},le="+Inf"} ${n}`, `${h}_sum{${k}} ${hist.sum.get(k)}`, `${h}_count{${k}} ${n}`);
      }
      for (const [name, g] of Object.entries(gauges)) out.push(`# HELP ${name} ${g.help}`, `# TYPE ${name} gauge`, `${name} ${g.value}`);
      return `${out.join("\n")}\n`;
    },
  };
};
export type Metrics = ReturnType<typeof metricsRegistry>;
