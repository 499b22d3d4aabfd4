/** KeyStore contract: every store kind must pass all of it. */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { it } from "node:test";
import type { WrappedKeyRow } from "../../src/core/ports.js";
import { at, bytes, forEachStore, newId, newRef, wrappedKeyRow } from "./store-fixture.js";

const keyRow = wrappedKeyRow;

forEachStore("KeyStore", (fx) => {
  it("puts, gets and replaces a wrapped key", async () => {
    const { keys } = fx().stores;
    const row = keyRow({ createdAt: at(1) });
    await keys.put(row);
    assert.deepEqual(await keys.get(row.subjectId), row);
    assert.equal(await keys.get(newId()), undefined);
    const rekeyed = { ...row, dekVersion: 2, wrapped: bytes(60) };
    await keys.put(rekeyed);
    assert.deepEqual(await keys.get(row.subjectId), rekeyed);
    assert.equal((await keys.findByAuditRefs([row.auditRef])).get(row.auditRef), row.subjectId);
    assert.equal((await keys.findByAuditRefs([newRef()])).size, 0);
  });

  it("puts many at once", async () => {
    const { keys } = fx().stores;
    const rows = Array.from({ length: 300 }, (_, i) => keyRow({ createdAt: at(i) }));
    await keys.putMany(rows);
    await keys.putMany([]);
    for (const row of [rows[0]!, rows[299]!]) assert.deepEqual(await keys.get(row.subjectId), row);
  });

  it("gets many keys at once, leaving out unknown ids", async () => {
    const { keys } = fx().stores;
    const rows = Array.from({ length: 1203 }, (_, i) => keyRow({ createdAt: at(i) }));
    await keys.putMany(rows);
    const bySubject = (list: WrappedKeyRow[]) => [...list].sort((a, b) => (a.subjectId < b.subjectId ? -1 : 1));
    // More ids than one statement's parameters allow on some stores, plus unknown and repeated ones.
    const asked = [...rows.map((r) => r.subjectId), newId(), rows[5]!.subjectId, newId()];
    assert.deepEqual(bySubject(await keys.getMany(asked)), bySubject(rows));
    assert.deepEqual(await keys.getMany([rows[7]!.subjectId]), [rows[7]]);
    assert.deepEqual(await keys.getMany([newId(), newId()]), []);
    assert.deepEqual(await keys.getMany([]), []);
    await keys.destroy(rows[9]!.subjectId);
    assert.deepEqual(
      bySubject(await keys.getMany([rows[8]!.subjectId, rows[9]!.subjectId, rows[10]!.subjectId])),
      bySubject([rows[8]!, rows[10]!]),
    );
  });

  it("destroys a key for good", async () => {
    const { keys } = fx().stores;
    const row = keyRow();
    await keys.put(row);
    assert.equal(await keys.destroy(row.subjectId), true);
    assert.equal(await keys.get(row.subjectId), undefined);
    assert.equal((await keys.findByAuditRefs([row.auditRef])).size, 0);
    assert.equal(await keys.destroy(row.subjectId), false);
  });

  it("leaves no copy of a destroyed key in the database files", async (t) => {
    const { dir } = fx();
    if (dir === undefined) {
      t.diagnostic("PostgreSQL keeps dead tuples until VACUUM; covered by KEK rotation, not by this check");
      return;
    }
    const { keys } = fx().stores;
    const row = keyRow({ wrapped: Buffer.from(`WRAPPED-KEY-MARKER-${newId()}`) });
    await keys.put(row);
    const files = () =>
      fs
        .readdirSync(dir)
        .filter((f) => f.startsWith("keys.db"))
        .map((f) => fs.readFileSync(path.join(dir, f)));
    assert.ok(files().some((b) => b.includes(row.wrapped)), "marker is on disk before destroy");
    assert.equal(await keys.destroy(row.subjectId), true);
    assert.ok(!files().some((b) => b.includes(row.wrapped)), "marker is gone after destroy");
  });

  it("rewraps only from the expected KEK version", async () => {
    const { keys } = fx().stores;
    const row = keyRow({ kekVersion: 1 });
    await keys.put(row);
    const w2 = bytes(60);
    assert.equal(await keys.rewrap(row.subjectId, 3, 2, w2), false);
    assert.deepEqual(await keys.get(row.subjectId), row);
    assert.equal(await keys.rewrap(row.subjectId, 1, 2, w2), true);
    assert.deepEqual(await keys.get(row.subjectId), { ...row, kekVersion: 2, wrapped: w2 });
    assert.equal(await keys.rewrap(row.subjectId, 1, 2, bytes(60)), false, "second rewrap from the old version loses");
    assert.equal(await keys.rewrap(newId(), 1, 2, w2), false);
  });

  it("rewraps many in one call, each only from its expected KEK version", async () => {
    const { keys } = fx().stores;
    const rows = Array.from({ length: 50 }, () => keyRow({ kekVersion: 1 }));
    await keys.putMany(rows);
    await keys.rewrap(rows[0]!.subjectId, 1, 2, bytes(60)); // already moved: must be skipped
    const wrapped = rows.map(() => bytes(60));
    const items = rows.map((r, i) => ({ id: r.subjectId, fromKek: 1, toKek: 2, wrapped: wrapped[i]! }));
    assert.equal(await keys.rewrapMany([...items, { id: newId(), fromKek: 1, toKek: 2, wrapped: bytes(60) }]), 49);
    assert.equal(await keys.rewrapMany([]), 0);
    assert.notDeepEqual((await keys.get(rows[0]!.subjectId))!.wrapped, wrapped[0]);
    assert.deepEqual(await keys.get(rows[7]!.subjectId), { ...rows[7]!, kekVersion: 2, wrapped: wrapped[7]! });
  });

  it("pages keys not wrapped by a version in id order, and counts by version", async () => {
    const { keys } = fx().stores;
    const before = new Map((await keys.countByKekVersion()).map((c) => [c.kekVersion, c.count]));
    const rows = Array.from({ length: 23 }, (_, i) => keyRow({ kekVersion: 100 + (i % 3) }));
    await keys.putMany(rows);
    const counts = new Map((await keys.countByKekVersion()).map((c) => [c.kekVersion, c.count]));
    for (const v of [100, 101, 102]) {
      assert.equal(counts.get(v), (before.get(v) ?? 0) + rows.filter((r) => r.kekVersion === v).length);
    }
    const versions = (await keys.countByKekVersion()).map((c) => c.kekVersion);
    assert.deepEqual(versions, [...versions].sort((a, b) => a - b));

    const seen: WrappedKeyRow[] = [];
    let after: string | null = null;
    for (;;) {
      const page = await keys.listNotWrappedBy(101, after, 4);
      assert.ok(page.length <= 4);
      if (page.length === 0) break;
      seen.push(...page);
      after = page[page.length - 1]!.subjectId;
    }
    const ids = seen.map((r) => r.subjectId as string);
    assert.deepEqual(ids, [...ids].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
    assert.equal(new Set(ids).size, ids.length);
    assert.ok(seen.every((r) => r.kekVersion !== 101));
    const ours = new Set(rows.filter((r) => r.kekVersion !== 101).map((r) => r.subjectId as string));
    assert.equal(ids.filter((id) => ours.has(id)).length, ours.size);
  });
});
