/**
 * DataStore on SQLite (`data.db`).
 *
 * Two connections: a writer, used only under an async mutex (a transaction body is async, so
 * without the mutex two transactions would interleave on the one connection), and a
 * `query_only` reader for everything outside transactions. In WAL mode the reader never sees a
 * transaction that has not committed, and never waits for one.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type Database from "better-sqlite3";
import type { Kysely } from "kysely";
import { HaechiError } from "../../core/errors.js";
import { asSubjectId, type SubjectId } from "../../core/ids.js";
import type {
  ApiKeyRow,
  ConsentEvent,
  ConsentState,
  DataStore,
  DataTx,
  IdempotencyRow,
  ImportItem,
  ReadBundle,
  StoredField,
  SubjectRow,
  SubjectStatus,
} from "../../core/ports.js";
import type { ConsentCategory, ConsentChannel } from "../../core/catalog/catalog-schema.js";
import { AsyncMutex } from "../async-mutex.js";
import { migrate } from "../migrations/migrate.js";
import { sqliteDataMigrations } from "../migrations/sqlite-migrations.js";
import {
  CONSENT_EVENT_EXISTS,
  IDEMPOTENCY_EXISTS,
  SUBJECT_EXISTS,
  SUBJECT_NOT_FOUND,
  guard,
  mapDriverError,
  storageFailure,
  type ErrorMapping,
} from "../storage-errors.js";
import {
  bySubjectId,
  checkImportItems,
  consentStatus,
  dedupeFields,
  dedupeLookups,
  distinct,
} from "../store-fns.js";
import { kyselyOn, openSqlite, type SqliteSynchronous } from "./sqlite-connection.js";
import { sqliteIdempotencyWriter } from "./sqlite-idempotency.js";
import { sqliteIncidentStore } from "./sqlite-incident-store.js";
import { sqliteProvisionStore } from "./sqlite-provision-store.js";
import { sqliteDetectionStore } from "./sqlite-detection-store.js";
import { sqliteOutboxStore } from "./sqlite-outbox-store.js";
import { sqlitePolicyStore } from "./sqlite-policy-store.js";
import { sqliteRequestStore } from "./sqlite-request-store.js";
import { sqliteOperatorStore } from "./sqlite-operator-store.js";
import { sqlitePortalStore } from "./sqlite-portal-store.js";
import { sqliteSealedStore } from "./sqlite-sealed-store.js";
import type { SqliteDataDb } from "./sqlite-schema.js";

export interface SqliteDataStoreOptions {
  file: string;
  synchronous: SqliteSynchronous;
}

interface SubjectDbRow {
  id: string;
  created_at: number;
  updated_at: number;
  status: string;
}
/** Row shapes come from the schema types (sqlite-schema.ts), minus the columns a query leaves out. */
type FieldDbRow = Omit<SqliteDataDb["fields"], "subject_id">;
type StateDbRow = Omit<SqliteDataDb["consent_state"], "subject_id">;
type ApiKeyDbRow = SqliteDataDb["api_keys"];
type IdempotencyDbRow = SqliteDataDb["idempotency"];
type LedgerDbRow = SqliteDataDb["consent_ledger"];
/** A dormant subject: `fields` is a JSON array of its field names (json_group_array). */
interface DormantDbRow {
  id: string;
  updated_at: number;
  fields: string;
}

