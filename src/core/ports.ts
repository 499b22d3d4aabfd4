/**
 * Ports: the narrow interfaces services depend on. `storage/sqlite` and `storage/postgres`
 * implement every one of them and are held to the same contract suite (test/contract).
 *
 * Three stores, kept apart on purpose:
 *  - DataStore: subjects, encrypted field values, blind indexes, consent ledger, API keys,
 *    idempotency records (SQLite `data.db`; PostgreSQL schema `haechi`).
 *  - KeyStore: wrapped per-subject data keys and audit references (SQLite `keys.db`;
 *    PostgreSQL schema `haechi_keys`). Destroying a row here is crypto-shredding.
 *  - AuditStore: the hash-chained audit log and its signed checkpoints (SQLite `audit.db`;
 *    PostgreSQL schema `haechi_audit`).
 */
import type { PolicyChange, PolicyContent } from "./policy-doc/policy-doc-types.js";
import type { NoticeChannel, RequestAct, RequestChannel, RequestKind, RequestStatus } from "./requests/request-fns.js";
import type { ConsentCategory, ConsentChannel } from "./catalog/catalog-schema.js";
import type { AuditRef, SubjectId } from "./ids.js";
import type {
  IncidentEvent,
  IncidentNoticeRow,
  IncidentPatch,
  IncidentRow,
  IncidentScope,
  IncidentStatus,
  IncidentSubjectRow,
  NewIncidentEvent,
  OutboxCount,
  OutboxRow,
  OutboxStatus,
  OutboxUpdate,
} from "./incident/incident-types.js";
import type {
  AttemptOutcome,
  MessageKind,
  MessageStatus,
  NewOutboxMessage,
  NoticePreferenceRow,
  OutboxCountRow,
  OutboxMessage,
} from "./outbox/outbox-types.js";

// ---------------------------------------------------------------- data store

/**
 * `dormant`: separated under the catalog's dormancy policy (action `separate`, former Decree
 * Art. 48-5): its values sit apart in the dormant store, its blind indexes are gone, and every
 * ordinary read, update and lookup is refused until it is reactivated or erased.
 */
export type SubjectStatus = "active" | "dormant" | "erased";

export interface SubjectRow {
  id: SubjectId;
  createdAt: Date;
  updatedAt: Date;
  status: SubjectStatus;
}

/** One encrypted field value. `ciphertext` is the envelope of crypto/envelope.ts. */
export interface StoredField {
  field: string;
  ciphertext: Buffer;
  updatedAt: Date;
}

/** A keyed blind-index entry (crypto/blind-index.ts): lets a subject be found without plaintext. */
export interface LookupEntry {
  field: string;
  digest: Buffer;
}

export type ConsentAction = "grant" | "withdraw";

/** One append-only consent ledger event (PIPA Art. 22(1)). */
export interface ConsentEvent {
  id: string;
  subjectId: SubjectId;
  notice: string;
  noticeVersion: number;
  category: ConsentCategory;
  action: ConsentAction;
  channel: ConsentChannel;
  at: Date;
  /** The principal that recorded it (the service the person acted through). */
  principal: string;
  requestId: string;
}

/** Current consent per subject × notice, derived from the ledger (latest event wins). */
export interface ConsentState {
  notice: string;
  noticeVersion: number;
  category: ConsentCategory;
  status: "granted" | "withdrawn";
  channel: ConsentChannel;
  at: Date;
}

/** Everything a checked read needs, fetched together (one round trip where the store can). */
export interface ReadBundle {
  subject: SubjectRow;
  fields: StoredField[];
  consents: ConsentState[];
}

export interface ApiKeyRow {
  keyId: string;
  principal: string;
  /** SHA-256 of the secret part; the secret itself is never stored. */
  secretHash: Buffer;
  createdAt: Date;
  revokedAt: Date | null;
  failedCount: number;
  lockedUntil: Date | null;
}

/**
 * What one idempotency key answered (docs/adr/0017-idempotency.md): per principal, with the
 * request's fingerprint, the HTTP status and the body a retry gets back. `status` 0 is a claim: an
 * operation of several steps began under the key and has not answered yet; `response` then holds
 * the progress a retry needs to finish it.
 */
export interface IdempotencyRow {
  principal: string;
  key: string;
  /** SHA-256 of the operation and its canonical input, so a reused key with another request is refused. */
  requestHash: Buffer;
  /** The answer's HTTP status; 0 while claimed. */
  status: number;
  /** The answer's body (JSON); while claimed, the progress (JSON). */
  response: string;
  createdAt: Date;
}

/**
 * The idempotency row a store write records in its own transaction, built from what the write
 * returns (a history event's seq, the holds lifted): the answer and the effect commit together or
 * not at all. The write fails with CONFLICT, and changes nothing, if the key is already answered.
 */
export type IdempotencyRecord<R> = (result: R) => IdempotencyRow;

/** The writes a data transaction may make. Always passed explicitly: there is no optional tx. */
export interface DataTx {
  insertSubject(row: SubjectRow): Promise<void>;
  touchSubject(id: SubjectId, at: Date): Promise<void>;
  setSubjectStatus(id: SubjectId, status: SubjectStatus, at: Date): Promise<void>;
  /** Insert or replace field values. */
  putFields(id: SubjectId, fields: readonly StoredField[]): Promise<void>;
  deleteFields(id: SubjectId, fields: readonly string[]): Promise<void>;
  /** Replace the blind-index entries of the named fields. */
  putLookups(id: SubjectId, entries: readonly LookupEntry[]): Promise<void>;
  deleteLookups(id: SubjectId, fields: readonly string[]): Promise<void>;
  /** Delete separated values of a dormant subject (its erasure; a withdrawn consent). */
  deleteDormantFields(id: SubjectId, fields: readonly string[]): Promise<void>;
  /**
   * Reactivation: if the subject is dormant, its separated values move back to the live table
   * (same ciphertexts), it becomes active with `updatedAt` = `at` and its separation time is
   * cleared. Returns false, changing nothing, if it was not dormant. Blind indexes are the
   * caller's (`putLookups` in the same transaction).
   */
  reactivate(id: SubjectId, at: Date): Promise<boolean>;
  /** Append to the ledger and update the derived current state in the same transaction. */
  appendConsent(event: ConsentEvent): Promise<void>;
  /**
   * Records an idempotency key: a new row, or the answer to a claim (status 0) with the same
   * request hash. CONFLICT if the key is answered already, or claimed and this is a claim too or
   * another request.
   */
  putIdempotency(row: IdempotencyRow): Promise<void>;
}

