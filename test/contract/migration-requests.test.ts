/**
 * Migration 0010_subject_requests on an existing database, on SQLite and PostgreSQL: a store
 * created and filled before the request ledger existed opens, migrates, keeps its rows and then
 * records requests. On SQLite the migration runs in a transaction of its own and can run a second
 * time (a crash after its commit, before Kysely recorded it).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { sql } from "kysely";
import { deadlineOf } from "../../src/core/requests/request-fns.js";
import type { Stores } from "../../src/storage/index.js";
import { rerunSqliteDataChangesNothing, upgradePostgresData, upgradeSqliteData } from "./migration-upgrade.js";
import { freshDatabase, startPostgres, type RunningPostgres } from "../helpers/pg.js";
import { newId, T0 } from "./store-fixture.js";

const subject = newId();

const assertMigrated = async (stores: Stores) => {
  const { data } = stores;
  assert.equal((await data.getSubject(subject))?.status, "active");
  await data.requests.insert(
    {
      id: "req_1",
      kind: "deletion",
      subjectId: subject,
      subjectExternal: "sub_x",
      filedBy: "talk-app",
      channel: "portal",
      receivedAt: T0,
      deadline: deadlineOf(T0),
      status: "received",
      detail: {},
      extension: null,
      outcome: null,
      updatedAt: T0,
      closedAt: null,
    },
    { at: T0, actor: "talk-app", act: "received", detail: {}, auditSeq: 1 },
  );
  assert.deepEqual((await data.requests.list({ subjectId: subject, limit: 5 })).map((r) => r.id), ["req_1"]);
};

describe("migration 0010_subject_requests on an existing SQLite database", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-migrate-requests-"));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("keeps the rows, adds the tables, and is recorded once", async () => {
    await upgradeSqliteData(
      dir,
      "0010",
      (db) => sql`INSERT INTO subjects (id, created_at, updated_at, status) VALUES (${subject}, ${T0.getTime()}, ${T0.getTime()}, 'active')`.execute(db).then(() => undefined),
      assertMigrated,
    );
  });

  it("a second run changes nothing and keeps the rows", () =>
    rerunSqliteDataChangesNothing(dir, "0010_subject_requests", ["SELECT * FROM subject_requests ORDER BY id", "SELECT * FROM subject_request_events ORDER BY seq"]));
});

describe("migration 0010_subject_requests on an existing PostgreSQL database", () => {
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
      "0010",
      (db) => sql`INSERT INTO haechi.subjects (id, created_at, updated_at, status) VALUES (${subject}, ${T0}, ${T0}, 'active')`.execute(db).then(() => undefined),
      assertMigrated,
    );
  });
});
