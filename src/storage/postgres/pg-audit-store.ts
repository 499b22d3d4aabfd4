/**
 * AuditStore on PostgreSQL (schema `haechi_audit`). An append locks the single head row
 * (`SELECT … FOR UPDATE`), so appends from several processes queue on it and every `build`
 * sees the head the previous append left.
 */
import { Kysely, PostgresDialect } from "kysely";
import type pg from "pg";
import type { AuditHead, AuditRow, AuditStore, Checkpoint } from "../../core/ports.js";
import { migrate } from "../migrations/migrate.js";
import { PG_AUDIT_SCHEMA, pgAuditMigrations } from "../migrations/postgres-migrations.js";
import { CHECKPOINT_EXISTS, guard, mapDriverError, storageFailure } from "../storage-errors.js";
import { checkAuditRows } from "../store-fns.js";
import type { SharedPool } from "./pg-pool.js";
import { iso, named, runNamed } from "./pg-query.js";
import type { PgAuditDb } from "./pg-schema.js";

const AUDIT_COLUMNS = "seq, at, subject_ref, principal, action, body, hash";

const LOCK_HEAD = named("haechi_audit_lock_head", "SELECT seq, hash FROM haechi_audit.audit_head WHERE id = 1 FOR UPDATE");
const READ_HEAD = named("haechi_audit_head", "SELECT seq, hash FROM haechi_audit.audit_head WHERE id = 1");
const INSERT_ROWS = named(
  "haechi_audit_insert",
  `INSERT INTO haechi_audit.audit_log (${AUDIT_COLUMNS})
   SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[])`,
);
const SET_HEAD = named("haechi_audit_set_head", "UPDATE haechi_audit.audit_head SET seq = $1, hash = $2 WHERE id = 1");
/**
 * Pages come back as arrays with `at` in epoch milliseconds: parsing timestamptz text and
 * building a row object per row dominated reading the log.
 */
const PAGE = named(
  "haechi_audit_page",
  `SELECT seq, (extract(epoch FROM at) * 1000)::float8, subject_ref, principal, action, body, hash
   FROM haechi_audit.audit_log WHERE seq > $1 ORDER BY seq LIMIT $2`,
);
const BY_SUBJECT_REF = named(
  "haechi_audit_by_subject_ref",
  `SELECT ${AUDIT_COLUMNS} FROM haechi_audit.audit_log WHERE subject_ref = $1 ORDER BY seq LIMIT $2`,
);

interface AuditDbRow {
  seq: string;
  at: Date;
  subject_ref: string | null;
  principal: string | null;
  action: string;
  body: string;
  hash: Buffer;
}
interface HeadDbRow {
  seq: string | null;
  hash: Buffer | null;
}
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

  const appendOn = async (client: pg.PoolClient, build: (head: AuditHead | null) => AuditRow[]) => {
    await client.query("BEGIN");
    const head = toHead((await runNamed<HeadDbRow>(client, LOCK_HEAD, [])).rows[0]);
    let rows: AuditRow[];
    try {
      rows = build(head);
    } catch (e) {
      throw new BuildFailure(e);
    }
    if (rows.length > 0) {
      checkAuditRows(head, rows);
      await runNamed(client, INSERT_ROWS, [
        rows.map((r) => r.seq),
        rows.map((r) => iso(r.at)),
        rows.map((r) => r.subjectRef),
        rows.map((r) => r.principal),
        rows.map((r) => r.action),
        rows.map((r) => r.body),
        rows.map((r) => r.hash),
      ]);
      const last = rows[rows.length - 1]!;
      await runNamed(client, SET_HEAD, [last.seq, last.hash]);
    }
    await client.query("COMMIT");
    return rows;
  };

  return {
    appendBatch: async (build) => {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (e) {
        throw storageFailure(e);
      }
      let broken: Error | undefined;
      try {
        return await appendOn(client, build);
      } catch (e) {
        try {
          await client.query("ROLLBACK");
        } catch (rollbackError) {
          broken = rollbackError instanceof Error ? rollbackError : new Error("rollback failed");
        }
        if (e instanceof BuildFailure) throw e.error;
        throw mapDriverError(e);
      } finally {
        client.release(broken);
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
    bySubjectRef: (ref, limit) =>
      guard(async () =>
        (await runNamed<AuditDbRow>(pool, BY_SUBJECT_REF, [ref, Math.max(0, Math.trunc(limit))])).rows.map(toRow),
      ),
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
