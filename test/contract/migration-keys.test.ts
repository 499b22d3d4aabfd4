/**
 * Migration 0003_audit_ref_unindexed of the key store (ADR 0008), on a database written by the
 * earlier migrations, on SQLite and PostgreSQL: every key is kept, the audit-reference index is
 * gone, and the keys still work (found by reference, destroyed in bulk).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import type { WrappedKeyRow } from "../../src/core/ports.js";
import { openPostgresStores, openSqliteStores, type Stores } from "../../src/storage/index.js";
import { migrate, type MigrationList } from "../../src/storage/migrations/migrate.js";
import { PG_KEYS_SCHEMA, pgKeyMigrations } from "../../src/storage/migrations/postgres-migrations.js";
import { sqliteKeyMigrations } from "../../src/storage/migrations/sqlite-migrations.js";
import { kyselyOn, openSqlite } from "../../src/storage/sqlite/sqlite-connection.js";
import { freshDatabase, startPostgres, type RunningPostgres } from "../helpers/pg.js";
import { wrappedKeyRow } from "./store-fixture.js";

const before0003 = (list: MigrationList): MigrationList => Object.fromEntries(Object.entries(list).filter(([name]) => name < "0003"));

/** What must hold after the migration, through the store's own API. */
const assertKept = async (stores: Stores, rows: readonly WrappedKeyRow[]) => {
  const { keys } = stores;
  const byId = (a: WrappedKeyRow, b: WrappedKeyRow) => (a.subjectId < b.subjectId ? -1 : 1);
  assert.deepEqual([...(await keys.getMany(rows.map((r) => r.subjectId)))].sort(byId), [...rows].sort(byId));
  const found = await keys.findByAuditRefs(rows.map((r) => r.auditRef));
  assert.deepEqual(
    rows.map((r) => found.get(r.auditRef)),
    rows.map((r) => r.subjectId),
  );
  assert.equal(await keys.destroyMany([rows[0]!.subjectId, rows[1]!.subjectId]), 2);
  assert.equal((await keys.findByAuditRefs([rows[0]!.auditRef])).size, 0, "a destroyed key's reference leads nowhere");
  await keys.put(wrappedKeyRow());
};

const insertValues = (rows: readonly WrappedKeyRow[], createdAt: (d: Date) => unknown) =>
  sql.join(rows.map((r) => sql`(${r.subjectId}, ${r.kekVersion}, ${r.dekVersion}, ${r.wrapped}, ${r.auditRef}, ${createdAt(r.createdAt)})`));

describe("migration 0003_audit_ref_unindexed on an existing SQLite key store", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-migrate-keys-"));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const rows = Array.from({ length: 5 }, wrappedKeyRow);

  it("keeps every key and drops the audit-reference index (ADR 0008)", async () => {
    const file = path.join(dir, "keys.db");
    const conn = openSqlite(file, { synchronous: "FULL", secureDelete: true });
    const db = kyselyOn<any>(conn);
    await migrate(db, before0003(sqliteKeyMigrations));
    await sql`INSERT INTO wrapped_keys (subject_id, kek_version, dek_version, wrapped, audit_ref, created_at)
              VALUES ${insertValues(rows, (d) => d.getTime())}`.execute(db);
    const indexesBefore = (conn.pragma("index_list(wrapped_keys)") as { origin: string }[]).map((i) => i.origin);
    assert.ok(indexesBefore.includes("u"), "the unique index exists before");
    await db.destroy();
    conn.close();

    const stores = await openSqliteStores({ dir });
    try {
      await assertKept(stores, rows);
    } finally {
      await stores.close();
    }
    const check = openSqlite(file, { synchronous: "FULL", secureDelete: true });
    try {
      assert.deepEqual((check.pragma("index_list(wrapped_keys)") as { origin: string }[]).map((i) => i.origin), ["pk"]);
      assert.equal((check.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE name LIKE 'new_wrapped_keys%'").get() as { n: number }).n, 0);
      const applied = check.prepare("SELECT name FROM haechi_migration ORDER BY name").all() as { name: string }[];
      assert.deepEqual(applied.map((a) => a.name), Object.keys(sqliteKeyMigrations).sort());
    } finally {
      check.close();
    }
  });

  it("a rerun after a crash between its commit and its record rebuilds nothing", async () => {
    const file = path.join(dir, "keys.db");
    const conn = openSqlite(file, { synchronous: "FULL", secureDelete: true });
    const db = kyselyOn<any>(conn);
    try {
      const count = () => (conn.prepare("SELECT count(*) AS n FROM wrapped_keys").get() as { n: number }).n;
      const n = count();
      await sqliteKeyMigrations["0003_audit_ref_unindexed"]!.up(db);
      assert.equal(count(), n);
      assert.equal(conn.inTransaction, false);
    } finally {
      await db.destroy();
      conn.close();
    }
  });
});

describe("migration 0003_audit_ref_unindexed on an existing PostgreSQL key store", () => {
  let server: RunningPostgres | undefined;
  let database: { url: string; drop(): Promise<void> } | undefined;
  after(async () => {
    await database?.drop();
    await server?.stop();
  });
  const rows = Array.from({ length: 5 }, wrappedKeyRow);

  it("keeps every key and drops the audit-reference index (ADR 0008)", async () => {
    server = await startPostgres();
    database = await freshDatabase(server.url);
    const pool = new pg.Pool({ connectionString: database.url, max: 2 });
    const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
    try {
      await migrate(db, before0003(pgKeyMigrations), { schema: PG_KEYS_SCHEMA });
      await sql`INSERT INTO haechi_keys.wrapped_keys (subject_id, kek_version, dek_version, wrapped, audit_ref, created_at)
                VALUES ${insertValues(rows, (d) => d)}`.execute(db);
      const stores = await openPostgresStores({ url: database.url, poolSize: 4 });
      try {
        await assertKept(stores, rows);
      } finally {
        await stores.close();
      }
      const indexes = await sql<{ indexname: string }>`SELECT indexname FROM pg_indexes
        WHERE schemaname = 'haechi_keys' AND tablename = 'wrapped_keys' AND indexdef ILIKE '%audit_ref%'`.execute(db);
      assert.deepEqual(indexes.rows, []);
      const applied = await sql<{ name: string }>`SELECT name FROM haechi_keys.haechi_migration ORDER BY name`.execute(db);
      assert.deepEqual(applied.rows.map((a) => a.name), Object.keys(pgKeyMigrations).sort());
    } finally {
      await db.destroy();
    }
  });
});
