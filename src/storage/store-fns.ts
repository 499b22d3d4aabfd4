/** Pure helpers shared by both stores: consent derivation, input normalisation, audit checks. */
import { HaechiError } from "../core/errors.js";
import type {
  AuditHead,
  AuditRow,
  ConsentEvent,
  ConsentState,
  ExportFormat,
  ImportItem,
  LookupEntry,
  PopulationDiff,
  ProvisionClass,
  ProvisionCounts,
  ProvisionPatch,
  ProvisionRow,
  ProvisionStatus,
  SealedFieldRow,
  StoredField,
} from "../core/ports.js";
import { consentStateOf } from "../core/consent/consent-fns.js";
import type {
  IncidentFacts,
  IncidentKind,
  IncidentNoticeRow,
  IncidentPatch,
  IncidentRow,
  IncidentScope,
  IncidentSource,
  IncidentStatus,
  IncidentSubjectRow,
  OutboxRow,
} from "../core/incident/incident-types.js";
import { asSubjectId } from "../core/ids.js";

export const consentStatus = (action: ConsentEvent["action"]): ConsentState["status"] =>
  action === "grant" ? "granted" : "withdrawn";

export const stateOf: (e: ConsentEvent) => ConsentState = consentStateOf;

/**
 * Current state per notice from events in insertion order: the latest `at` wins and, for equal
 * `at`, the later-inserted event wins. Both stores apply the same rule in SQL for appends.
 */
export const deriveConsentStates = (events: readonly ConsentEvent[]): Map<string, ConsentEvent> => {
  const latest = new Map<string, ConsentEvent>();
  for (const e of events) {
    const current = latest.get(e.notice);
    if (current === undefined || e.at.getTime() >= current.at.getTime()) latest.set(e.notice, e);
  }
  return latest;
};

/** Last value per field name wins, so one statement never writes a row twice. */
export const dedupeFields = (fields: readonly StoredField[]): StoredField[] => {
  const byName = new Map<string, StoredField>();
  for (const f of fields) byName.set(f.field, f);
  return [...byName.values()];
};

export const dedupeLookups = (entries: readonly LookupEntry[]): LookupEntry[] => {
  const seen = new Map<string, LookupEntry>();
  for (const e of entries) seen.set(`${e.field}\u0000${e.digest.toString("hex")}`, e);
  return [...seen.values()];
};

/** Last row per (subject, field) wins, so one statement never writes a sealed row twice. */
export const dedupeSealed = (rows: readonly SealedFieldRow[]): SealedFieldRow[] => {
  const byKey = new Map<string, SealedFieldRow>();
  for (const r of rows) byKey.set(`${r.subjectId}\u0000${r.field}`, r);
  return [...byKey.values()];
};

export const distinct = (names: readonly string[]): string[] => [...new Set(names)];

/**
 * Import items in subject-id order: consecutive inserts land on neighbouring B-tree pages,
 * which roughly doubles bulk-load throughput over random order.
 */
export const bySubjectId = <T extends { subject: { id: string } }>(items: readonly T[]): T[] =>
  [...items].sort((a, b) => (a.subject.id < b.subject.id ? -1 : a.subject.id > b.subject.id ? 1 : 0));

/** Import items must keep their consent events on their own subject. */
export const checkImportItems = (items: readonly ImportItem[]): void => {
  for (const item of items) {
    for (const e of item.consents) {
      if (e.subjectId !== item.subject.id) {
        throw new HaechiError("VALIDATION_FAILED", "import consent event belongs to another subject");
      }
    }
  }
};

/**
 * The chain invariant the store enforces whatever `build` returns: seqs are integers,
 * contiguous, and continue the head (an empty log may start anywhere ≥ 0).
 */
export const checkAuditRows = (head: AuditHead | null, rows: readonly AuditRow[]): void => {
  let expected = head === null ? rows[0]?.seq ?? 0 : head.seq + 1;
  if (!Number.isSafeInteger(expected) || expected < 0) {
    throw new HaechiError("INTERNAL", "audit rows do not continue the chain head");
  }
  for (const row of rows) {
    if (row.seq !== expected) throw new HaechiError("INTERNAL", "audit rows do not continue the chain head");
    expected += 1;
  }
};

/**
 * A provision as stored: snake_case columns, list and object values as JSON text, dates as `D`
 * (epoch ms on SQLite, Date on PostgreSQL). Both stores map through these three functions.
 */
