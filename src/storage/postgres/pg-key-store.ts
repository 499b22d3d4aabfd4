/**
 * KeyStore on PostgreSQL (schema `haechi_keys`).
 *
 * Crypto-shredding caveat: PostgreSQL keeps a deleted tuple's bytes until VACUUM reuses the
 * space, and in WAL and backups. Destroying the row makes the key unreachable through Haechi;
 * the guarantee against copies is KEK rotation (rewrap everything, retire the old KEK).
 * `purge` runs VACUUM on the key tables, which frees the dead tuples' space for reuse; it cannot
 * reach tuples an older snapshot still sees, nor the WAL, replicas or backups.
 */
import { Kysely, PostgresDialect } from "kysely";
import type pg from "pg";
import { asAuditRef, asSubjectId } from "../../core/ids.js";
import type { AuditRef, SubjectId } from "../../core/ids.js";
import type { KeyStore, SealedKeyRow, WrappedKeyRow } from "../../core/ports.js";
import { migrate } from "../migrations/migrate.js";
import { PG_KEYS_SCHEMA, pgKeyMigrations } from "../migrations/postgres-migrations.js";
import { PURGE_SKIPPED, guard, storageFailure } from "../storage-errors.js";
import type { SharedPool } from "./pg-pool.js";
import { iso, named, runNamed } from "./pg-query.js";
import type { PgKeyDb } from "./pg-schema.js";

type KeyDbRow = PgKeyDb["haechi_keys.wrapped_keys"];

const KEY_COLUMNS = "subject_id, kek_version, dek_version, wrapped, audit_ref, created_at";

// A put replaces: re-keying a subject writes its new data key over the old one.
const UPSERT_SET = `ON CONFLICT (subject_id) DO UPDATE SET kek_version = EXCLUDED.kek_version,
  dek_version = EXCLUDED.dek_version, wrapped = EXCLUDED.wrapped,
  audit_ref = EXCLUDED.audit_ref, created_at = EXCLUDED.created_at`;

const GET_KEY = named("haechi_keys_get", `SELECT ${KEY_COLUMNS} FROM haechi_keys.wrapped_keys WHERE subject_id = $1`);
const GET_KEYS = named(
  "haechi_keys_get_many",
  `SELECT ${KEY_COLUMNS} FROM haechi_keys.wrapped_keys WHERE subject_id = ANY($1::text[])`,
);
const PUT_KEY = named(
  "haechi_keys_put",
  `INSERT INTO haechi_keys.wrapped_keys (${KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) ${UPSERT_SET}`,
);
const PUT_KEYS = named(
  "haechi_keys_put_many",
  `INSERT INTO haechi_keys.wrapped_keys (${KEY_COLUMNS})
   SELECT * FROM unnest($1::text[], $2::integer[], $3::integer[], $4::bytea[], $5::text[], $6::timestamptz[])
   ${UPSERT_SET}`,
);
const DESTROY_KEY = named("haechi_keys_destroy", "DELETE FROM haechi_keys.wrapped_keys WHERE subject_id = $1");
// Many keys, one statement (one round trip, one implicit transaction). The ids joined as a set:
// with thousands of ids the custom plans for `= ANY($1)` misjudge the index (see pg-data-store
// ERASE_MANY); 3.8 against 5.4 µs per key for 5,000 keys.
/** A sequential scan: audit_ref is not indexed (ADR 0008). */
const FIND_BY_AUDIT_REFS = named(
  "haechi_keys_find_by_audit_refs",
  "SELECT subject_id, audit_ref FROM haechi_keys.wrapped_keys WHERE audit_ref = ANY($1::text[])",
);
const DESTROY_KEYS = named(
  "haechi_keys_destroy_many",
  `DELETE FROM haechi_keys.wrapped_keys x USING (SELECT DISTINCT unnest($1::text[]) COLLATE "C" AS id) ids
    WHERE x.subject_id = ids.id`,
);
const REWRAP_KEY = named(
  "haechi_keys_rewrap",
  "UPDATE haechi_keys.wrapped_keys SET kek_version = $3, wrapped = $4 WHERE subject_id = $1 AND kek_version = $2",
);

const REWRAP_MANY = named(
  "haechi_keys_rewrap_many",
  `UPDATE haechi_keys.wrapped_keys k SET kek_version = u.to_kek, wrapped = u.wrapped
     FROM unnest($1::text[], $2::integer[], $3::integer[], $4::bytea[]) AS u(subject_id, from_kek, to_kek, wrapped)
    WHERE k.subject_id = u.subject_id AND k.kek_version = u.from_kek`,
);