export interface DataStore {
  transaction<T>(fn: (tx: DataTx) => Promise<T>): Promise<T>;
  getSubject(id: SubjectId): Promise<SubjectRow | undefined>;
  /** Fields of an active subject; `fields` empty = none. */
  getFields(id: SubjectId, fields: readonly string[]): Promise<StoredField[]>;
  /** Separated values of a dormant subject (the dormant store); `fields` empty = none. */
  getDormantFields(id: SubjectId, fields: readonly string[]): Promise<StoredField[]>;
  /**
   * Which of `fields` each of these subjects holds, live or separated; erased and unknown
   * subjects are absent. One query for a page of people (notices pick a contact field by it).
   */
  fieldsHeld(ids: readonly SubjectId[], fields: readonly string[]): Promise<Map<SubjectId, string[]>>;
  /** The hot path: subject, requested fields and current consents. Undefined if not active. */
  readBundle(id: SubjectId, fields: readonly string[]): Promise<ReadBundle | undefined>;
  currentConsents(id: SubjectId): Promise<ConsentState[]>;
  consentHistory(id: SubjectId): Promise<ConsentEvent[]>;
  findByLookup(field: string, digest: Buffer): Promise<SubjectId[]>;
  /** Subjects holding a current grant under an older version of `notice` (for staleness reports). */
  countConsentsByVersion(notice: string): Promise<{ version: number; granted: number }[]>;
  /** Bulk load for import: one transaction per call. Subjects must not exist yet. */
  importBatch(items: readonly ImportItem[]): Promise<void>;
  /** True when the subject already exists (import resumption). */
  subjectExists(id: SubjectId): Promise<boolean>;

  getApiKey(keyId: string): Promise<ApiKeyRow | undefined>;
  listApiKeys(): Promise<ApiKeyRow[]>;
  putApiKey(row: ApiKeyRow): Promise<void>;
  /** Record a failed attempt; returns the new failure count. */
  recordAuthFailure(keyId: string, lockedUntil: Date | null): Promise<number>;
  resetAuthFailures(keyId: string): Promise<void>;

  getIdempotency(principal: string, key: string): Promise<IdempotencyRow | undefined>;
  /** Forgets idempotency keys recorded before `before` (answered or claimed); returns how many. */
  pruneIdempotency(before: Date): Promise<number>;

  /**
   * Active subjects whose last activity (`updatedAt`) is before `before`, in id order after
   * `afterId`, each with the names of the fields it holds (the dormancy sweep).
   */
  dormant(before: Date, afterId: SubjectId | null, limit: number): Promise<{ id: SubjectId; updatedAt: Date; fields: string[] }[]>;
  /**
   * Bulk erasure after crypto-shredding (their data keys are already destroyed), one transaction:
   * those not yet erased (active or dormant) are marked erased, so every read refuses them from
   * now on, and queued for compaction. Returns how many were marked. Their rows (unreadable
   * values, separated values and blind indexes) stay until `compactErased` (ADR 0008).
   */
  markErased(ids: readonly SubjectId[], at: Date): Promise<number>;
  /**
   * Deletes the field values, separated values and blind-index entries of up to `limit` queued
   * erased subjects, in id order, in one transaction, and takes them off the queue. Returns how many were compacted.
   */
  compactErased(limit: number): Promise<number>;
  /** Erased subjects whose rows still await compaction, and when the oldest of them was erased. */
  erasedBacklog(): Promise<{ subjects: number; oldest: Date | null }>;

  /**
   * Separation (dormancy action `separate`), one transaction: each of these subjects that is
   * still active and still idle since before `idleBefore` has its field values moved to the
   * dormant store (same ciphertexts), its blind-index entries deleted, and becomes dormant with
   * `dormantAt` = `at` (its `updatedAt`, the last activity, is kept). Returns how many.
   */
  separateMany(ids: readonly SubjectId[], idleBefore: Date, at: Date): Promise<number>;
  /**
   * Dormant subjects separated before `before` (`dormantAt` < `before`), in id order after
   * `afterId`, each with its last activity and the names of its separated fields.
   */
  separated(
    before: Date,
    afterId: SubjectId | null,
    limit: number,
  ): Promise<{ id: SubjectId; updatedAt: Date; dormantAt: Date; fields: string[] }[]>;

  /** Key/value settings owned by the data store (e.g. import checkpoints). */
  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;

  /** The provision gate's tables (same database and writer as the rest of the data store). */
  readonly provisions: ProvisionStore;
  /** The sealed legal-retention store (same database and writer; separate table). */
  readonly sealed: SealedStore;
  /** Incidents, their timelines, affected people, notices and outbox (same database and writer). */
  readonly incidents: IncidentStore;
  /** Detection's alerts, principal holds and canaries (same database and writer). */
  readonly detection: DetectionStore;
  /** The general outbox and people's notice preferences (same database and writer; ADR 0011). */
  readonly outbox: OutboxStore;
  /** Published versions of the privacy policy (same database and writer). */
  readonly policies: PolicyStore;
  /** Data-subject requests and their history (same database and writer). */
  readonly requests: SubjectRequestStore;
  /** The console's staff accounts (same database and writer; migration 0012_operators). */
  readonly operators: OperatorStore;
  /** The portal's used links and their sessions (same database and writer; ADR 0012). */
  readonly portal: PortalLinkStore;