export interface ProvisionColumns<D> {
  id: string;
  schedule_id: string | null;
  principal: string;
  recipient: string;
  country: string;
  purpose: string;
  label: string;
  classification: string;
  basis: string;
  transfer_basis: string | null;
  fields: string;
  format: string;
  request: string;
  status: string;
  reasons: string;
  counts: string;
  diff: string | null;
  manifest: string | null;
  cursor: string | null;
  parts: number;
  created_at: D;
  updated_at: D;
  finished_at: D | null;
}

export const provisionToColumns = <D>(row: ProvisionRow, date: (d: Date) => D): ProvisionColumns<D> => ({
  id: row.id,
  schedule_id: row.scheduleId,
  principal: row.principal,
  recipient: row.recipient,
  country: row.country,
  purpose: row.purpose,
  label: row.label,
  classification: row.classification,
  basis: row.basis,
  transfer_basis: row.transferBasis,
  fields: JSON.stringify(row.fields),
  format: row.format,
  request: row.request,
  status: row.status,
  reasons: JSON.stringify(row.reasons),
  counts: JSON.stringify(row.counts),
  diff: row.diff === null ? null : JSON.stringify(row.diff),
  manifest: row.manifest,
  cursor: row.cursor,
  parts: row.parts,
  created_at: date(row.createdAt),
  updated_at: date(row.updatedAt),
  finished_at: row.finishedAt === null ? null : date(row.finishedAt),
});

export const provisionFromColumns = <D>(c: ProvisionColumns<D>, date: (d: D) => Date): ProvisionRow => ({
  id: c.id,
  scheduleId: c.schedule_id,
  principal: c.principal,
  recipient: c.recipient,
  country: c.country,
  purpose: c.purpose,
  label: c.label as ProvisionClass,
  classification: c.classification as ProvisionClass,
  basis: c.basis,
  transferBasis: c.transfer_basis,
  fields: JSON.parse(c.fields) as string[],
  format: c.format as ExportFormat,
  request: c.request,
  status: c.status as ProvisionStatus,
  reasons: JSON.parse(c.reasons) as string[],
  counts: JSON.parse(c.counts) as ProvisionCounts,
  diff: c.diff === null ? null : (JSON.parse(c.diff) as PopulationDiff),
  manifest: c.manifest,
  cursor: c.cursor,
  parts: Number(c.parts),
  createdAt: date(c.created_at),
  updatedAt: date(c.updated_at),
  finishedAt: c.finished_at === null ? null : date(c.finished_at),
});

/** The columns a patch sets (keys present with `undefined` are left alone). */
export const provisionPatchColumns = <D>(patch: ProvisionPatch, date: (d: Date) => D): Partial<ProvisionColumns<D>> => {
  const out: Partial<ProvisionColumns<D>> = {};
  if (patch.status !== undefined) out.status = patch.status;
  if (patch.reasons !== undefined) out.reasons = JSON.stringify(patch.reasons);
  if (patch.counts !== undefined) out.counts = JSON.stringify(patch.counts);
  if (patch.diff !== undefined) out.diff = patch.diff === null ? null : JSON.stringify(patch.diff);
  if (patch.manifest !== undefined) out.manifest = patch.manifest;
  if (patch.updatedAt !== undefined) out.updated_at = date(patch.updatedAt);
  if (patch.finishedAt !== undefined) out.finished_at = patch.finishedAt === null ? null : date(patch.finishedAt);
  if (patch.classification !== undefined) out.classification = patch.classification;
  if (patch.basis !== undefined) out.basis = patch.basis;
  if (patch.transferBasis !== undefined) out.transfer_basis = patch.transferBasis;
  return out;
};

/** Population difference from the two runs' sizes and their overlap (all counted in SQL). */
export const populationDiffOf = (previousId: string, previous: number, current: number, kept: number): PopulationDiff => ({
  previousId,
  added: current - kept,
  removed: previous - kept,
  kept,
});

// ---------------------------------------------------------------- incidents

/** An incident row as both stores hold it: JSON text for source, facts and scope. */
export interface IncidentColumns<D> {
  id: string;
  kind: string;
  status: string;
  source: string;
  summary: string;
  aware_at: D;
  deadline: D;
  opened_at: D;
  opened_by: string;
  facts: string;
  scope: string | null;
  updated_at: D;
  closed_at: D | null;
}