const SEALED_COLUMNS = "subject_id, kek_version, wrapped, until, created_at";
// A put replaces: sealing again (a repeated erasure) writes the new key over the old one.
const PUT_SEALED = named(
  "haechi_keys_put_sealed",
  `INSERT INTO haechi_keys.sealed_keys (${SEALED_COLUMNS}) VALUES ($1, $2, $3, $4, $5)
   ON CONFLICT (subject_id) DO UPDATE SET kek_version = EXCLUDED.kek_version,
     wrapped = EXCLUDED.wrapped, until = EXCLUDED.until, created_at = EXCLUDED.created_at`,
);
const GET_SEALED = named(
  "haechi_keys_get_sealed",
  `SELECT ${SEALED_COLUMNS} FROM haechi_keys.sealed_keys WHERE subject_id = $1`,
);
const DESTROY_SEALED = named("haechi_keys_destroy_sealed", "DELETE FROM haechi_keys.sealed_keys WHERE subject_id = $1");
const DUE_SEALED = named(
  "haechi_keys_due_sealed",
  `SELECT ${SEALED_COLUMNS} FROM haechi_keys.sealed_keys WHERE until <= $1 ORDER BY until, subject_id LIMIT $2`,
);
// VACUUM cannot run inside a transaction block, nor as a prepared statement: plain text, no BEGIN.
const VACUUM_KEYS = "VACUUM haechi_keys.wrapped_keys, haechi_keys.sealed_keys";

type SealedKeyDbRow = PgKeyDb["haechi_keys.sealed_keys"];

const toSealedKey = (r: SealedKeyDbRow): SealedKeyRow => ({
  subjectId: asSubjectId(r.subject_id),
  kekVersion: r.kek_version,
  wrapped: r.wrapped,
  until: r.until,
  createdAt: r.created_at,
});

const toKey = (r: KeyDbRow): WrappedKeyRow => ({
  subjectId: asSubjectId(r.subject_id),
  kekVersion: r.kek_version,
  dekVersion: r.dek_version,
  wrapped: r.wrapped,
  auditRef: asAuditRef(r.audit_ref),
  createdAt: r.created_at,
});

