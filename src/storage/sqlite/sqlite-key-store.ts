/**
 * KeyStore on SQLite (`keys.db`). Every operation is a single synchronous statement (or one
 * synchronous transaction), so one connection needs no mutex.
 *
 * Crypto-shredding: `secure_delete=ON` zeroes a deleted row's bytes in the page, and after a
 * destroy the WAL is checkpointed and truncated so older frames holding the key are gone too.
 */
import type Database from "better-sqlite3";
import type { Kysely } from "kysely";
import { asAuditRef, asSubjectId } from "../../core/ids.js";
import type { KeyStore, WrappedKeyRow } from "../../core/ports.js";
import { migrate } from "../migrations/migrate.js";
import { sqliteKeyMigrations } from "../migrations/sqlite-migrations.js";
import { AUDIT_REF_IN_USE, guard } from "../storage-errors.js";
import { kyselyOn, openSqlite, type SqliteSynchronous } from "./sqlite-connection.js";
import type { SqliteKeyDb } from "./sqlite-schema.js";

export interface SqliteKeyStoreOptions {
  file: string;
  synchronous: SqliteSynchronous;
}

type KeyDbRow = SqliteKeyDb["wrapped_keys"];

const toKey = (r: KeyDbRow): WrappedKeyRow => ({
  subjectId: asSubjectId(r.subject_id),
  kekVersion: r.kek_version,
  dekVersion: r.dek_version,
  wrapped: r.wrapped,
  auditRef: asAuditRef(r.audit_ref),
  createdAt: new Date(r.created_at),
});

/** Opens (creating and migrating) `keys.db`. */
export const openSqliteKeyStore = async (opts: SqliteKeyStoreOptions): Promise<KeyStore> => {
  const conn = openSqlite(opts.file, { synchronous: opts.synchronous, secureDelete: true });
  const db = kyselyOn<SqliteKeyDb>(conn);
  try {
    await migrate(db, sqliteKeyMigrations);
  } catch (e) {
    conn.close();
    throw e;
  }
  return sqliteKeyStore(conn, db);
};

const sqliteKeyStore = (conn: Database.Database, db: Kysely<SqliteKeyDb>): KeyStore => {
  const st = {
    // A put replaces: re-keying a subject writes its new data key over the old one.
    upsert: conn.prepare<[string, number, number, Buffer, string, number]>(
      `INSERT INTO wrapped_keys (subject_id, kek_version, dek_version, wrapped, audit_ref, created_at)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (subject_id) DO UPDATE SET kek_version = excluded.kek_version,
         dek_version = excluded.dek_version, wrapped = excluded.wrapped,
         audit_ref = excluded.audit_ref, created_at = excluded.created_at`,
    ),
    get: conn.prepare<[string], KeyDbRow>(
      `SELECT subject_id, kek_version, dek_version, wrapped, audit_ref, created_at
       FROM wrapped_keys WHERE subject_id = ?`,
    ),
    // One JSON array parameter whatever the count: no per-arity statements, no parameter limit.
    getMany: conn.prepare<[string], KeyDbRow>(
      `SELECT subject_id, kek_version, dek_version, wrapped, audit_ref, created_at
       FROM wrapped_keys WHERE subject_id IN (SELECT value FROM json_each(?))`,
    ),
    destroy: conn.prepare<[string]>("DELETE FROM wrapped_keys WHERE subject_id = ?"),
    rewrap: conn.prepare<[number, Buffer, string, number]>(
      "UPDATE wrapped_keys SET kek_version = ?, wrapped = ? WHERE subject_id = ? AND kek_version = ?",
    ),
  };
  const upsert = (row: WrappedKeyRow) =>
    st.upsert.run(row.subjectId, row.kekVersion, row.dekVersion, row.wrapped, row.auditRef, row.createdAt.getTime());
  const putMany = conn.transaction((rows: readonly WrappedKeyRow[]) => {
    // In id order: neighbouring inserts touch neighbouring pages.
    for (const row of [...rows].sort((a, b) => (a.subjectId < b.subjectId ? -1 : a.subjectId > b.subjectId ? 1 : 0))) {
      upsert(row);
    }
  });
  const rewrapMany = conn.transaction((items: readonly { id: string; fromKek: number; toKek: number; wrapped: Buffer }[]) => {
    let n = 0;
    for (const it of items) n += st.rewrap.run(it.toKek, it.wrapped, it.id, it.fromKek).changes;
    return n;
  });
  let closed = false;

  return {
    put: (row) =>
      guard(
        () => {
          upsert(row);
        },
        { unique: AUDIT_REF_IN_USE },
      ),
    putMany: (rows) =>
      guard(
        () => {
          putMany.immediate(rows);
        },
        { unique: AUDIT_REF_IN_USE },
      ),
    get: (id) =>
      guard(() => {
        const row = st.get.get(id);
        return row === undefined ? undefined : toKey(row);
      }),
    getMany: (ids) => guard(() => (ids.length === 0 ? [] : st.getMany.all(JSON.stringify(ids)).map(toKey))),
    destroy: (id) =>
      guard(() => {
        const destroyed = st.destroy.run(id).changes > 0;
        // Older WAL frames still hold the key: checkpoint and truncate the WAL (best effort if
        // another process is reading; its next checkpoint finishes the job).
        if (destroyed) conn.pragma("wal_checkpoint(TRUNCATE)");
        return destroyed;
      }),
    findByAuditRef: (ref) =>
      guard(async () => {
        const row = await db.selectFrom("wrapped_keys").select("subject_id").where("audit_ref", "=", ref).executeTakeFirst();
        return row === undefined ? undefined : asSubjectId(row.subject_id);
      }),
    listNotWrappedBy: (kekVersion, afterId, limit) =>
      guard(async () => {
        let q = db.selectFrom("wrapped_keys").selectAll().where("kek_version", "!=", kekVersion);
        if (afterId !== null) q = q.where("subject_id", ">", afterId);
        return (await q.orderBy("subject_id").limit(limit).execute()).map(toKey);
      }),
    rewrap: (id, fromKek, toKek, wrapped) => guard(() => st.rewrap.run(toKek, wrapped, id, fromKek).changes > 0),
    rewrapMany: (items) => guard(() => (items.length === 0 ? 0 : rewrapMany.immediate(items))),
    countByKekVersion: () =>
      guard(async () => {
        const rows = await db
          .selectFrom("wrapped_keys")
          .select(({ fn }) => ["kek_version", fn.countAll<number>().as("count")])
          .groupBy("kek_version")
          .orderBy("kek_version")
          .execute();
        return rows.map((r) => ({ kekVersion: Number(r.kek_version), count: Number(r.count) }));
      }),
    close: async () => {
      if (closed) return;
      closed = true;
      await db.destroy();
    },
  };
};
