/**
 * DataStore on PostgreSQL (schema `haechi`). Hot paths are named prepared statements;
 * `readBundle` is one round trip (one statement, one snapshot). A transaction holds one pooled
 * client from BEGIN to COMMIT.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { Kysely, PostgresDialect } from "kysely";
import type pg from "pg";
import type { ConsentCategory, ConsentChannel } from "../../core/catalog/catalog-schema.js";
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
import { migrate } from "../migrations/migrate.js";
import { PG_DATA_SCHEMA, pgDataMigrations } from "../migrations/postgres-migrations.js";
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
  deriveConsentStates,
  distinct,
} from "../store-fns.js";
import type { SharedPool } from "./pg-pool.js";
import { pgProvisionStore } from "./pg-provision-store.js";
import { putIdempotencyOn } from "./pg-idempotency.js";
import { pgIncidentStore } from "./pg-incident-store.js";
import { pgDetectionStore } from "./pg-detection-store.js";
import { pgOutboxStore } from "./pg-outbox-store.js";
import { pgPolicyStore } from "./pg-policy-store.js";
import { pgRequestStore } from "./pg-request-store.js";
import { pgOperatorStore } from "./pg-operator-store.js";
import { pgPortalStore } from "./pg-portal-store.js";
import { pgSealedStore } from "./pg-sealed-store.js";
import { iso, named, runCompiled, runNamed, type PgConn } from "./pg-query.js";
import type { PgDataDb } from "./pg-schema.js";

// ---------------------------------------------------------------- statements

/**
 * Subject, requested fields and current consents in one statement. Rows are tagged by `k`:
 * 0 = subject (t1 created, t2 updated), 1 = field (a name, x ciphertext, t1 updated),
 * 2 = consent (a notice, b category, c status, d channel, n version, t1 at).
 */
/**
 * The checked-read bundle in one statement and one row: the active subject, the asked fields and
 * the current consents, aggregated as JSON with times in epoch ms (measured 1.3× a UNION ALL of
 * the three tables, which needs a sort and three row shapes).
 */
const READ_BUNDLE = named(
  "haechi_read_bundle_json",
  `SELECT (extract(epoch FROM s.created_at) * 1000)::float8 AS c_ms,
          (extract(epoch FROM s.updated_at) * 1000)::float8 AS u_ms,
          (SELECT coalesce(json_agg(json_build_array(f.field, encode(f.ciphertext, 'base64'),
                                    (extract(epoch FROM f.updated_at) * 1000)::float8) ORDER BY f.field), '[]')
             FROM haechi.fields f WHERE f.subject_id = s.id AND f.field = ANY($2::text[])) AS f,
          (SELECT coalesce(json_agg(json_build_array(c.notice, c.category, c.status, c.channel, c.notice_version,
                                    (extract(epoch FROM c.at) * 1000)::float8) ORDER BY c.notice), '[]')
             FROM haechi.consent_state c WHERE c.subject_id = s.id) AS c
     FROM haechi.subjects s WHERE s.id = $1 AND s.status = 'active'`,
);
const GET_SUBJECT = named(
  "haechi_get_subject",
  "SELECT id, created_at, updated_at, status FROM haechi.subjects WHERE id = $1",
);
const SUBJECT_EXISTS_Q = named("haechi_subject_exists", "SELECT 1 FROM haechi.subjects WHERE id = $1");
const GET_FIELDS = named(
  "haechi_get_fields",
  `SELECT f.field, f.ciphertext, f.updated_at FROM haechi.fields f
   JOIN haechi.subjects s ON s.id = f.subject_id AND s.status = 'active'
   WHERE f.subject_id = $1 AND f.field = ANY($2::text[]) ORDER BY f.field`,
);
const CURRENT_CONSENTS = named(
  "haechi_current_consents",
  `SELECT notice, notice_version, category, status, channel, at FROM haechi.consent_state
   WHERE subject_id = $1 ORDER BY notice`,
);
const FIND_BY_LOOKUP = named(
  "haechi_find_by_lookup",
  `SELECT l.subject_id FROM haechi.lookups l JOIN haechi.subjects s ON s.id = l.subject_id
   WHERE l.field = $1 AND l.digest = $2 AND s.status = 'active' ORDER BY l.subject_id`,
);
const GET_API_KEY = named(
  "haechi_get_api_key",
  `SELECT key_id, principal, secret_hash, created_at, revoked_at, failed_count, locked_until
   FROM haechi.api_keys WHERE key_id = $1`,
);
const RECORD_AUTH_FAILURE = named(
  "haechi_record_auth_failure",
  `UPDATE haechi.api_keys SET failed_count = failed_count + 1, locked_until = $2
   WHERE key_id = $1 RETURNING failed_count`,
);
/**
 * Reading a recorded answer is a write (ADR 0016): a retry comes after an unknown outcome, and the
 * row it finds may be committed on the primary without any standby having it (a commit whose wait
 * for the standby was cancelled or timed out). Replaying it as it stands would acknowledge a write
 * a failover can still lose. Touching the row makes this statement's commit wait for a standby
 * too, and a standby that has flushed it has flushed everything before it, the original write
 * included. No row, no change, no wait: a first attempt pays nothing more than a read.
 */