/** Opens the key store on a shared pool, migrating schema `haechi_keys`. */
export const openPgKeyStore = async (shared: SharedPool): Promise<KeyStore> => {
  const db = new Kysely<PgKeyDb>({ dialect: new PostgresDialect({ pool: shared.pool }) });
  await migrate(db as Kysely<any>, pgKeyMigrations, { schema: PG_KEYS_SCHEMA });
  shared.retain();
  const pool = shared.pool;
  let closed = false;

  return {
    put: (row) =>
      guard(async () => {
        await runNamed(pool, PUT_KEY, [row.subjectId, row.kekVersion, row.dekVersion, row.wrapped, row.auditRef, row.createdAt]);
      }),
    putMany: (rows) =>
      guard(async () => {
        if (rows.length === 0) return;
        // Last row per subject wins, so the one statement never writes a row twice.
        const unique = [...new Map(rows.map((r) => [r.subjectId as string, r])).values()];
        await runNamed(pool, PUT_KEYS, [
          unique.map((r) => r.subjectId),
          unique.map((r) => r.kekVersion),
          unique.map((r) => r.dekVersion),
          unique.map((r) => r.wrapped),
          unique.map((r) => r.auditRef),
          unique.map((r) => iso(r.createdAt)),
        ]);
      }),
    get: (id) =>
      guard(async () => {
        const row = (await runNamed<KeyDbRow>(pool, GET_KEY, [id])).rows[0];
        return row === undefined ? undefined : toKey(row);
      }),
    getMany: (ids) =>
      guard(async () => (ids.length === 0 ? [] : (await runNamed<KeyDbRow>(pool, GET_KEYS, [ids])).rows.map(toKey))),
    destroy: (id) => guard(async () => ((await runNamed(pool, DESTROY_KEY, [id])).rowCount ?? 0) > 0),
    destroyMany: (ids) =>
      guard(async () => (ids.length === 0 ? 0 : ((await runNamed(pool, DESTROY_KEYS, [ids])).rowCount ?? 0))),
    findByAuditRefs: (refs) =>
      guard(async () => {
        const found = new Map<AuditRef, SubjectId>();
        if (refs.length === 0) return found;
        const { rows } = await runNamed<{ subject_id: string; audit_ref: string }>(pool, FIND_BY_AUDIT_REFS, [[...new Set(refs)]]);
        for (const r of rows) found.set(asAuditRef(r.audit_ref), asSubjectId(r.subject_id));
        return found;
      }),
    listNotWrappedBy: (kekVersion, afterId, limit) =>
      guard(async () => {
        let q = db.selectFrom("haechi_keys.wrapped_keys").selectAll().where("kek_version", "!=", kekVersion);
        if (afterId !== null) q = q.where("subject_id", ">", afterId);
        return (await q.orderBy("subject_id").limit(limit).execute()).map(toKey);
      }),
    rewrap: (id, fromKek, toKek, wrapped) =>
      guard(async () => ((await runNamed(pool, REWRAP_KEY, [id, fromKek, toKek, wrapped])).rowCount ?? 0) > 0),
    rewrapMany: (items) =>
      guard(async () =>
        items.length === 0
          ? 0
          : ((
              await runNamed(pool, REWRAP_MANY, [
                items.map((i) => i.id),
                items.map((i) => i.fromKek),
                items.map((i) => i.toKek),
                items.map((i) => i.wrapped),
              ])
            ).rowCount ?? 0),
      ),
    countByKekVersion: () =>
      guard(async () => {
        const rows = await db
          .selectFrom("haechi_keys.wrapped_keys")
          .select(({ fn }) => ["kek_version", fn.countAll<string>().as("count")])
          .groupBy("kek_version")
          .orderBy("kek_version")
          .execute();
        return rows.map((r) => ({ kekVersion: Number(r.kek_version), count: Number(r.count) }));
      }),

    putSealed: (row) =>
      guard(async () => {
        await runNamed(pool, PUT_SEALED, [row.subjectId, row.kekVersion, row.wrapped, row.until, row.createdAt]);
      }),
    getSealed: (id) =>
      guard(async () => {
        const row = (await runNamed<SealedKeyDbRow>(pool, GET_SEALED, [id])).rows[0];
        return row === undefined ? undefined : toSealedKey(row);
      }),
    destroySealed: (id) => guard(async () => ((await runNamed(pool, DESTROY_SEALED, [id])).rowCount ?? 0) > 0),
    dueSealed: (now, limit) =>
      guard(async () => (await runNamed<SealedKeyDbRow>(pool, DUE_SEALED, [now, limit])).rows.map(toSealedKey)),
    listSealedNotWrappedBy: (kekVersion, afterId, limit) =>
      guard(async () => {
        let q = db.selectFrom("haechi_keys.sealed_keys").selectAll().where("kek_version", "!=", kekVersion);
        if (afterId !== null) q = q.where("subject_id", ">", afterId);
        return (await q.orderBy("subject_id").limit(limit).execute()).map(toSealedKey);
      }),
    rewrapSealedMany: (items) =>
      guard(async () =>
        items.length === 0
          ? 0
          : db.transaction().execute(async (trx) => {
              let n = 0;
              for (const it of items) {
                const r = await trx
                  .updateTable("haechi_keys.sealed_keys")
                  .set({ kek_version: it.toKek, wrapped: it.wrapped })
                  .where("subject_id", "=", it.id)
                  .where("kek_version", "=", it.fromKek)
                  .executeTakeFirst();
                n += Number(r.numUpdatedRows);
              }
              return n;
            }),
      ),
    purge: async () => {
      // A client of its own, outside any transaction (pool.query would do the same; explicit here).
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (e) {
        throw storageFailure(e);
      }
      // VACUUM skips a table it may not vacuum (not its owner) with only a WARNING notice.
      const warnings: string[] = [];
      const onNotice = (n: { severity?: string | undefined; message?: string | undefined }) => {
        if (n.severity === "WARNING") warnings.push(n.message ?? "");
      };
      client.on("notice", onNotice);
      let failed = false;
      try {
        await client.query(VACUUM_KEYS);
      } catch (e) {
        failed = true;
        throw storageFailure(e);
      } finally {
        client.off("notice", onNotice);
        client.release(failed);
      }
      if (warnings.length > 0) throw storageFailure(new Error(warnings.join("; ")), PURGE_SKIPPED);
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await shared.release();
    },
  };
};