const toSubject = (r: SubjectDbRow): SubjectRow => ({
  id: asSubjectId(r.id),
  createdAt: new Date(r.created_at),
  updatedAt: new Date(r.updated_at),
  status: r.status as SubjectStatus,
});
const toField = (r: FieldDbRow): StoredField => ({
  field: r.field,
  ciphertext: r.ciphertext,
  updatedAt: new Date(r.updated_at),
});
const toState = (r: StateDbRow): ConsentState => ({
  notice: r.notice,
  noticeVersion: r.notice_version,
  category: r.category as ConsentCategory,
  status: r.status as ConsentState["status"],
  channel: r.channel as ConsentChannel,
  at: new Date(r.at),
});
const toApiKey = (r: ApiKeyDbRow): ApiKeyRow => ({
  keyId: r.key_id,
  principal: r.principal,
  secretHash: r.secret_hash,
  createdAt: new Date(r.created_at),
  revokedAt: r.revoked_at === null ? null : new Date(r.revoked_at),
  failedCount: r.failed_count,
  lockedUntil: r.locked_until === null ? null : new Date(r.locked_until),
});
const toIdempotency = (r: IdempotencyDbRow): IdempotencyRow => ({
  principal: r.principal,
  key: r.key,
  requestHash: r.request_hash,
  status: r.status,
  response: r.response,
  createdAt: new Date(r.created_at),
});
const toEvent = (r: LedgerDbRow): ConsentEvent => ({
  id: r.id,
  subjectId: asSubjectId(r.subject_id),
  notice: r.notice,
  noticeVersion: r.notice_version,
  category: r.category as ConsentCategory,
  action: r.action as ConsentEvent["action"],
  channel: r.channel as ConsentChannel,
  at: new Date(r.at),
  principal: r.principal,
  requestId: r.request_id,
});
const ms = (d: Date | null): number | null => (d === null ? null : d.getTime());

/** A separated subject: `fields` is a JSON array of its separated field names. */
interface SeparatedDbRow {
  id: string;
  updated_at: number;
  dormant_at: number;
  fields: string;
}

/** Dormant subjects separated before a time, over the partial index `subjects_dormant`. */
const separatedSql = (cursor: "" | "s.id > ? AND") =>
  `SELECT s.id, s.updated_at, s.dormant_at,
          (SELECT json_group_array(d.field ORDER BY d.field) FROM dormant_fields d WHERE d.subject_id = s.id) AS fields
   FROM subjects s
   WHERE ${cursor} s.status = 'dormant' AND s.dormant_at < ?
   ORDER BY s.id LIMIT ?`;

/**
 * The dormancy page, from the start or after a cursor (`s.id > ?`). The field names come in
 * primary-key order from the prefix scan; an ORDER BY inside the aggregate added a sorter per
 * subject (measured ≈ 0.3-1.4 µs of ≈ 3-4 µs), so the names are sorted in `dormant` instead.
 */
const dormantSql = (cursor: "" | "s.id > ? AND") =>
  `SELECT s.id, s.updated_at,
          (SELECT json_group_array(f.field) FROM fields f WHERE f.subject_id = s.id) AS fields
   FROM subjects s
   WHERE ${cursor} s.status = 'active' AND s.updated_at < ?
   ORDER BY s.id LIMIT ?`;

/** Above this many names the field filter binds one JSON array instead of one `?` per name. */
const MAX_IN_ARITY = 32;

/** Opens (creating and migrating) `data.db`. */
export const openSqliteDataStore = async (opts: SqliteDataStoreOptions): Promise<DataStore> => {
  const writer = openSqlite(opts.file, { synchronous: opts.synchronous, secureDelete: true, cacheKiB: 65536 });
  const writerDb = kyselyOn<SqliteDataDb>(writer);
  try {
    await migrate(writerDb, sqliteDataMigrations);
  } catch (e) {
    writer.close();
    throw e;
  }
  const reader = openSqlite(opts.file, { synchronous: opts.synchronous, secureDelete: true, readOnly: true, cacheKiB: 65536 });
  return sqliteDataStore(writer, writerDb, reader, kyselyOn<SqliteDataDb>(reader));
};