  close(): Promise<void>;
}

export interface ImportItem {
  subject: SubjectRow;
  fields: StoredField[];
  lookups: LookupEntry[];
  consents: ConsentEvent[];
}

// ---------------------------------------------------------------- provisions

export type ProvisionStatus = "planned" | "refused" | "running" | "completed" | "stopped" | "failed";
export type ProvisionClass = "consignment" | "provision";
export type ExportFormat = "ndjson" | "csv";

/** Counts a plan or run produced: subjects scanned, included, and excluded by reason code. */
export interface ProvisionCounts {
  scanned: number;
  included: number;
  excluded: Record<string, number>;
}

/** How a scheduled run's population differs from the previous run's (LAW §15 C2). */
export interface PopulationDiff {
  previousId: string;
  added: number;
  removed: number;
  kept: number;
}

/** One provision: a plan, a refusal, or a run (running, then completed / stopped / failed). */
export interface ProvisionRow {
  /** `prv_` + random. */
  id: string;
  scheduleId: string | null;
  /** Who asked. */
  principal: string;
  recipient: string;
  country: string;
  /** The controller's purpose the data was collected for. */
  purpose: string;
  /** What the caller called it. */
  label: ProvisionClass;
  /** What the gate decided it is (a failed consignment is a provision). */
  classification: ProvisionClass;
  /** e.g. `consignment:CT-2024-001` or `consent:nsf_provision`. */
  basis: string;
  /** Overseas only, e.g. `A:consent:nsf_overseas` or `E:eu_2025`; null at home. */
  transferBasis: string | null;
  fields: string[];
  format: ExportFormat;
  /** The request as given (JSON), so a resumed or scheduled run repeats it exactly. */
  request: string;
  status: ProvisionStatus;
  /** Closed codes: why it was refused or stopped. */
  reasons: string[];
  counts: ProvisionCounts;
  diff: PopulationDiff | null;
  /** The signed manifest (JSON) once completed. */
  manifest: string | null;
  /** Resume point: the last subject id of the last committed part (null: none yet). */
  cursor: string | null;
  /** Parts committed so far. */
  parts: number;
  createdAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
}

export type ProvisionPatch = Partial<
  Pick<ProvisionRow, "status" | "reasons" | "counts" | "diff" | "manifest" | "updatedAt" | "finishedAt" | "classification" | "basis" | "transferBasis">
>;

/** The export record of one part file: committed together with its ledger entries. */
export interface ProvisionPartRow {
  provisionId: string;
  /** 1-based, consecutive. */
  part: number;
  /** File name inside the provision's export directory. */
  file: string;
  subjects: number;
  bytes: number;
  /** SHA-256 (hex) of the encrypted part file. */
  sha256: string;
  /** SHA-256 (hex) over the part's ledger lines (see services/provision); also in the audit entry. */
  ledgerDigest: string;
  /** The last subject id in the part (the provision's cursor once committed). */
  lastSubject: SubjectId;
  at: Date;
}

/** One subject in one provision, as the per-subject and per-recipient views show it. */
export interface LedgerEntry {
  provisionId: string;
  subjectId: SubjectId;
  part: number;
  recipient: string;
  country: string;
  purpose: string;
  fields: string[];
  basis: string;
  transferBasis: string | null;
  status: ProvisionStatus;
  at: Date;
}

/** A suspension (kill switch) of a recipient or a country, e.g. a PIPC order under Art. 28-9. */
export interface SuspensionRow {
  id: string;
  scope: "recipient" | "country";
  target: string;
  /** The order's reference (e.g. the PIPC decision number). */
  order: string;
  reason: string;
  at: Date;
  by: string;
  liftedAt: Date | null;
  liftedBy: string | null;
}

export interface ScheduleRow {
  id: string;
  principal: string;
  /** The provision request (JSON) each run repeats, re-checking every condition. */
  request: string;
  /** ISO period between runs (P1D). */
  every: string;
  nextAt: Date;
  lastProvisionId: string | null;
  active: boolean;
  createdAt: Date;
}

/** An active subject as a provision scan sees it. */
export interface ScanRow {
  id: SubjectId;
  consents: ConsentState[];
  /** The requested fields the subject has (absent fields are left out). */
  fields: StoredField[];
}

export interface ProvisionStore {
  /** Active subjects with id > afterId, in id order, with consents and the named fields' ciphertexts. */
  scanSubjects(afterId: SubjectId | null, limit: number, fields: readonly string[]): Promise<ScanRow[]>;

  insertProvision(row: ProvisionRow, idem?: IdempotencyRecord<void>): Promise<void>;
  updateProvision(id: string, patch: ProvisionPatch, idem?: IdempotencyRecord<void>): Promise<void>;
  getProvision(id: string): Promise<ProvisionRow | undefined>;
  /** Newest first. */
  listProvisions(filter: { recipient?: string; principal?: string; scheduleId?: string; limit: number }): Promise<ProvisionRow[]>;

  /**
   * One transaction: the part's export record, a ledger entry per subject, and the provision's
   * cursor (`part.lastSubject`) and part count. CONFLICT if the part or an entry already exists,
   * and nothing is written.
   */
  commitPart(part: ProvisionPartRow, subjects: readonly SubjectId[]): Promise<void>;
  partsOf(provisionId: string): Promise<ProvisionPartRow[]>;
  /** The subjects of one part, in id order. */
  subjectsOfPart(provisionId: string, part: number): Promise<SubjectId[]>;
  /** Every provision of the subject's data, oldest first. */
  ledgerBySubject(subjectId: SubjectId): Promise<LedgerEntry[]>;
  /** A recipient's ledger, in (provision, subject) order after the cursor. */
  ledgerByRecipient(
    recipient: string,
    after: { provisionId: string; subjectId: SubjectId } | null,
    limit: number,
  ): Promise<LedgerEntry[]>;
  /** Subjects in `currentId` but not `previousId` (added), the reverse (removed), and both (kept). */
  populationDiff(previousId: string, currentId: string): Promise<PopulationDiff>;

