/**
 * Pure helpers of the portal: the CSV form of a person's download (PIPA Arts. 35, 35-2:
 * machine-readable). One table, one row per fact, the same columns for every section, so a
 * spreadsheet or a script reads it without knowing the sections in advance.
 */
import type { PortalExport } from "./portal-service.js";

export const CSV_COLUMNS = ["section", "item", "value", "purpose", "party", "country", "at", "status", "detail"] as const;
type CsvRow = Partial<Record<(typeof CSV_COLUMNS)[number], string | number | null | undefined>>;

/**
 * One CSV cell (RFC 4180): quoted when it holds a comma, quote, CR or LF. A cell a spreadsheet
 * would take for a formula (=, +, -, @, tab, CR first) is prefixed with an apostrophe (OWASP CSV
 * injection), so opening one's own download never runs anything.
 */
export const csvCell = (v: string | number | null | undefined): string => {
  if (v === null || v === undefined) return "";
  let s = String(v);
  if (typeof v === "string" && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

const valueOf = (v: unknown): string => (typeof v === "string" ? v : JSON.stringify(v));

/** The download as CSV (header first, CRLF line ends). */
export const exportToCsv = (e: PortalExport): string => {
  const rows: CsvRow[] = [];
  for (const [field, v] of Object.entries(e.data)) rows.push({ section: "data", item: field, value: valueOf(v) });
  for (const p of e.purposes) {
    rows.push({ section: "purpose", item: p.purpose, value: p.fields.join(" "), purpose: p.purpose, status: p.consent ?? "", detail: p.basis + (p.statute ? `; ${p.statute}` : "") });
  }
  for (const c of e.consents.current) {
    rows.push({ section: "consent", item: c.notice, value: c.version ?? "", purpose: c.category, at: c.at ?? "", status: c.status, detail: c.stale ? "stale" : "" });
  }
  for (const h of e.consents.history) {
    rows.push({ section: "consent_history", item: h.notice, value: h.version, at: h.at, status: h.action, detail: h.channel });
  }
  for (const r of e.recipients) {
    rows.push({ section: "recipient", item: r.recipient, value: r.fields.join(" "), party: r.legalName.en, country: r.country, status: r.kind, detail: r.transferBasis ?? "" });
  }
  for (const p of e.provisions) {
    rows.push({ section: "provision", item: p.provision, value: p.fields.join(" "), purpose: p.purpose, party: p.recipient, country: p.country, at: p.at, status: p.status, detail: p.basis + (p.transferBasis ? `; ${p.transferBasis}` : "") });
  }
  for (const r of e.retention) {
    rows.push({
      section: "retention",
      item: r.field,
      value: r.heldUntil ?? "until_deletion",
      status: r.onDeletion ? "kept_by_law" : "destroyed_on_deletion",
      detail: r.onDeletion ? `${r.onDeletion.rule}; ${r.onDeletion.period}; ${r.onDeletion.citation}` : "",
    });
  }
  for (const a of e.accessHistory) {
    rows.push({ section: "access", item: a.action, value: a.fields.join(" "), purpose: a.purpose ?? "", party: a.actor, at: a.at, status: a.effect, detail: a.reasons.join(" ") });
  }
  for (const i of e.incidents) rows.push({ section: "incident", item: i.id, value: i.kind, at: i.awareAt, status: i.status, detail: i.summary });
  const lines = [CSV_COLUMNS.join(","), ...rows.map((r) => CSV_COLUMNS.map((c) => csvCell(r[c])).join(","))];
  return lines.join("\r\n") + "\r\n";
};
