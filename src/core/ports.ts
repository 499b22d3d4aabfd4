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
import type { ConsentCategory, ConsentChannel } from "./catalog/catalog-schema.js";
import type { AuditRef, SubjectId } from "./ids.js";

// ---------------------------------------------------------------- data store

export type SubjectStatus = "active" | "erased";

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

export interface IdempotencyRow {
  principal: string;
  key: string;
  /** SHA-256 of the canonical request, so a reused key with another body is refused. */
  requestHash: Buffer;
  status: number;
  response: string;
  createdAt: Date;
}

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
  /** Append to the ledger and update the derived current state in the same transaction. */
  appendConsent(event: ConsentEvent): Promise<void>;
  putIdempotency(row: IdempotencyRow): Promise<void>;
}

export interface DataStore {
  transaction<T>(fn: (tx: DataTx) => Promise<T>): Promise<T>;
  getSubject(id: SubjectId): Promise<SubjectRow | undefined>;
  /** Fields of an active subject; `fields` empty = none. */
  getFields(id: SubjectId, fields: readonly string[]): Promise<StoredField[]>;
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

  /** Key/value settings owned by the data store (e.g. import checkpoints). */
  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;

  close(): Promise<void>;
}

export interface ImportItem {
  subject: SubjectRow;
  fields: StoredField[];
  lookups: LookupEntry[];
  consents: ConsentEvent[];
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

export interface KeyStore {
  put(row: WrappedKeyRow): Promise<void>;
  putMany(rows: readonly WrappedKeyRow[]): Promise<void>;
  get(id: SubjectId): Promise<WrappedKeyRow | undefined>;
  /** Crypto-shredding: delete the wrapped key. Returns true if a key was destroyed. */
  destroy(id: SubjectId): Promise<boolean>;
  findByAuditRef(ref: AuditRef): Promise<SubjectId | undefined>;
  /** Keys not yet wrapped by `kekVersion`, ordered by subject id, after `afterId`. */
  listNotWrappedBy(kekVersion: number, afterId: string | null, limit: number): Promise<WrappedKeyRow[]>;
  /** Compare-and-set rewrap: only if the row is still wrapped by `fromKek`. */
  rewrap(id: SubjectId, fromKek: number, toKek: number, wrapped: Buffer): Promise<boolean>;
  /** Many compare-and-set rewraps in one transaction; returns how many rows changed. */
  rewrapMany(items: readonly { id: SubjectId; fromKek: number; toKek: number; wrapped: Buffer }[]): Promise<number>;
  countByKekVersion(): Promise<{ kekVersion: number; count: number }[]>;
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
  bySubjectRef(ref: string, limit: number): Promise<AuditRow[]>;
  count(): Promise<number>;
  putCheckpoint(cp: Checkpoint): Promise<void>;
  latestCheckpoint(): Promise<Checkpoint | undefined>;
  listCheckpoints(): Promise<Checkpoint[]>;
  close(): Promise<void>;
}