  putSuspension(row: SuspensionRow, idem?: IdempotencyRecord<void>): Promise<void>;
  /** Returns false if there is no such active suspension (and records no idempotency key). */
  liftSuspension(id: string, at: Date, by: string, idem?: IdempotencyRecord<void>): Promise<boolean>;
  /** Not lifted. */
  activeSuspensions(): Promise<SuspensionRow[]>;
  listSuspensions(): Promise<SuspensionRow[]>;

  putSchedule(row: ScheduleRow, idem?: IdempotencyRecord<void>): Promise<void>;
  updateSchedule(id: string, patch: Partial<Pick<ScheduleRow, "nextAt" | "lastProvisionId" | "active">>): Promise<void>;
  getSchedule(id: string): Promise<ScheduleRow | undefined>;
  listSchedules(): Promise<ScheduleRow[]>;
  /** Active schedules with nextAt <= now, oldest first. */
  dueSchedules(now: Date): Promise<ScheduleRow[]>;
}

// ---------------------------------------------------------------- sealed store (PIPA Art. 21(3))

/**
 * A value another law requires keeping after the person's account is deleted: sealed under the
 * subject's separate sealed key (KeyStore.putSealed), kept apart from live data, readable only for
 * the purpose legal_retention, destroyed when `until` passes.
 */
export interface SealedFieldRow {
  subjectId: SubjectId;
  field: string;
  ciphertext: Buffer;
  /** The retention rule (catalog `retention_rules`) that keeps it longest. */
  rule: string;
  until: Date;
  sealedAt: Date;
}

export interface SealedStore {
  /** Insert or replace (an interrupted erasure is simply repeated). */
  put(rows: readonly SealedFieldRow[]): Promise<void>;
  /** The subject's sealed values (all of them when `fields` is empty). */
  get(subjectId: SubjectId, fields: readonly string[]): Promise<SealedFieldRow[]>;
  /** Deletes the subject's sealed values whose `until` <= `now` (all when `now` is null); returns how many. */
  destroy(subjectId: SubjectId, now: Date | null): Promise<number>;
  /** Subjects holding sealed values with `until` <= now, ordered by the earliest `until`. */
  due(now: Date, limit: number): Promise<{ subjectId: SubjectId; until: Date }[]>;
}

// ---------------------------------------------------------------- incidents (PIPA Art. 34)

/**
 * Incidents and their evidence, in the data store. Every write that changes an incident appends
 * one timeline event in the same transaction (the event names the audit entry written before it).
 * The timeline is append-only. Writes are refused inside a data transaction body, as for the
 * other sub-stores.
 */
export interface IncidentStore {
  /** The incident and its first event. CONFLICT if the id exists. */
  insert(row: IncidentRow, event: NewIncidentEvent, idem?: IdempotencyRecord<IncidentEvent>): Promise<IncidentEvent>;
  /**
   * Changes the patched columns and appends the events (several acts recorded at once, in order).
   * NOT_FOUND if there is no such incident.
   */
  update(id: string, patch: IncidentPatch, events: readonly NewIncidentEvent[], idem?: IdempotencyRecord<IncidentEvent[]>): Promise<IncidentEvent[]>;
  /** Stores a scope: the summary, the affected people (replacing the previous scope's) and the event. */
  putScope(
    id: string,
    scope: IncidentScope,
    subjects: readonly IncidentSubjectRow[],
    event: NewIncidentEvent,
    idem?: IdempotencyRecord<IncidentEvent>,
  ): Promise<IncidentEvent>;
  get(id: string): Promise<IncidentRow | undefined>;
  /** Newest awareness first. */
  list(filter: { status?: IncidentStatus; limit: number }): Promise<IncidentRow[]>;
  /** The timeline, in order. */
  events(id: string): Promise<IncidentEvent[]>;
  /** People in the incident's latest scope, in id order after `afterId`. */
  subjects(id: string, afterId: SubjectId | null, limit: number): Promise<IncidentSubjectRow[]>;
  /** Incidents whose latest scope includes the subject, newest awareness first (the transparency report). */
  bySubject(subjectId: SubjectId): Promise<IncidentRow[]>;
  /** Rendered notices and their outbox messages, and the event, in one transaction. */
  putNotices(
    id: string,
    notices: readonly IncidentNoticeRow[],
    outbox: readonly OutboxRow[],
    event: NewIncidentEvent,
    idem?: IdempotencyRecord<IncidentEvent>,
  ): Promise<IncidentEvent>;
  /** Notices and reports of the incident, oldest first. */
  notices(id: string): Promise<IncidentNoticeRow[]>;
  /** Outbox messages in id order after `afterId`. */
  outbox(id: string, filter: { status?: OutboxStatus; afterId?: string; limit: number }): Promise<OutboxRow[]>;
  /** Delivery results and the event, in one transaction; returns how many messages changed (only queued ones change). */
  markOutbox(id: string, updates: readonly OutboxUpdate[], event: NewIncidentEvent): Promise<number>;
  outboxCounts(id: string): Promise<OutboxCount[]>;
}

/** A message handed to a notice transport. `to` is null unless the transport asked for addresses. */
export interface OutgoingNotice {
  id: string;
  incidentId: string;
  channel: string;
  to: string | null;
  title: string;
  body: string;
}

/**
 * Delivers incident notices and reports. Never writes personal data to a file or a log. A
 * transport that needs addresses says so; the service then reads each person's contact field
 * (audited) just before handing the message over.
 */
export interface NoticeTransport {
  readonly name: string;
  readonly needsAddress: boolean;
  /** One result per message: a proof of delivery, or a closed error code. */
  deliver(messages: readonly OutgoingNotice[]): Promise<{ id: string; proof: string | null; error: string | null }[]>;
}

// ---------------------------------------------------------------- the general outbox (ADR 0011)