const GET_IDEMPOTENCY = named(
  "haechi_get_idempotency",
  `UPDATE haechi.idempotency SET key = key WHERE principal = $1 AND key = $2
   RETURNING principal, key, request_hash, status, response, created_at`,
);
const INSERT_SUBJECT = named(
  "haechi_insert_subject",
  "INSERT INTO haechi.subjects (id, created_at, updated_at, status) VALUES ($1, $2, $3, $4)",
);
const PUT_FIELDS = named(
  "haechi_put_fields",
  `INSERT INTO haechi.fields (subject_id, field, ciphertext, updated_at)
   SELECT $1, u.field, u.ciphertext, u.updated_at
   FROM unnest($2::text[], $3::bytea[], $4::timestamptz[]) AS u(field, ciphertext, updated_at)
   ON CONFLICT (subject_id, field) DO UPDATE SET ciphertext = EXCLUDED.ciphertext, updated_at = EXCLUDED.updated_at`,
);
const DELETE_LOOKUP_FIELDS = named(
  "haechi_delete_lookup_fields",
  "DELETE FROM haechi.lookups WHERE subject_id = $1 AND field = ANY($2::text[])",
);
const INSERT_LOOKUPS = named(
  "haechi_insert_lookups",
  `INSERT INTO haechi.lookups (subject_id, field, digest)
   SELECT $1, u.field, u.digest FROM unnest($2::text[], $3::bytea[]) AS u(field, digest)
   ON CONFLICT DO NOTHING`,
);
/** Ledger append and derived-state upsert in one statement: latest (at, insertion) wins. */
const APPEND_CONSENT = named(
  "haechi_append_consent",
  `WITH ev AS (
     INSERT INTO haechi.consent_ledger
       (id, subject_id, notice, notice_version, category, action, channel, at, principal, request_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     RETURNING subject_id, notice, notice_version, category, channel, at
   )
   INSERT INTO haechi.consent_state (subject_id, notice, notice_version, category, status, channel, at)
   SELECT subject_id, notice, notice_version, category, $11, channel, at FROM ev
   ON CONFLICT (subject_id, notice) DO UPDATE SET
     notice_version = EXCLUDED.notice_version, category = EXCLUDED.category,
     status = EXCLUDED.status, channel = EXCLUDED.channel, at = EXCLUDED.at
   WHERE haechi.consent_state.at <= EXCLUDED.at`,
);
const PRUNE_IDEMPOTENCY = named("haechi_prune_idempotency", "DELETE FROM haechi.idempotency WHERE created_at < $1");
const IMPORT_SUBJECTS = named(
  "haechi_import_subjects",
  `INSERT INTO haechi.subjects (id, created_at, updated_at, status)
   SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::text[])`,
);
const IMPORT_FIELDS = named(
  "haechi_import_fields",
  `INSERT INTO haechi.fields (subject_id, field, ciphertext, updated_at)
   SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::timestamptz[])
   ON CONFLICT (subject_id, field) DO UPDATE SET ciphertext = EXCLUDED.ciphertext, updated_at = EXCLUDED.updated_at`,
);
const IMPORT_LOOKUPS = named(
  "haechi_import_lookups",
  `INSERT INTO haechi.lookups (subject_id, field, digest)
   SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[]) ON CONFLICT DO NOTHING`,
);
const IMPORT_LEDGER = named(
  "haechi_import_ledger",
  `INSERT INTO haechi.consent_ledger
     (id, subject_id, notice, notice_version, category, action, channel, at, principal, request_id)
   SELECT u.id, u.subject_id, u.notice, u.notice_version, u.category, u.action, u.channel, u.at, u.principal, u.request_id
   FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::text[], $6::text[], $7::text[],
               $8::timestamptz[], $9::text[], $10::text[])
        WITH ORDINALITY AS u(id, subject_id, notice, notice_version, category, action, channel, at, principal, request_id, ord)
   ORDER BY u.ord`,
);
const IMPORT_STATE = named(
  "haechi_import_state",
  `INSERT INTO haechi.consent_state (subject_id, notice, notice_version, category, status, channel, at)
   SELECT * FROM unnest($1::text[], $2::text[], $3::integer[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])`,
);

