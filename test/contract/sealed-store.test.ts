/** SealedStore and the KeyStore's sealed keys and purge: every store kind must pass all of it. */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { it } from "node:test";
import Database from "better-sqlite3";
import type { SubjectId } from "../../src/core/ids.js";
import type { SealedFieldRow, SealedKeyRow } from "../../src/core/ports.js";
import { at, bytes, forEachStore, newId, rejectsWith, wrappedKeyRow } from "./store-fixture.js";

const bytewise = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/**
 * `due` tests use instants in 2001, everything else instants from T0 (2025) on: a `due` query
 * up to 2001 sees only its own test's rows, whatever else the suite's database holds.
 */
const D0 = new Date("2001-06-01T00:00:00.457Z");
const d = (offsetMs: number) => new Date(D0.getTime() + offsetMs);
const YEAR = 365 * 24 * 3600 * 1000;

const sealedRow = (subjectId: SubjectId, field: string, over: Partial<SealedFieldRow> = {}): SealedFieldRow => ({
  subjectId,
  field,
  ciphertext: bytes(48),
  rule: "commerce_act_5y",
  until: at(5 * YEAR),
  sealedAt: at(7),
  ...over,
});

const sealedKey = (over: Partial<SealedKeyRow> = {}): SealedKeyRow => ({
  subjectId: newId(),
  kekVersion: 1,
  wrapped: bytes(60),
  until: at(5 * YEAR + 11),
  createdAt: at(3),
  ...over,
});

const liveKey = wrappedKeyRow;

/** 60 bytes that are easy to find in a file and appear nowhere else. */
const marker = (label: string): Buffer => {
  const b = Buffer.from(`${label}-MARKER-${randomBytes(12).toString("hex")}`.padEnd(60, "#"));
  assert.equal(b.length, 60);
  return b;
};

const byField = (rows: readonly SealedFieldRow[]) => [...rows].sort((a, b) => bytewise(a.field, b.field));

