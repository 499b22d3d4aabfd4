/**
 * AuditStore contract for an incident's scope (ADR 0010), on every store kind: one principal's
 * entries in a time window in (at, seq) order, paged, from the index of 0002_audit_by_principal;
 * and `detection.alert` entries from their partial index. Plus the migration on a log that
 * already holds entries, on SQLite and PostgreSQL.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import type { AuditEntryRow, AuditHead, AuditRow, AuditStore } from "../../src/core/ports.js";
import { openPostgresStores, openSqliteStores, type Stores } from "../../src/storage/index.js";
import { migrate, type MigrationList } from "../../src/storage/migrations/migrate.js";
import { PG_AUDIT_SCHEMA, pgAuditMigrations } from "../../src/storage/migrations/postgres-migrations.js";
import { sqliteAuditMigrations } from "../../src/storage/migrations/sqlite-migrations.js";
import { kyselyOn, openSqlite } from "../../src/storage/sqlite/sqlite-connection.js";
import { freshDatabase, startPostgres, type RunningPostgres } from "../helpers/pg.js";
import { forEachStore } from "./store-fixture.js";

const T = Date.parse("2026-11-20T00:00:00.000Z");
const MIN = 60_000;

interface Spec {
  /** Minutes after T. */
  min: number;
  principal: string | null;
  action?: string;
  ref?: string | null;
  body?: string;
}

const rowsFor = (head: AuditHead | null, specs: readonly Spec[]): AuditRow[] => {
  let seq = head?.seq ?? 0;
  let prev = head?.hash ?? Buffer.alloc(32);
  return specs.map((s) => {
    seq += 1;
    const body = s.body ?? JSON.stringify({ seq, principal: s.principal });
    const hash = createHash("sha256").update(prev).update(body).digest();
    prev = hash;
    return { seq, at: new Date(T + s.min * MIN), subjectRef: s.ref ?? null, principal: s.principal, action: s.action ?? "subject.read", body, hash };
  });
};

/** Every page of byPrincipal, checked for order and size. */
const collect = async (audit: AuditStore, principal: string, from: Date, to: Date, page: number) => {
  const out: AuditEntryRow[] = [];
  let after: { at: Date; seq: number } | null = null;
  for (;;) {
    const rows = await audit.byPrincipal(principal, from, to, after, page);
    assert.ok(rows.length <= page);
    out.push(...rows);
    if (rows.length < page) return out;
    const last = rows[rows.length - 1]!;
    after = { at: last.at, seq: last.seq };
  }
};

forEachStore("AuditStore: scope by principal", (fx) => {
  it("returns one principal's entries in [from, to), in (at, seq) order, across pages that split equal times", async () => {
    const { audit } = fx().stores;
    const specs: Spec[] = [];
    // Several entries share each minute, so pages end in the middle of a time.
    for (let m = 0; m < 20; m++) {
      for (let k = 0; k < 3; k++) specs.push({ min: m, principal: "scraper", ref: `ref_${m}_${k}` });
      specs.push({ min: m, principal: "talk-app", ref: `other_${m}` });
      specs.push({ min: m, principal: null, action: "auth.failure" });
    }
    // An entry recorded late with an earlier time (`at` is stamped when the request began).
    specs.push({ min: 5, principal: "scraper", ref: "late" });
    await audit.appendBatch((h) => rowsFor(h, specs));
    const from = new Date(T + 5 * MIN);
    const to = new Date(T + 15 * MIN);
    for (const page of [1, 2, 4, 7, 1000]) {
      const rows = await collect(audit, "scraper", from, to, page);
      assert.equal(rows.length, 10 * 3 + 1, `page ${page}`);
      assert.ok(rows.every((r) => r.principal === "scraper" && r.at >= from && r.at < to));
      for (let i = 1; i < rows.length; i++) {
        const a = rows[i - 1]!;
        const b = rows[i]!;
        assert.ok(a.at < b.at || (a.at.getTime() === b.at.getTime() && a.seq < b.seq), "ordered by (at, seq)");
      }
      assert.ok(rows.some((r) => r.subjectRef === "late"));
      assert.equal(new Set(rows.map((r) => r.seq)).size, rows.length, "no row twice");
    }
    assert.deepEqual(await audit.byPrincipal("nobody", from, to, null, 10), []);
    assert.deepEqual(await audit.byPrincipal("scraper", to, from, null, 10), [], "an empty window");
    const one = (await audit.byPrincipal("scraper", from, to, null, 1))[0]!;
    assert.equal(typeof one.body, "string");
    assert.equal("hash" in one, false, "a search reads no hash");
  });

  it("finds detection alerts through their own index, in seq order", async () => {
    const { audit } = fx().stores;
    const head = await audit.head();
    await audit.appendBatch((h) =>
      rowsFor(h, [
        { min: 30, principal: null, action: "detection.alert", body: '{"alert":"alt_1"}' },
        { min: 31, principal: "scraper", action: "subject.read" },
        { min: 32, principal: null, action: "detection.alert", body: '{"alert":"alt_2"}' },
      ]),
    );
    const alerts = await audit.detectionAlerts(head!.seq, 10);
    assert.deepEqual(alerts.map((a) => a.body), ['{"alert":"alt_1"}', '{"alert":"alt_2"}']);
    assert.deepEqual((await audit.detectionAlerts(alerts[0]!.seq, 10)).map((a) => a.body), ['{"alert":"alt_2"}']);
    assert.equal((await audit.detectionAlerts(0, 1)).length, 1);
  });
});

