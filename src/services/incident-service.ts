/**
 * Incidents (PIPA Art. 34; Decree Arts. 39–40; Credit Information Act Art. 39-4; ADR 0010): open
 * one from a detection alert, by hand or from an outside report; record facts and containment;
 * compute its scope from the audit log (and the provision ledger); prepare and deliver the notices
 * and reports its duties call for; show the 72-hour clock on every answer.
 *
 * Every act is audited before it takes effect (ADR 0003) and appended to the incident's timeline
 * with the audit entry's seq: the timeline is the 72-hour proof. Only operator principals act on
 * incidents. Nothing here logs; notices hold no value of a person's, and a person's address is
 * read from the vault only when a message is handed over, each read audited.
 */
import crypto from "node:crypto";
import { effectAndFieldsOf, parseCanonical } from "../audit/canonical.js";
import type { AuditLog } from "../audit/audit-log.js";
import type { AuditEntry } from "../audit/audit-types.js";
import type { Catalog } from "../core/catalog/catalog-schema.js";
import { isOperatorPrincipal } from "../core/console/console-roles.js";
import { HaechiError } from "../core/errors.js";
import type { Idempotency } from "../core/idempotency/idempotency-fns.js";
import type { SubjectId } from "../core/ids.js";
import {
  computeDuties,
  countsWrites,
  deadlineOf,
  itemsKnown,
  lawVersionAt,
  timeLeft,
  type Duty,
  type LawVersion,
} from "../core/incident/duty-fns.js";
import {
  emptyFacts,
  type Bilingual,
  type ContainmentMeasure,
  type ExternalChannel,
  type IncidentEvent,
  type IncidentFacts,
  type IncidentKind,
  type IncidentNoticeRow,
  type IncidentRow,
  type IncidentScope,
  type IncidentSource,
  type IncidentStatus,
  type NewIncidentEvent,
  type NoticeAudience,
  type NoticeKind,
  type OutboxCount,
  type OutboxRow,
  type OutboxStatus,
  type PossibleGround,
} from "../core/incident/incident-types.js";
import { firstNoticeKind, noticeContextOf, renderReport, renderSubjectNotice, type NoticeContext, type RenderedNotice } from "../core/incident/notice-fns.js";
import { scopeAccumulator } from "../core/incident/scope-fns.js";
import type { AuditRow, AuditStore, DataStore, IdempotencyRow, IncidentStore, KeyStore, NoticeTransport, ProvisionStore } from "../core/ports.js";
import { openField } from "../crypto/envelope.js";
import { randomBytes } from "../crypto/random.js";
import type { SubjectKeys } from "../crypto/subject-keys.js";
import { entryBase, type BaseDeps, type RequestContext } from "./service-types.js";

export type IncidentServiceDeps = Omit<BaseDeps, "audit"> & {
  /** Address reads are audited in bulk, one entry per message. */
  audit: Pick<AuditLog, "record" | "recordMany">;
  incidents: IncidentStore;
  auditStore: Pick<AuditStore, "byPrincipal" | "detectionAlerts" | "iterate" | "head">;
  /** Waits until every entry recorded so far is in the store, so a scope sees them. */
  flushAudit: () => Promise<void>;
  keys: Pick<KeyStore, "findByAuditRefs" | "getMany">;
  /** Audit references of the canary (decoy) subjects (ADR 0009): left out of the people in a scope. Absent: none. */
  canaryRefs?: () => Promise<readonly string[]>;
  data: Pick<DataStore, "getSubject" | "getFields" | "getDormantFields" | "fieldsHeld">;
  provisions: Pick<ProvisionStore, "ledgerByRecipient">;
  subjectKeys: Pick<SubjectKeys, "get">;
  transport: NoticeTransport;
  /** Audit entries or ledger rows per read while scoping (default 10,000). */
  pageSize?: number;
};

// ---------------------------------------------------------------- inputs

export interface FactsInput {
  circumstances?: Bilingual;
  occurredFrom?: string;
  occurredTo?: string;
  intrusion?: boolean;
  possibleGround?: PossibleGround;
  advice?: Bilingual;
}
export interface ScopeInput {
  from?: string;
  to?: string;
  principals?: string[];
  recipients?: string[];
}
export type SourceInput =
  | { type: "alert"; auditSeq?: number; alertId?: string }
  | { type: "manual"; note?: string }
  | { type: "external"; channel: ExternalChannel; reporter?: string; reference?: string };
export interface OpenInput {
  kind: IncidentKind;
  summary: string;
  source: SourceInput;
  awareAt?: string;
  facts?: FactsInput;
  scope?: ScopeInput;
}
export interface RecordInput {
  facts?: FactsInput;
  containment?: { measure: ContainmentMeasure; description: string; at?: string }[];
  riskReduced?: { reason: string };
  /** A possible breach confirmed as this kind. */
  confirm?: { kind: Exclude<IncidentKind, "possible"> };
  /** A possible breach found not to be one. */
  noBreach?: boolean;
  close?: boolean;
}

// ---------------------------------------------------------------- views

export interface DutyView extends Duty {
  status: "not_required" | "pending" | "done";
  /** When the notices or report were handed over; null while pending. */
  doneAt: string | null;
  onTime: boolean | null;
}
export interface IncidentSummaryView {
  id: string;
  kind: IncidentKind;
  status: IncidentStatus;
  summary: string;
  source: IncidentSource;
  awareAt: string;
  openedAt: string;
  openedBy: string;
  deadline: string;
  timeLeft: { ms: number; text: string; overdue: boolean };
  law: LawVersion;
  people: IncidentScope["people"] | null;
  closedAt: string | null;
}
export interface IncidentView extends IncidentSummaryView {
  facts: IncidentFacts;
  scope: IncidentScope | null;
  duties: DutyView[];
  notices: {
    counts: OutboxCount[];
    documents: { id: string; kind: NoticeKind; audience: NoticeAudience; title: string; sha256: string; recipients: number; createdAt: string; postUntil: string | null }[];
  };
  timeline: { seq: number; at: string; actor: string; act: IncidentEvent["act"]; detail: Record<string, unknown>; auditSeq: number }[];
}
/** A round of notices to people: the incident, what the round was and how its delivery went. */
export type NotifyResult = IncidentView & {
  round: { kind: NoticeKind; people: number; byChannel: Record<string, number>; withoutContact: number; posting: boolean; sent: number; failed: number };
};
/** What a round queued under an idempotency key claims: the round as prepared and its notices. */
interface RoundClaim {
  round: Omit<NotifyResult["round"], "sent" | "failed">;
  notices: string[];
}
export interface OutboxMessageView {
  id: string;
  noticeId: string;
  kind: NoticeKind;
  audience: NoticeAudience;
  channel: string;
  /** The address (operators' pickup only): read from the vault now, audited. Null for postings, reports, and people erased since. */
  to: string | null;
  title: string;
  body: string;
  status: OutboxStatus;
  queuedAt: string;
  sentAt: string | null;
  proof: string | null;
  error: string | null;
}