/**
 * Durable messages with attempts, leases and delivery proof. Enqueueing is idempotent per
 * (kind, subject, period); a claim leases messages to one worker so two never send the same one;
 * an attempt's outcome is recorded only by the worker still holding the lease.
 */
export interface OutboxStore {
  /** Inserts the messages whose (kind, subject, period) is new; returns the ids inserted. */
  enqueue(messages: readonly NewOutboxMessage[]): Promise<string[]>;
  /**
   * Leases up to `limit` due messages to `owner` until `leaseUntil`, in (nextAt, id) order, and
   * counts an attempt on each: queued and failed ones whose `nextAt` <= now, and sending ones
   * whose lease has run out (a worker that crashed). One atomic step: no message goes to two
   * workers.
   */
  claim(owner: string, now: Date, leaseUntil: Date, limit: number, filter?: { kind?: MessageKind }): Promise<OutboxMessage[]>;
  /** Records an attempt's outcome if `owner` still holds the lease; returns whether it did. */
  complete(id: string, owner: string, outcome: AttemptOutcome, at: Date): Promise<boolean>;
  get(id: string): Promise<OutboxMessage | undefined>;
  /** In id order after `afterId`. */
  list(filter: { kind?: MessageKind; period?: string; status?: MessageStatus; subjectId?: SubjectId; afterId?: string; limit: number }): Promise<OutboxMessage[]>;
  /** Messages per kind, period and status. */
  counts(filter?: { kind?: MessageKind; period?: string }): Promise<OutboxCountRow[]>;
  /** Insert or replace a person's preference for a kind of notice. */
  setPreference(row: NoticePreferenceRow, idem?: IdempotencyRecord<void>): Promise<void>;
  getPreference(subjectId: SubjectId, kind: MessageKind): Promise<NoticePreferenceRow | undefined>;
  /** Of these subjects, those who opted out of `kind`. */
  optedOut(subjectIds: readonly SubjectId[], kind: MessageKind): Promise<Set<SubjectId>>;
}

/** A message handed to a transport. `to` is null unless the transport needs addresses. */
export interface OutboundMessage {
  /** The outbox message id: the idempotency key a receiver can deduplicate on. */
  id: string;
  kind: string;
  channel: string;
  to: string | null;
  title: string;
  body: string;
}

/** What one delivery attempt returned. `retryable`: a network error or a server's temporary failure. */
export type DeliveryResult = ({ ok: true; proof: string } | { ok: false; error: string; retryable: boolean }) & {
  /** Which adapter handled it, when a router chose one. */
  transport?: string;
};

/**
 * Delivers messages: the webhook, SMTP and pickup adapters (src/notify). Never logs a message, an
 * address or a secret; errors are closed codes (e.g. `HTTP_503`, `SMTP_550`, `TIMEOUT`).
 */
export interface MessageTransport {
  readonly name: string;
  readonly needsAddress: boolean;
  /** Channels it can deliver (null: any). */
  readonly channels: readonly string[] | null;
  send(message: OutboundMessage): Promise<DeliveryResult>;
  close?(): Promise<void>;
}

// ---------------------------------------------------------------- data-subject requests (PIPA Arts. 35–37)

/** A postponement (PIPA Art. 35(3); Decree 42(2)): to when, why, and how and when the person was told. */
export interface RequestExtension {
  until: Date;
  reason: string;
  noticeAt: Date;
  noticeChannel: NoticeChannel;
}

/**
 * One data-subject request. Holds no personal data: the subject is its internal id (and the
 * pseudonymous id the filing principal used, to show it back to that principal); a correction
 * names the fields changed, never their values.
 */
export interface SubjectRequestRow {
  id: string;
  kind: RequestKind;
  subjectId: SubjectId;
  /** The filing principal's pseudonymous id of the subject. */
  subjectExternal: string;
  /** The service that filed it on the person's behalf. */
  filedBy: string;
  channel: RequestChannel;
  receivedAt: Date;
  /** The current deadline: the 10-day one, or a postponement's. */
  deadline: Date;
  status: RequestStatus;
  /** What was asked (field names, notices, a note): JSON, no personal data. */
  detail: Record<string, unknown>;
  extension: RequestExtension | null;
  /** What was done, or the refusal: JSON, no personal data. */
  outcome: Record<string, unknown> | null;
  updatedAt: Date;
  /** When it was completed, refused or withdrawn. */
  closedAt: Date | null;
}

export type SubjectRequestPatch = Partial<Pick<SubjectRequestRow, "status" | "deadline" | "extension" | "outcome" | "updatedAt" | "closedAt">>;

export interface NewRequestEvent {
  at: Date;
  actor: string;
  act: RequestAct;
  detail: Record<string, string | number | boolean | null>;
  /** The audit entry written before the act. */
  auditSeq: number;
}
export interface RequestEvent extends NewRequestEvent {
  seq: number;
  requestId: string;
}

export interface SubjectRequestFilter {
  statuses?: readonly RequestStatus[];
  kind?: RequestKind;
  /** Only requests whose deadline is before this instant. */
  dueBefore?: Date;
  filedBy?: string;
  subjectId?: SubjectId;
  limit: number;
}

/**
 * The request ledger. Every change appends one history event in the same transaction; the
 * history is append-only. Writes are refused inside a data transaction body.
 */
export interface SubjectRequestStore {
  /** The request and its first event. CONFLICT if the id exists. */
  insert(row: SubjectRequestRow, event: NewRequestEvent, idem?: IdempotencyRecord<RequestEvent>): Promise<RequestEvent>;
  /**
   * Applies the patch and appends the event only if the request's status is one of `from`
   * (compare-and-set: two operators cannot both close it). Returns the event, or undefined when
   * the status had changed (and then records no idempotency key); NOT_FOUND if there is no such request.
   */
  update(
    id: string,
    from: readonly RequestStatus[],
    patch: SubjectRequestPatch,
    event: NewRequestEvent,
    idem?: IdempotencyRecord<RequestEvent>,
  ): Promise<RequestEvent | undefined>;
  get(id: string): Promise<SubjectRequestRow | undefined>;
  /** Earliest deadline first (then id). */
  list(filter: SubjectRequestFilter): Promise<SubjectRequestRow[]>;
  /** The history, in order. */
  events(id: string): Promise<RequestEvent[]>;
  /** Requests still open (received, in progress, extended), and those of them past their deadline at `now`. */
  openCounts(now: Date): Promise<{ open: number; overdue: number }>;
}

