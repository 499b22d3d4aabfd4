/**
 * Access volume over time for the console's charts (issue 6), pure: counts of accesses to
 * personal data by hour, kept per (principal, purpose), and charts of them by purpose or by
 * principal — the last 30 days by day (Korea Standard Time) or the last 48 hours by hour. Fed
 * the audit log's entries in order; reading the log (once, then only what was appended since) is
 * the console service's.
 *
 * What counts as an access: an entry naming one person (`subjectRef`), weight 1; or a bulk act
 * on personal data for a purpose without naming anyone (a provision part, an import), weight its
 * `count`. Logins, page views and other bookkeeping name no one and count nothing.
 */
import { escapeXml } from "./svg-fns.js";
const HOUR = 3600_000;
const DAY = 24 * HOUR;
/** Korea Standard Time: UTC+9, no daylight saving. */
const KST = 9 * HOUR;

export type ActivityUnit = "day" | "hour";

/** Start of the bucket an instant falls in (KST day, or UTC hour, which is a KST hour too). */
export const bucketStart = (unit: ActivityUnit, t: number): number =>
  unit === "hour" ? Math.floor(t / HOUR) * HOUR : Math.floor((t + KST) / DAY) * DAY - KST;

/** The `n` bucket starts ending with the one `now` falls in, oldest first. */
export const bucketStarts = (unit: ActivityUnit, now: Date, n: number): number[] => {
  const last = bucketStart(unit, now.getTime());
  const size = unit === "hour" ? HOUR : DAY;
  return Array.from({ length: n }, (_, i) => last - (n - 1 - i) * size);
};

/** The two windows the console draws. */
export const ACTIVITY_VIEWS = { "30d": { unit: "day", buckets: 30 }, "48h": { unit: "hour", buckets: 48 } } as const satisfies Record<string, { unit: ActivityUnit; buckets: number }>;
export type ActivityView = keyof typeof ACTIVITY_VIEWS;

/** Where counting must start for every view to be complete at `now`. */
export const activityFrom = (now: Date): number =>
  Math.min(...Object.values(ACTIVITY_VIEWS).map((v) => bucketStarts(v.unit, now, v.buckets)[0]!));

/** How much an entry counts (see the module comment). */
export const accessWeight = (e: { subjectRef: string | null; purpose: string | null; count?: number | undefined }): number =>
  e.subjectRef !== null ? 1 : e.purpose !== null && typeof e.count === "number" && e.count > 0 ? e.count : 0;

export interface ActivitySeries {
  key: string;
  total: number;
  values: number[];
}

export interface ActivityChart {
  unit: ActivityUnit;
  /** ISO start of each bucket. */
  starts: string[];
  series: ActivitySeries[];
  total: number;
}

export const NO_PURPOSE = "(none)";
export const UNAUTHENTICATED = "(unauthenticated)";
export const OTHERS = "(others)";

/** Counts by hour and (principal, purpose); bounded by pruning hours before the window. */
export const accessCounter = () => {
  const hours = new Map<number, Map<string, number>>();
  return {
    add(at: number, principal: string | null, purpose: string | null, weight: number): void {
      if (weight <= 0) return;
      const h = bucketStart("hour", at);
      let m = hours.get(h);
      if (m === undefined) {
        m = new Map();
        hours.set(h, m);
      }
      const k = `${principal ?? UNAUTHENTICATED}\0${purpose ?? NO_PURPOSE}`;
      m.set(k, (m.get(k) ?? 0) + weight);
    },
    /** Forget hours before `t`. */
    prune(t: number): void {
      for (const h of hours.keys()) if (h < t) hours.delete(h);
    },
    /** Hours held (for tests and the memory bound). */
    size: () => hours.size,
    /** A chart by purpose or by principal; the `top` biggest series, the rest summed as (others). */
    chart(view: ActivityView, by: "purpose" | "principal", now: Date, top = 6): ActivityChart {
      const { unit, buckets } = ACTIVITY_VIEWS[view];
      const starts = bucketStarts(unit, now, buckets);
      const slot = new Map(starts.map((s, i) => [s, i]));
      const series = new Map<string, number[]>();
      for (const [h, m] of hours) {
        const i = slot.get(bucketStart(unit, h));
        if (i === undefined) continue;
        for (const [k, n] of m) {
          const [principal, purpose] = k.split("\0") as [string, string];
          const key = by === "purpose" ? purpose : principal;
          let v = series.get(key);
          if (v === undefined) {
            v = new Array<number>(buckets).fill(0);
            series.set(key, v);
          }
          v[i]! += n;
        }
      }
      const all = [...series.entries()]
        .map(([key, values]) => ({ key, values, total: values.reduce((a, b) => a + b, 0) }))
        .sort((a, b) => b.total - a.total || (a.key < b.key ? -1 : 1));
      const kept = all.slice(0, top);
      const rest = all.slice(top);
      if (rest.length > 0) {
        const values = new Array<number>(buckets).fill(0);
        for (const s of rest) s.values.forEach((v, i) => (values[i]! += v));
        kept.push({ key: OTHERS, values, total: values.reduce((a, b) => a + b, 0) });
      }
      return { unit, starts: starts.map((s) => new Date(s).toISOString()), series: kept, total: all.reduce((a, s) => a + s.total, 0) };
    },
  };
};

