/**
 * The shape every "migration on an existing database" test shares: the data-store migrations
 * before the one under test are applied, rows are written the way that older schema stored them,
 * then the stores are opened as a new release would open them (every later migration runs) and
 * checked; the migration table then names every migration exactly once (SQLite also passes its
 * integrity check).
 */
import assert from "node:assert/strict";
import path from "node:path";
import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import { openPostgresStores, openSqliteStores, type Stores } from "../../src/storage/index.js";
import { migrate, type MigrationList } from "../../src/storage/migrations/migrate.js";
import { PG_DATA_SCHEMA, pgDataMigrations } from "../../src/storage/migrations/postgres-migrations.js";
import { sqliteDataMigrations } from "../../src/storage/migrations/sqlite-migrations.js";
import { kyselyOn, openSqlite } from "../../src/storage/sqlite/sqlite-connection.js";

/** The migrations of a list that sort before `name` (the database as an older release left it). */
export const migrationsBefore = (list: MigrationList, name: string): MigrationList =>
  Object.fromEntries(Object.entries(list).filter(([n]) => n < name));

/** Upgrades an existing SQLite data store in `dir` from just before `migration`. */
export const upgradeSqliteData = async (dir: string, migration: string, seed: (db: Kysely<any>) => Promise<void>, check: (stores: Stores) => Promise<void>) => {
  const file = path.join(dir, "data.db");
  const conn = openSqlite(file, { synchronous: "FULL", secureDelete: true });
  const db = kyselyOn<any>(conn);
  try {
    await migrate(db, migrationsBefore(sqliteDataMigrations, migration));
    await seed(db);
  } finally {
    await db.destroy();
    conn.close();
  }
  const stores = await openSqliteStores({ dir });
  try {
    await check(stores);
  } finally {
    await stores.close();
  }
  const after = openSqlite(file, { synchronous: "FULL", secureDelete: true });
  try {
    const applied = after.prepare("SELECT name FROM haechi_migration ORDER BY name").all() as { name: string }[];
    assert.deepEqual(applied.map((a) => a.name), Object.keys(sqliteDataMigrations).sort(), "every migration recorded once");
    assert.equal(after.pragma("integrity_check", { simple: true }), "ok");
  } finally {
    after.close();
  }
};

/** Upgrades an existing PostgreSQL data store at `url` from just before `migration`. */
export const upgradePostgresData = async (url: string, migration: string, seed: (db: Kysely<any>) => Promise<void>, check: (stores: Stores) => Promise<void>) => {
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 2 }) }) });
  try {
    await migrate(db, migrationsBefore(pgDataMigrations, migration), { schema: PG_DATA_SCHEMA });
    await seed(db);
    const stores = await openPostgresStores({ url, poolSize: 4 });
    try {
      await check(stores);
    } finally {
      await stores.close();
    }
    const applied = await sql<{ name: string }>`SELECT name FROM haechi.haechi_migration ORDER BY name`.execute(db);
    assert.deepEqual(applied.rows.map((a) => a.name), Object.keys(pgDataMigrations).sort(), "every migration recorded once");
  } finally {
    await db.destroy();
  }
};

/**
 * Runs `migration` again on the SQLite data store in `dir`, as after a crash between its commit
 * and Kysely's record of it: the rows `snapshotSql` select and the schema must not change, and
 * its transaction must be closed.
 */
export const rerunSqliteDataChangesNothing = async (dir: string, migration: string, snapshotSql: readonly string[]) => {
  const conn = openSqlite(path.join(dir, "data.db"), { synchronous: "FULL", secureDelete: true });
  const db = kyselyOn<any>(conn);
  const snapshot = () => [...snapshotSql, "SELECT name, sql FROM sqlite_schema ORDER BY name"].map((q) => conn.prepare(q).all());
  try {
    const before = snapshot();
    await sqliteDataMigrations[migration]!.up(db);
    assert.deepEqual(snapshot(), before);
    assert.equal(conn.inTransaction, false, "its transaction is closed");
  } finally {
    await db.destroy();
    conn.close();
  }
};