// ---------------------------------------------------------------- detection (issue 5)

export type DetectionReactionKind = "alert" | "throttle" | "suspend";

/**
 * A detection rule that fired: the hook an incident is opened from. Holds no personal data: the
 * principal, the rule, what was counted and when; the subjects concerned are found in the audit
 * log by principal and window.
 */
export interface AlertRow {
  /** `alt_` + random. */
  id: string;
  at: Date;
  principal: string;
  /** The catalog rule's name, and its type. */
  rule: string;
  type: string;
  reaction: DetectionReactionKind;
  count: number;
  threshold: number;
  /** The earliest counted event still in the rule's window when it fired. */
  windowStart: Date;
  /** The request whose audit entry tipped the rule. */
  requestId: string | null;
  /** Non-personal facts (pattern, purpose, recipient, network prefix, local time). */
  detail: Record<string, string | number | boolean | null>;
}

/**
 * A hold on a principal: `suspend` refuses every request until an operator lifts it; `throttle`
 * caps its requests until `until` (or a lift). Stored so that a restart keeps it.
 */
export interface HoldRow {
  /** `hold_` + random. */
  id: string;
  principal: string;
  kind: "suspend" | "throttle";
  /** The rule and alert that placed it (null: placed by hand). */
  rule: string | null;
  alertId: string | null;
  reason: string;
  at: Date;
  /** Throttles end by themselves; suspensions have none. */
  until: Date | null;
  liftedAt: Date | null;
  liftedBy: string | null;
  liftReason: string | null;
}

/** A canary (decoy) subject, known by its audit reference only (ADR 0009). */
export interface CanaryRow {
  auditRef: AuditRef;
  /** The principal whose context it was created in. */
  principal: string;
  createdAt: Date;
}

/**
 * A portal link that was opened (ADR 0012): its id (`jti`, random, not a secret: the token's MAC
 * is), when it was exchanged for a session, when that session can no longer be used, and when it
 * was ended (signed out, account deleted). Nothing here names a person.
 */
export interface PortalLinkRow {
  jti: string;
  usedAt: Date;
  expiresAt: Date;
  endedAt: Date | null;
}

/** Single use of portal links and revocation of their sessions, shared by every server process. */
export interface PortalLinkStore {
  /** Records the link as used; false when it was used before (the single-use check, atomic). */
  consume(jti: string, usedAt: Date, expiresAt: Date): Promise<boolean>;
  get(jti: string): Promise<PortalLinkRow | undefined>;
  /** Ends the session opened with the link (idempotent). */
  end(jti: string, at: Date): Promise<void>;
  /** Deletes rows whose session expired before `before`; returns how many. */
  prune(before: Date): Promise<number>;
}

export interface DetectionStore {
  putAlert(row: AlertRow): Promise<void>;
  /** Newest first (by time, then id). */
  listAlerts(filter: { principal?: string; rule?: string; since?: Date; limit: number }): Promise<AlertRow[]>;
  putHold(row: HoldRow): Promise<void>;
  /** Holds not lifted whose `until` is null or after `now`. */
  activeHolds(now: Date): Promise<HoldRow[]>;
  /** Every hold (of one principal when given), newest first. */
  listHolds(filter: { principal?: string; limit: number }): Promise<HoldRow[]>;
  /** Lifts every hold of the principal not lifted yet (expired throttles too), one transaction; returns those lifted. */
  liftHolds(principal: string, at: Date, by: string, reason: string, idem?: IdempotencyRecord<HoldRow[]>): Promise<HoldRow[]>;
  /** Insert; a reference already known is left as it is. */
  putCanaries(rows: readonly CanaryRow[]): Promise<void>;
  canaries(): Promise<CanaryRow[]>;
}

// ---------------------------------------------------------------- privacy policy versions

/**
 * One published version of the privacy policy (PIPA Art. 30; migration 0008_policy_versions):
 * the document and its rendered texts exactly as published, their digests, the catalog's digest,
 * the machine-made change log against the previous version, and the audit entry of the act.
 * Append-only: a published version is evidence of what was public when.
 */
export interface PolicyVersionRow {
  version: number;
  /** YYYY-MM-DD: the day it takes effect. */
  effective: string;
  publishedAt: Date;
  /** The operator (staff id) who published it. */
  publishedBy: string;
  catalogSha256: string;
  /** Digest of the policy's content (without version and history): equal means identical. */
  contentSha256: string;
  /** The content (facts and sections) as published, for the next version's change log. */
  content: PolicyContent;
  /** Rendered texts by name: `ko.md`, `ko.html`, `en.md`, `en.html` (the HTML is the article fragment). */
  texts: Record<string, string>;
  /** SHA-256 (hex) of each text, by the same names. */
  textSha256: Record<string, string>;
  changes: PolicyChange[];
  /** Seq of the `policy.publish` audit entry written before the row. */
  auditSeq: number;
}

/** A version without its content and texts (the history list). */
export type PolicyVersionSummary = Omit<PolicyVersionRow, "content" | "texts">;

export interface PolicyStore {
  /**
   * Appends the next version. CONFLICT if `version` is not exactly one more than the latest (a
   * concurrent publication got there first), so two publications never share a number.
   */
  publish(row: PolicyVersionRow): Promise<void>;
  latest(): Promise<PolicyVersionRow | undefined>;
  get(version: number): Promise<PolicyVersionRow | undefined>;
  /** Every version, newest first, without content and texts. */
  history(): Promise<PolicyVersionSummary[]>;
}