export type AccessCounter = ReturnType<typeof accessCounter>;

const PALETTE = ["#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#c62828", "#9e9e9e"];

/** Bucket label: KST `MM-DD` for days, KST `HH` for hours. */
export const bucketLabel = (unit: ActivityUnit, iso: string): string => {
  const local = new Date(Date.parse(iso) + KST).toISOString();
  return unit === "day" ? local.slice(5, 10) : `${local.slice(11, 13)}h`;
};

/** Stacked bars, one colour per series, with a legend and a <title> on every bar (what a screen reader reads). */
export const activitySvg = (c: ActivityChart, title: string): string => {
  const W = 760;
  const H = 260;
  const left = 50;
  const bottom = 30;
  const top = 30;
  const legendW = 0;
  const n = c.starts.length;
  const totals = c.starts.map((_, i) => c.series.reduce((a, s) => a + s.values[i]!, 0));
  const max = Math.max(1, ...totals);
  const bw = (W - left - 10 - legendW) / Math.max(1, n);
  const y = (v: number) => ((H - bottom - top) * v) / max;
  const bars: string[] = [];
  for (let i = 0; i < n; i++) {
    const x = left + i * bw;
    let base = H - bottom;
    c.series.forEach((s, si) => {
      const v = s.values[i]!;
      if (v === 0) return;
      const hh = y(v);
      base -= hh;
      bars.push(`<rect x="${x.toFixed(1)}" y="${base.toFixed(1)}" width="${Math.max(1, bw * 0.8).toFixed(1)}" height="${hh.toFixed(1)}" fill="${PALETTE[si % PALETTE.length]}"><title>${escapeXml(`${bucketLabel(c.unit, c.starts[i]!)} ${s.key}: ${v}`)}</title></rect>`);
    });
    const every = c.unit === "day" ? 5 : 6;
    if (i % every === 0) bars.push(`<text x="${x.toFixed(1)}" y="${H - 12}" font-size="10">${bucketLabel(c.unit, c.starts[i]!)}</text>`);
  }
  const legend = c.series
    .map((s, si) => {
      const lx = left + (si % 4) * 180;
      const ly = H + 14 + Math.floor(si / 4) * 18;
      return `<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${PALETTE[si % PALETTE.length]}"/><text x="${lx + 16}" y="${ly}" font-size="11">${escapeXml(s.key.length > 24 ? `${s.key.slice(0, 23)}…` : s.key)} (${s.total})</text>`;
    })
    .join("");
  const fullH = H + 20 + Math.ceil(c.series.length / 4) * 18;
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${fullH}" width="${W}" height="${fullH}" font-family="sans-serif" role="img" aria-label="${escapeXml(title)}">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="18" font-size="13" font-weight="bold">${escapeXml(title)}</text>
<text x="${left - 6}" y="${H - bottom}" font-size="10" text-anchor="end">0</text>
<text x="${left - 6}" y="${H - bottom - y(max) + 4}" font-size="10" text-anchor="end">${max}</text>
<line x1="${left}" y1="${H - bottom}" x2="${W - 10}" y2="${H - bottom}" stroke="#999"/>
${bars.join("\n")}
${legend}
</svg>`;
};