/**
 * The dormancy page: active subjects idle since before $1, in id order from the cursor, each with
 * its field names (one aggregate per subject over the fields primary key). The primary-key walk
 * from the cursor makes one pass over the table per sweep, whatever share is dormant. json_agg
 * rather than array_agg: the driver's JSON.parse beats its text[] parser (5.1 against 6.5 µs per
 * subject, pages of 5,000); a join with GROUP BY measured 24.
 */
const dormantSql = (cursor: "" | "s.id > $3 AND") =>
  `SELECT s.id, s.updated_at,
          coalesce((SELECT json_agg(f.field ORDER BY f.field) FROM haechi.fields f WHERE f.subject_id = s.id), '[]') AS fields
     FROM haechi.subjects s
    WHERE ${cursor} s.status = 'active' AND s.updated_at < $1
    ORDER BY s.id LIMIT $2`;
const DORMANT_FIRST = named("haechi_dormant_first", dormantSql(""));
const DORMANT_AFTER = named("haechi_dormant_after", dormantSql("s.id > $3 AND"));
/**
 * Bulk erasure after crypto-shredding (ADR 0008), one statement (one round trip, one implicit
 * transaction): data-modifying CTEs always run to completion, so the queue insert happens though
 * only the update is read. The ids are joined as a set (each primary key probed once) rather than
 * matched with `= ANY($1)`: with 5,000 ids the custom plans for `= ANY` estimated a sequential
 * scan, and the joins measured 1.5-2× faster.
 */
const MARK_ERASED = named(
  "haechi_mark_erased",
  `WITH ids AS MATERIALIZED (SELECT DISTINCT unnest($1::text[]) COLLATE "C" AS id),
        s AS (UPDATE haechi.subjects x SET status = 'erased', updated_at = $2
                FROM ids WHERE x.id = ids.id AND x.status <> 'erased' RETURNING x.id),
        q AS (INSERT INTO haechi.erase_backlog (subject_id, erased_at) SELECT id, $2 FROM s ON CONFLICT DO NOTHING)
   SELECT count(*)::int AS erased FROM s`,
);
/** Takes up to $1 queued subjects in id order (skipping any another process holds) and deletes their rows. */
const COMPACT_ERASED = named(
  "haechi_compact_erased",
  `WITH ids AS (DELETE FROM haechi.erase_backlog
                WHERE subject_id IN (SELECT subject_id FROM haechi.erase_backlog ORDER BY subject_id
                                     LIMIT $1 FOR UPDATE SKIP LOCKED)
                RETURNING subject_id AS id),
        f AS (DELETE FROM haechi.fields x USING ids WHERE x.subject_id = ids.id),
        d AS (DELETE FROM haechi.dormant_fields x USING ids WHERE x.subject_id = ids.id),
        l AS (DELETE FROM haechi.lookups x USING ids WHERE x.subject_id = ids.id)
   SELECT count(*)::int AS compacted FROM ids`,
);
const ERASED_BACKLOG = named(
  "haechi_erased_backlog",
  "SELECT count(*)::int AS n, min(erased_at) AS oldest FROM haechi.erase_backlog",
);

// ---------------------------------------------------------------- dormancy (action `separate`)

/**
 * Separation in one statement (atomic without BEGIN): the subjects still active and still idle
 * since before $2 become dormant (the update locks their rows, so a concurrent write either
 * lands before and keeps them active, or waits), and only theirs move: field rows are deleted
 * from `fields` and inserted, as returned, into `dormant_fields`; blind indexes are deleted.
 */
const SEPARATE_MANY = named(
  "haechi_separate_many",
  `WITH ids AS MATERIALIZED (SELECT DISTINCT unnest($1::text[]) COLLATE "C" AS id),
        s AS (UPDATE haechi.subjects x SET status = 'dormant', dormant_at = $3
                FROM ids WHERE x.id = ids.id AND x.status = 'active' AND x.updated_at < $2 RETURNING x.id),
        moved AS (DELETE FROM haechi.fields f USING s WHERE f.subject_id = s.id
                  RETURNING f.subject_id, f.field, f.ciphertext, f.updated_at),
        kept AS (INSERT INTO haechi.dormant_fields (subject_id, field, ciphertext, updated_at)
                 SELECT subject_id, field, ciphertext, updated_at FROM moved),
        l AS (DELETE FROM haechi.lookups x USING s WHERE x.subject_id = s.id)
   SELECT count(*)::int AS separated FROM s`,
);
/** Dormant subjects separated before $1, over the partial index `subjects_dormant`. */
const separatedSql = (cursor: "" | "s.id > $3 AND") =>
  `SELECT s.id, s.updated_at, s.dormant_at,
          coalesce((SELECT json_agg(d.field ORDER BY d.field) FROM haechi.dormant_fields d WHERE d.subject_id = s.id), '[]') AS fields
     FROM haechi.subjects s
    WHERE ${cursor} s.status = 'dormant' AND s.dormant_at < $1
    ORDER BY s.id LIMIT $2`;
