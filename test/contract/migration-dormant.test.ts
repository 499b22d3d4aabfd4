/**
 * Migration 0004_dormant on an existing database with rows, on SQLite and PostgreSQL: a store
 * created and filled before the migration existed opens, migrates, keeps every row (subjects,
 * values, blind indexes, consent ledger and state, sealed values) and the foreign keys that
 * point at `subjects`, and then admits the `dormant` status and the dormant store. On SQLite
 * the table is rebuilt (https://www.sqlite.org/lang_altertable.html section 7), so the test
 * also checks what a botched rebuild would break.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import type { SubjectId } from "../../src/core/ids.js";
import { openPostgresStores, openSqliteStores, type Stores } from "../../src/storage/index.js";
import { migrate, type MigrationList } from "../../src/storage/migrations/migrate.js";
import { PG_DATA_SCHEMA, pgDataMigrations } from "../../src/storage/migrations/postgres-migrations.js";
import { sqliteDataMigrations } from "../../src/storage/migrations/sqlite-migrations.js";
import { kyselyOn, openSqlite } from "../../src/storage/sqlite/sqlite-connection.js";
import { freshDatabase, startPostgres, type RunningPostgres } from "../helpers/pg.js";
import { at, bytes, newId, rejectsWith, T0 } from "./store-fixture.js";

const before0004 = (list: MigrationList): MigrationList => Object.fromEntries(Object.entries(list).filter(([name]) => name < "0004"));

/** The rows an existing install holds, written with the SQL of migrations 0001–0003. */
const rows = () => {
  const active = newId();
  const erased = newId();
  return {
    active,
    erased,
    phone: { ciphertext: bytes(48), digest: bytes(32) },
    name: { ciphertext: bytes(40) },
    sealed: { ciphertext: bytes(56) },
  };
};
type Rows = ReturnType<typeof rows>;

/** What must hold after the migration, through the store's own API. */
const assertKept = async (stores: Stores, r: Rows) => {
  const { data } = stores;
  assert.deepEqual(await data.getSubject(r.active), { id: r.active, createdAt: T0, updatedAt: at(1000), status: "active" });
  assert.equal((await data.getSubject(r.erased))?.status, "erased");
  assert.deepEqual(
    (await data.getFields(r.active, ["phone", "name"])).map((f) => [f.field, f.ciphertext, f.updatedAt.getTime()]),
    [
      ["name", r.name.ciphertext, at(1000).getTime()],
      ["phone", r.phone.ciphertext, at(1000).getTime()],
    ],
  );
  assert.deepEqual(await data.findByLookup("phone", r.phone.digest), [r.active]);
  assert.deepEqual((await data.consentHistory(r.active)).map((e) => [e.id, e.action]), [["ev-1", "grant"]]);
  assert.deepEqual((await data.currentConsents(r.active)).map((c) => [c.notice, c.status]), [["signup", "granted"]]);
  assert.deepEqual((await data.sealed.get(r.erased, [])).map((s) => [s.field, s.ciphertext]), [["transaction_history", r.sealed.ciphertext]]);
  // The new status and the dormant store work on the migrated rows.
  assert.equal(await data.separateMany([r.active], at(2000), at(3000)), 1);
  assert.equal((await data.getSubject(r.active))?.status, "dormant");
  assert.deepEqual(await data.findByLookup("phone", r.phone.digest), []);
  assert.equal((await data.getDormantFields(r.active, ["phone", "name"])).length, 2);
  assert.equal(await data.transaction((tx) => tx.reactivate(r.active, at(4000))), true);
  assert.equal((await data.getFields(r.active, ["phone", "name"])).length, 2);
  // The foreign keys still point at `subjects` and are enforced.
  await rejectsWith(() => data.transaction((tx) => tx.putFields(newId() as SubjectId, [{ field: "phone", ciphertext: bytes(8), updatedAt: T0 }])), "NOT_FOUND");
};

