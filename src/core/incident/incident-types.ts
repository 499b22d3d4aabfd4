/**
 * Incidents (PIPA Art. 34; Decree Arts. 39–40; Credit Information Act Art. 39-4): the types the
 * store, the pure duty and notice functions and the incident service share. No I/O here.
 */
import type { SubjectId } from "../ids.js";

/**
 * What happened to the data. Until 2026-09-10 a "유출등" is loss, theft or leak; from 2026-09-11
 * (Act 21445) also forgery, alteration and damage, and a *possible* breach has a notice of its own
 * (Art. 34(2); Decree 39-2, 39-3). LAW.md §7.
 */
export const INCIDENT_KINDS = ["leak", "loss", "theft", "forgery", "alteration", "damage", "possible"] as const;
export type IncidentKind = (typeof INCIDENT_KINDS)[number];

/** Kinds that make the data's integrity the problem: the principal's writes are what it touched. */
export const INTEGRITY_KINDS: readonly IncidentKind[] = ["forgery", "alteration", "damage"];

/** Where awareness came from (LAW §15 H1: awareness includes outside reports). */
export const INCIDENT_SOURCE_TYPES = ["alert", "manual", "external"] as const;
export const EXTERNAL_CHANNELS = ["press", "bug_bounty", "forum", "regulator", "customer", "partner", "other"] as const;
export type ExternalChannel = (typeof EXTERNAL_CHANNELS)[number];

export type IncidentSource =
  /** A detection alert: its audit entry (`detection.alert`) by seq, or its id. */
  | { type: "alert"; auditSeq: number | null; alertId: string | null; rule: string | null }
  /** Found by the company itself (a log review, an engineer). */
  | { type: "manual"; note: string | null }
  /** Press, a bug bounty, a developer forum, the regulator, a customer (PIPC Kakao 2024). */
  | { type: "external"; channel: ExternalChannel; reporter: string | null; reference: string | null };

/** Containment and damage control (Art. 34(2) 2023 / 34(3) 2026: from 2026-09-11 incl. retrieval and deletion). */
export const CONTAINMENT_MEASURES = [
  "blocked_access",
  "suspended_principal",
  "revoked_keys",
  "fixed_vulnerability",
  "retrieved",
  "deleted",
  "other",
] as const;
export type ContainmentMeasure = (typeof CONTAINMENT_MEASURES)[number];

export interface ContainmentRecord {
  measure: ContainmentMeasure;
  description: string;
  at: string;
}

/** Text in both languages a notice is written in. */
export interface Bilingual {
  ko: string;
  en: string;
}

/** Grounds for a possible-breach notice (Art. 34(2) 2026; Decree 39-2). */
export const POSSIBLE_GROUNDS = ["unidentified_intrusion", "partial_confirmed"] as const;
export type PossibleGround = (typeof POSSIBLE_GROUNDS)[number];

/** What is known, as recorded by the incident's handlers. Never personal data. */
export interface IncidentFacts {
  /** Item 2 (how): the circumstances, once known. */
  circumstances: Bilingual | null;
  /** Item 2 (when), once known. ISO times. */
  occurredFrom: string | null;
  occurredTo: string | null;
  /** Unlawful external access to processing systems or operators' devices (Decree 40(1)3). */
  intrusion: boolean;
  containment: ContainmentRecord[];
  /** Decree 40(1) proviso: the route is known and retrieval or deletion made the risk substantially lower. */
  riskReduced: { reason: string; at: string } | null;
  /** Kind `possible`: why (Decree 39-2). */
  possibleGround: PossibleGround | null;
  /** A possible breach confirmed (a full notice follows), or found not to be one (told immediately). */
  confirmedAt: string | null;
  noBreachAt: string | null;
  /** Item 3 in the handlers' words, added to the defaults for the leaked items. */
  advice: Bilingual | null;
}

export const emptyFacts = (): IncidentFacts => ({
  circumstances: null,
  occurredFrom: null,
  occurredTo: null,
  intrusion: false,
  containment: [],
  riskReduced: null,
  possibleGround: null,
  confirmedAt: null,
  noBreachAt: null,
  advice: null,
});

/** Where and when the scope looked: the audit log window, and who did it. */
export interface ScopeWindow {
  from: string;
  to: string;
}

/** One principal's or recipient's share of the scope. */
export interface ScopeChannel {
  kind: "principal" | "recipient";
  name: string;
  /** Audit entries (principal) or provision-ledger rows (recipient) that matched. */
  entries: number;
  people: number;
  fields: string[];
  first: string | null;
  last: string | null;
}

