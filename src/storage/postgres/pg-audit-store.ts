/**
 * AuditStore on PostgreSQL (schema `haechi_audit`).
 *
 * An append is one statement, one round trip: the rows are chained to the head this process
 * last saw, and a data-modifying CTE moves the head only if it is still there (compare-and-set
 * on the locked head row) and inserts the rows only if it moved. If another process appended
 * first, nothing is written, the new head is read and the rows are chained again. Appends from
 * several processes therefore queue on the head row's lock and never fork the chain.
 */
import { Kysely, PostgresDialect } from "kysely";
import { isHaechiError } from "../../core/errors.js";
import type { AuditEntryRow, AuditHead, AuditReadSource, AuditRow, AuditStore, Checkpoint } from "../../core/ports.js";
import { migrate } from "../migrations/migrate.js";
import { PG_AUDIT_SCHEMA, pgAuditMigrations } from "../migrations/postgres-migrations.js";
import { CHECKPOINT_EXISTS, guard, mapDriverError, storageFailure } from "../storage-errors.js";
import { checkAuditRows } from "../store-fns.js";
import type { SharedPool } from "./pg-pool.js";
import { named, runNamed } from "./pg-query.js";
import type { PgAuditDb } from "./pg-schema.js";

const AUDIT_COLUMNS = "seq, at, subject_ref, principal, action, body, hash";

const READ_HEAD = named("haechi_audit_head", "SELECT seq, hash FROM haechi_audit.audit_head WHERE id = 1");
/**
 * $1/$3 the expected head seq and hash (NULL for an empty log) — both, since another writer can
 * leave the head at the same seq with a different hash; $2 the rows as a JSON array of
 * [seq, at ms, subject_ref, principal, action, body, hash hex].
 */
const APPEND_IF_HEAD = named(
  "haechi_audit_append_cas_json",
  `WITH rows AS (
     SELECT (r->>0)::bigint AS seq, to_timestamp((r->>1)::float8 / 1000) AS at, r->>2 AS subject_ref,
            r->>3 AS principal, r->>4 AS action, r->>5 AS body, decode(r->>6, 'hex') AS hash,
            ordinality AS i
       FROM json_array_elements($2::json) WITH ORDINALITY AS t(r, ordinality)),
   moved AS (
     UPDATE haechi_audit.audit_head
        SET (seq, hash) = (SELECT seq, hash FROM rows ORDER BY i DESC LIMIT 1)
      WHERE id = 1 AND seq IS NOT DISTINCT FROM $1::bigint AND hash IS NOT DISTINCT FROM $3::bytea
      RETURNING 1)
   INSERT INTO haechi_audit.audit_log (${AUDIT_COLUMNS})
   SELECT seq, at, subject_ref, principal, action, body, hash FROM rows
    WHERE EXISTS (SELECT 1 FROM moved)`,
);
/**
 * Pages come back as arrays with `at` in epoch milliseconds: parsing timestamptz text and
 * building a row object per row dominated reading the log.
 */
const PAGE = named(
  "haechi_audit_page",
  `SELECT seq, (extract(epoch FROM at) * 1000)::float8, subject_ref, principal, action, body, hash
   FROM haechi_audit.audit_log WHERE seq > $1 ORDER BY seq LIMIT $2`,
);
const SEQ_RANGE = named("haechi_audit_seq_range", "SELECT min(seq), max(seq) FROM haechi_audit.audit_log");
/**
 * What a verification worker runs on its own connection (ports.ts `AuditReadSource`). A range
 * streams in one binary COPY: no per-row text parsing in the driver (which costs more than the
 * hashing) and the server produces rows while the worker hashes them.
 */
const VERIFY_SQL: Extract<AuditReadSource, { kind: "postgres" }>["sql"] = {
  copy: `COPY (SELECT seq, body, hash FROM haechi_audit.audit_log WHERE seq > $1 AND seq <= $2 ORDER BY seq)
         TO STDOUT (FORMAT binary)`,
  before: "SELECT seq, hash FROM haechi_audit.audit_log WHERE seq <= $1 AND seq > $2 ORDER BY seq DESC LIMIT 1",
};
const BY_SUBJECT_REF = named(
  "haechi_audit_by_subject_ref",
  `SELECT ${AUDIT_COLUMNS} FROM haechi_audit.audit_log WHERE subject_ref = $1 ORDER BY seq LIMIT $2`,
);
const BY_SUBJECT_REF_NEWEST = named(
  "haechi_audit_by_subject_ref_newest",
  `SELECT ${AUDIT_COLUMNS} FROM haechi_audit.audit_log WHERE subject_ref = $1 ORDER BY seq DESC LIMIT $2`,
);