forEachStore("SealedStore", (fx) => {
  it("puts and gets sealed values, all of them or the named ones, with exact dates", async () => {
    const { sealed } = fx().stores.data;
    const id = newId();
    const rows = [
      sealedRow(id, "phone", { until: at(3 * YEAR + 1), rule: "credit_act_3y" }),
      sealedRow(id, "address"),
      sealedRow(id, "email", { sealedAt: at(999) }),
    ];
    const other = sealedRow(newId(), "email");
    await sealed.put([...rows, other]);

    assert.deepEqual(await sealed.get(id, []), byField(rows));
    assert.deepEqual(await sealed.get(id, ["phone", "email", "phone", "nickname"]), byField([rows[0]!, rows[2]!]));
    assert.deepEqual(await sealed.get(id, ["nickname"]), []);
    assert.deepEqual(await sealed.get(other.subjectId, []), [other]);
    assert.deepEqual(await sealed.get(newId(), []), []);
    await sealed.put([]);
  });

  it("replaces a sealed value on a second put (an interrupted erasure is repeated)", async () => {
    const { sealed } = fx().stores.data;
    const id = newId();
    const first = sealedRow(id, "email");
    await sealed.put([first, sealedRow(id, "name")]);
    const again = sealedRow(id, "email", { rule: "tax_5y", until: at(6 * YEAR), sealedAt: at(60_000) });
    await sealed.put([again]);
    assert.deepEqual(await sealed.get(id, ["email"]), [again]);
    assert.equal((await sealed.get(id, [])).length, 2);

    // The same (subject, field) twice in one call: the last one wins.
    const last = sealedRow(id, "email", { ciphertext: bytes(10) });
    await sealed.put([sealedRow(id, "email"), last]);
    assert.deepEqual(await sealed.get(id, ["email"]), [last]);
  });

  it("destroys the values due by a date (inclusive), or all of them", async () => {
    const { sealed } = fx().stores.data;
    const id = newId();
    const early = sealedRow(id, "a", { until: at(YEAR) });
    const exact = sealedRow(id, "b", { until: at(2 * YEAR) });
    const late = sealedRow(id, "c", { until: at(2 * YEAR + 1) });
    const neighbour = sealedRow(newId(), "a", { until: at(YEAR) });
    await sealed.put([early, exact, late, neighbour]);

    assert.equal(await sealed.destroy(id, at(YEAR - 1)), 0);
    assert.equal(await sealed.destroy(id, at(2 * YEAR)), 2);
    assert.deepEqual(await sealed.get(id, []), [late]);
    assert.deepEqual(await sealed.get(neighbour.subjectId, []), [neighbour], "another subject's values stay");
    assert.equal(await sealed.destroy(id, at(2 * YEAR)), 0);

    await sealed.put([early]);
    assert.equal(await sealed.destroy(id, null), 2);
    assert.deepEqual(await sealed.get(id, []), []);
    assert.equal(await sealed.destroy(id, null), 0);
    assert.equal(await sealed.destroy(newId(), null), 0);
  });

  it("lists due subjects once each, by earliest due date then id, up to the limit", async () => {
    const { sealed } = fx().stores.data;
    const [a, b, c, e, notDue] = [newId(), newId(), newId(), newId(), newId()];
    const [tieFirst, tieSecond] = [a, c].sort(bytewise);
    await sealed.put([
      sealedRow(a, "x", { until: d(50) }),
      sealedRow(a, "y", { until: d(5) }),
      sealedRow(b, "x", { until: d(3) }),
      sealedRow(b, "y", { until: d(100) }), // not due yet; b is due by its other value
      sealedRow(c, "x", { until: d(5) }),
      sealedRow(e, "x", { until: d(60) }), // exactly now: due
      sealedRow(notDue, "x", { until: d(61) }),
    ]);
    const now = d(60);
    assert.deepEqual(await sealed.due(now, 100), [
      { subjectId: b, until: d(3) },
      { subjectId: tieFirst, until: d(5) },
      { subjectId: tieSecond, until: d(5) },
      { subjectId: e, until: d(60) },
    ]);
    assert.deepEqual(await sealed.due(now, 2), [
      { subjectId: b, until: d(3) },
      { subjectId: tieFirst, until: d(5) },
    ]);
    assert.deepEqual(await sealed.due(d(2), 100), []);

    // Destroying what is due moves the subject's earliest due date on, or drops it.
    assert.equal(await sealed.destroy(b, now), 1);
    assert.deepEqual((await sealed.due(d(1000), 100)).find((r) => r.subjectId === b), { subjectId: b, until: d(100) });
    assert.equal(await sealed.destroy(a, now), 2);
    assert.deepEqual(
      (await sealed.due(now, 100)).map((r) => r.subjectId),
      [c, e],
    );
  });

  it("is refused inside a data transaction body (writes go through its tx)", async () => {
    const { data } = fx().stores;
    await data.transaction(async () => {
      await rejectsWith(() => data.sealed.put([sealedRow(newId(), "email")]), "INTERNAL");
      await rejectsWith(() => data.sealed.destroy(newId(), null), "INTERNAL");
    });
  });
});