/** The scope as computed from the audit log (and the provision ledger), stored with the incident. */
export interface IncidentScope {
  window: ScopeWindow;
  principals: string[];
  recipients: string[];
  computedAt: string;
  /** The audit log's last seq when the scope was computed: the entries it could see. */
  auditHead: number;
  /**
   * People: linked (audit reference → subject through the key store), and "erased, unlinkable":
   * references whose key was destroyed (account deleted since), who can no longer be named.
   */
  people: {
    total: number;
    linked: number;
    unlinkable: number;
    credit: number;
    /** Canary (decoy) subjects the principal touched: proof of the scrape, not people (absent when none). */
    decoys?: number;
  };
  /** Per field: how many people it reached, with the catalog's sensitivity. */
  fields: { field: string; people: number; sensitivity: string }[];
  through: ScopeChannel[];
  first: string | null;
  last: string | null;
}

export type IncidentStatus = "open" | "closed";

export interface IncidentRow {
  /** `inc_` + random. */
  id: string;
  kind: IncidentKind;
  status: IncidentStatus;
  source: IncidentSource;
  /** What happened, in a line (no personal data). */
  summary: string;
  /** When the company became aware: starts the 72-hour clock. */
  awareAt: Date;
  /** awareAt + 72 hours. */
  deadline: Date;
  openedAt: Date;
  openedBy: string;
  facts: IncidentFacts;
  scope: IncidentScope | null;
  updatedAt: Date;
  closedAt: Date | null;
}

export type IncidentPatch = Partial<Pick<IncidentRow, "kind" | "status" | "summary" | "facts" | "closedAt">> & { updatedAt: Date };

/** Every act on an incident, in order: the 72-hour proof. Append-only; also in the audit log. */
export const INCIDENT_ACTS = [
  "opened",
  "facts",
  "containment",
  "risk_reduced",
  "confirmed",
  "no_breach",
  "scoped",
  "notices_queued",
  "notices_sent",
  "report_filed",
  "closed",
] as const;
export type IncidentAct = (typeof INCIDENT_ACTS)[number];

export interface IncidentEvent {
  seq: number;
  incidentId: string;
  at: Date;
  actor: string;
  act: IncidentAct;
  /** Counts, codes and names only (never personal data). */
  detail: Record<string, unknown>;
  /** The audit entry written before the act took effect. */
  auditSeq: number;
}
export type NewIncidentEvent = Omit<IncidentEvent, "seq" | "incidentId">;

/** A person in the incident's latest scope (the per-person query reads these). */
export interface IncidentSubjectRow {
  subjectId: SubjectId;
  fields: string[];
  /** Principals and recipients the data went through. */
  via: string[];
}

/**
 * full: all items known; partial: items 1–2 not yet known (Decree 39(2)); followup: the rest once
 * known; possible: a possible breach (Decree 39-3); no_breach: a possible breach found not to be
 * one; report / partial_report: to an authority (Decree 40(2)).
 */
export const NOTICE_KINDS = ["full", "partial", "followup", "possible", "no_breach", "report", "partial_report"] as const;
export type NoticeKind = (typeof NOTICE_KINDS)[number];
/** subject: one person; public: the website posting (Decree 39(3)); the authorities. */
export const NOTICE_AUDIENCES = ["subject", "public", "pipc_kisa", "fsc_fss"] as const;
export type NoticeAudience = (typeof NOTICE_AUDIENCES)[number];

/** A rendered notice or report (Korean and English). People with the same items share one. */
export interface IncidentNoticeRow {
  id: string;
  incidentId: string;
  kind: NoticeKind;
  audience: NoticeAudience;
  title: string;
  body: string;
  /** SHA-256 (hex) of title + body: what was sent can be proven later. */
  sha256: string;
  /** How many outbox messages carry it (people, or 1 for a posting or report). */
  recipients: number;
  createdAt: Date;
  /** Website postings: kept up until then (≥ 30 days, Decree 39(3)). */
  postUntil: Date | null;
}

export const OUTBOX_STATUSES = ["queued", "sent", "failed"] as const;
export type OutboxStatus = (typeof OUTBOX_STATUSES)[number];

/**
 * One message to deliver. Holds no address: a person's contact is read from the vault (by the
 * catalog's contact fields) only when the message is handed over, so erasing the person before
 * that leaves nothing to deliver to.
 */
export interface OutboxRow {
  id: string;
  incidentId: string;
  noticeId: string;
  /** The person (audience subject); null for a posting or a report. */
  subjectId: SubjectId | null;
  /** A contact field name (email, phone), `website` or `regulator`. */
  channel: string;
  status: OutboxStatus;
  queuedAt: Date;
  sentAt: Date | null;
  /** The transport's delivery proof. */
  proof: string | null;
  /** Closed code of a failed delivery. */
  error: string | null;
}

export interface OutboxUpdate {
  id: string;
  status: "sent" | "failed";
  at: Date;
  proof: string | null;
  error: string | null;
}

/** Delivery counts of one incident's outbox. */
export interface OutboxCount {
  kind: NoticeKind;
  audience: NoticeAudience;
  channel: string;
  status: OutboxStatus;
  count: number;
}
