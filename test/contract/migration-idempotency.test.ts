/**
 * Migration 0014_idempotency_by_age on an existing database, on SQLite and PostgreSQL: keys an
 * older release recorded (for creation and reactivation) stay answerable after the upgrade, the
 * store can answer a claim, and keys are pruned by age through the new index. On SQLite the
 * migration runs in a transaction of its own and can run a second time (a crash after its commit,
 * before Kysely recorded it).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { sql } from "kysely";
import { PENDING } from "../../src/core/idempotency/idempotency-fns.js";
import type { Stores } from "../../src/storage/index.js";
import { rerunSqliteDataChangesNothing, upgradePostgresData, upgradeSqliteData } from "./migration-upgrade.js";
import { freshDatabase, startPostgres, type RunningPostgres } from "../helpers/pg.js";
import { at, T0 } from "./store-fixture.js";

const HASH = Buffer.alloc(32, 7);
const OLD = at(-30 * 3600_000);
const RECENT = at(-3600_000);
const body = JSON.stringify({ id: "sub_1", fields: ["phone"], consents: [] });

const assertMigrated = async (stores: Stores) => {
  const { data } = stores;
  assert.deepEqual(await data.getIdempotency("talk-app", "create-recent-1"), {
    principal: "talk-app",
    key: "create-recent-1",
    requestHash: HASH,
    status: 201,
    response: body,
    createdAt: RECENT,
  });
  // A claim answered under the new rules.
  await data.transaction((tx) => tx.putIdempotency({ principal: "talk-app", key: "erase-claimed-1", requestHash: HASH, status: PENDING, response: "{}", createdAt: T0 }));
  await data.transaction((tx) => tx.putIdempotency({ principal: "talk-app", key: "erase-claimed-1", requestHash: HASH, status: 200, response: "{}", createdAt: T0 }));
  assert.equal((await data.getIdempotency("talk-app", "erase-claimed-1"))?.status, 200);
  assert.equal(await data.pruneIdempotency(at(-24 * 3600_000)), 1, "the key older than 24 hours goes");
  assert.equal(await data.getIdempotency("talk-app", "create-old-1"), undefined);
  assert.ok(await data.getIdempotency("talk-app", "create-recent-1"));
};

describe("migration 0014_idempotency_by_age on an existing SQLite database", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-migrate-idempotency-"));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("keeps the keys, adds the index by age, and is recorded once", async () => {
    await upgradeSqliteData(
      dir,
      "0014",
      async (db) => {
        for (const [key, createdAt] of [["create-old-1", OLD], ["create-recent-1", RECENT]] as const) {
          await sql`INSERT INTO idempotency (principal, key, request_hash, status, response, created_at)
                    VALUES ('talk-app', ${key}, ${HASH}, 201, ${body}, ${createdAt.getTime()})`.execute(db);
        }
      },
      assertMigrated,
    );
    const conn = (await import("better-sqlite3")).default(path.join(dir, "data.db"), { readonly: true });
    try {
      const plan = conn.prepare("EXPLAIN QUERY PLAN DELETE FROM idempotency WHERE created_at < ?").all(0) as { detail: string }[];
      assert.ok(plan.some((p) => /idempotency_by_created/.test(p.detail)), JSON.stringify(plan));
    } finally {
      conn.close();
    }
  });

  it("a second run changes nothing and keeps the rows", () => rerunSqliteDataChangesNothing(dir, "0014_idempotency_by_age", ["SELECT * FROM idempotency ORDER BY principal, key"]));
});

describe("migration 0014_idempotency_by_age on an existing PostgreSQL database", () => {
  let server: RunningPostgres | undefined;
  let database: { url: string; drop(): Promise<void> } | undefined;
  after(async () => {
    await database?.drop();
    await server?.stop();
  });

  it("keeps the keys, adds the index by age, and is recorded once", async () => {
    server = await startPostgres();
    database = await freshDatabase(server.url);
    await upgradePostgresData(
      database.url,
      "0014",
      async (db) => {
        for (const [key, createdAt] of [["create-old-1", OLD], ["create-recent-1", RECENT]] as const) {
          await sql`INSERT INTO haechi.idempotency (principal, key, request_hash, status, response, created_at)
                    VALUES ('talk-app', ${key}, ${HASH}, 201, ${body}, ${createdAt})`.execute(db);
        }
      },
      assertMigrated,
    );
    const pg = (await import("pg")).default;
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const idx = await client.query("SELECT indexdef FROM pg_indexes WHERE schemaname = 'haechi' AND indexname = 'idempotency_by_created'");
      assert.match(String(idx.rows[0]?.indexdef), /\(created_at\)/);
    } finally {
      await client.end();
    }
  });
});