// ---------------------------------------------------------------- console operators (issue 6; ADR 0013)

/** What a staff member may do in the console (core/console/console-roles.ts). */
export type StaffRole = "cpo" | "security" | "auditor";

/**
 * A console staff account (Safety Standard Arts. 5–7): one per person, never shared. Holds no
 * secret in the clear: the password as a scrypt hash, the TOTP secret sealed under a key derived
 * from the keyring (AES-256-GCM, bound to the account id).
 */
export interface OperatorRow {
  /** The staff id (lower kebab-case), e.g. `kim-cpo`. */
  id: string;
  role: StaffRole;
  /** `scrypt$N$r$p$salt$hash` (crypto/password.ts). */
  passwordHash: string;
  /** The TOTP secret, sealed (crypto/totp.ts `sealTotpSecret`, under a key derived from the keyring). */
  totpSealed: Buffer;
  /** The last TOTP time step accepted: a code of this step or an earlier one is never accepted again. */
  totpLastStep: number;
  /** Failed logins since the last success. */
  failedCount: number;
  lockedUntil: Date | null;
  createdAt: Date;
  createdBy: string;
  disabledAt: Date | null;
  lastLoginAt: Date | null;
}

export interface OperatorStore {
  /** CONFLICT if the id exists (a disabled account's id is never reused: its history stays its own). */
  insert(row: OperatorRow): Promise<void>;
  get(id: string): Promise<OperatorRow | undefined>;
  /** In id order. */
  list(): Promise<OperatorRow[]>;
  /**
   * One failed login, atomically: the count goes up and, when it reaches `maxFailures`, the account
   * is locked until `lockUntil`. Returns the new count and lock (undefined: no such account).
   */
  recordFailure(id: string, maxFailures: number, lockUntil: Date): Promise<{ failedCount: number; lockedUntil: Date | null } | undefined>;
  /**
   * A successful login, atomically and only if the account is enabled and `step` is later than the
   * last accepted one (so one code is never accepted twice, even by two servers at once): records
   * the step and the time, clears failures and the lock. False when refused.
   */
  acceptLogin(id: string, step: number, at: Date): Promise<boolean>;
  /** Disables the account (its sessions end); false if it was already disabled or does not exist. */
  disable(id: string, at: Date): Promise<boolean>;
}

// ---------------------------------------------------------------- shred journal

/**
 * One act of destruction, remembered outside every store and every backup, so that restoring an
 * old backup destroys again what was destroyed since (docs/operations.md, "Backups").
 * `scope`: "subject" = the subject's live data and key; "sealed" = its sealed values and key;
 * "fields" = the named live fields only (a withdrawn consent, PIPA Art. 37).
 * Holds no personal data: the internal subject id is random and means nothing without the stores.
 */
export interface ShredEntry {
  at: Date;
  subjectId: SubjectId;
  scope: "subject" | "sealed" | "fields";
  /** For scope "fields". */
  fields?: string[];
}

export interface ShredJournal {
  /** Durable before it resolves (written ahead of the destruction it records). */
  append(entries: readonly ShredEntry[]): Promise<void>;
  /** Every entry, oldest first. */
  entries(): Promise<ShredEntry[]>;
}

// ---------------------------------------------------------------- key store

/** A subject's data key, wrapped by a key-encryption key (KEK) version. */
export interface WrappedKeyRow {
  subjectId: SubjectId;
  kekVersion: number;
  /** Data-key generation: the field envelope names it, so re-keying a subject is possible. */
  dekVersion: number;
  wrapped: Buffer;
  /** The subject's pseudonym in audit entries; destroyed with the key (unlinks the log). */
  auditRef: AuditRef;
  createdAt: Date;
}

/** A subject's sealed-store key, wrapped by a KEK (under AAD distinct from the live data key's). */
export interface SealedKeyRow {
  subjectId: SubjectId;
  kekVersion: number;
  wrapped: Buffer;
  /** When the last sealed value it protects expires: the sweep destroys the key then. */
  until: Date;
  createdAt: Date;
}

export interface KeyStore {
  put(row: WrappedKeyRow): Promise<void>;
  putMany(rows: readonly WrappedKeyRow[]): Promise<void>;
  get(id: SubjectId): Promise<WrappedKeyRow | undefined>;
  /** The rows of those ids that exist (any order); for bulk reads such as provisions. */
  getMany(ids: readonly SubjectId[]): Promise<WrappedKeyRow[]>;
  /** Crypto-shredding: delete the wrapped key. Returns true if a key was destroyed. */
  destroy(id: SubjectId): Promise<boolean>;
  /** Crypto-shredding of many subjects in one transaction; returns how many keys were destroyed. */
  destroyMany(ids: readonly SubjectId[]): Promise<number>;
  /**
   * The subjects these audit references belong to (erased ones have none any more). One pass over
   * the keys: the reference is deliberately not indexed, so a key's destruction touches no
   * random-order index (ADR 0008); this serves investigations, not the request path.
   */
  findByAuditRefs(refs: readonly AuditRef[]): Promise<Map<AuditRef, SubjectId>>;
  /** Keys not yet wrapped by `kekVersion`, ordered by subject id, after `afterId`. */
  listNotWrappedBy(kekVersion: number, afterId: string | null, limit: number): Promise<WrappedKeyRow[]>;
  /** Compare-and-set rewrap: only if the row is still wrapped by `fromKek`. */
  rewrap(id: SubjectId, fromKek: number, toKek: number, wrapped: Buffer): Promise<boolean>;
  /** Many compare-and-set rewraps in one transaction; returns how many rows changed. */
  rewrapMany(items: readonly { id: SubjectId; fromKek: number; toKek: number; wrapped: Buffer }[]): Promise<number>;
  countByKekVersion(): Promise<{ kekVersion: number; count: number }[]>;

