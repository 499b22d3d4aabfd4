/**
 * The monthly access-log review (PIPC Safety Standard Art. 8(2); LAW §12, §15 G4), pure: fed the
 * month's audit entries in order, it accumulates per-principal activity, flags what is unusual
 * and lists every bulk release of personal data with the justification recorded for it. A bulk
 * release without one is escalated. Rendering (Markdown, SVG) is here too; reading the log and
 * writing files is the review service's.
 *
 * Only names, counts and codes go in: entries carry no personal data (audit-types.ts), and the
 * review keeps subject references only as counts.
 */
import type { AuditEntry } from "../../audit/audit-types.js";

/** Korea Standard Time: UTC+9, no daylight saving. */
const KST_MS = 9 * 3600 * 1000;
const DAY_MS = 24 * 3600 * 1000;

export interface ReviewOptions {
  /** `YYYY-MM`, in Korea Standard Time. */
  month: string;
  /** Working hours in KST, [from, to) in whole hours, Monday to Friday (default 9–18). */
  hours?: { from: number; to: number };
  /** An entry touching at least this many records is a bulk release (default 100). */
  bulkAt?: number;
  /** A principal is flagged when this share of its entries falls outside working hours (default 0.2, at ≥ 20 entries). */
  offHoursShare?: number;
  /** … or when this share of its decisions were refusals (default 0.1, at ≥ 20 refusals). */
  denyShare?: number;
}

/** The month's bounds as instants: [start, end). */
export const monthWindow = (month: string): { start: Date; end: Date } => {
  const m = /^(\d{4})-(\d{2})$/.exec(month);
  const y = m ? Number(m[1]) : NaN;
  const mo = m ? Number(m[2]) : NaN;
  if (!m || mo < 1 || mo > 12 || y < 2000 || y > 9999) throw new RangeError(`month must be YYYY-MM, e.g. 2026-10 (got "${month}")`);
  return { start: new Date(Date.UTC(y, mo - 1, 1) - KST_MS), end: new Date(Date.UTC(y, mo, 1) - KST_MS) };
};

/** The month an instant falls in, in KST. */
export const monthOf = (at: Date): string => new Date(at.getTime() + KST_MS).toISOString().slice(0, 7);

/** Actions that release personal data to someone (reads, lookups, provision parts and exports). */
const RELEASES = new Set(["read", "subject.read", "lookup", "subject.lookup", "provision.part", "provision.complete", "export.download"]);
const isRelease = (action: string) => RELEASES.has(action) || action.startsWith("export.");

export interface PrincipalActivity {
  principal: string;
  entries: number;
  allowed: number;
  denied: number;
  /** Distinct subject references touched (a pseudonym per subject, never an id). */
  subjects: number;
  offHours: number;
  /** Records released in bulk entries (their `count`s). */
  bulkRecords: number;
  byAction: Record<string, number>;
  byPurpose: Record<string, number>;
  flags: string[];
}

export interface BulkRelease {
  seq: number;
  at: string;
  principal: string | null;
  action: string;
  count: number;
  purpose: string | null;
  /** What the log records as the reason: purpose, recipient, provision, legal basis. */
  justification: string | null;
  escalate: boolean;
}

export interface AccessReview {
  month: string;
  window: { start: string; end: string };
  /** The seq range read (null when the month is empty). */
  seqs: { first: number; last: number } | null;
  entries: number;
  principals: PrincipalActivity[];
  bulk: BulkRelease[];
  /** Refused authentications (no principal known), by source network. */
  authFailures: { source: string; count: number }[];
  /** Detection alerts raised in the month, by rule and principal. */
  alerts: { rule: string; principal: string | null; count: number }[];
  /** Entries per KST day, allowed and refused (for the chart). */
  daily: { day: string; allowed: number; denied: number }[];
  /** Everything the reviewer must look at, one line each, most serious first. */
  findings: string[];
}

interface Acc {
  p: PrincipalActivity;
  refs: Set<string>;
}