/**
 * Incident scope over the index (principal, at, seq) of 0002_audit_by_principal; the row
 * comparison resumes after the previous page's last row from the index. Array rows, `at` in
 * epoch milliseconds (as PAGE).
 */
const BY_PRINCIPAL_FIRST = named(
  "haechi_audit_by_principal_first",
  `SELECT seq, (extract(epoch FROM at) * 1000)::float8, subject_ref, principal, action, body
   FROM haechi_audit.audit_log WHERE principal = $1 AND at >= $2 AND at < $3 ORDER BY at, seq LIMIT $4`,
);
const BY_PRINCIPAL_AFTER = named(
  "haechi_audit_by_principal_after",
  `SELECT seq, (extract(epoch FROM at) * 1000)::float8, subject_ref, principal, action, body
   FROM haechi_audit.audit_log WHERE principal = $1 AND (at, seq) > ($2, $3) AND at < $4 ORDER BY at, seq LIMIT $5`,
);
const DETECTION_ALERTS = named(
  "haechi_audit_detection_alerts",
  `SELECT seq, (extract(epoch FROM at) * 1000)::float8, subject_ref, principal, action, body, hash
   FROM haechi_audit.audit_log WHERE action = 'detection.alert' AND seq > $1 ORDER BY seq LIMIT $2`,
);

type AuditDbRow = PgAuditDb["haechi_audit.audit_log"];
type HeadDbRow = Omit<PgAuditDb["haechi_audit.audit_head"], "id">;
type CheckpointDbRow = PgAuditDb["haechi_audit.checkpoints"];

const toRow = (r: AuditDbRow): AuditRow => ({
  seq: Number(r.seq),
  at: r.at,
  subjectRef: r.subject_ref,
  principal: r.principal,
  action: r.action,
  body: r.body,
  hash: r.hash,
});
type AuditDbArray = [string, number, string | null, string | null, string, string, Buffer];
type AuditEntryArray = [string, number, string | null, string | null, string, string];
const fromArray = (r: AuditDbArray): AuditRow => ({
  seq: Number(r[0]),
  at: new Date(Math.round(r[1])),
  subjectRef: r[2],
  principal: r[3],
  action: r[4],
  body: r[5],
  hash: r[6],
});
const toHead = (r: HeadDbRow | undefined): AuditHead | null =>
  r === undefined || r.seq === null || r.hash === null ? null : { seq: Number(r.seq), hash: r.hash };
const toCheckpoint = (r: CheckpointDbRow): Checkpoint => ({
  seq: Number(r.seq),
  hash: r.hash,
  at: r.at,
  keyId: r.key_id,
  signature: r.signature,
});

/** Marks an error thrown by the caller's `build`, which must reach the caller unchanged. */
class BuildFailure {
  constructor(readonly error: unknown) {}
}