  /** Insert or replace the subject's sealed-store key. */
  putSealed(row: SealedKeyRow): Promise<void>;
  getSealed(id: SubjectId): Promise<SealedKeyRow | undefined>;
  /** Crypto-shredding of the sealed copy. Returns true if a key was destroyed. */
  destroySealed(id: SubjectId): Promise<boolean>;
  /** Sealed keys with `until` <= now, earliest first. */
  dueSealed(now: Date, limit: number): Promise<SealedKeyRow[]>;
  /** Sealed keys not yet wrapped by `kekVersion`, ordered by subject id, after `afterId` (KEK rotation). */
  listSealedNotWrappedBy(kekVersion: number, afterId: string | null, limit: number): Promise<SealedKeyRow[]>;
  /** Compare-and-set rewraps of sealed keys in one transaction; returns how many rows changed. */
  rewrapSealedMany(items: readonly { id: SubjectId; fromKek: number; toKek: number; wrapped: Buffer }[]): Promise<number>;
  /**
   * Makes destroyed keys unrecoverable from the store's own files: SQLite zeroes freed pages
   * (secure_delete) and this checkpoints and truncates the write-ahead log, which still holds
   * the old pages; PostgreSQL runs VACUUM on the key tables (its WAL and backups are covered by
   * retiring the KEK, see docs/operations).
   */
  purge(): Promise<void>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------- audit store

/** One stored audit entry. `body` is the frozen canonical JSON (audit/canonical.ts). */
export interface AuditRow {
  seq: number;
  /** Searchable copies of body fields (indexes); the chain covers `body` only. */
  at: Date;
  subjectRef: string | null;
  principal: string | null;
  action: string;
  body: string;
  /** Keyed chain hash of this entry (32 bytes). */
  hash: Buffer;
}

/** An audit row without its chain hash: what a search needs (the chain is checked by verification). */
export type AuditEntryRow = Omit<AuditRow, "hash">;

export interface AuditHead {
  seq: number;
  hash: Buffer;
}

export interface Checkpoint {
  seq: number;
  hash: string; // hex
  at: string; // ISO time
  keyId: string;
  signature: string; // base64
}

/** The lowest and highest seq in the log. */
export interface AuditSeqRange {
  first: number;
  last: number;
}

/**
 * Where a verification worker thread (audit/parallel-verify.worker.mjs) reads the audit log from,
 * over a connection of its own: plain data, handed to the thread by structured clone. The SQL is
 * the store's; the worker only runs it. A PostgreSQL URL may hold a password: it goes to the
 * worker and nowhere else.
 */
export type AuditReadSource =
  | {
      kind: "sqlite";
      /** audit.db, opened read-only (WAL: a reader never waits for the writer). */
      file: string;
      sql: {
        /**
         * (after, upTo) → the rows after < seq <= upTo as one row, each column concatenated in
         * seq order: [count, seqs "1,2,…", body UTF-8 byte lengths "250,…", bodies BLOB,
         * hashes BLOB, number of rows whose hash is not 32 bytes].
         */
        packed: string;
        /** (after) → the lowest seq above `after`, or null. */
        next: string;
        /** (after, upTo) → [seq, body, hash] rows after < seq <= upTo in seq order. */
        rows: string;
        /** (atMost, above) → [seq, hash] of the last row with above < seq <= atMost. */
        before: string;
      };
    }
  | {
      kind: "postgres";
      url: string;
      sql: {
        /**
         * `COPY (…) TO STDOUT (FORMAT binary)` of (seq int8, body text, hash bytea) for
         * after < seq <= upTo in seq order; `$1` = after and `$2` = upTo are replaced by integers
         * (COPY takes no bind parameters).
         */
        copy: string;
        /** ($1 atMost, $2 above) → [seq, hash] of the last row with above < seq <= atMost. */
        before: string;
      };
    };

export interface AuditStore {
  /**
   * Append under the chain-head lock: the store reads the head (null for an empty log),
   * calls `build` (pure, synchronous) to hash the new rows against it, inserts them and moves
   * the head, all in one durable transaction. Safe with several Haechi processes on one store:
   * `build` may be called again with a newer head if another writer appended first; only the
   * rows of the last call are stored.
   */
  appendBatch(build: (head: AuditHead | null) => AuditRow[]): Promise<AuditRow[]>;
  head(): Promise<AuditHead | null>;
  /** Rows with seq > afterSeq in order, in pages of `pageSize`. */
  iterate(afterSeq: number, pageSize: number): AsyncIterable<AuditRow[]>;
  /** The lowest and highest seq stored (null for an empty log): splits verification into ranges. */
  seqRange?(): Promise<AuditSeqRange | null>;
  /**
   * How a worker thread reads this log over its own connection, for verification in parallel
   * without handing rows between threads (audit/parallel-verify.ts). Without it, verification
   * reads `iterate` on the calling thread.
   */
  readSource?(): AuditReadSource;
  /** A subject's entries in seq order, the first `limit`; `newest`: the last `limit`, newest first (the person's access history). */
  bySubjectRef(ref: string, limit: number, order?: "oldest" | "newest"): Promise<AuditRow[]>;
  /**
   * Entries recorded by `principal` with `from` <= at < `to`, in (at, seq) order after the cursor
   * (exclusive), at most `limit`: an incident's scope. Served by the index of migration
   * 0002_audit_by_principal, so it reads only that principal's entries in the window.
   */
  byPrincipal(principal: string, from: Date, to: Date, after: { at: Date; seq: number } | null, limit: number): Promise<AuditEntryRow[]>;
  /** `detection.alert` entries with seq > afterSeq, in seq order (a partial index: alerts only). */
  detectionAlerts(afterSeq: number, limit: number): Promise<AuditRow[]>;
  count(): Promise<number>;
  putCheckpoint(cp: Checkpoint): Promise<void>;
  latestCheckpoint(): Promise<Checkpoint | undefined>;
  listCheckpoints(): Promise<Checkpoint[]>;
  close(): Promise<void>;
}