forEachStore("KeyStore sealed keys", (fx) => {
  it("puts, gets and replaces a sealed key, apart from the live key", async () => {
    const { keys } = fx().stores;
    const row = sealedKey();
    const live = liveKey({ subjectId: row.subjectId });
    await keys.put(live);
    await keys.putSealed(row);
    assert.deepEqual(await keys.getSealed(row.subjectId), row);
    assert.equal(await keys.getSealed(newId()), undefined);
    assert.deepEqual(await keys.get(row.subjectId), live, "the live key is untouched");

    const replaced = { ...row, kekVersion: 2, wrapped: bytes(60), until: at(9 * YEAR), createdAt: at(80_000) };
    await keys.putSealed(replaced);
    assert.deepEqual(await keys.getSealed(row.subjectId), replaced);

    // Destroying the live key leaves the sealed one, and the reverse.
    assert.equal(await keys.destroy(row.subjectId), true);
    assert.deepEqual(await keys.getSealed(row.subjectId), replaced);
    await keys.put(live);
    assert.equal(await keys.destroySealed(row.subjectId), true);
    assert.deepEqual(await keys.get(row.subjectId), live);
  });

  it("pages sealed keys not wrapped by a KEK version in id order, and rewraps them only from the expected version", async () => {
    const { keys } = fx().stores;
    // This suite's database may hold other tests' sealed keys: move them all to v7 first.
    for (let page; (page = await keys.listSealedNotWrappedBy(7, null, 100)).length > 0; ) {
      await keys.rewrapSealedMany(page.map((r) => ({ id: r.subjectId, fromKek: r.kekVersion, toKek: 7, wrapped: r.wrapped })));
    }
    const rows = [sealedKey({ kekVersion: 1 }), sealedKey({ kekVersion: 1 }), sealedKey({ kekVersion: 1 })].sort((a, b) => bytewise(a.subjectId, b.subjectId));
    for (const r of rows) await keys.putSealed(r);
    const first = await keys.listSealedNotWrappedBy(7, null, 2);
    assert.deepEqual(first, rows.slice(0, 2));
    assert.deepEqual(await keys.listSealedNotWrappedBy(7, first[1]!.subjectId, 10), rows.slice(2));
    const wrapped = bytes(60);
    const n = await keys.rewrapSealedMany([
      { id: rows[0]!.subjectId, fromKek: 1, toKek: 7, wrapped },
      { id: rows[1]!.subjectId, fromKek: 3, toKek: 7, wrapped }, // not its version: skipped
    ]);
    assert.equal(n, 1);
    assert.deepEqual(await keys.getSealed(rows[0]!.subjectId), { ...rows[0]!, kekVersion: 7, wrapped });
    assert.deepEqual(await keys.getSealed(rows[1]!.subjectId), rows[1]);
    assert.equal(await keys.rewrapSealedMany([]), 0);
    assert.deepEqual(await keys.listSealedNotWrappedBy(7, null, 10), rows.slice(1));
  });

  it("destroys a sealed key once", async () => {
    const { keys } = fx().stores;
    const row = sealedKey();
    await keys.putSealed(row);
    assert.equal(await keys.destroySealed(row.subjectId), true);
    assert.equal(await keys.getSealed(row.subjectId), undefined);
    assert.equal(await keys.destroySealed(row.subjectId), false);
    assert.equal(await keys.destroySealed(newId()), false);
  });

  it("lists due sealed keys by until then id, up to the limit", async () => {
    const { keys } = fx().stores;
    const [t1, t2] = [newId(), newId()].sort(bytewise);
    const rows = {
      first: sealedKey({ until: d(2) }),
      tie1: sealedKey({ subjectId: t1!, until: d(7) }),
      tie2: sealedKey({ subjectId: t2!, until: d(7) }),
      exact: sealedKey({ until: d(40) }),
      later: sealedKey({ until: d(41) }),
    };
    // Inserted out of order, so the order comes from the query.
    for (const row of [rows.later, rows.tie2, rows.exact, rows.first, rows.tie1]) await keys.putSealed(row);
    assert.deepEqual(await keys.dueSealed(d(40), 100), [rows.first, rows.tie1, rows.tie2, rows.exact]);
    assert.deepEqual(await keys.dueSealed(d(40), 2), [rows.first, rows.tie1]);
    assert.deepEqual(await keys.dueSealed(d(1), 100), []);
    await keys.destroySealed(rows.tie1.subjectId);
    assert.deepEqual(await keys.dueSealed(d(40), 100), [rows.first, rows.tie2, rows.exact]);
  });
});