/** Accumulates one month; `add` entries in log order, then `finish`. Memory: one set of references per principal. */
export const accessReviewer = (opts: ReviewOptions) => {
  const { start, end } = monthWindow(opts.month);
  const hours = opts.hours ?? { from: 9, to: 18 };
  if (!(Number.isInteger(hours.from) && Number.isInteger(hours.to) && hours.from >= 0 && hours.to <= 24 && hours.from < hours.to)) {
    throw new RangeError("working hours must be whole hours with 0 ≤ from < to ≤ 24");
  }
  const bulkAt = opts.bulkAt ?? 100;
  const offShare = opts.offHoursShare ?? 0.2;
  const denyShare = opts.denyShare ?? 0.1;
  const byPrincipal = new Map<string, Acc>();
  const bulk: BulkRelease[] = [];
  const authFailures = new Map<string, number>();
  const alerts = new Map<string, { rule: string; principal: string | null; count: number }>();
  const days = Math.round((end.getTime() - start.getTime()) / DAY_MS);
  const daily = Array.from({ length: days }, (_, i) => ({ day: `${opts.month}-${String(i + 1).padStart(2, "0")}`, allowed: 0, denied: 0 }));
  let entries = 0;
  let first: number | null = null;
  let last: number | null = null;

  const offHours = (at: Date) => {
    const local = new Date(at.getTime() + KST_MS);
    const dow = local.getUTCDay();
    const h = local.getUTCHours();
    return dow === 0 || dow === 6 || h < hours.from || h >= hours.to;
  };

  return {
    window: { start, end },
    /** False (and ignored) when the entry is outside the month. */
    add(seq: number, e: AuditEntry): boolean {
      const at = new Date(e.at);
      if (at < start || at >= end) return false;
      entries++;
      first ??= seq;
      last = seq;
      const day = daily[Math.floor((at.getTime() - start.getTime()) / DAY_MS)];
      if (day && e.effect === "deny") day.denied++;
      else if (day && e.effect === "allow") day.allowed++;
      if (e.action === "detection.alert") {
        const rule = String(e.meta?.rule ?? e.reasons[0] ?? "unknown");
        const k = `${rule}\0${e.meta?.principal ?? e.principal ?? ""}`;
        const a = alerts.get(k) ?? { rule, principal: (e.meta?.principal as string | undefined) ?? e.principal, count: 0 };
        a.count++;
        alerts.set(k, a);
      }
      if (e.principal === null) {
        if (e.action === "auth.failure") {
          const src = networkOf(e.source);
          authFailures.set(src, (authFailures.get(src) ?? 0) + 1);
        }
        return true;
      }
      let acc = byPrincipal.get(e.principal);
      if (!acc) {
        acc = {
          p: { principal: e.principal, entries: 0, allowed: 0, denied: 0, subjects: 0, offHours: 0, bulkRecords: 0, byAction: {}, byPurpose: {}, flags: [] },
          refs: new Set(),
        };
        byPrincipal.set(e.principal, acc);
      }
      const p = acc.p;
      p.entries++;
      if (e.effect === "allow") p.allowed++;
      if (e.effect === "deny") p.denied++;
      if (offHours(at)) p.offHours++;
      p.byAction[e.action] = (p.byAction[e.action] ?? 0) + 1;
      if (e.purpose) p.byPurpose[e.purpose] = (p.byPurpose[e.purpose] ?? 0) + 1;
      if (e.subjectRef) acc.refs.add(e.subjectRef);
      if (e.effect === "allow" && isRelease(e.action) && (e.count ?? 0) >= bulkAt) {
        p.bulkRecords += e.count ?? 0;
        const justification = justificationOf(e);
        bulk.push({ seq, at: e.at, principal: e.principal, action: e.action, count: e.count ?? 0, purpose: e.purpose, justification, escalate: justification === null });
      }
      return true;
    },
    finish(): AccessReview {
      const principals = [...byPrincipal.values()].map(({ p, refs }) => {
        p.subjects = refs.size;
        if (p.entries >= 20 && p.offHours / p.entries >= offShare) p.flags.push(`OFF_HOURS ${pct(p.offHours, p.entries)} of entries outside ${hours.from}–${hours.to} KST on weekdays`);
        if (p.denied >= 20 && p.denied / Math.max(1, p.allowed + p.denied) >= denyShare) p.flags.push(`DENIALS ${p.denied} refused (${pct(p.denied, p.allowed + p.denied)} of decisions)`);
        return p;
      });
      principals.sort((a, b) => b.entries - a.entries || (a.principal < b.principal ? -1 : 1));
      const alertList = [...alerts.values()].sort((a, b) => b.count - a.count || (a.rule < b.rule ? -1 : 1));
      const failures = [...authFailures.entries()].map(([source, count]) => ({ source, count })).sort((a, b) => b.count - a.count);
      const findings = [
        ...bulk.filter((b) => b.escalate).map((b) => `ESCALATE bulk release without a recorded justification: seq ${b.seq}, ${b.principal}, ${b.action}, ${b.count} records`),
        ...alertList.map((a) => `ALERT ${a.rule}${a.principal ? ` (${a.principal})` : ""}: ${a.count}×`),
        ...principals.flatMap((p) => p.flags.map((f) => `${p.principal}: ${f}`)),
        ...failures.filter((f) => f.count >= 10).map((f) => `AUTH_FAILURES ${f.count} from ${f.source}`),
      ];
      return {
        month: opts.month,
        window: { start: start.toISOString(), end: end.toISOString() },
        seqs: first === null || last === null ? null : { first, last },
        entries,
        principals,
        bulk,
        authFailures: failures,
        alerts: alertList,
        daily,
        findings,
      };
    },
  };
};

const pct = (n: number, of: number) => `${Math.round((100 * n) / Math.max(1, of))}%`;