const SEPARATED_FIRST = named("haechi_separated_first", separatedSql(""));
const SEPARATED_AFTER = named("haechi_separated_after", separatedSql("s.id > $3 AND"));
/** Erasure of separated subjects whose keys are gone: every row of theirs, then the status. */
const GET_DORMANT_FIELDS = named(
  "haechi_get_dormant_fields",
  `SELECT d.field, d.ciphertext, d.updated_at FROM haechi.dormant_fields d
   JOIN haechi.subjects s ON s.id = d.subject_id AND s.status = 'dormant'
   WHERE d.subject_id = $1 AND d.field = ANY($2::text[]) ORDER BY d.field`,
);
const FIELDS_HELD = named(
  "haechi_fields_held",
  `SELECT s.id AS subject_id, f.field FROM haechi.subjects s JOIN haechi.fields f ON f.subject_id = s.id
    WHERE s.id = ANY($1::text[]) AND s.status = 'active' AND f.field = ANY($2::text[])
   UNION ALL
   SELECT s.id, d.field FROM haechi.subjects s JOIN haechi.dormant_fields d ON d.subject_id = s.id
    WHERE s.id = ANY($1::text[]) AND s.status = 'dormant' AND d.field = ANY($2::text[])`,
);
const WAKE = named(
  "haechi_reactivate_subject",
  "UPDATE haechi.subjects SET status = 'active', updated_at = $2, dormant_at = NULL WHERE id = $1 AND status = 'dormant'",
);
const MOVE_BACK = named(
  "haechi_reactivate_fields",
  `WITH moved AS (DELETE FROM haechi.dormant_fields WHERE subject_id = $1 RETURNING subject_id, field, ciphertext, updated_at)
   INSERT INTO haechi.fields (subject_id, field, ciphertext, updated_at)
   SELECT subject_id, field, ciphertext, updated_at FROM moved`,
);

// ---------------------------------------------------------------- row mapping

interface SubjectDbRow {
  id: string;
  created_at: Date;
  updated_at: Date;
  status: string;
}
/** Row shapes come from the schema types (pg-schema.ts), minus the columns a query leaves out. */
type FieldDbRow = Omit<PgDataDb["haechi.fields"], "subject_id">;
type StateDbRow = Omit<PgDataDb["haechi.consent_state"], "subject_id">;
interface BundleDbRow {
  c_ms: number;
  u_ms: number;
  f: [string, string, number][];
  c: [string, string, string, string, number, number][];
}
type ApiKeyDbRow = PgDataDb["haechi.api_keys"];
type IdempotencyDbRow = PgDataDb["haechi.idempotency"];
type LedgerDbRow = PgDataDb["haechi.consent_ledger"];
interface DormantDbRow {
  id: string;
  updated_at: Date;
  fields: string[];
}
interface SeparatedDbRow extends DormantDbRow {
  dormant_at: Date;
}

const toSubject = (r: SubjectDbRow): SubjectRow => ({
  id: asSubjectId(r.id),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  status: r.status as SubjectStatus,
});
const toField = (r: FieldDbRow): StoredField => ({ field: r.field, ciphertext: r.ciphertext, updatedAt: r.updated_at });
const toState = (r: StateDbRow): ConsentState => ({
  notice: r.notice,
  noticeVersion: r.notice_version,
  category: r.category as ConsentCategory,
  status: r.status as ConsentState["status"],
  channel: r.channel as ConsentChannel,
  at: r.at,
});
const toApiKey = (r: ApiKeyDbRow): ApiKeyRow => ({
  keyId: r.key_id,
  principal: r.principal,
  secretHash: r.secret_hash,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
  failedCount: r.failed_count,
  lockedUntil: r.locked_until,
});
const toIdempotency = (r: IdempotencyDbRow): IdempotencyRow => ({
  principal: r.principal,
  key: r.key,
  requestHash: r.request_hash,
  status: r.status,
  response: r.response,
  createdAt: r.created_at,
});
const toEvent = (r: LedgerDbRow): ConsentEvent => ({
  id: r.id,
  subjectId: asSubjectId(r.subject_id),
  notice: r.notice,
  noticeVersion: r.notice_version,
  category: r.category as ConsentCategory,
  action: r.action as ConsentEvent["action"],
  channel: r.channel as ConsentChannel,
  at: r.at,
  principal: r.principal,
  requestId: r.request_id,
});
const toBundle = (id: string, rows: readonly BundleDbRow[]): ReadBundle | undefined => {
  const row = rows[0];
  if (row === undefined) return undefined;
  return {
    subject: { id: asSubjectId(id), createdAt: new Date(Math.round(row.c_ms)), updatedAt: new Date(Math.round(row.u_ms)), status: "active" },
    fields: row.f.map(([field, ct, ms]) => ({ field, ciphertext: Buffer.from(ct, "base64"), updatedAt: new Date(Math.round(ms)) })),
    consents: row.c.map(([notice, category, status, channel, version, ms]) => ({
      notice,
      noticeVersion: version,
      category: category as ConsentCategory,
      status: status as ConsentState["status"],
      channel: channel as ConsentChannel,
      at: new Date(Math.round(ms)),
    })),
  };
};

