/**
 * Migration 0011_scope_sets on an existing database, on SQLite and PostgreSQL (ADR 0015): the
 * people of scopes stored before it keep their fields and channels, are found per person, and
 * a rescope afterwards stores the new form. On SQLite the migration makes its own transaction
 * and can run a second time (a crash after its commit, before Kysely recorded it).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { sql } from "kysely";
import { emptyFacts, type IncidentRow } from "../../src/core/incident/incident-types.js";
import type { Stores } from "../../src/storage/index.js";
import { PG_DATA_SCHEMA } from "../../src/storage/migrations/postgres-migrations.js";
import { openSqlite } from "../../src/storage/sqlite/sqlite-connection.js";
import { incidentToColumns } from "../../src/storage/store-fns.js";
import { rerunSqliteDataChangesNothing, upgradePostgresData, upgradeSqliteData } from "./migration-upgrade.js";
import { freshDatabase, startPostgres, type RunningPostgres } from "../helpers/pg.js";
import { at, newId, T0 } from "./store-fixture.js";


const incident = (id: string, awareAt: Date): IncidentRow => ({
  id,
  kind: "leak",
  status: "open",
  source: { type: "manual", note: null },
  summary: "scraped member list",
  awareAt,
  deadline: at(72 * 3600_000),
  openedAt: awareAt,
  openedBy: "privacy-office",
  facts: emptyFacts(),
  scope: null,
  updatedAt: awareAt,
  closedAt: null,
});
const [p1, p2, p3] = [newId(), newId(), newId()].sort();
/** The old form: fields and via as JSON text per person. */
const OLD_ROWS: [string, string, string, string][] = [
  ["inc_a", p1!, '["name","phone"]', '["scraper"]'],
  ["inc_a", p2!, '["phone"]', '["nsf-scoring","scraper"]'],
  ["inc_b", p1!, '["email"]', '["other"]'],
  ["inc_b", p3!, '["phone"]', '["other"]'],
];
const SCOPE = JSON.stringify({ window: { from: T0.toISOString(), to: at(1).toISOString() }, principals: ["scraper"], recipients: [] });

const assertMigrated = async (stores: Stores) => {
  const { incidents } = stores.data;
  assert.deepEqual(await incidents.subjects("inc_a", null, 10), [
    { subjectId: p1, fields: ["name", "phone"], via: ["scraper"] },
    { subjectId: p2, fields: ["phone"], via: ["nsf-scoring", "scraper"] },
  ]);
  assert.deepEqual(await incidents.subjects("inc_b", p1!, 10), [{ subjectId: p3, fields: ["phone"], via: ["other"] }]);
  assert.deepEqual((await incidents.bySubject(p1!)).map((i) => i.id), ["inc_b", "inc_a"]);
  assert.deepEqual((await incidents.bySubject(p3!)).map((i) => i.id), ["inc_b"]);
  const scope = (await incidents.get("inc_a"))!.scope!;
  await incidents.putScope("inc_a", scope, [{ subjectId: p3!, fields: ["phone"], via: ["scraper"] }], {
    at: at(5000),
    actor: "privacy-office",
    act: "scoped",
    detail: {},
    auditSeq: 7,
  });
  assert.deepEqual(await incidents.subjects("inc_a", null, 10), [{ subjectId: p3, fields: ["phone"], via: ["scraper"] }]);
  assert.deepEqual((await incidents.bySubject(p3!)).map((i) => i.id), ["inc_b", "inc_a"]);
  assert.deepEqual(await incidents.bySubject(p2!), []);
};

describe("migration 0011_scope_sets on an existing SQLite database", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-migrate-scope-sets-"));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "data.db");

  it("keeps every person's fields and channels, and is recorded once", async () => {
    await upgradeSqliteData(
      dir,
      "0011",
      async (db) => {
        for (const [id, t] of [["inc_a", at(1000)], ["inc_b", at(2000)]] as const) {
          await db.insertInto("incidents").values({ ...incidentToColumns(incident(id, t), (d) => d.getTime()), scope: SCOPE }).execute();
        }
        for (const [i, s, f, v] of OLD_ROWS) await sql`INSERT INTO incident_subjects (incident_id, subject_id, fields, via) VALUES (${i}, ${s}, ${f}, ${v})`.execute(db);
      },
      assertMigrated,
    );
    const check = openSqlite(file, { synchronous: "FULL", secureDelete: true });
    try {
      const indexes = check.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'incident_subjects' AND sql IS NOT NULL").all();
      assert.deepEqual(indexes, [], "no index by subject");
    } finally {
      check.close();
    }
  });

  it("a second run (a crash after its commit, before Kysely recorded it) changes nothing", () =>
    rerunSqliteDataChangesNothing(dir, "0011_scope_sets", [
      "SELECT * FROM incident_subjects ORDER BY incident_id, subject_id",
      "SELECT * FROM incident_scope_sets ORDER BY incident_id, set_no",
    ]));
});

describe("migration 0011_scope_sets on an existing PostgreSQL database", () => {
  let server: RunningPostgres | undefined;
  let database: { url: string; drop(): Promise<void> } | undefined;
  after(async () => {
    await database?.drop();
    await server?.stop();
  });

  it("keeps every person's fields and channels, and is recorded once", async () => {
    server = await startPostgres();
    database = await freshDatabase(server.url);
    await upgradePostgresData(
      database.url,
      "0011",
      async (db) => {
        for (const [id, t] of [["inc_a", at(1000)], ["inc_b", at(2000)]] as const) {
          await db.withSchema(PG_DATA_SCHEMA).insertInto("incidents").values({ ...incidentToColumns(incident(id, t), (d) => d), scope: SCOPE }).execute();
        }
        for (const [i, s, f, v] of OLD_ROWS) {
          await sql`INSERT INTO haechi.incident_subjects (incident_id, subject_id, fields, via) VALUES (${i}, ${s}, ${f}, ${v})`.execute(db);
        }
      },
      assertMigrated,
    );
  });
});