forEachStore("KeyStore purge", (fx) => {
  const keyFiles = (dir: string) =>
    fs
      .readdirSync(dir)
      .filter((f) => f === "keys.db" || f === "keys.db-wal")
      .map((f) => fs.readFileSync(path.join(dir, f)));
  const onDisk = (dir: string, needle: Buffer) => keyFiles(dir).some((b) => b.includes(needle));

  it("leaves no copy of a destroyed live key in keys.db or its WAL", async () => {
    // SQLite only: the files are ours to read. PostgreSQL is covered by the test below.
    if (fx().kind !== "sqlite") return;
    const dir = fx().dir!;
    const { keys } = fx().stores;
    const row = liveKey({ wrapped: marker("LIVE-KEY") });
    await keys.put(row);
    await keys.purge(); // into keys.db itself, so the page (not only the WAL) must be cleaned
    assert.ok(onDisk(dir, row.wrapped), "marker is on disk before destroy");
    // A reader's snapshot keeps destroy's own best-effort checkpoint from finishing, so what
    // follows shows purge doing the work.
    const reader = new Database(path.join(dir, "keys.db"), { readonly: true });
    try {
      reader.prepare("BEGIN").run();
      reader.prepare("SELECT count(*) FROM wrapped_keys").get();
      assert.equal(await keys.destroy(row.subjectId), true);
      reader.prepare("COMMIT").run();
    } finally {
      reader.close();
    }
    assert.ok(onDisk(dir, row.wrapped), "destroy alone left the old page while a reader held it");
    await keys.purge();
    assert.ok(!onDisk(dir, row.wrapped), "marker is gone after destroy and purge");
  });

  it("leaves no copy of a destroyed sealed key in keys.db or its WAL", async () => {
    // SQLite only: the files are ours to read. PostgreSQL is covered by the test below.
    if (fx().kind !== "sqlite") return;
    const dir = fx().dir!;
    const { keys } = fx().stores;
    const row = sealedKey({ wrapped: marker("SEALED-KEY") });
    await keys.putSealed(row);
    await keys.purge(); // into keys.db itself, so the page (not only the WAL) must be cleaned
    assert.ok(onDisk(dir, row.wrapped), "marker is on disk before destroy");
    assert.equal(await keys.destroySealed(row.subjectId), true);
    await keys.purge();
    assert.ok(!onDisk(dir, row.wrapped), "marker is gone after destroy and purge");
  });

  it("reports a purge that a reader's snapshot blocks instead of passing silently", async () => {
    // SQLite only: a WAL checkpoint is what a reader can block. PostgreSQL's VACUUM does not wait.
    if (fx().kind !== "sqlite") return;
    const { keys } = fx().stores;
    const reader = new Database(path.join(fx().dir!, "keys.db"), { readonly: true });
    try {
      reader.prepare("BEGIN").run();
      reader.prepare("SELECT count(*) FROM sealed_keys").get();
      const row = sealedKey({ wrapped: marker("BLOCKED-KEY") });
      await keys.putSealed(row);
      assert.equal(await keys.destroySealed(row.subjectId), true);
      const err = await rejectsWith(() => keys.purge(), "INTERNAL");
      assert.match(err.message, /purge incomplete/);
      reader.prepare("COMMIT").run();
      await keys.purge();
      assert.ok(!onDisk(fx().dir!, row.wrapped), "marker is gone once the reader let go");
    } finally {
      reader.close();
    }
  });

  it("purges after destroys, and with nothing to purge", async () => {
    const { keys } = fx().stores;
    await keys.purge();
    const live = liveKey();
    const sealedRow = sealedKey({ subjectId: live.subjectId });
    await keys.put(live);
    await keys.putSealed(sealedRow);
    assert.equal(await keys.destroy(live.subjectId), true);
    assert.equal(await keys.destroySealed(live.subjectId), true);
    await keys.purge();
    assert.equal(await keys.get(live.subjectId), undefined);
    assert.equal(await keys.getSealed(live.subjectId), undefined);
    await keys.purge();
  });
});