/** Opens the audit store on a shared pool, migrating schema `haechi_audit`. */
export const openPgAuditStore = async (shared: SharedPool): Promise<AuditStore> => {
  const db = new Kysely<PgAuditDb>({ dialect: new PostgresDialect({ pool: shared.pool }) });
  await migrate(db as Kysely<any>, pgAuditMigrations, { schema: PG_AUDIT_SCHEMA });
  shared.retain();
  const pool = shared.pool;
  let closed = false;

  /** The head as this process last saw it; `undefined` until first read. */
  let cachedHead: AuditHead | null | undefined;

  return {
    appendBatch: async (build) => {
      try {
        let head = cachedHead !== undefined ? cachedHead : toHead((await runNamed<HeadDbRow>(pool, READ_HEAD, [])).rows[0]);
        for (let attempt = 0; attempt < 50; attempt++) {
          let rows: AuditRow[];
          try {
            rows = build(head);
          } catch (e) {
            throw new BuildFailure(e);
          }
          if (rows.length === 0) return rows;
          checkAuditRows(head, rows);
          // Predict the head this append will leave, so a concurrent append (AuditLog with
          // maxInFlight > 1) chains onto it and waits on the head row's lock instead of a round trip.
          const predicted = { seq: rows[rows.length - 1]!.seq, hash: rows[rows.length - 1]!.hash };
          cachedHead = predicted;
          // The rows travel as one JSON document: serialising seven JS arrays into PostgreSQL's
          // text array format (escaping every body) cost more event-loop time than the append.
          const res = await runNamed(pool, APPEND_IF_HEAD, [
            head === null ? null : head.seq,
            JSON.stringify(rows.map((r) => [r.seq, r.at.getTime(), r.subjectRef, r.principal, r.action, r.body, r.hash.toString("hex")])),
            head === null ? null : head.hash,
          ]);
          if (res.rowCount === rows.length) return rows;
          // Another writer moved the head: chain again from where the log now ends.
          head = toHead((await runNamed<HeadDbRow>(pool, READ_HEAD, [])).rows[0]);
          cachedHead = head;
        }
        throw storageFailure(new Error("audit head kept moving"), "audit append did not settle");
      } catch (e) {
        if (e instanceof BuildFailure) throw e.error;
        cachedHead = undefined;
        throw isHaechiError(e) ? e : mapDriverError(e);
      }
    },
    head: () => guard(async () => toHead((await runNamed<HeadDbRow>(pool, READ_HEAD, [])).rows[0])),
    async *iterate(afterSeq, pageSize) {
      const size = Math.max(1, Math.trunc(pageSize));
      let after = afterSeq;
      for (;;) {
        let raw: AuditDbArray[];
        try {
          raw = (await pool.query<AuditDbArray>({ name: PAGE.name, text: PAGE.text, values: [after, size], rowMode: "array" }))
            .rows;
        } catch (e) {
          throw mapDriverError(e);
        }
        if (raw.length === 0) return;
        const rows = raw.map(fromArray);
        after = rows[rows.length - 1]!.seq;
        yield rows;
        if (raw.length < size) return;
      }
    },
    bySubjectRef: (ref, limit, order = "oldest") =>
      guard(async () =>
        (await runNamed<AuditDbRow>(pool, order === "newest" ? BY_SUBJECT_REF_NEWEST : BY_SUBJECT_REF, [ref, Math.max(0, Math.trunc(limit))])).rows.map(toRow),
      ),
    byPrincipal: (principal, from, to, after, limit) =>
      guard(async () => {
        const n = Math.max(0, Math.trunc(limit));
        const q =
          after === null
            ? { ...BY_PRINCIPAL_FIRST, values: [principal, from, to, n] }
            : { ...BY_PRINCIPAL_AFTER, values: [principal, after.at, after.seq, to, n] };
        return (await pool.query<AuditEntryArray>({ ...q, rowMode: "array" })).rows.map(
          (r): AuditEntryRow => ({ seq: Number(r[0]), at: new Date(Math.round(r[1])), subjectRef: r[2], principal: r[3], action: r[4], body: r[5] }),
        );
      }),
    detectionAlerts: (afterSeq, limit) =>
      guard(async () =>
        (
          await pool.query<AuditDbArray>({ ...DETECTION_ALERTS, values: [afterSeq, Math.max(0, Math.trunc(limit))], rowMode: "array" })
        ).rows.map(fromArray),
      ),
    seqRange: () =>
      guard(async () => {
        const r = (await pool.query<[string | null, string | null]>({ ...SEQ_RANGE, values: [], rowMode: "array" })).rows[0];
        return r === undefined || r[0] === null || r[1] === null ? null : { first: Number(r[0]), last: Number(r[1]) };
      }),
    readSource: () => {
      const url = pool.options.connectionString;
      if (url === undefined) throw storageFailure(undefined, "the audit store has no connection string to share");
      return { kind: "postgres", url, sql: VERIFY_SQL };
    },
    count: () =>
      guard(async () => {
        const row = await db
          .selectFrom("haechi_audit.audit_log")
          .select(({ fn }) => fn.countAll<string>().as("n"))
          .executeTakeFirst();
        return Number(row?.n ?? 0);
      }),
    putCheckpoint: (cp) =>
      guard(
        async () => {
          await db
            .insertInto("haechi_audit.checkpoints")
            .values({ seq: cp.seq, hash: cp.hash, at: cp.at, key_id: cp.keyId, signature: cp.signature })
            .execute();
        },
        { unique: CHECKPOINT_EXISTS },
      ),
    latestCheckpoint: () =>
      guard(async () => {
        const row = await db
          .selectFrom("haechi_audit.checkpoints")
          .selectAll()
          .orderBy("seq", "desc")
          .limit(1)
          .executeTakeFirst();
        return row === undefined ? undefined : toCheckpoint(row);
      }),
    listCheckpoints: () =>
      guard(async () => (await db.selectFrom("haechi_audit.checkpoints").selectAll().orderBy("seq").execute()).map(toCheckpoint)),
    close: async () => {
      if (closed) return;
      closed = true;
      await shared.release();
    },
  };
};
