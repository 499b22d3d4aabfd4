/**
 * Migration 0006_principal_holds on an existing database, on SQLite and PostgreSQL: a store
 * created and filled before detection existed opens, migrates, keeps its rows and then holds
 * principals, stores alerts and canaries. On SQLite, where Kysely runs migrations outside any
 * transaction, the migration makes its own and can run a second time (a crash after its commit,
 * before Kysely recorded it).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { sql } from "kysely";
import type { Stores } from "../../src/storage/index.js";
import { migrate, type MigrationList } from "../../src/storage/migrations/migrate.js";
import { sqliteDataMigrations } from "../../src/storage/migrations/sqlite-migrations.js";
import { kyselyOn, openSqlite } from "../../src/storage/sqlite/sqlite-connection.js";
import { upgradePostgresData, upgradeSqliteData } from "./migration-upgrade.js";
import { freshDatabase, startPostgres, type RunningPostgres } from "../helpers/pg.js";
import { at, newId, newRef, T0 } from "./store-fixture.js";

const before0006 = (list: MigrationList): MigrationList => Object.fromEntries(Object.entries(list).filter(([name]) => name < "0006"));

const subject = newId();

/** What must hold after the migration: the old row, and the new tables working. */
const assertMigrated = async (stores: Stores) => {
  const { data } = stores;
  assert.equal((await data.getSubject(subject))?.status, "active");
  await data.detection.putHold({
    id: "hold_1",
    principal: "talk-app",
    kind: "suspend",
    rule: "denial_storm",
    alertId: "alt_1",
    reason: "15 denied requests in 60 s",
    at: at(1),
    until: null,
    liftedAt: null,
    liftedBy: null,
    liftReason: null,
  });
  assert.deepEqual((await data.detection.activeHolds(at(2))).map((h) => h.id), ["hold_1"]);
  await data.detection.putAlert({
    id: "alt_1",
    at: at(1),
    principal: "talk-app",
    rule: "denial_storm",
    type: "deny_storm",
    reaction: "suspend",
    count: 15,
    threshold: 15,
    windowStart: T0,
    requestId: null,
    detail: {},
  });
  assert.equal((await data.detection.listAlerts({ limit: 5 })).length, 1);
  const ref = newRef();
  await data.detection.putCanaries([{ auditRef: ref, principal: "talk-app", createdAt: T0 }]);
  assert.deepEqual((await data.detection.canaries()).map((c) => c.auditRef), [ref]);
};

describe("migration 0006_principal_holds on an existing SQLite database", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-migrate-holds-"));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "data.db");

  it("keeps the rows, adds the tables, and is recorded once", async () => {
    await upgradeSqliteData(
      dir,
      "0006",
      (db) => sql`INSERT INTO subjects (id, created_at, updated_at, status) VALUES (${subject}, ${T0.getTime()}, ${T0.getTime()}, 'active')`.execute(db).then(() => undefined),
      assertMigrated,
    );
  });

  it("a second run (a crash after its commit, before Kysely recorded it) changes nothing and keeps the rows", async () => {
    const conn = openSqlite(file, { synchronous: "FULL", secureDelete: true });
    const db = kyselyOn<any>(conn);
    const snapshot = () => ({
      holds: conn.prepare("SELECT * FROM principal_holds ORDER BY id").all(),
      schema: conn.prepare("SELECT name, sql FROM sqlite_schema ORDER BY name").all(),
    });
    try {
      const before = snapshot();
      await sqliteDataMigrations["0006_principal_holds"]!.up(db);
      assert.deepEqual(snapshot(), before);
      assert.equal(conn.inTransaction, false, "its transaction is closed");
    } finally {
      await db.destroy();
      conn.close();
    }
  });

  it("all or nothing: a failure inside it rolls every table back", async () => {
    const other = path.join(dir, "other.db");
    const conn = openSqlite(other, { synchronous: "FULL", secureDelete: true });
    const db = kyselyOn<any>(conn);
    try {
      await migrate(db, before0006(sqliteDataMigrations));
      // A table of the same name as one of its indexes makes the index statement fail midway.
      conn.exec("CREATE TABLE detection_alerts_by_at (x INTEGER)");
      await assert.rejects(sqliteDataMigrations["0006_principal_holds"]!.up(db));
      const tables = (conn.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name);
      for (const t of ["principal_holds", "detection_alerts", "canaries"]) assert.ok(!tables.includes(t), `${t} was rolled back`);
      assert.equal(conn.inTransaction, false);
    } finally {
      await db.destroy();
      conn.close();
    }
  });
});

describe("migration 0006_principal_holds on an existing PostgreSQL database", () => {
  let server: RunningPostgres | undefined;
  let database: { url: string; drop(): Promise<void> } | undefined;
  after(async () => {
    await database?.drop();
    await server?.stop();
  });

  it("keeps the rows, adds the tables, and is recorded once", async () => {
    server = await startPostgres();
    database = await freshDatabase(server.url);
    await upgradePostgresData(
      database.url,
      "0006",
      (db) => sql`INSERT INTO haechi.subjects (id, created_at, updated_at, status) VALUES (${subject}, ${T0}, ${T0}, 'active')`.execute(db).then(() => undefined),
      assertMigrated,
    );
  });
});