const before0002 = (list: MigrationList): MigrationList => Object.fromEntries(Object.entries(list).filter(([name]) => name < "0002"));

/** Entries already in the log before the upgrade are found after it. */
const assertScoped = async (stores: Stores) => {
  const rows = await stores.audit.byPrincipal("scraper", new Date(T), new Date(T + 60 * MIN), null, 100);
  assert.deepEqual(rows.map((r) => r.subjectRef), ["ref_a", "ref_b"]);
  assert.equal((await stores.audit.detectionAlerts(0, 10)).length, 1);
  // And appends go on working after it.
  await stores.audit.appendBatch((h) => rowsFor(h, [{ min: 3, principal: "scraper", ref: "ref_c" }]));
  assert.equal((await stores.audit.byPrincipal("scraper", new Date(T), new Date(T + 60 * MIN), null, 100)).length, 3);
};

const existing = rowsFor(null, [
  { min: 1, principal: "scraper", ref: "ref_a" },
  { min: 1, principal: "talk-app", ref: "ref_x" },
  { min: 2, principal: null, action: "detection.alert" },
  { min: 2, principal: "scraper", ref: "ref_b" },
]);
const values = (at: (d: Date) => unknown) =>
  sql.join(existing.map((r) => sql`(${r.seq}, ${at(r.at)}, ${r.subjectRef}, ${r.principal}, ${r.action}, ${r.body}, ${r.hash})`));

describe("migration 0002_audit_by_principal on an existing SQLite audit log", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-migrate-audit-"));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("indexes the entries already there; a rerun changes nothing", async () => {
    const file = path.join(dir, "audit.db");
    const conn = openSqlite(file, { synchronous: "FULL", secureDelete: false });
    const db = kyselyOn<any>(conn);
    await migrate(db, before0002(sqliteAuditMigrations));
    await sql`INSERT INTO audit_log (seq, at, subject_ref, principal, action, body, hash) VALUES ${values((d) => d.getTime())}`.execute(db);
    await sql`UPDATE audit_head SET seq = ${existing.length}, hash = ${existing[existing.length - 1]!.hash} WHERE id = 1`.execute(db);
    await db.destroy();
    conn.close();

    const stores = await openSqliteStores({ dir });
    try {
      await assertScoped(stores);
    } finally {
      await stores.close();
    }
    const check = openSqlite(file, { synchronous: "FULL", secureDelete: false });
    const checkDb = kyselyOn<any>(check);
    try {
      const names = (check.pragma("index_list(audit_log)") as { name: string }[]).map((i) => i.name).sort();
      assert.ok(names.includes("audit_log_by_principal") && names.includes("audit_log_alerts"), names.join(", "));
      await sqliteAuditMigrations["0002_audit_by_principal"]!.up(checkDb);
      assert.equal(check.inTransaction, false);
      const applied = check.prepare("SELECT name FROM haechi_migration ORDER BY name").all() as { name: string }[];
      assert.deepEqual(applied.map((a) => a.name), Object.keys(sqliteAuditMigrations).sort());
    } finally {
      await checkDb.destroy();
      check.close();
    }
  });
});

describe("migration 0002_audit_by_principal on an existing PostgreSQL audit log", () => {
  let server: RunningPostgres | undefined;
  let database: { url: string; drop(): Promise<void> } | undefined;
  after(async () => {
    await database?.drop();
    await server?.stop();
  });

  it("indexes the entries already there, and skips an index built beforehand (CONCURRENTLY)", async () => {
    server = await startPostgres();
    database = await freshDatabase(server.url);
    const pool = new pg.Pool({ connectionString: database.url, max: 2 });
    const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
    try {
      await migrate(db, before0002(pgAuditMigrations), { schema: PG_AUDIT_SCHEMA });
      await sql`INSERT INTO haechi_audit.audit_log (seq, at, subject_ref, principal, action, body, hash) VALUES ${values((d) => d)}`.execute(db);
      await sql`UPDATE haechi_audit.audit_head SET seq = ${existing.length}, hash = ${existing[existing.length - 1]!.hash} WHERE id = 1`.execute(db);
      // The operations guide's way for a large log: build it first without blocking appends.
      await sql`CREATE INDEX CONCURRENTLY audit_log_by_principal ON haechi_audit.audit_log (principal, at, seq) WHERE principal IS NOT NULL`.execute(db);
      const stores = await openPostgresStores({ url: database.url, poolSize: 4 });
      try {
        await assertScoped(stores);
      } finally {
        await stores.close();
      }
      const indexes = await sql<{ indexname: string }>`SELECT indexname FROM pg_indexes
        WHERE schemaname = 'haechi_audit' AND tablename = 'audit_log' ORDER BY indexname`.execute(db);
      assert.deepEqual(
        indexes.rows.map((r) => r.indexname).filter((n) => n !== "audit_log_pkey" && n !== "audit_log_by_subject_ref"),
        ["audit_log_alerts", "audit_log_by_principal"],
      );
      const applied = await sql<{ name: string }>`SELECT name FROM haechi_audit.haechi_migration ORDER BY name`.execute(db);
      assert.deepEqual(applied.rows.map((a) => a.name), Object.keys(pgAuditMigrations).sort());
    } finally {
      await db.destroy();
    }
  });
});