const newId = (prefix: string) => `${prefix}_${randomBytes(12).toString("base64url")}`;
const sha256 = (s: string) => crypto.createHash("sha256").update(s).digest("hex");
const POSTING_DAYS = 30;
const DAY = 24 * 3600_000;
/** How far before an alert the scope looks when neither the alert nor the caller gives a start. */
const ALERT_LOOKBACK_MS = DAY;

const invalid = (message: string, details?: unknown): never => {
  throw new HaechiError("VALIDATION_FAILED", message, details);
};
const parseTime = (v: string | undefined, name: string): Date | undefined => {
  if (v === undefined) return undefined;
  const d = new Date(v);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(v) || Number.isNaN(d.getTime())) invalid(`${name} must be an ISO 8601 date-time (e.g. 2026-11-20T09:00:00Z), got "${v}"`);
  return d;
};

export const incidentService = (deps: IncidentServiceDeps) => {
  const pageSize = deps.pageSize ?? 10_000;

  /** Operators only (the role the catalog gives the privacy office); anything else is denied and audited. */
  const authorize = async (ctx: RequestContext, action: string, meta?: Record<string, string | number | boolean>): Promise<Catalog> => {
    const catalog = deps.catalog.current();
    if (isOperatorPrincipal(catalog, ctx.principal)) return catalog;
    await deps.audit.record({
      ...entryBase(ctx, deps.clock.now()),
      action,
      effect: "deny",
      purpose: null,
      subjectRef: null,
      fields: [],
      reasons: ["ROLE_NOT_PERMITTED"],
      ...(meta ? { meta } : {}),
    });
    throw new HaechiError("ACCESS_DENIED", `principal "${ctx.principal}" is not an operator: incidents are handled by operator principals`, {
      reasons: [{ code: "ROLE_NOT_PERMITTED", message: "incident endpoints need an operator principal" }],
    });
  };

  /** Audits an act (before its effect) and returns the timeline event that names the entry. */
  const audited = async (
    ctx: RequestContext,
    at: Date,
    action: string,
    act: NewIncidentEvent["act"],
    incidentId: string,
    detail: Record<string, string | number | boolean | null>,
  ): Promise<NewIncidentEvent> => {
    const auditSeq = await deps.audit.record({
      ...entryBase(ctx, at),
      action,
      effect: "allow",
      purpose: null,
      subjectRef: null,
      fields: [],
      reasons: [],
      meta: { incident: incidentId, ...detail },
    });
    return { at, actor: ctx.principal, act, detail, auditSeq };
  };

  const load = async (id: string): Promise<IncidentRow> => {
    const row = await deps.incidents.get(id);
    if (row === undefined) throw new HaechiError("NOT_FOUND", `incident ${id} not found`);
    return row;
  };
  const requireOpen = (row: IncidentRow) => {
    if (row.status === "closed") throw new HaechiError("CONFLICT", `incident ${row.id} is closed (${row.closedAt?.toISOString()}); open a new one for new facts`);
  };

  // ---------------------------------------------------------------- alerts

  /** The `detection.alert` entry an incident is opened from, by audit seq or by alert id. */
  const findAlert = async (source: { auditSeq?: number; alertId?: string }): Promise<{ row: AuditRow; entry: AuditEntry }> => {
    const parse = (row: AuditRow) => {
      try {
        return parseCanonical(row.body);
      } catch {
        throw new HaechiError("AUDIT_TAMPERED", `audit entry #${row.seq} is not in canonical form; verify the audit log`);
      }
    };
    if (source.auditSeq !== undefined) {
      let row: AuditRow | undefined;
      for await (const page of deps.auditStore.iterate(source.auditSeq - 1, 1)) {
        row = page[0];
        break;
      }
      if (row === undefined || row.seq !== source.auditSeq) throw new HaechiError("NOT_FOUND", `there is no audit entry #${source.auditSeq}`);
      if (row.action !== "detection.alert") {
        throw new HaechiError("VALIDATION_FAILED", `audit entry #${source.auditSeq} is a ${row.action} entry, not a detection.alert: give the seq of the alert's entry`);
      }
      const entry = parse(row);
      if (source.alertId !== undefined && !alertMatches(entry, source.alertId)) {
        throw new HaechiError("VALIDATION_FAILED", `audit entry #${source.auditSeq} is not alert ${source.alertId}`);
      }
      return { row, entry };
    }
    const id = source.alertId!;
    for (let after = 0; ; ) {
      const rows = await deps.auditStore.detectionAlerts(after, 1000);
      for (const row of rows) {
        const entry = parse(row);
        if (alertMatches(entry, id)) return { row, entry };
      }
      if (rows.length < 1000) break;
      after = rows[rows.length - 1]!.seq;
    }
    throw new HaechiError("NOT_FOUND", `no detection.alert entry in the audit log has alert id "${id}"`);
  };
  /** The detection branch records the alert's id in `meta.alert`; `alertId`, `id` and the request id are accepted too. */
  const alertMatches = (e: AuditEntry, id: string) =>
    e.requestId === id || [e.meta?.alert, e.meta?.alertId, e.meta?.id].some((v) => v === id);

  // ---------------------------------------------------------------- scope

  const checkNames = (catalog: Catalog, s: ScopeInput) => {
    const principals = [...new Set(s.principals ?? [])];
    const recipients = [...new Set(s.recipients ?? [])];
    if (principals.length + recipients.length === 0) invalid("scope needs at least one principal or recipient whose access or provisions to trace");
    const unknownP = principals.filter((p) => catalog.principals[p] === undefined);
    if (unknownP.length > 0) invalid(`unknown principal${unknownP.length > 1 ? "s" : ""} ${unknownP.map((p) => `"${p}"`).join(", ")}: not in the catalog`, { principals: unknownP });
    const unknownR = recipients.filter((r) => catalog.recipients[r] === undefined);
    if (unknownR.length > 0) invalid(`unknown recipient${unknownR.length > 1 ? "s" : ""} ${unknownR.map((r) => `"${r}"`).join(", ")}: not in the catalog`, { recipients: unknownR });
    return { principals, recipients };
  };

  const windowOf = (s: ScopeInput, now: Date, defaultFrom?: Date): { from: Date; to: Date } => {
    const from = parseTime(s.from, "scope.from") ?? defaultFrom ?? invalid("scope.from is required: the start of the window to trace");
    const to = parseTime(s.to, "scope.to") ?? now;
    if (from.getTime() >= to.getTime()) invalid(`scope.from (${from.toISOString()}) must be before scope.to (${to.toISOString()})`);
    return { from, to };
  };

  /** The scope over the audit log and the provision ledger; one pass over the key store. */
  const computeScope = async (
    catalog: Catalog,
    kind: IncidentKind,
    names: { principals: string[]; recipients: string[] },
    window: { from: Date; to: Date },
  ) => {
    await deps.flushAudit();
    const head = (await deps.auditStore.head())?.seq ?? 0;
    const acc = scopeAccumulator({ writes: countsWrites(kind) });
    const fieldLists = new Map<string, string[]>();
    for (const principal of names.principals) {
      const page = (after: { at: Date; seq: number } | null) => deps.auditStore.byPrincipal(principal, window.from, window.to, after, pageSize);
      let next = page(null);
      for (;;) {
        const rows = await next;
        const full = rows.length === pageSize;
        if (full) {
          // The next page is asked for before this one is parsed: a server reads it meanwhile
          // (PostgreSQL; on SQLite the read is synchronous either way). A failure here is
          // the loop's to report, not an unhandled rejection if the parse throws first.
          const last = rows[rows.length - 1]!;
          next = page({ at: last.at, seq: last.seq });
          next.catch(() => undefined);
        }
        for (const row of rows) {
          // Parse only what may count: the action and the reference are columns.
          if (row.subjectRef === null || !acc.counts({ action: row.action, effect: "allow", subjectRef: row.subjectRef })) continue;
          const { effect, fields } = effectAndFieldsOf(row.body, fieldLists);
          acc.addEntry({ at: row.at, principal, subjectRef: row.subjectRef, action: row.action, effect, fields });
        }
        if (!full) break;
      }
    }
    for (const recipient of names.recipients) {
      let after: { provisionId: string; subjectId: SubjectId } | null = null;
      for (;;) {
        const rows = await deps.provisions.ledgerByRecipient(recipient, after, pageSize);
        for (const r of rows) {
          if (r.at < window.from || r.at >= window.to) continue;
          acc.addProvision({ at: r.at, recipient, subjectId: r.subjectId, fields: r.fields });
        }
        if (rows.length < pageSize) break;
        const last = rows[rows.length - 1]!;
        after = { provisionId: last.provisionId, subjectId: last.subjectId };
      }
    }
    const decoys = new Set(await deps.canaryRefs?.());
    const resolved = await deps.keys.findByAuditRefs(acc.refs().filter((r) => !decoys.has(r)) as never[]);
    return acc.finish({
      decoys,
      resolved: resolved as ReadonlyMap<string, SubjectId>,
      window: { from: window.from.toISOString(), to: window.to.toISOString() },
      principals: names.principals,
      recipients: names.recipients,
      computedAt: deps.clock.now(),
      auditHead: head,
      sensitivityOf: (f) => catalog.fields[f]?.sensitivity,
    });
  };

  /**
   * Computes and stores a scope; returns the incident as it leaves it. `answer` turns that into
   * the idempotency key's answer, stored with the scope.
   */
  const storeScope = async (
    ctx: RequestContext,
    catalog: Catalog,
    row: IncidentRow,
    input: ScopeInput,
    defaultFrom?: Date,
    answer?: (view: IncidentView) => IdempotencyRow,
  ): Promise<IncidentView> => {
    const names = checkNames(catalog, input);
    const now = deps.clock.now();
    const window = windowOf(input, now, defaultFrom);
    const { scope, subjects } = await computeScope(catalog, row.kind, names, window);
    const event = await audited(ctx, deps.clock.now(), "incident.scope", "scoped", row.id, {
      from: scope.window.from,
      to: scope.window.to,
      principals: scope.principals.join(","),
      recipients: scope.recipients.join(","),
      people: scope.people.total,
      linked: scope.people.linked,
      unlinkable: scope.people.unlinkable,
      credit: scope.people.credit,
      fields: scope.fields.map((f) => f.field).join(","),
      auditHead: scope.auditHead,
    });
    const show = await viewAfter(row.id);
    const next: IncidentRow = { ...row, scope, updatedAt: event.at };
    const appended = await deps.incidents.putScope(row.id, scope, subjects, event, answer && ((ev) => answer(show(next, [ev]))));
    return show(next, [appended]);
  };

  // ---------------------------------------------------------------- facts

  const applyFacts = (facts: IncidentFacts, input: FactsInput | undefined): IncidentFacts => {
    if (input === undefined) return facts;
    const from = parseTime(input.occurredFrom, "facts.occurredFrom");
    const to = parseTime(input.occurredTo, "facts.occurredTo");
    const next: IncidentFacts = {
      ...facts,
      ...(input.circumstances !== undefined ? { circumstances: input.circumstances } : {}),
      ...(from !== undefined ? { occurredFrom: from.toISOString() } : {}),
      ...(to !== undefined ? { occurredTo: to.toISOString() } : {}),
      ...(input.intrusion !== undefined ? { intrusion: input.intrusion } : {}),
      ...(input.possibleGround !== undefined ? { possibleGround: input.possibleGround } : {}),
      ...(input.advice !== undefined ? { advice: input.advice } : {}),
    };
    if (next.occurredFrom !== null && next.occurredTo !== null && next.occurredFrom > next.occurredTo) {
      invalid(`facts.occurredFrom (${next.occurredFrom}) is after facts.occurredTo (${next.occurredTo})`);
    }
    return next;
  };

  // ---------------------------------------------------------------- views

  const summaryOf = (row: IncidentRow, now: Date): IncidentSummaryView => ({
    id: row.id,
    kind: row.kind,
    status: row.status,
    summary: row.summary,
    source: row.source,
    awareAt: row.awareAt.toISOString(),
    openedAt: row.openedAt.toISOString(),
    openedBy: row.openedBy,
    deadline: row.deadline.toISOString(),
    timeLeft: timeLeft(row.deadline, now),
    law: lawVersionAt(row.awareAt),
    people: row.scope?.people ?? null,
    closedAt: row.closedAt?.toISOString() ?? null,
  });

  /** Duties with what has been done about them, from the notices, the outbox and the timeline. */
  const dutyViews = (row: IncidentRow, notices: IncidentNoticeRow[], counts: OutboxCount[], events: IncidentEvent[]): DutyView[] => {
    const lastNotify = [...events].reverse().find((e) => e.act === "notices_queued" && e.detail.round === "people");
    const withoutContact = typeof lastNotify?.detail.withoutContact === "number" ? lastNotify.detail.withoutContact : null;
    const duties = computeDuties({ kind: row.kind, awareAt: row.awareAt, facts: row.facts, scope: row.scope, withoutContact });
    // Failed deliveries are owed again (the next notify resends them): the latest round must have had none.
    const lastSent = [...events].reverse().find((e) => e.act === "notices_sent" && e.detail.round === "people");
    const pending = (audiences: NoticeAudience[]) =>
      counts.some((c) => audiences.includes(c.audience) && c.status === "queued" && c.count > 0) ||
      (audiences.includes("subject") && typeof lastSent?.detail.failed === "number" && lastSent.detail.failed > 0);
    const sentAt = (kinds: NoticeKind[], audience: NoticeAudience): string | null => {
      const docs = notices.filter((n) => kinds.includes(n.kind) && n.audience === audience);
      if (docs.length === 0 || pending([audience])) return null;
      return docs[docs.length - 1]!.createdAt.toISOString();
    };
    /**
     * When the latest round to people was handed over, if it was of one of these kinds, owed
     * nothing more (a partial notice owes its follow-up), covered the current scope and left
     * nothing pending.
     */
    const roundDone = (kinds: NoticeKind[]): string | null =>
      lastNotify !== undefined &&
      kinds.includes(lastNotify.detail.kind as NoticeKind) &&
      lastNotify.detail.pendingKind === null &&
      (row.scope === null || lastNotify.detail.scopeComputedAt === row.scope.computedAt) &&
      !pending(["subject", "public"])
        ? lastNotify.at.toISOString()
        : null;
    return duties.map((d): DutyView => {
      let doneAt: string | null = null;
      switch (d.code) {
        case "NOTIFY_SUBJECTS":
          doneAt = roundDone(["full", "followup"]);
          break;
        case "NOTIFY_POSSIBLE_BREACH":
          doneAt = roundDone(["possible"]);
          break;
        case "NOTIFY_NO_BREACH":
          doneAt = roundDone(["no_breach"]);
          break;
        case "WEBSITE_POSTING":
          doneAt = sentAt(["full", "partial", "followup", "possible"], "public");
          break;
        case "REPORT_PIPC_KISA":
          doneAt = sentAt(["report", "partial_report"], "pipc_kisa");
          break;
        case "REPORT_FSC_FSS":
          doneAt = sentAt(["report", "partial_report"], "fsc_fss");
          break;
      }
      const status = !d.required ? "not_required" : doneAt !== null ? "done" : "pending";
      return { ...d, status, doneAt: d.required ? doneAt : null, onTime: d.required && doneAt !== null && d.due !== null ? doneAt <= d.due : null };
    });
  };

  const viewOf = async (row: IncidentRow): Promise<IncidentView> => (await viewAfter(row.id))(row, []);

  /**
   * The incident's timeline, notices and outbox counts as they stand, and a function giving the
   * view of the incident after a change that appends `appended` to the timeline: the answer a
   * change leaves, built in its transaction for an idempotency key and returned alike.
   */
  const viewAfter = async (id: string): Promise<(row: IncidentRow, appended: readonly IncidentEvent[]) => IncidentView> => {
    const [events, notices, counts] = await Promise.all([deps.incidents.events(id), deps.incidents.notices(id), deps.incidents.outboxCounts(id)]);
    const now = deps.clock.now();
    return (row, appended) => viewWith(row, [...events, ...appended], notices, counts, now);
  };

  const viewWith = (row: IncidentRow, events: IncidentEvent[], notices: IncidentNoticeRow[], counts: OutboxCount[], now: Date): IncidentView => {
    return {
      ...summaryOf(row, now),
      facts: row.facts,
      scope: row.scope,
      duties: dutyViews(row, notices, counts, events),
      notices: {
        counts,
        documents: notices.map((n) => ({
          id: n.id,
          kind: n.kind,
          audience: n.audience,
          title: n.title,
          sha256: n.sha256,
          recipients: n.recipients,
          createdAt: n.createdAt.toISOString(),
          postUntil: n.postUntil?.toISOString() ?? null,
        })),
      },
      timeline: events.map((e) => ({ seq: e.seq, at: e.at.toISOString(), actor: e.actor, act: e.act, detail: e.detail, auditSeq: e.auditSeq })),
    };
  };

  // ---------------------------------------------------------------- delivery

  /** A person's address in a contact field, or null (erased since, or the value is gone). */
  const addressOf = async (subjectId: SubjectId, field: string): Promise<string | null> => {
    const subject = await deps.data.getSubject(subjectId);
    if (subject === undefined || subject.status === "erased") return null;
    const stored = subject.status === "dormant" ? await deps.data.getDormantFields(subjectId, [field]) : await deps.data.getFields(subjectId, [field]);
    const key = stored.length > 0 ? await deps.subjectKeys.get(subjectId) : undefined;
    if (key === undefined || stored[0] === undefined) return null;
    const v = openField(key.dek, subjectId, field, stored[0].ciphertext);
    return typeof v === "string" ? v : String(v);
  };

  /** Audits each address read (the person's reference, the field, why): one entry per message. */
  const auditAddressReads = async (ctx: RequestContext, incidentId: string, action: string, reads: { subjectId: SubjectId; field: string; found: boolean }[]) => {
    if (reads.length === 0) return;
    const now = deps.clock.now();
    const entries = await Promise.all(
      reads.map(async (r) => ({
        ...entryBase(ctx, now),
        action,
        effect: r.found ? ("allow" as const) : ("info" as const),
        purpose: null,
        subjectRef: (await deps.subjectKeys.get(r.subjectId))?.auditRef ?? null,
        fields: [r.field],
        reasons: r.found ? ["PIPA_ART_34_1"] : ["NO_ADDRESS"],
        meta: { incident: incidentId },
      })),
    );
    await deps.audit.recordMany(entries);
  };

  /** Hands the queued messages to the transport and records what it says, with one timeline event. */
  const deliverQueued = async (ctx: RequestContext, row: IncidentRow, act: NewIncidentEvent["act"], detail: Record<string, string | number | boolean | null>) => {
    const notices = new Map((await deps.incidents.notices(row.id)).map((n) => [n.id, n]));
    let sent = 0;
    let failed = 0;
    for (;;) {
      const queued = await deps.incidents.outbox(row.id, { status: "queued", limit: 1000 });
      if (queued.length === 0) break;
      const addresses = new Map<string, string | null>();
      if (deps.transport.needsAddress) {
        const reads: { subjectId: SubjectId; field: string; found: boolean }[] = [];
        for (const m of queued) {
          if (m.subjectId === null) continue;
          const to = await addressOf(m.subjectId, m.channel);
          addresses.set(m.id, to);
          reads.push({ subjectId: m.subjectId, field: m.channel, found: to !== null });
        }
        await auditAddressReads(ctx, row.id, "incident.notice.deliver", reads);
      }
      const website = deps.catalog.current().incident_response?.website ?? null;
      const results = await deps.transport.deliver(
        queued.map((m) => {
          const n = notices.get(m.noticeId)!;
          const to = m.subjectId !== null ? (addresses.get(m.id) ?? null) : m.channel === "website" ? website : null;
          return { id: m.id, incidentId: row.id, channel: m.channel, to, title: n.title, body: n.body };
        }),
      );
      const at = deps.clock.now();
      const byId = new Map(results.map((r) => [r.id, r]));
      const updates = queued.map((m) => {
        const r = byId.get(m.id);
        const ok = r !== undefined && r.error === null && r.proof !== null;
        if (ok) sent += 1;
        else failed += 1;
        return { id: m.id, status: ok ? ("sent" as const) : ("failed" as const), at, proof: ok ? r.proof : null, error: ok ? null : (r?.error ?? "NO_RESULT") };
      });
      const event = await audited(ctx, at, "incident.deliver", act, row.id, { ...detail, transport: deps.transport.name, sent, failed });
      await deps.incidents.markOutbox(row.id, updates, event);
      if (queued.length < 1000) break;
    }
    return { sent, failed };
  };

  /**
   * Delivers a round queued to people and answers for it: the round as prepared, and how many of
   * its messages were handed over and how many failed (read from the outbox, so a retry that
   * finishes the round answers as the first attempt would have). Stored as the key's answer.
   */
  const finishRound = async (ctx: RequestContext, row: IncidentRow, claim: RoundClaim, idem: Idempotency<NotifyResult> | undefined): Promise<NotifyResult> => {
    await deliverQueued(ctx, row, "notices_sent", { round: "people", kind: claim.round.kind });
    const ofRound = new Set(claim.notices);
    let sent = 0;
    let failed = 0;
    for (let after: string | undefined; ; ) {
      const page = await deps.incidents.outbox(row.id, { limit: 5000, ...(after ? { afterId: after } : {}) });
      for (const m of page) {
        if (!ofRound.has(m.noticeId)) continue;
        if (m.status === "sent") sent += 1;
        else if (m.status === "failed") failed += 1;
      }
      if (page.length < 5000) break;
      after = page[page.length - 1]!.id;
    }
    const result: NotifyResult = { ...(await viewOf(await load(row.id))), round: { ...claim.round, sent, failed } };
    await idem?.complete(result);
    return result;
  };

  /** Delivers the reports queued and answers with the incident (stored as the key's answer). */
  const finishReport = async (ctx: RequestContext, row: IncidentRow, authorities: readonly string[], idem: Idempotency<IncidentView> | undefined): Promise<IncidentView> => {
    await deliverQueued(ctx, row, "report_filed", { round: "report", authorities: authorities.join(",") });
    const view = await viewOf(await load(row.id));
    await idem?.complete(view);
    return view;
  };

  // ---------------------------------------------------------------- the service

  return {
    /** POST /v1/incidents: awareness starts the 72-hour clock. */
    async open(ctx: RequestContext, input: OpenInput, idem?: Idempotency<IncidentView>): Promise<IncidentView> {
      const catalog = await authorize(ctx, "incident.open");
      const now = deps.clock.now();
      // A retry of an opening recorded under this key whose scope did not answer: trace it now.
      const begun = idem?.pending as { incident: string; scope: ScopeInput; defaultFrom: string | null } | undefined;
      if (begun !== undefined) {
        const row = await load(begun.incident);
        if (row.scope !== null) {
          const view = await viewOf(row);
          await idem!.complete(view);
          return view;
        }
        return storeScope(ctx, catalog, row, begun.scope, begun.defaultFrom === null ? undefined : new Date(begun.defaultFrom), (v) => idem!.answer(v));
      }
      if (input.summary.trim() === "") invalid("summary must say in a line what happened (no personal data)");
      let source: IncidentSource;
      let alertAt: Date | undefined;
      let alertPrincipal: string | undefined;
      let alertWindowStart: Date | undefined;
      switch (input.source.type) {
        case "alert": {
          if (input.source.auditSeq === undefined && input.source.alertId === undefined)
            invalid("source.type alert needs source.auditSeq (the alert's audit entry) or source.alertId");
          const { row, entry } = await findAlert(input.source);
          alertAt = row.at;
          const p = entry.meta?.principal ?? entry.principal;
          // Only a principal the catalog still knows defaults the scope (else the caller names one).
          alertPrincipal = typeof p === "string" && catalog.principals[p] !== undefined ? p : undefined;
          const ws = entry.meta?.windowStart;
          alertWindowStart = typeof ws === "string" && !Number.isNaN(Date.parse(ws)) ? new Date(ws) : undefined;
          const alertId = entry.meta?.alert ?? entry.meta?.alertId ?? input.source.alertId ?? null;
          const rule = entry.meta?.rule;
          source = { type: "alert", auditSeq: row.seq, alertId: typeof alertId === "string" ? alertId : null, rule: typeof rule === "string" ? rule : null };
          break;
        }
        case "manual":
          source = { type: "manual", note: input.source.note ?? null };
          break;
        case "external":
          source = { type: "external", channel: input.source.channel, reporter: input.source.reporter ?? null, reference: input.source.reference ?? null };
          break;
      }
      const awareAt = parseTime(input.awareAt, "awareAt") ?? alertAt ?? now;
      if (awareAt.getTime() > now.getTime() + 60_000) invalid(`awareAt (${awareAt.toISOString()}) is in the future`);
      const facts = applyFacts(emptyFacts(), input.facts);
      if (facts.possibleGround !== null && input.kind !== "possible") invalid("facts.possibleGround applies only to kind possible");
      // From an alert, the scope defaults to the alerted principal, from the alert's window.
      const scopeInput: ScopeInput | undefined =
        input.scope !== undefined || alertPrincipal !== undefined
          ? { ...input.scope, principals: input.scope?.principals ?? (alertPrincipal !== undefined ? [alertPrincipal] : undefined) }
          : undefined;
      const defaultFrom = alertWindowStart ?? (alertAt ? new Date(alertAt.getTime() - ALERT_LOOKBACK_MS) : undefined);
      // Checked before anything is written: a bad scope refuses the whole request.
      if (scopeInput !== undefined) {
        checkNames(catalog, scopeInput);
        windowOf(scopeInput, now, defaultFrom);
      }
      const id = newId("inc");
      const row: IncidentRow = {
        id,
        kind: input.kind,
        status: "open",
        source,
        summary: input.summary.trim(),
        awareAt,
        deadline: deadlineOf(awareAt),
        openedAt: now,
        openedBy: ctx.principal,
        facts,
        scope: null,
        updatedAt: now,
        closedAt: null,
      };
      const event = await audited(ctx, now, "incident.open", "opened", id, {
        kind: row.kind,
        source: source.type,
        ...(source.type === "external" ? { channel: source.channel } : {}),
        ...(source.type === "alert" ? { alertSeq: source.auditSeq } : {}),
        awareAt: awareAt.toISOString(),
        deadline: row.deadline.toISOString(),
      });
      if (scopeInput === undefined) {
        const shown = (ev: IncidentEvent) => viewWith(row, [ev], [], [], now);
        return shown(await deps.incidents.insert(row, event, idem && ((ev) => idem.answer(shown(ev)))));
      }
      // Opened and then traced: the opening claims the key, the stored scope answers it (a retry
      // in between traces the scope of this incident rather than opening a second one).
      const claim = { incident: id, scope: scopeInput, defaultFrom: defaultFrom?.toISOString() ?? null };
      await deps.incidents.insert(row, event, idem && (() => idem.claim(claim)));
      return storeScope(ctx, catalog, row, scopeInput, defaultFrom, idem && ((v) => idem.answer(v)));
    },

    async list(ctx: RequestContext, filter: { status?: IncidentStatus; limit?: number } = {}): Promise<IncidentSummaryView[]> {
      await authorize(ctx, "incident.list");
      const now = deps.clock.now();
      return (await deps.incidents.list({ ...(filter.status ? { status: filter.status } : {}), limit: filter.limit ?? 100 })).map((r) => summaryOf(r, now));
    },

    async get(ctx: RequestContext, id: string): Promise<IncidentView> {
      await authorize(ctx, "incident.read", { incident: id });
      return viewOf(await load(id));
    },

    /** Facts, containment, the risk-reduced finding, a possible breach confirmed or dismissed, closing: each its own act. */
    async record(ctx: RequestContext, id: string, input: RecordInput, idem?: Idempotency<IncidentView>): Promise<IncidentView> {
      await authorize(ctx, "incident.record", { incident: id });
      let row = await load(id);
      requireOpen(row);
      const nothing = input.facts === undefined && input.containment === undefined && input.riskReduced === undefined && input.confirm === undefined && !input.noBreach && !input.close;
      if (nothing) invalid("nothing to record: give facts, containment, riskReduced, confirm, noBreach or close");
      if (input.confirm !== undefined && row.kind !== "possible") invalid(`confirm applies to a possible breach; incident ${id} is a ${row.kind}`);
      if (input.noBreach && row.kind !== "possible") invalid(`noBreach applies to a possible breach; incident ${id} is a ${row.kind}`);
      if (input.confirm !== undefined && input.noBreach) invalid("confirm and noBreach contradict each other");
      const now = deps.clock.now();
      const containment = (input.containment ?? []).map((c) => {
        if (c.description.trim() === "") invalid(`containment ${c.measure}: describe what was done`);
        const at = parseTime(c.at, "containment.at") ?? now;
        if (at.getTime() > now.getTime() + 60_000) invalid(`containment ${c.measure}: at (${at.toISOString()}) is in the future`);
        return { measure: c.measure, description: c.description.trim(), at: at.toISOString() };
      });
      if (input.riskReduced !== undefined) {
        if (input.riskReduced.reason.trim() === "") invalid("riskReduced.reason must say how the risk was made substantially lower (Decree 40(1) proviso)");
        const all = [...row.facts.containment, ...containment];
        if (!all.some((c) => c.measure === "retrieved" || c.measure === "deleted")) {
          invalid("riskReduced needs the leaked data retrieved or deleted first (Decree 40(1) proviso): record a containment measure retrieved or deleted");
        }
      }
      const facts = applyFacts(row.facts, input.facts);
      if (facts.possibleGround !== null && row.kind !== "possible" && input.facts?.possibleGround !== undefined) invalid("facts.possibleGround applies only to kind possible");
      // Each act is audited on its own (in order); then they are recorded together, in one change
      // with their timeline events (and the key's answer): all of them or none.
      const events: NewIncidentEvent[] = [];
      const step = async (act: NewIncidentEvent["act"], action: string, patch: Partial<Pick<IncidentRow, "kind" | "facts" | "status" | "closedAt">>, detail: Record<string, string | number | boolean | null>) => {
        const at = deps.clock.now();
        events.push(await audited(ctx, at, action, act, id, detail));
        row = { ...row, ...patch, updatedAt: at };
      };
      if (input.facts !== undefined) {
        await step("facts", "incident.facts", { facts }, {
          changed: Object.keys(input.facts).sort().join(","),
          intrusion: facts.intrusion,
          itemsKnown: itemsKnown(facts, row.scope),
        });
      }
      if (containment.length > 0) {
        await step("containment", "incident.containment", { facts: { ...row.facts, containment: [...row.facts.containment, ...containment] } }, {
          measures: containment.map((c) => c.measure).join(","),
        });
      }
      if (input.riskReduced !== undefined) {
        await step("risk_reduced", "incident.risk_reduced", { facts: { ...row.facts, riskReduced: { reason: input.riskReduced.reason.trim(), at: now.toISOString() } } }, {
          reason: input.riskReduced.reason.trim(),
        });
      }
      if (input.confirm !== undefined) {
        await step("confirmed", "incident.confirm", { kind: input.confirm.kind, facts: { ...row.facts, confirmedAt: now.toISOString() } }, { kind: input.confirm.kind });
      }
      if (input.noBreach) {
        await step("no_breach", "incident.no_breach", { facts: { ...row.facts, noBreachAt: now.toISOString() } }, {});
      }
      if (input.close) await step("closed", "incident.close", { status: "closed", closedAt: deps.clock.now() }, {});
      const show = await viewAfter(id);
      const next = row;
      const patch = { kind: next.kind, facts: next.facts, status: next.status, closedAt: next.closedAt, updatedAt: next.updatedAt };
      return show(next, await deps.incidents.update(id, patch, events, idem && ((evs) => idem.answer(show(next, evs)))));
    },

    /** POST /v1/incidents/{id}/scope: (re)compute who, what, through whom and when, from the audit log. */
    async scope(ctx: RequestContext, id: string, input: ScopeInput, idem?: Idempotency<IncidentView>): Promise<IncidentView> {
      const catalog = await authorize(ctx, "incident.scope", { incident: id });
      const row = await load(id);
      requireOpen(row);
      return storeScope(ctx, catalog, row, input, undefined, idem && ((v) => idem.answer(v)));
    },

    /**
     * POST /v1/incidents/{id}/notices: prepare the notices the facts call for and hand them to the
     * transport. Everyone in the scope not yet told gets the first notice (full, partial or
     * possible); those who had a partial one get the follow-up once items 1–2 are known; after
     * "no breach", those told of a possible breach hear so. People without a contact field, and
     * people erased since (unlinkable), are reached by the website posting (≥ 30 days).
     */
    async notify(ctx: RequestContext, id: string, idem?: Idempotency<NotifyResult>): Promise<NotifyResult> {
      const catalog = await authorize(ctx, "incident.notify", { incident: id });
      // A retry of a round queued under this key whose delivery did not answer: deliver what is
      // still queued and answer for the round (people are never queued a notice twice).
      const begun = idem?.pending as RoundClaim | undefined;
      if (begun !== undefined) return finishRound(ctx, await load(id), begun, idem);
      const row = await load(id);
      requireOpen(row);
      const version = lawVersionAt(row.awareAt);
      if (row.kind !== "possible" && !computeDuties({ kind: row.kind, awareAt: row.awareAt, facts: row.facts, scope: row.scope, withoutContact: null }).some((d) => d.code === "NOTIFY_SUBJECTS" && d.required)) {
        throw new HaechiError("CONFLICT", `no notice is required: ${row.kind} is not a breach under the law in force at awareness (${version})${row.scope?.people.total === 0 ? ", and the scope found nobody" : ""}`);
      }
      if (row.scope === null && row.kind !== "possible") throw new HaechiError("CONFLICT", "compute the scope first (POST /v1/incidents/{id}/scope): who is to be told is not known yet");
      const ctxN: NoticeContext = noticeContextOf(catalog, row);
      const previous = await deps.incidents.notices(id);
      const kindOfNotice = new Map(previous.map((n) => [n.id, n.kind]));
      const told = new Map<SubjectId, Set<NoticeKind>>();
      for (let after: string | undefined; ; ) {
        const page = await deps.incidents.outbox(id, { limit: 5000, ...(after ? { afterId: after } : {}) });
        for (const m of page) {
          // A failed delivery told nobody: the person is due the notice again.
          if (m.subjectId === null || m.status === "failed") continue;
          let s = told.get(m.subjectId);
          if (s === undefined) told.set(m.subjectId, (s = new Set()));
          s.add(kindOfNotice.get(m.noticeId)!);
        }
        if (page.length < 5000) break;
        after = page[page.length - 1]!.id;
      }
      const first = firstNoticeKind(ctxN);
      const noBreach = row.kind === "possible" && row.facts.noBreachAt !== null;
      /** What this person gets in this round, or null. */
      const kindFor = (had: Set<NoticeKind> | undefined): NoticeKind | null => {
        if (noBreach) return had?.has("possible") && !had.has("no_breach") ? "no_breach" : null;
        if (row.kind === "possible") return had?.has("possible") ? null : "possible";
        // A possible-breach notice is no breach notice: once confirmed, the person is told in full (Decree 39-3).
        const got = (k: NoticeKind) => had?.has(k) === true;
        if (!got("full") && !got("partial") && !got("followup")) return first;
        if (first === "full" && got("partial") && !got("followup") && !got("full")) return "followup";
        return null;
      };
      const contactFields = catalog.incident_response?.contact_fields ?? [];
      const now = deps.clock.now();
      const groups = new Map<string, { kind: NoticeKind; fields: string[]; people: { subjectId: SubjectId; channel: string }[] }>();
      const byChannel: Record<string, number> = {};
      let withoutContact = 0;
      let people = 0;
      let roundKind: NoticeKind | null = null;
      for (let after: SubjectId | null = null; ; ) {
        const page = await deps.incidents.subjects(id, after, 1000);
        // Per page, two queries: the contact fields each person holds (not erased), and whose key is still there.
        const due = page.filter((p) => kindFor(told.get(p.subjectId)) !== null).map((p) => p.subjectId);
        const held = contactFields.length > 0 && due.length > 0 ? await deps.data.fieldsHeld(due, contactFields) : new Map<SubjectId, string[]>();
        const keyed = held.size > 0 ? new Set((await deps.keys.getMany([...held.keys()])).map((k) => k.subjectId)) : new Set<SubjectId>();
        for (const p of page) {
          const kind = kindFor(told.get(p.subjectId));
          if (kind === null) continue;
          roundKind = kind;
          people += 1;
          const fields = keyed.has(p.subjectId) ? held.get(p.subjectId) : undefined;
          const channel = fields === undefined ? undefined : contactFields.find((f) => fields.includes(f));
          if (channel === undefined) {
            withoutContact += 1;
            continue;
          }
          byChannel[channel] = (byChannel[channel] ?? 0) + 1;
          const key = `${kind}\0${p.fields.join(",")}`;
          let g = groups.get(key);
          if (g === undefined) groups.set(key, (g = { kind, fields: p.fields, people: [] }));
          g.people.push({ subjectId: p.subjectId, channel });
        }
        if (page.length < 1000) break;
        after = page[page.length - 1]!.subjectId;
      }
      // The website posting: for those without contact details, people erased since, and a possible
      // breach whose people cannot be identified (Decree 39(3), 39-3).
      const postingKind: NoticeKind | null = noBreach ? "no_breach" : first;
      const postedAlready = previous.some((n) => n.audience === "public" && n.kind === postingKind);
      const unlinkable = row.scope?.people.unlinkable ?? 0;
      const posting =
        !postedAlready && (withoutContact > 0 || unlinkable > 0 || (row.kind === "possible" && (row.scope === null || row.scope.people.total === 0)) || (postingKind === "no_breach" && previous.some((n) => n.audience === "public" && n.kind === "possible")));
      if (groups.size === 0 && !posting) {
        throw new HaechiError("CONFLICT", "nothing to send: everyone in the scope has had the notice the facts call for (record new facts, or rescope, first)");
      }
      const notices: IncidentNoticeRow[] = [];
      const outbox: OutboxRow[] = [];
      const toRow = (r: RenderedNotice, recipients: number, postUntil: Date | null): IncidentNoticeRow => ({
        id: newId("ntc"),
        incidentId: id,
        kind: r.kind,
        audience: r.audience,
        title: r.title,
        body: r.body,
        sha256: sha256(`${r.title}\n${r.body}`),
        recipients,
        createdAt: now,
        postUntil,
      });
      for (const g of groups.values()) {
        const doc = toRow(renderSubjectNotice(ctxN, { kind: g.kind as "full", audience: "subject", fields: g.fields }), g.people.length, null);
        notices.push(doc);
        for (const p of g.people) {
          outbox.push({ id: newId("msg"), incidentId: id, noticeId: doc.id, subjectId: p.subjectId, channel: p.channel, status: "queued", queuedAt: now, sentAt: null, proof: null, error: null });
        }
      }
      if (posting) {
        const postUntil = new Date(now.getTime() + POSTING_DAYS * DAY);
        const fields = row.scope?.fields.map((f) => f.field) ?? [];
        const doc = toRow(renderSubjectNotice(ctxN, { kind: postingKind as "full", audience: "public", fields, postUntil }), 1, postUntil);
        notices.push(doc);
        outbox.push({ id: newId("msg"), incidentId: id, noticeId: doc.id, subjectId: null, channel: "website", status: "queued", queuedAt: now, sentAt: null, proof: null, error: null });
      }
      const kind = roundKind ?? postingKind;
      const detail = {
        round: "people",
        kind,
        people,
        messages: outbox.length,
        withoutContact,
        unlinkable,
        posting,
        scopeComputedAt: row.scope?.computedAt ?? null,
        // What is still owed after this round: a follow-up once a partial notice's items are known.
        pendingKind: kind === "partial" ? "followup" : null,
      };
      const event = await audited(ctx, now, "incident.notify", "notices_queued", id, detail);
      const claim: RoundClaim = { round: { kind, people, byChannel, withoutContact, posting }, notices: notices.map((n) => n.id) };
      // Queued with a claim on the key: a retry after a lost answer delivers this round, never a second one.
      await deps.incidents.putNotices(id, notices, outbox, event, idem && (() => idem.claim(claim)));
      return finishRound(ctx, row, claim, idem);
    },

    /**
     * POST /v1/incidents/{id}/reports: the reports the duties require (or the one named), rendered
     * and handed over; a partial report while items 1–2 are unknown (Decree 40(2)).
     */
    async report(ctx: RequestContext, id: string, input: { authority?: "pipc_kisa" | "fsc_fss" } = {}, idem?: Idempotency<IncidentView>): Promise<IncidentView> {
      const catalog = await authorize(ctx, "incident.report", { incident: id });
      const begun = idem?.pending as { authorities: string[] } | undefined;
      if (begun !== undefined) return finishReport(ctx, await load(id), begun.authorities, idem);
      const row = await load(id);
      requireOpen(row);
      const duties = computeDuties({ kind: row.kind, awareAt: row.awareAt, facts: row.facts, scope: row.scope, withoutContact: null });
      const required = duties.filter((d) => d.required && (d.code === "REPORT_PIPC_KISA" || d.code === "REPORT_FSC_FSS")).map((d): "pipc_kisa" | "fsc_fss" => (d.code === "REPORT_PIPC_KISA" ? "pipc_kisa" : "fsc_fss"));
      const authorities = input.authority !== undefined ? [input.authority] : required;
      if (authorities.length === 0) {
        const why = duties.filter((d) => d.code.startsWith("REPORT_")).map((d) => `${d.code}: ${d.reason}`).join("; ");
        throw new HaechiError("CONFLICT", `no report is required (${why}); name an authority to report voluntarily`);
      }
      const ctxN = noticeContextOf(catalog, row);
      const counts = await deps.incidents.outboxCounts(id);
      const now = deps.clock.now();
      const notices: IncidentNoticeRow[] = [];
      const outbox: OutboxRow[] = [];
      for (const authority of authorities) {
        const r = renderReport(ctxN, { authority, notices: counts });
        const doc: IncidentNoticeRow = { id: newId("ntc"), incidentId: id, kind: r.kind, audience: authority, title: r.title, body: r.body, sha256: sha256(`${r.title}\n${r.body}`), recipients: 1, createdAt: now, postUntil: null };
        notices.push(doc);
        outbox.push({ id: newId("msg"), incidentId: id, noticeId: doc.id, subjectId: null, channel: "regulator", status: "queued", queuedAt: now, sentAt: null, proof: null, error: null });
      }
      const detail = {
        round: "report",
        authorities: authorities.join(","),
        voluntary: authorities.some((a) => !required.includes(a)),
        partial: notices.some((n) => n.kind === "partial_report"),
      };
      const event = await audited(ctx, now, "incident.report", "notices_queued", id, detail);
      await deps.incidents.putNotices(id, notices, outbox, event, idem && (() => idem.claim({ authorities })));
      return finishReport(ctx, row, authorities, idem);
    },

    /**
     * GET /v1/incidents/{id}/outbox: the operator's pickup of messages, with each person's address
     * read from the vault now (one audit entry per address read).
     */
    async outbox(ctx: RequestContext, id: string, filter: { status?: OutboxStatus; after?: string; limit?: number } = {}): Promise<{ messages: OutboxMessageView[]; next: string | null }> {
      const catalog = await authorize(ctx, "incident.outbox", { incident: id });
      await load(id);
      const limit = filter.limit ?? 100;
      const rows = await deps.incidents.outbox(id, { limit, ...(filter.status ? { status: filter.status } : {}), ...(filter.after ? { afterId: filter.after } : {}) });
      const notices = new Map((await deps.incidents.notices(id)).map((n) => [n.id, n]));
      const reads: { subjectId: SubjectId; field: string; found: boolean }[] = [];
      const messages: OutboxMessageView[] = [];
      for (const m of rows) {
        const n = notices.get(m.noticeId)!;
        let to: string | null = null;
        if (m.subjectId !== null) {
          to = await addressOf(m.subjectId, m.channel);
          reads.push({ subjectId: m.subjectId, field: m.channel, found: to !== null });
        } else if (m.channel === "website") to = catalog.incident_response?.website ?? null;
        messages.push({
          id: m.id,
          noticeId: m.noticeId,
          kind: n.kind,
          audience: n.audience,
          channel: m.channel,
          to,
          title: n.title,
          body: n.body,
          status: m.status,
          queuedAt: m.queuedAt.toISOString(),
          sentAt: m.sentAt?.toISOString() ?? null,
          proof: m.proof,
          error: m.error,
        });
      }
      await auditAddressReads(ctx, id, "incident.notice.fetch", reads);
      return { messages, next: rows.length === limit ? rows[rows.length - 1]!.id : null };
    },

    /**
     * Every incident that was open at some time in [from, to) (aware before `to`, not closed before
     * `from`), each with its facts, scope summary, duties and timeline: the evidence pack's part.
     * The scope summary names no person, and the timeline holds counts and codes only.
     */
    async inWindow(from: Date, to: Date): Promise<IncidentView[]> {
      const out: IncidentView[] = [];
      for (const status of ["open", "closed"] as const) {
        for (const row of await deps.incidents.list({ status, limit: 10_000 })) {
          if (row.awareAt < to && (row.closedAt === null || row.closedAt >= from)) out.push(await viewOf(row));
        }
      }
      return out.sort((a, b) => (a.awareAt < b.awareAt ? -1 : a.awareAt > b.awareAt ? 1 : a.id < b.id ? -1 : 1));
    },

    /** Incidents whose latest scope includes the person (their transparency report, issue 6). */
    async forSubject(subjectId: SubjectId): Promise<IncidentSummaryView[]> {
      const now = deps.clock.now();
      return (await deps.incidents.bySubject(subjectId)).map((r) => summaryOf(r, now));
    },
  };
};

export type IncidentService = ReturnType<typeof incidentService>;