const sqliteDataStore = (
  writer: Database.Database,
  writerDb: Kysely<SqliteDataDb>,
  reader: Database.Database,
  readerDb: Kysely<SqliteDataDb>,
): DataStore => {
  const mutex = new AsyncMutex();
  let closed = false;
  /** Set while a transaction body runs, to refuse re-entry (it would wait on itself forever). */
  const inTransaction = new AsyncLocalStorage<true>();
  const putIdempotencyNow = sqliteIdempotencyWriter(writer);

  // ---------------------------------------------------------------- reader statements (hot)
  const r = {
    subject: reader.prepare<[string], SubjectDbRow>(
      "SELECT id, created_at, updated_at, status FROM subjects WHERE id = ?",
    ),
    activeSubject: reader.prepare<[string], SubjectDbRow>(
      "SELECT id, created_at, updated_at, status FROM subjects WHERE id = ? AND status = 'active'",
    ),
    subjectExists: reader.prepare<[string], { one: number }>("SELECT 1 AS one FROM subjects WHERE id = ?"),
    fieldsJson: reader.prepare<[string, string], FieldDbRow>(
      `SELECT field, ciphertext, updated_at FROM fields
       WHERE subject_id = ? AND field IN (SELECT value FROM json_each(?)) ORDER BY field`,
    ),
    consents: reader.prepare<[string], StateDbRow>(
      `SELECT notice, notice_version, category, status, channel, at FROM consent_state
       WHERE subject_id = ? ORDER BY notice`,
    ),
    findByLookup: reader.prepare<[string, Buffer], { subject_id: string }>(
      `SELECT l.subject_id FROM lookups l JOIN subjects s ON s.id = l.subject_id
       WHERE l.field = ? AND l.digest = ? AND s.status = 'active' ORDER BY l.subject_id`,
    ),
    apiKey: reader.prepare<[string], ApiKeyDbRow>(
      `SELECT key_id, principal, secret_hash, created_at, revoked_at, failed_count, locked_until
       FROM api_keys WHERE key_id = ?`,
    ),
    idempotency: reader.prepare<[string, string], IdempotencyDbRow>(
      `SELECT principal, key, request_hash, status, response, created_at FROM idempotency
       WHERE principal = ? AND key = ?`,
    ),
    // Walks the primary key from the cursor and filters on status and updated_at: one pass over
    // the table per sweep, whatever share is dormant. An index on updated_at would not help: the
    // page must come out in id order, and sorting every dormant subject per page is quadratic
    // when most of them are (measured 3-4 µs per subject for pages of 5,000). Field names in one
    // JSON array per subject (a PK prefix scan of `fields`), not one row per field.
    dormantAfter: reader.prepare<[string, number, number], DormantDbRow>(dormantSql("s.id > ? AND")),
    dormantFirst: reader.prepare<[number, number], DormantDbRow>(dormantSql("")),
    erasedBacklog: reader.prepare<[], { n: number; oldest: number | null }>(
      "SELECT count(*) AS n, min(erased_at) AS oldest FROM erase_backlog",
    ),
    dormantSubject: reader.prepare<[string], { one: number }>("SELECT 1 AS one FROM subjects WHERE id = ? AND status = 'dormant'"),
    fieldsHeld: reader.prepare<[{ ids: string; fields: string }], { subject_id: string; field: string }>(
      `SELECT s.id AS subject_id, f.field FROM subjects s JOIN fields f ON f.subject_id = s.id
        WHERE s.id IN (SELECT value FROM json_each(@ids)) AND s.status = 'active' AND f.field IN (SELECT value FROM json_each(@fields))
       UNION ALL
       SELECT s.id, d.field FROM subjects s JOIN dormant_fields d ON d.subject_id = s.id
        WHERE s.id IN (SELECT value FROM json_each(@ids)) AND s.status = 'dormant' AND d.field IN (SELECT value FROM json_each(@fields))`,
    ),
    dormantFields: reader.prepare<[string, string], FieldDbRow>(
      `SELECT field, ciphertext, updated_at FROM dormant_fields
       WHERE subject_id = ? AND field IN (SELECT value FROM json_each(?)) ORDER BY field`,
    ),
    separatedAfter: reader.prepare<[string, number, number], SeparatedDbRow>(separatedSql("s.id > ? AND")),
    separatedFirst: reader.prepare<[number, number], SeparatedDbRow>(separatedSql("")),
  };
  const fieldsByArity = new Map<number, Database.Statement<unknown[], FieldDbRow>>();
  const readFields = (id: string, names: readonly string[]): StoredField[] => {
    const wanted = distinct(names);
    if (wanted.length === 0) return [];
    if (wanted.length > MAX_IN_ARITY) return r.fieldsJson.all(id, JSON.stringify(wanted)).map(toField);
    let stmt = fieldsByArity.get(wanted.length);
    if (stmt === undefined) {
      stmt = reader.prepare<unknown[], FieldDbRow>(
        `SELECT field, ciphertext, updated_at FROM fields
         WHERE subject_id = ? AND field IN (${wanted.map(() => "?").join(", ")}) ORDER BY field`,
      );
      fieldsByArity.set(wanted.length, stmt);
    }
    return stmt.all(id, ...wanted).map(toField);
  };
  // One deferred read transaction = one snapshot for the subject, its fields and consents.
  const readBundleSnapshot = reader.transaction((id: string, names: readonly string[]): ReadBundle | undefined => {
    const subject = r.activeSubject.get(id);
    if (subject === undefined) return undefined;
    return { subject: toSubject(subject), fields: readFields(id, names), consents: r.consents.all(id).map(toState) };
  });
  const getFieldsSnapshot = reader.transaction((id: string, names: readonly string[]): StoredField[] =>
    r.activeSubject.get(id) === undefined ? [] : readFields(id, names),
  );
  const getDormantFieldsSnapshot = reader.transaction((id: string, names: readonly string[]): StoredField[] => {
    const wanted = distinct(names);
    if (wanted.length === 0 || r.dormantSubject.get(id) === undefined) return [];
    return r.dormantFields.all(id, JSON.stringify(wanted)).map(toField);
  });

  // ---------------------------------------------------------------- writer statements
  const w = {
    begin: writer.prepare("BEGIN IMMEDIATE"),
    commit: writer.prepare("COMMIT"),
    rollback: writer.prepare("ROLLBACK"),
    insertSubject: writer.prepare<[string, number, number, string]>(
      "INSERT INTO subjects (id, created_at, updated_at, status) VALUES (?, ?, ?, ?)",
    ),
    upsertField: writer.prepare<[string, string, Buffer, number]>(
      `INSERT INTO fields (subject_id, field, ciphertext, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (subject_id, field) DO UPDATE SET ciphertext = excluded.ciphertext, updated_at = excluded.updated_at`,
    ),
    deleteLookupField: writer.prepare<[string, string]>("DELETE FROM lookups WHERE subject_id = ? AND field = ?"),
    insertLookup: writer.prepare<[string, string, Buffer]>(
      "INSERT INTO lookups (subject_id, field, digest) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
    ),
    insertLedger: writer.prepare<[string, string, string, number, string, string, string, number, string, string]>(
      `INSERT INTO consent_ledger
         (id, subject_id, notice, notice_version, category, action, channel, at, principal, request_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    // Latest event by (at, insertion order) wins: an equal `at` replaces, an older one does not.
    upsertState: writer.prepare<[string, string, number, string, string, string, number]>(
      `INSERT INTO consent_state (subject_id, notice, notice_version, category, status, channel, at)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (subject_id, notice) DO UPDATE SET
         notice_version = excluded.notice_version, category = excluded.category,
         status = excluded.status, channel = excluded.channel, at = excluded.at
       WHERE excluded.at >= consent_state.at`,
    ),
    pruneIdempotency: writer.prepare<[number]>("DELETE FROM idempotency WHERE created_at < ?"),
    recordAuthFailure: writer.prepare<[number | null, string], { failed_count: number }>(
      `UPDATE api_keys SET failed_count = failed_count + 1, locked_until = ?
       WHERE key_id = ? RETURNING failed_count`,
    ),
    // Bulk erasure (ADR 0008), set-based over one JSON array of ids: SQLite turns the IN list into
    // a sorted ephemeral index and seeks the primary keys in id order, so callers need not sort
    // (measured equal to one statement per id for neighbouring ids, ~20% faster for spread ones,
    // and no parameter limit). Marking touches one subject row and one queue row per subject.
    queueErased: writer.prepare<[number, string]>(
      `INSERT OR IGNORE INTO erase_backlog (subject_id, erased_at)
       SELECT id, ? FROM subjects WHERE id IN (SELECT value FROM json_each(?)) AND status <> 'erased'`,
    ),
    markErased: writer.prepare<[number, string]>(
      `UPDATE subjects SET status = 'erased', updated_at = ?
       WHERE id IN (SELECT value FROM json_each(?)) AND status <> 'erased'`,
    ),
    // Compaction is where the cost is: each blind index sits on a random page of
    // `lookups_by_digest`, so a batch dirties about one page per entry (~45 µs per subject with
    // 5 fields and 3 blind indexes at 1M subjects, against ~12 µs for shredding and marking).
    nextErased: writer.prepare<[number], string>("SELECT subject_id FROM erase_backlog ORDER BY subject_id LIMIT ?").pluck(),
    eraseFields: writer.prepare<[string]>("DELETE FROM fields WHERE subject_id IN (SELECT value FROM json_each(?))"),
    eraseDormantFields: writer.prepare<[string]>("DELETE FROM dormant_fields WHERE subject_id IN (SELECT value FROM json_each(?))"),
    eraseLookups: writer.prepare<[string]>("DELETE FROM lookups WHERE subject_id IN (SELECT value FROM json_each(?))"),
    unqueueErased: writer.prepare<[string]>("DELETE FROM erase_backlog WHERE subject_id IN (SELECT value FROM json_each(?))"),
  };

  // Dormancy (action `separate`): set-based over one JSON array of ids, like the bulk erasure.
  const d = {
    separable: writer.prepare<[string, number], { id: string }>(
      `SELECT id FROM subjects
       WHERE id IN (SELECT value FROM json_each(?)) AND status = 'active' AND updated_at < ?`,
    ),
    moveApart: writer.prepare<[string]>(
      `INSERT INTO dormant_fields (subject_id, field, ciphertext, updated_at)
       SELECT subject_id, field, ciphertext, updated_at FROM fields WHERE subject_id IN (SELECT value FROM json_each(?))`,
    ),
    deleteFields: writer.prepare<[string]>("DELETE FROM fields WHERE subject_id IN (SELECT value FROM json_each(?))"),
    deleteLookups: writer.prepare<[string]>("DELETE FROM lookups WHERE subject_id IN (SELECT value FROM json_each(?))"),
    markDormant: writer.prepare<[number, string]>(
      "UPDATE subjects SET status = 'dormant', dormant_at = ? WHERE id IN (SELECT value FROM json_each(?))",
    ),
    markErased: writer.prepare<[number, string]>(
      `UPDATE subjects SET status = 'erased', updated_at = ?
       WHERE id IN (SELECT value FROM json_each(?)) AND status <> 'erased'`,
    ),
    wake: writer.prepare<[number, string]>(
      "UPDATE subjects SET status = 'active', updated_at = ?, dormant_at = NULL WHERE id = ? AND status = 'dormant'",
    ),
    moveBack: writer.prepare<[string]>(
      `INSERT INTO fields (subject_id, field, ciphertext, updated_at)
       SELECT subject_id, field, ciphertext, updated_at FROM dormant_fields WHERE subject_id = ?`,
    ),
    deleteDormantOf: writer.prepare<[string]>("DELETE FROM dormant_fields WHERE subject_id = ?"),
  };

  /** Moves the still-idle active ones of `ids` apart; returns how many. */
  const separateNow = writer.transaction((ids: string, idleBefore: number, at: number): number => {
    const chosen = JSON.stringify(d.separable.all(ids, idleBefore).map((row) => row.id));
    d.moveApart.run(chosen);
    d.deleteFields.run(chosen);
    d.deleteLookups.run(chosen);
    return d.markDormant.run(at, chosen).changes;
  });

  const appendConsentNow = (e: ConsentEvent) => {
    const at = e.at.getTime();
    w.insertLedger.run(e.id, e.subjectId, e.notice, e.noticeVersion, e.category, e.action, e.channel, at, e.principal, e.requestId);
    w.upsertState.run(e.subjectId, e.notice, e.noticeVersion, e.category, consentStatus(e.action), e.channel, at);
  };

  const importNow = writer.transaction((items: readonly ImportItem[]) => {
    for (const item of bySubjectId(items)) {
      const s = item.subject;
      w.insertSubject.run(s.id, s.createdAt.getTime(), s.updatedAt.getTime(), s.status);
      for (const f of item.fields) w.upsertField.run(s.id, f.field, f.ciphertext, f.updatedAt.getTime());
      for (const l of item.lookups) w.insertLookup.run(s.id, l.field, l.digest);
      for (const e of item.consents) appendConsentNow(e);
    }
  });

  /** Returns how many of the subjects were not yet erased (the only rows the update changes). */
  const markErasedNow = writer.transaction((ids: string, at: number): number => {
    w.queueErased.run(at, ids);
    return w.markErased.run(at, ids).changes;
  });
  const compactNow = writer.transaction((limit: number): number => {
    const ids = w.nextErased.all(limit);
    if (ids.length === 0) return 0;
    const json = JSON.stringify(ids);
    w.eraseFields.run(json);
    w.eraseDormantFields.run(json);
    w.eraseLookups.run(json);
    w.unqueueErased.run(json);
    return ids.length;
  });

  /** Every use of the writer goes through here, so nothing joins a foreign open transaction. */
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    if (inTransaction.getStore() === true) {
      return Promise.reject(new HaechiError("INTERNAL", "data store write inside a transaction body"));
    }
    return mutex.run(fn);
  };

  const rollbackQuietly = () => {
    try {
      if (writer.inTransaction) w.rollback.run();
    } catch {
      // The connection reports the original failure; a failed rollback leaves nothing committed.
    }
  };

  const transaction = <T>(fn: (tx: DataTx) => Promise<T>): Promise<T> =>
    exclusive(() =>
      inTransaction.run(true, async () => {
        try {
          w.begin.run();
        } catch (e) {
          throw storageFailure(e);
        }
        const state: { open: boolean; failure: HaechiError | undefined } = { open: true, failure: undefined };
        let result: T;
        try {
          result = await fn(makeTx(state));
        } catch (e) {
          state.open = false;
          rollbackQuietly();
          throw e;
        }
        state.open = false;
        if (state.failure !== undefined) {
          // A write failed and the body carried on: nothing of it may commit (as on PostgreSQL).
          rollbackQuietly();
          throw state.failure;
        }
        try {
          w.commit.run();
        } catch (e) {
          rollbackQuietly();
          throw storageFailure(e);
        }
        return result;
      }),
    );

  const makeTx = (state: { open: boolean; failure: HaechiError | undefined }): DataTx => {
    const step = async (mapping: ErrorMapping, fn: () => void | Promise<void>): Promise<void> => {
      if (!state.open) throw new HaechiError("INTERNAL", "transaction already finished");
      if (state.failure !== undefined) throw new HaechiError("INTERNAL", "transaction aborted by an earlier failure");
      try {
        await fn();
      } catch (e) {
        const err = mapDriverError(e, mapping);
        state.failure ??= err;
        throw err;
      }
    };
    const updated = (n: bigint | undefined) => {
      if ((n ?? 0n) === 0n) throw new HaechiError("NOT_FOUND", SUBJECT_NOT_FOUND);
    };
    const fk = { foreignKey: SUBJECT_NOT_FOUND };
    return {
      insertSubject: (row) =>
        step({ unique: SUBJECT_EXISTS }, () => {
          w.insertSubject.run(row.id, row.createdAt.getTime(), row.updatedAt.getTime(), row.status);
        }),
      touchSubject: (id, at) =>
        step({}, async () => {
          const res = await writerDb
            .updateTable("subjects")
            .set({ updated_at: at.getTime() })
            .where("id", "=", id)
            .executeTakeFirst();
          updated(res.numUpdatedRows);
        }),
      setSubjectStatus: (id, status, at) =>
        step({}, async () => {
          const res = await writerDb
            .updateTable("subjects")
            .set({ status, updated_at: at.getTime() })
            .where("id", "=", id)
            .executeTakeFirst();
          updated(res.numUpdatedRows);
        }),
      putFields: (id, fields) =>
        step(fk, () => {
          for (const f of dedupeFields(fields)) w.upsertField.run(id, f.field, f.ciphertext, f.updatedAt.getTime());
        }),
      deleteFields: (id, fields) =>
        step({}, async () => {
          if (fields.length === 0) return;
          await writerDb.deleteFrom("fields").where("subject_id", "=", id).where("field", "in", distinct(fields)).execute();
        }),
      putLookups: (id, entries) =>
        step(fk, () => {
          for (const field of distinct(entries.map((e) => e.field))) w.deleteLookupField.run(id, field);
          for (const e of dedupeLookups(entries)) w.insertLookup.run(id, e.field, e.digest);
        }),
      deleteLookups: (id, fields) =>
        step({}, async () => {
          if (fields.length === 0) return;
          await writerDb.deleteFrom("lookups").where("subject_id", "=", id).where("field", "in", distinct(fields)).execute();
        }),
      deleteDormantFields: (id, fields) =>
        step({}, async () => {
          if (fields.length === 0) return;
          await writerDb.deleteFrom("dormant_fields").where("subject_id", "=", id).where("field", "in", distinct(fields)).execute();
        }),
      reactivate: async (id, at) => {
        let woke = false;
        await step({}, () => {
          woke = d.wake.run(at.getTime(), id).changes > 0;
          if (!woke) return;
          d.moveBack.run(id);
          d.deleteDormantOf.run(id);
        });
        return woke;
      },
      appendConsent: (event) => step({ unique: CONSENT_EVENT_EXISTS, ...fk }, () => appendConsentNow(event)),
      putIdempotency: (row) => step({ unique: IDEMPOTENCY_EXISTS }, () => putIdempotencyNow(row)),
    };
  };

  const read = <T>(fn: () => T | Promise<T>) => guard(fn);

  // Same writer and mutex: provision and sealed writes queue behind (and are refused inside) transactions.
  // The sub-stores record idempotency keys in their own transactions, with the same statement.
  const provisions = sqliteProvisionStore({ writer, writerDb, reader, readerDb, exclusive, idempotency: putIdempotencyNow });
  const sealed = sqliteSealedStore({ writer, reader, exclusive });
  const incidents = sqliteIncidentStore({ writer, reader, exclusive, idempotency: putIdempotencyNow });
  const detection = sqliteDetectionStore({ writer, reader, exclusive, idempotency: putIdempotencyNow });
  const outbox = sqliteOutboxStore({ writer, reader, exclusive, idempotency: putIdempotencyNow });
  const policies = sqlitePolicyStore({ writer, reader, exclusive });
  const requests = sqliteRequestStore({ writer, reader, exclusive, idempotency: putIdempotencyNow });
  const operators = sqliteOperatorStore({ writer, reader, exclusive });
  const portal = sqlitePortalStore({ writer, reader, exclusive });

  return {
    transaction,
    provisions,
    sealed,
    incidents,
    detection,
    outbox,
    policies,
    requests,
    operators,
    portal,

    getSubject: (id) =>
      read(() => {
        const row = r.subject.get(id);
        return row === undefined ? undefined : toSubject(row);
      }),
    getFields: (id, fields) => read(() => getFieldsSnapshot(id, fields)),
    getDormantFields: (id, fields) => read(() => getDormantFieldsSnapshot(id, fields)),
    fieldsHeld: (ids, fields) =>
      read(() => {
        const out = new Map<SubjectId, string[]>();
        if (ids.length === 0 || fields.length === 0) return out;
        for (const row of r.fieldsHeld.all({ ids: JSON.stringify(ids), fields: JSON.stringify(distinct(fields)) })) {
          const id = asSubjectId(row.subject_id);
          const held = out.get(id);
          if (held === undefined) out.set(id, [row.field]);
          else held.push(row.field);
        }
        return out;
      }),
    readBundle: (id, fields) => read(() => readBundleSnapshot(id, fields)),
    currentConsents: (id) => read(() => r.consents.all(id).map(toState)),
    consentHistory: (id) =>
      read(async () =>
        (
          await readerDb.selectFrom("consent_ledger").selectAll().where("subject_id", "=", id).orderBy("at").orderBy("seq").execute()
        ).map(toEvent),
      ),
    findByLookup: (field, digest) =>
      read(() => r.findByLookup.all(field, digest).map((row) => asSubjectId(row.subject_id))),
    countConsentsByVersion: (notice) =>
      read(async () => {
        const rows = await readerDb
          .selectFrom("consent_state as c")
          .innerJoin("subjects as s", "s.id", "c.subject_id")
          .select(({ fn }) => ["c.notice_version as version", fn.countAll<number>().as("granted")])
          .where("c.notice", "=", notice)
          .where("c.status", "=", "granted")
          .where("s.status", "=", "active")
          .groupBy("c.notice_version")
          .orderBy("c.notice_version")
          .execute();
        return rows.map((row) => ({ version: Number(row.version), granted: Number(row.granted) }));
      }),
    importBatch: (items) =>
      exclusive(async () => {
        checkImportItems(items);
        try {
          importNow.immediate(items);
        } catch (e) {
          throw mapDriverError(e, { unique: "subject or consent event already exists", foreignKey: SUBJECT_NOT_FOUND });
        }
      }),
    subjectExists: (id) => read(() => r.subjectExists.get(id) !== undefined),

    getApiKey: (keyId) =>
      read(() => {
        const row = r.apiKey.get(keyId);
        return row === undefined ? undefined : toApiKey(row);
      }),
    listApiKeys: () =>
      read(async () =>
        (await readerDb.selectFrom("api_keys").selectAll().orderBy("created_at").orderBy("key_id").execute()).map(toApiKey),
      ),
    putApiKey: (row) =>
      exclusive(() =>
        guard(async () => {
          const values = {
            key_id: row.keyId,
            principal: row.principal,
            secret_hash: row.secretHash,
            created_at: row.createdAt.getTime(),
            revoked_at: ms(row.revokedAt),
            failed_count: row.failedCount,
            locked_until: ms(row.lockedUntil),
          };
          const { key_id: _key, ...rest } = values;
          await writerDb
            .insertInto("api_keys")
            .values(values)
            .onConflict((oc) => oc.column("key_id").doUpdateSet(rest))
            .execute();
        }),
      ),
    recordAuthFailure: (keyId, lockedUntil) =>
      exclusive(() => guard(() => w.recordAuthFailure.get(ms(lockedUntil), keyId)?.failed_count ?? 0)),
    resetAuthFailures: (keyId) =>
      exclusive(() =>
        guard(async () => {
          await writerDb.updateTable("api_keys").set({ failed_count: 0, locked_until: null }).where("key_id", "=", keyId).execute();
        }),
      ),

    getIdempotency: (principal, key) =>
      read(() => {
        const row = r.idempotency.get(principal, key);
        return row === undefined ? undefined : toIdempotency(row);
      }),
    pruneIdempotency: (before) => exclusive(() => guard(() => w.pruneIdempotency.run(before.getTime()).changes)),

    dormant: (before, afterId, limit) =>
      read(() => {
        if (limit < 1) return [];
        const rows =
          afterId === null ? r.dormantFirst.all(before.getTime(), limit) : r.dormantAfter.all(afterId, before.getTime(), limit);
        return rows.map((row) => ({
          id: asSubjectId(row.id),
          updatedAt: new Date(row.updated_at),
          fields: (JSON.parse(row.fields) as string[]).sort(),
        }));
      }),
    markErased: (ids, at) =>
      exclusive(() => guard(() => (ids.length === 0 ? 0 : markErasedNow.immediate(JSON.stringify(ids), at.getTime())))),
    compactErased: (limit) => exclusive(() => guard(() => (limit < 1 ? 0 : compactNow.immediate(limit)))),
    erasedBacklog: () =>
      read(() => {
        const row = r.erasedBacklog.get()!;
        return { subjects: row.n, oldest: row.oldest === null ? null : new Date(row.oldest) };
      }),

    separateMany: (ids, idleBefore, at) =>
      exclusive(() =>
        guard(() => (ids.length === 0 ? 0 : separateNow.immediate(JSON.stringify(ids), idleBefore.getTime(), at.getTime()))),
      ),
    separated: (before, afterId, limit) =>
      read(() => {
        if (limit < 1) return [];
        const rows =
          afterId === null ? r.separatedFirst.all(before.getTime(), limit) : r.separatedAfter.all(afterId, before.getTime(), limit);
        return rows.map((row) => ({
          id: asSubjectId(row.id),
          updatedAt: new Date(row.updated_at),
          dormantAt: new Date(row.dormant_at),
          fields: JSON.parse(row.fields) as string[],
        }));
      }),

    getMeta: (key) =>
      read(async () => (await readerDb.selectFrom("meta").select("value").where("key", "=", key).executeTakeFirst())?.value),
    setMeta: (key, value) =>
      exclusive(() =>
        guard(async () => {
          await writerDb
            .insertInto("meta")
            .values({ key, value })
            .onConflict((oc) => oc.column("key").doUpdateSet({ value }))
            .execute();
        }),
      ),

    close: () =>
      mutex.run(async () => {
        if (closed) return;
        closed = true;
        await readerDb.destroy();
        await writerDb.destroy();
        // Kysely closes a connection only if it used it; the stores read through prepared
        // statements, so close both explicitly (a restore checks that nothing holds the files).
        if (reader.open) reader.close();
        if (writer.open) writer.close();
      }),
  };
};