/** A source address reduced to its network (/24 for IPv4, /48 for IPv6): enough to group, not to identify a person. */
const networkOf = (source: string | null): string => {
  if (!source) return "unknown";
  const v4 = /^(?:::ffff:)?(\d+)\.(\d+)\.(\d+)\.\d+$/.exec(source);
  if (v4) return `${v4[1]}.${v4[2]}.${v4[3]}.0/24`;
  if (source.includes(":")) return `${source.split(":").slice(0, 3).join(":")}::/48`;
  return "unknown";
};

/** The recorded reason for a bulk release: its purpose plus what the entry names (recipient, provision, basis). */
const justificationOf = (e: AuditEntry): string | null => {
  if (!e.purpose) return null;
  const parts = [`purpose ${e.purpose}`];
  for (const k of ["recipient", "provision", "basis", "transferBasis", "reason"]) {
    const v = e.meta?.[k];
    if (typeof v === "string" && v !== "") parts.push(`${k} ${v}`);
  }
  return parts.join(", ");
};

const esc = (s: string) => s.replace(/\|/g, "\\|");

/** The review as Markdown for the privacy officer (Korean title, English body). */
export const reviewMarkdown = (r: AccessReview, digest?: string): string => {
  const lines = [
    `# 개인정보처리시스템 접속기록 월간 점검 — access-log review ${r.month}`,
    "",
    `Safety Standard Art. 8(2): access records are reviewed at least monthly. Window ${r.window.start} – ${r.window.end} (KST month), ${r.entries.toLocaleString("en")} entries${r.seqs ? `, seq ${r.seqs.first}–${r.seqs.last}` : ""}.`,
    "",
    "![entries per day](access-review-" + r.month + ".svg)",
    "",
    "## Findings",
    "",
    ...(r.findings.length === 0 ? ["Nothing unusual."] : r.findings.map((f) => `- ${esc(f)}`)),
    "",
    "## Bulk releases",
    "",
    ...(r.bulk.length === 0
      ? ["None."]
      : [
          "| seq | at | principal | action | records | justification | |",
          "|---|---|---|---|---|---|---|",
          ...r.bulk.map((b) => `| ${b.seq} | ${b.at} | ${esc(b.principal ?? "")} | ${b.action} | ${b.count} | ${esc(b.justification ?? "none recorded")} | ${b.escalate ? "**escalate**" : ""} |`),
        ]),
    "",
    "## Principals",
    "",
    "| principal | entries | allowed | refused | subjects | off-hours | bulk records | purposes |",
    "|---|---|---|---|---|---|---|---|",
    ...r.principals.map(
      (p) =>
        `| ${esc(p.principal)} | ${p.entries} | ${p.allowed} | ${p.denied} | ${p.subjects} | ${p.offHours} | ${p.bulkRecords} | ${esc(
          Object.entries(p.byPurpose)
            .map(([k, v]) => `${k} ${v}`)
            .join(", "),
        )} |`,
    ),
    "",
    "## Refused authentications by network",
    "",
    ...(r.authFailures.length === 0 ? ["None."] : r.authFailures.map((f) => `- ${f.source}: ${f.count}`)),
    "",
    "## Sign-off",
    "",
    `Signed off with \`haechi review sign --month ${r.month} --by <officer>\`; the sign-off is an audit entry (\`review.signoff\`) carrying this report's SHA-256${digest ? ` (${digest})` : ""}.`,
    "",
  ];
  return lines.join("\n");
};

/** Entries per day as a bar chart (allowed over refused). */
export const reviewSvg = (r: AccessReview): string => {
  const W = 760;
  const H = 220;
  const left = 50;
  const bottom = 30;
  const max = Math.max(1, ...r.daily.map((d) => d.allowed + d.denied));
  const bw = (W - left - 10) / Math.max(1, r.daily.length);
  const y = (v: number) => ((H - bottom - 30) * v) / max;
  const bars = r.daily
    .map((d, i) => {
      const x = left + i * bw;
      const ha = y(d.allowed);
      const hd = y(d.denied);
      return `<rect x="${x.toFixed(1)}" y="${(H - bottom - ha).toFixed(1)}" width="${(bw * 0.8).toFixed(1)}" height="${ha.toFixed(1)}" fill="#1565c0"><title>${d.day}: ${d.allowed} allowed</title></rect>` +
        `<rect x="${x.toFixed(1)}" y="${(H - bottom - ha - hd).toFixed(1)}" width="${(bw * 0.8).toFixed(1)}" height="${hd.toFixed(1)}" fill="#c62828"><title>${d.day}: ${d.denied} refused</title></rect>` +
        (i % 5 === 0 ? `<text x="${x.toFixed(1)}" y="${H - 12}" font-size="10">${d.day.slice(8)}</text>` : "");
    })
    .join("\n");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" role="img" aria-label="Access-log entries per day, ${r.month}">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="18" font-size="13" font-weight="bold">Entries per day, ${r.month} (KST): allowed (blue), refused (red)</text>
<text x="${left - 6}" y="${H - bottom}" font-size="10" text-anchor="end">0</text>
<text x="${left - 6}" y="${H - bottom - y(max) + 4}" font-size="10" text-anchor="end">${max}</text>
${bars}
</svg>
`;
};