export const incidentToColumns = <D>(row: IncidentRow, date: (d: Date) => D): IncidentColumns<D> => ({
  id: row.id,
  kind: row.kind,
  status: row.status,
  source: JSON.stringify(row.source),
  summary: row.summary,
  aware_at: date(row.awareAt),
  deadline: date(row.deadline),
  opened_at: date(row.openedAt),
  opened_by: row.openedBy,
  facts: JSON.stringify(row.facts),
  scope: row.scope === null ? null : JSON.stringify(row.scope),
  updated_at: date(row.updatedAt),
  closed_at: row.closedAt === null ? null : date(row.closedAt),
});

export const incidentFromColumns = <D>(c: IncidentColumns<D>, date: (d: D) => Date): IncidentRow => ({
  id: c.id,
  kind: c.kind as IncidentKind,
  status: c.status as IncidentStatus,
  source: JSON.parse(c.source) as IncidentSource,
  summary: c.summary,
  awareAt: date(c.aware_at),
  deadline: date(c.deadline),
  openedAt: date(c.opened_at),
  openedBy: c.opened_by,
  facts: JSON.parse(c.facts) as IncidentFacts,
  scope: c.scope === null ? null : (JSON.parse(c.scope) as IncidentScope),
  updatedAt: date(c.updated_at),
  closedAt: c.closed_at === null ? null : date(c.closed_at),
});

/** The columns an incident patch changes. */
export const incidentPatchColumns = <D>(patch: IncidentPatch, date: (d: Date) => D): Partial<IncidentColumns<D>> => {
  const set: Partial<IncidentColumns<D>> = { updated_at: date(patch.updatedAt) };
  if (patch.kind !== undefined) set.kind = patch.kind;
  if (patch.status !== undefined) set.status = patch.status;
  if (patch.summary !== undefined) set.summary = patch.summary;
  if (patch.facts !== undefined) set.facts = JSON.stringify(patch.facts);
  if (patch.closedAt !== undefined) set.closed_at = patch.closedAt === null ? null : date(patch.closedAt);
  return set;
};

/** Refuses notices and outbox rows that belong to another incident or to no notice of the batch. */
export const checkNoticeBatch = (id: string, notices: readonly IncidentNoticeRow[], outbox: readonly OutboxRow[]): void => {
  const ids = new Set(notices.map((n) => n.id));
  for (const n of notices) if (n.incidentId !== id) throw new HaechiError("INTERNAL", "notice belongs to another incident");
  for (const o of outbox) {
    if (o.incidentId !== id) throw new HaechiError("INTERNAL", "outbox message belongs to another incident");
    if (!ids.has(o.noticeId)) throw new HaechiError("INTERNAL", "outbox message names a notice outside its batch");
  }
};

/**
 * A scope's people as stored (migration 0011_scope_sets, ADR 0015): each distinct field or
 * channel list once, as JSON text numbered from 0 (`sets`), and per person the numbers of theirs
 * (`people`: [subject, fields set, via set], in the order given). Lists are told apart by their
 * text; the accumulator hands out one shared array per set, so most lookups hit by identity.
 */
export const scopeSetsOf = (subjects: readonly IncidentSubjectRow[]): { sets: string[]; people: [string, number, number][] } => {
  const sets: string[] = [];
  const byText = new Map<string, number>();
  const byArray = new Map<readonly string[], number>();
  const no = (names: readonly string[]): number => {
    let n = byArray.get(names);
    if (n === undefined) {
      const text = JSON.stringify(names);
      n = byText.get(text);
      if (n === undefined) {
        n = sets.length;
        sets.push(text);
        byText.set(text, n);
      }
      byArray.set(names, n);
    }
    return n;
  };
  return { sets, people: subjects.map((s) => [s.subjectId, no(s.fields), no(s.via)]) };
};

/** A stored person back: the set texts parsed once per page. */
export const scopeSubjectReader = () => {
  const parsed = new Map<string, string[]>();
  const names = (text: string) => {
    let v = parsed.get(text);
    if (v === undefined) {
      v = JSON.parse(text) as string[];
      parsed.set(text, v);
    }
    // A copy: callers own the rows they get.
    return [...v];
  };
  return (subjectId: string, fields: string, via: string): IncidentSubjectRow => ({
    subjectId: asSubjectId(subjectId),
    fields: names(fields),
    via: names(via),
  });
};

/**
 * The outbox's idempotency key: one message per kind, subject and period (ADR 0011). The parts
 * are joined with the unit separator (U+001F; PostgreSQL text cannot hold NUL), which none of them
 * contains.
 */
export const dedupeKeyOf = (m: { kind: string; subjectId: string | null; period: string }): string =>
  `${m.kind}\u001f${m.subjectId ?? ""}\u001f${m.period}`;