describe("migration 0004_dormant on an existing SQLite database with rows", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-migrate-"));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "data.db");
  const r = rows();

  it("keeps every row, the foreign keys and their enforcement; admits dormant", async () => {
    const conn = openSqlite(file, { synchronous: "FULL", secureDelete: true });
    const db = kyselyOn<any>(conn);
    await migrate(db, before0004(sqliteDataMigrations));
    for (const q of [
      sql`INSERT INTO subjects (id, created_at, updated_at, status) VALUES (${r.active}, ${T0.getTime()}, ${at(1000).getTime()}, 'active'), (${r.erased}, ${T0.getTime()}, ${at(500).getTime()}, 'erased')`,
      sql`INSERT INTO fields (subject_id, field, ciphertext, updated_at) VALUES (${r.active}, 'phone', ${r.phone.ciphertext}, ${at(1000).getTime()}), (${r.active}, 'name', ${r.name.ciphertext}, ${at(1000).getTime()})`,
      sql`INSERT INTO lookups (subject_id, field, digest) VALUES (${r.active}, 'phone', ${r.phone.digest})`,
      sql`INSERT INTO consent_ledger (id, subject_id, notice, notice_version, category, action, channel, at, principal, request_id)
          VALUES ('ev-1', ${r.active}, 'signup', 1, 'collection_use', 'grant', 'web', ${T0.getTime()}, 'shop', 'req-1')`,
      sql`INSERT INTO consent_state (subject_id, notice, notice_version, category, status, channel, at)
          VALUES (${r.active}, 'signup', 1, 'collection_use', 'granted', 'web', ${T0.getTime()})`,
      sql`INSERT INTO sealed_fields (subject_id, field, ciphertext, rule, until, sealed_at)
          VALUES (${r.erased}, 'transaction_history', ${r.sealed.ciphertext}, 'ecommerce_payment', ${at(9000).getTime()}, ${at(500).getTime()})`,
    ])
      await q.execute(db);
    await db.destroy();
    conn.close();

    const stores = await openSqliteStores({ dir });
    try {
      await assertKept(stores, r);
    } finally {
      await stores.close();
    }

    const check = openSqlite(file, { synchronous: "FULL", secureDelete: true });
    try {
      assert.equal(check.pragma("foreign_keys", { simple: true }), 1);
      assert.equal(check.pragma("integrity_check", { simple: true }), "ok");
      assert.deepEqual(check.pragma("foreign_key_check"), []);
      for (const child of ["fields", "lookups", "consent_ledger", "consent_state", "dormant_fields"]) {
        const fks = check.pragma(`foreign_key_list(${child})`) as { table: string; from: string; to: string }[];
        assert.deepEqual(fks.map((f) => [f.table, f.from, f.to]), [["subjects", "subject_id", "id"]], `${child} still references subjects`);
      }
      assert.equal((check.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE name LIKE 'new_subjects%'").get() as { n: number }).n, 0, "no leftover of the rebuild");
      assert.throws(() => check.prepare("UPDATE subjects SET status = 'sleeping' WHERE id = ?").run(r.active), /CHECK constraint/);
      assert.throws(() => check.prepare("DELETE FROM subjects WHERE id = ?").run(r.active), /FOREIGN KEY constraint/);
      // The migration is recorded once.
      const applied = check.prepare("SELECT name FROM haechi_migration ORDER BY name").all() as { name: string }[];
      assert.deepEqual(applied.map((a) => a.name), Object.keys(sqliteDataMigrations).sort());
    } finally {
      check.close();
    }
  });

  it("a second run of the rebuild (a crash before Kysely recorded it) changes nothing", async () => {
    const conn = openSqlite(file, { synchronous: "FULL", secureDelete: true });
    const db = kyselyOn<any>(conn);
    const snapshot = () => ({
      subjects: conn.prepare("SELECT * FROM subjects ORDER BY id").all(),
      fields: conn.prepare("SELECT * FROM fields ORDER BY subject_id, field").all(),
      schema: conn.prepare("SELECT name, sql FROM sqlite_schema ORDER BY name").all(),
    });
    try {
      const beforeRerun = snapshot();
      await sqliteDataMigrations["0004_dormant"]!.up(db);
      assert.deepEqual(snapshot(), beforeRerun);
      assert.equal(conn.pragma("foreign_keys", { simple: true }), 1, "foreign keys are back on");
    } finally {
      await db.destroy();
      conn.close();
    }
  });

  it("fails closed inside a transaction: foreign keys cannot be turned off there, so nothing is rebuilt", async () => {
    const other = path.join(dir, "other.db");
    const conn = openSqlite(other, { synchronous: "FULL", secureDelete: true });
    const db = kyselyOn<any>(conn);
    try {
      await migrate(db, before0004(sqliteDataMigrations));
      await sql`BEGIN`.execute(db);
      await assert.rejects(sqliteDataMigrations["0004_dormant"]!.up(db), /foreign keys could not be turned off/);
      await sql`ROLLBACK`.execute(db);
      const ddl = conn.prepare("SELECT sql FROM sqlite_schema WHERE name = 'subjects'").get() as { sql: string };
      assert.doesNotMatch(ddl.sql, /dormant/);
      assert.equal(conn.pragma("foreign_keys", { simple: true }), 1);
    } finally {
      await db.destroy();
      conn.close();
    }
  });
});

describe("migration 0004_dormant on an existing PostgreSQL database with rows", () => {
  let server: RunningPostgres | undefined;
  let database: { url: string; drop(): Promise<void> } | undefined;
  after(async () => {
    await database?.drop();
    await server?.stop();
  });
  const r = rows();

  it("keeps every row, the foreign keys and their enforcement; admits dormant", async () => {
    server = await startPostgres();
    database = await freshDatabase(server.url);
    const pool = new pg.Pool({ connectionString: database.url, max: 2 });
    const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
    await migrate(db, before0004(pgDataMigrations), { schema: PG_DATA_SCHEMA });
    for (const q of [
      sql`INSERT INTO haechi.subjects (id, created_at, updated_at, status) VALUES (${r.active}, ${T0}, ${at(1000)}, 'active'), (${r.erased}, ${T0}, ${at(500)}, 'erased')`,
      sql`INSERT INTO haechi.fields (subject_id, field, ciphertext, updated_at) VALUES (${r.active}, 'phone', ${r.phone.ciphertext}, ${at(1000)}), (${r.active}, 'name', ${r.name.ciphertext}, ${at(1000)})`,
      sql`INSERT INTO haechi.lookups (subject_id, field, digest) VALUES (${r.active}, 'phone', ${r.phone.digest})`,
      sql`INSERT INTO haechi.consent_ledger (id, subject_id, notice, notice_version, category, action, channel, at, principal, request_id)
          VALUES ('ev-1', ${r.active}, 'signup', 1, 'collection_use', 'grant', 'web', ${T0}, 'shop', 'req-1')`,
      sql`INSERT INTO haechi.consent_state (subject_id, notice, notice_version, category, status, channel, at)
          VALUES (${r.active}, 'signup', 1, 'collection_use', 'granted', 'web', ${T0})`,
      sql`INSERT INTO haechi.sealed_fields (subject_id, field, ciphertext, rule, until, sealed_at)
          VALUES (${r.erased}, 'transaction_history', ${r.sealed.ciphertext}, 'ecommerce_payment', ${at(9000)}, ${at(500)})`,
    ])
      await q.execute(db);

    const stores = await openPostgresStores({ url: database.url, poolSize: 4 });
    try {
      await assertKept(stores, r);
    } finally {
      await stores.close();
    }
    try {
      await assert.rejects(sql`UPDATE haechi.subjects SET status = 'sleeping' WHERE id = ${r.active}`.execute(db), /subjects_status_check/);
      await assert.rejects(sql`DELETE FROM haechi.subjects WHERE id = ${r.active}`.execute(db), /foreign key/);
      const applied = await sql<{ name: string }>`SELECT name FROM haechi.haechi_migration ORDER BY name`.execute(db);
      assert.deepEqual(applied.rows.map((a) => a.name), Object.keys(pgDataMigrations).sort());
    } finally {
      await db.destroy();
    }
  });
});