const consentValues = (e: ConsentEvent) => [
  e.id,
  e.subjectId,
  e.notice,
  e.noticeVersion,
  e.category,
  e.action,
  e.channel,
  e.at,
  e.principal,
  e.requestId,
  consentStatus(e.action),
];

// ---------------------------------------------------------------- store

/** Opens the data store on a shared pool, migrating schema `haechi`. */
export const openPgDataStore = async (shared: SharedPool): Promise<DataStore> => {
  const db = new Kysely<PgDataDb>({ dialect: new PostgresDialect({ pool: shared.pool }) });
  await migrate(db as Kysely<any>, pgDataMigrations, { schema: PG_DATA_SCHEMA });
  shared.retain();
  return pgDataStore(shared, db);
};

const pgDataStore = (shared: SharedPool, db: Kysely<PgDataDb>): DataStore => {
  const pool = shared.pool;
  /** Set while a transaction body runs: writes must go through its `tx` (same rule as SQLite). */
  const inTransaction = new AsyncLocalStorage<true>();
  let closed = false;

  const outsideTransaction = <T>(fn: () => Promise<T>): Promise<T> =>
    inTransaction.getStore() === true
      ? Promise.reject(new HaechiError("INTERNAL", "data store write inside a transaction body"))
      : fn();

  /** Runs `fn` on one client between BEGIN and COMMIT; any failure rolls back. */
  const withClient = async <T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> => {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (e) {
      throw storageFailure(e);
    }
    let broken: Error | undefined;
    try {
      return await fn(client);
    } catch (e) {
      try {
        await client.query("ROLLBACK");
      } catch (rollbackError) {
        broken = rollbackError instanceof Error ? rollbackError : new Error("rollback failed");
      }
      throw e;
    } finally {
      client.release(broken);
    }
  };

  const begin = async (client: pg.PoolClient) => {
    try {
      await client.query("BEGIN");
    } catch (e) {
      throw storageFailure(e);
    }
  };
  const commit = async (client: pg.PoolClient) => {
    try {
      await client.query("COMMIT");
    } catch (e) {
      throw storageFailure(e);
    }
  };

  const transaction = <T>(fn: (tx: DataTx) => Promise<T>): Promise<T> =>
    outsideTransaction(() =>
      withClient(async (client) => {
        await begin(client);
        const state: { open: boolean; failure: HaechiError | undefined } = { open: true, failure: undefined };
        let result: T;
        try {
          result = await inTransaction.run(true, () => fn(makeTx(client, state)));
        } finally {
          state.open = false;
        }
        // A write failed and the body carried on: PostgreSQL has aborted the transaction anyway.
        if (state.failure !== undefined) throw state.failure;
        await commit(client);
        return result;
      }),
    );

  const makeTx = (client: pg.PoolClient, state: { open: boolean; failure: HaechiError | undefined }): DataTx => {
    const step = async (mapping: ErrorMapping, fn: () => Promise<void>): Promise<void> => {
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
    const updated = (n: number | null) => {
      if ((n ?? 0) === 0) throw new HaechiError("NOT_FOUND", SUBJECT_NOT_FOUND);
    };
    const fk = { foreignKey: SUBJECT_NOT_FOUND };
    return {
      insertSubject: (row) =>
        step({ unique: SUBJECT_EXISTS }, async () => {
          await runNamed(client, INSERT_SUBJECT, [row.id, row.createdAt, row.updatedAt, row.status]);
        }),
      touchSubject: (id, at) =>
        step({}, async () => {
          const q = db.updateTable("haechi.subjects").set({ updated_at: at }).where("id", "=", id).compile();
          updated((await runCompiled(client, q)).rowCount);
        }),
      setSubjectStatus: (id, status, at) =>
        step({}, async () => {
          const q = db.updateTable("haechi.subjects").set({ status, updated_at: at }).where("id", "=", id).compile();
          updated((await runCompiled(client, q)).rowCount);
        }),
      putFields: (id, fields) =>
        step(fk, async () => {
          const rows = dedupeFields(fields);
          if (rows.length === 0) return;
          await runNamed(client, PUT_FIELDS, [
            id,
            rows.map((f) => f.field),
            rows.map((f) => f.ciphertext),
            rows.map((f) => iso(f.updatedAt)),
          ]);
        }),
      deleteFields: (id, fields) =>
        step({}, async () => {
          if (fields.length === 0) return;
          const q = db.deleteFrom("haechi.fields").where("subject_id", "=", id).where("field", "in", distinct(fields)).compile();
          await runCompiled(client, q);
        }),
      putLookups: (id, entries) =>
        step(fk, async () => {
          const names = distinct(entries.map((e) => e.field));
          if (names.length === 0) return;
          // Two statements: within one, an insert would still see the rows the delete removes.
          await runNamed(client, DELETE_LOOKUP_FIELDS, [id, names]);
          const rows = dedupeLookups(entries);
          await runNamed(client, INSERT_LOOKUPS, [id, rows.map((e) => e.field), rows.map((e) => e.digest)]);
        }),
      deleteLookups: (id, fields) =>
        step({}, async () => {
          if (fields.length === 0) return;
          const q = db.deleteFrom("haechi.lookups").where("subject_id", "=", id).where("field", "in", distinct(fields)).compile();
          await runCompiled(client, q);
        }),
      deleteDormantFields: (id, fields) =>
        step({}, async () => {
          if (fields.length === 0) return;
          const q = db.deleteFrom("haechi.dormant_fields").where("subject_id", "=", id).where("field", "in", distinct(fields)).compile();
          await runCompiled(client, q);
        }),
      reactivate: async (id, at) => {
        let woke = false;
        await step({}, async () => {
          woke = ((await runNamed(client, WAKE, [id, at])).rowCount ?? 0) > 0;
          if (woke) await runNamed(client, MOVE_BACK, [id]);
        });
        return woke;
      },
      appendConsent: (event) =>
        step({ unique: CONSENT_EVENT_EXISTS, ...fk }, async () => {
          await runNamed(client, APPEND_CONSENT, consentValues(event));
        }),
      putIdempotency: (row) => step({ unique: IDEMPOTENCY_EXISTS }, () => putIdempotencyOn(client, row)),
    };
  };

  const importItems = async (conn: PgConn, unordered: readonly ImportItem[]) => {
    const items = bySubjectId(unordered);
    const subjects = items.map((i) => i.subject);
    await runNamed(conn, IMPORT_SUBJECTS, [
      subjects.map((s) => s.id),
      subjects.map((s) => iso(s.createdAt)),
      subjects.map((s) => iso(s.updatedAt)),
      subjects.map((s) => s.status),
    ]);
    const fields = items.flatMap((i) => dedupeFields(i.fields).map((f) => ({ id: i.subject.id, f })));
    if (fields.length > 0) {
      await runNamed(conn, IMPORT_FIELDS, [
        fields.map((x) => x.id),
        fields.map((x) => x.f.field),
        fields.map((x) => x.f.ciphertext),
        fields.map((x) => iso(x.f.updatedAt)),
      ]);
    }
    const lookups = items.flatMap((i) => dedupeLookups(i.lookups).map((l) => ({ id: i.subject.id, l })));
    if (lookups.length > 0) {
      await runNamed(conn, IMPORT_LOOKUPS, [lookups.map((x) => x.id), lookups.map((x) => x.l.field), lookups.map((x) => x.l.digest)]);
    }
    const events = items.flatMap((i) => i.consents);
    if (events.length > 0) {
      await runNamed(conn, IMPORT_LEDGER, [
        events.map((e) => e.id),
        events.map((e) => e.subjectId),
        events.map((e) => e.notice),
        events.map((e) => e.noticeVersion),
        events.map((e) => e.category),
        events.map((e) => e.action),
        events.map((e) => e.channel),
        events.map((e) => iso(e.at)),
        events.map((e) => e.principal),
        events.map((e) => e.requestId),
      ]);
      // Subjects are new, so their current state is derived here rather than upserted row by row.
      const states = items.flatMap((i) => [...deriveConsentStates(i.consents).values()]);
      await runNamed(conn, IMPORT_STATE, [
        states.map((e) => e.subjectId),
        states.map((e) => e.notice),
        states.map((e) => e.noticeVersion),
        states.map((e) => e.category),
        states.map((e) => consentStatus(e.action)),
        states.map((e) => e.channel),
        states.map((e) => iso(e.at)),
      ]);
    }
  };

  const withTransaction = <T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> =>
    withClient(async (client) => {
      await begin(client);
      const result = await fn(client);
      await commit(client);
      return result;
    });
  const provisions = pgProvisionStore({ pool, db, outsideTransaction, withTransaction });
  const sealed = pgSealedStore({ pool, outsideTransaction });
  const incidents = pgIncidentStore({ pool, outsideTransaction, withTransaction });
  const detection = pgDetectionStore({ pool, outsideTransaction, withTransaction });
  const outbox = pgOutboxStore({ pool, outsideTransaction, withTransaction });
  const policies = pgPolicyStore({ pool, outsideTransaction });
  const requests = pgRequestStore({ pool, outsideTransaction, withTransaction });
  const operators = pgOperatorStore({ pool, outsideTransaction });
  const portal = pgPortalStore({ pool, outsideTransaction });

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
      guard(async () => {
        const row = (await runNamed<SubjectDbRow>(pool, GET_SUBJECT, [id])).rows[0];
        return row === undefined ? undefined : toSubject(row);
      }),
    getFields: (id, fields) =>
      guard(async () => {
        const names = distinct(fields);
        if (names.length === 0) return [];
        return (await runNamed<FieldDbRow>(pool, GET_FIELDS, [id, names])).rows.map(toField);
      }),
    getDormantFields: (id, fields) =>
      guard(async () => {
        const names = distinct(fields);
        if (names.length === 0) return [];
        return (await runNamed<FieldDbRow>(pool, GET_DORMANT_FIELDS, [id, names])).rows.map(toField);
      }),
    fieldsHeld: (ids, fields) =>
      guard(async () => {
        const out = new Map<SubjectId, string[]>();
        const names = distinct(fields);
        if (ids.length === 0 || names.length === 0) return out;
        for (const row of (await runNamed<{ subject_id: string; field: string }>(pool, FIELDS_HELD, [ids, names])).rows) {
          const id = asSubjectId(row.subject_id);
          const held = out.get(id);
          if (held === undefined) out.set(id, [row.field]);
          else held.push(row.field);
        }
        return out;
      }),
    readBundle: (id, fields) =>
      guard(async () => toBundle(id, (await runNamed<BundleDbRow>(pool, READ_BUNDLE, [id, distinct(fields)])).rows)),
    currentConsents: (id) =>
      guard(async () => (await runNamed<StateDbRow>(pool, CURRENT_CONSENTS, [id])).rows.map(toState)),
    consentHistory: (id) =>
      guard(async () =>
        (
          await db.selectFrom("haechi.consent_ledger").selectAll().where("subject_id", "=", id).orderBy("at").orderBy("seq").execute()
        ).map(toEvent),
      ),
    findByLookup: (field, digest) =>
      guard(async () =>
        (await runNamed<{ subject_id: string }>(pool, FIND_BY_LOOKUP, [field, digest])).rows.map((r) => asSubjectId(r.subject_id)),
      ),
    countConsentsByVersion: (notice) =>
      guard(async () => {
        const rows = await db
          .selectFrom("haechi.consent_state as c")
          .innerJoin("haechi.subjects as s", "s.id", "c.subject_id")
          .select(({ fn }) => ["c.notice_version as version", fn.countAll<string>().as("granted")])
          .where("c.notice", "=", notice)
          .where("c.status", "=", "granted")
          .where("s.status", "=", "active")
          .groupBy("c.notice_version")
          .orderBy("c.notice_version")
          .execute();
        return rows.map((r) => ({ version: Number(r.version), granted: Number(r.granted) }));
      }),
    importBatch: (items) =>
      outsideTransaction(async () => {
        checkImportItems(items);
        if (items.length === 0) return;
        await withClient(async (client) => {
          await begin(client);
          try {
            await importItems(client, items);
          } catch (e) {
            throw mapDriverError(e, { unique: "subject or consent event already exists", foreignKey: SUBJECT_NOT_FOUND });
          }
          await commit(client);
        });
      }),
    subjectExists: (id) => guard(async () => (await runNamed(pool, SUBJECT_EXISTS_Q, [id])).rows.length > 0),

    getApiKey: (keyId) =>
      guard(async () => {
        const row = (await runNamed<ApiKeyDbRow>(pool, GET_API_KEY, [keyId])).rows[0];
        return row === undefined ? undefined : toApiKey(row);
      }),
    listApiKeys: () =>
      guard(async () =>
        (await db.selectFrom("haechi.api_keys").selectAll().orderBy("created_at").orderBy("key_id").execute()).map(toApiKey),
      ),
    putApiKey: (row) =>
      outsideTransaction(() =>
        guard(async () => {
          const rest = {
            principal: row.principal,
            secret_hash: row.secretHash,
            created_at: row.createdAt,
            revoked_at: row.revokedAt,
            failed_count: row.failedCount,
            locked_until: row.lockedUntil,
          };
          await db
            .insertInto("haechi.api_keys")
            .values({ key_id: row.keyId, ...rest })
            .onConflict((oc) => oc.column("key_id").doUpdateSet(rest))
            .execute();
        }),
      ),
    recordAuthFailure: (keyId, lockedUntil) =>
      outsideTransaction(() =>
        guard(
          async () =>
            (await runNamed<{ failed_count: number }>(pool, RECORD_AUTH_FAILURE, [keyId, lockedUntil])).rows[0]?.failed_count ?? 0,
        ),
      ),
    resetAuthFailures: (keyId) =>
      outsideTransaction(() =>
        guard(async () => {
          await db.updateTable("haechi.api_keys").set({ failed_count: 0, locked_until: null }).where("key_id", "=", keyId).execute();
        }),
      ),

    getIdempotency: (principal, key) =>
      guard(async () => {
        const row = (await runNamed<IdempotencyDbRow>(pool, GET_IDEMPOTENCY, [principal, key])).rows[0];
        return row === undefined ? undefined : toIdempotency(row);
      }),
    pruneIdempotency: (before) => outsideTransaction(() => guard(async () => (await runNamed(pool, PRUNE_IDEMPOTENCY, [before])).rowCount ?? 0)),

    dormant: (before, afterId, limit) =>
      guard(async () => {
        if (limit < 1) return [];
        const { rows } =
          afterId === null
            ? await runNamed<DormantDbRow>(pool, DORMANT_FIRST, [before, limit])
            : await runNamed<DormantDbRow>(pool, DORMANT_AFTER, [before, limit, afterId]);
        return rows.map((r) => ({ id: asSubjectId(r.id), updatedAt: r.updated_at, fields: r.fields }));
      }),
    markErased: (ids, at) =>
      outsideTransaction(() =>
        guard(async () =>
          ids.length === 0 ? 0 : ((await runNamed<{ erased: number }>(pool, MARK_ERASED, [ids, at])).rows[0]?.erased ?? 0),
        ),
      ),
    compactErased: (limit) =>
      outsideTransaction(() =>
        guard(async () =>
          limit < 1 ? 0 : ((await runNamed<{ compacted: number }>(pool, COMPACT_ERASED, [limit])).rows[0]?.compacted ?? 0),
        ),
      ),
    erasedBacklog: () =>
      guard(async () => {
        const row = (await runNamed<{ n: number; oldest: Date | null }>(pool, ERASED_BACKLOG, [])).rows[0]!;
        return { subjects: row.n, oldest: row.oldest };
      }),

    separateMany: (ids, idleBefore, at) =>
      outsideTransaction(() =>
        guard(async () =>
          ids.length === 0
            ? 0
            : ((await runNamed<{ separated: number }>(pool, SEPARATE_MANY, [ids, idleBefore, at])).rows[0]?.separated ?? 0),
        ),
      ),
    separated: (before, afterId, limit) =>
      guard(async () => {
        if (limit < 1) return [];
        const { rows } =
          afterId === null
            ? await runNamed<SeparatedDbRow>(pool, SEPARATED_FIRST, [before, limit])
            : await runNamed<SeparatedDbRow>(pool, SEPARATED_AFTER, [before, limit, afterId]);
        return rows.map((r) => ({ id: asSubjectId(r.id), updatedAt: r.updated_at, dormantAt: r.dormant_at, fields: r.fields }));
      }),

    getMeta: (key) =>
      guard(async () => (await db.selectFrom("haechi.meta").select("value").where("key", "=", key).executeTakeFirst())?.value),
    setMeta: (key, value) =>
      outsideTransaction(() =>
        guard(async () => {
          await db
            .insertInto("haechi.meta")
            .values({ key, value })
            .onConflict((oc) => oc.column("key").doUpdateSet({ value }))
            .execute();
        }),
      ),

    close: async () => {
      if (closed) return;
      closed = true;
      await shared.release();
    },
  };
};
