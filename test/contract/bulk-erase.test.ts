/**
 * Bulk erasure contract (the dormancy sweep's hot path): DataStore.dormant, DataStore.markErased,
 * compactErased and erasedBacklog, and KeyStore.destroyMany, on every store kind. Each suite has a database of its own, so
 * `dormant`, which sees every subject, sees only the suite's.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { it } from "node:test";
import type { SubjectId } from "../../src/core/ids.js";
import type { ImportItem, LookupEntry, StoredField } from "../../src/core/ports.js";
import { at, bytes, consentEvent, forEachStore, newId, rejectsWith, T0, wrappedKeyRow } from "./store-fixture.js";

const DAY = 24 * 3600 * 1000;
const field = (name: string, updatedAt = T0): StoredField => ({ field: name, ciphertext: bytes(40), updatedAt });
const byId = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** A subject last active at `updatedAt`, holding `fields` (in the order given) and a lookup per field. */
const item = (updatedAt: Date, fields: string[], over: Partial<ImportItem["subject"]> = {}): ImportItem => {
  const id = newId();
  return {
    subject: { id, createdAt: new Date(updatedAt.getTime() - DAY), updatedAt, status: "active", ...over },
    fields: fields.map((f) => field(f, updatedAt)),
    lookups: fields.map((f): LookupEntry => ({ field: f, digest: bytes() })),
    consents: [consentEvent(id, { at: updatedAt })],
  };
};

forEachStore("DataStore.dormant", (fx) => {
  const cutOff = at(0);
  const old = (days: number) => at(-days * DAY);

  it("pages active subjects idle since before the cut-off, in id order, with their field names", async () => {
    const { data } = fx().stores;
    const dormant = [
      item(old(400), ["phone", "email", "name"]),
      item(old(731), []),
      item(old(1), ["user_id"]),
      item(new Date(cutOff.getTime() - 1), ["nickname", "email"]),
      item(old(2000), ["user_id", "phone", "name", "nickname", "email"]),
    ];
    const recent = item(new Date(cutOff.getTime() + 1), ["phone"]);
    const atCutOff = item(cutOff, ["phone"]); // not before it
    const erased = item(old(900), [], { status: "erased" });
    await data.importBatch([...dormant, recent, atCutOff, erased]);

    const expected = [...dormant]
      .sort((a, b) => byId(a.subject.id, b.subject.id))
      .map((i) => ({ id: i.subject.id, updatedAt: i.subject.updatedAt, fields: i.fields.map((f) => f.field).sort() }));
    const pages: (typeof expected)[] = [];
    let after: SubjectId | null = null;
    for (;;) {
      const page = await data.dormant(cutOff, after, 2);
      if (page.length === 0) break;
      assert.ok(page.length <= 2);
      pages.push(page);
      after = page[page.length - 1]!.id;
    }
    assert.deepEqual(pages.flat(), expected);
    assert.deepEqual(pages.map((p) => p.length), [2, 2, 1]);
    assert.deepEqual(await data.dormant(cutOff, null, 100), expected);
    assert.deepEqual(await data.dormant(cutOff, null, 0), []);
  });

  it("starts after a cursor that is not itself a subject id", async () => {
    const { data } = fx().stores;
    const all = await data.dormant(at(0), null, 100);
    assert.ok(all.length >= 3);
    const third = all[2]!.id;
    // Just below the third id: the page starts at the third subject.
    const below = `${third.slice(0, -1)}${String.fromCharCode(third.charCodeAt(third.length - 1) - 1)}~`;
    assert.ok(byId(below, third) < 0 && byId(below, all[1]!.id) > 0);
    assert.deepEqual(await data.dormant(at(0), below as SubjectId, 100), all.slice(2));
    assert.deepEqual(await data.dormant(at(0), all[all.length - 1]!.id, 100), []);
  });

  it("moves the cut-off: an earlier one excludes the more recently active", async () => {
    const { data } = fx().stores;
    const all = await data.dormant(at(0), null, 100);
    const older = await data.dormant(old(500), null, 100);
    assert.deepEqual(
      older,
      all.filter((s) => s.updatedAt.getTime() < old(500).getTime()),
    );
    assert.equal(older.length, 2);
  });

  it("leaves out subjects erased or touched since, and shows fields as they are now", async () => {
    const { data } = fx().stores;
    const [first, second, third] = await data.dormant(at(0), null, 3);
    assert.ok(first && second && third);
    assert.equal(await data.markErased([first.id], at(5)), 1);
    await data.transaction(async (tx) => tx.touchSubject(second.id, at(5)));
    if (third.fields.length > 0) await data.transaction(async (tx) => tx.deleteFields(third.id, [third.fields[0]!]));
    const now = await data.dormant(at(0), null, 100);
    assert.ok(!now.some((s) => s.id === first.id || s.id === second.id));
    assert.deepEqual(now.find((s) => s.id === third.id)?.fields, third.fields.slice(1));
  });
});

forEachStore("DataStore.markErased and compactErased", (fx) => {
  const seed = async (n: number, fields = ["user_id", "phone", "name", "nickname", "email"]) => {
    const items = Array.from({ length: n }, (_, i) => item(at(-DAY - i), fields));
    await fx().stores.data.importBatch(items);
    return items;
  };
  /** Compacts everything queued (other tests of the suite may have queued subjects too). */
  const compactAll = async () => {
    const { data } = fx().stores;
    let n = 0;
    for (let k; (k = await data.compactErased(1000)) > 0; ) n += k;
    return n;
  };

  it("marks the active subjects erased at once (every read refuses them) and queues their rows", async () => {
    const { data } = fx().stores;
    await compactAll();
    const [a, b, c] = await seed(3);
    const erasedAt = at(10);
    assert.equal(await data.markErased([a!.subject.id, b!.subject.id], erasedAt), 2);
    for (const x of [a!, b!]) {
      assert.deepEqual(await data.getSubject(x.subject.id), { ...x.subject, status: "erased", updatedAt: erasedAt });
      assert.equal(await data.readBundle(x.subject.id, ["phone"]), undefined);
      assert.deepEqual(await data.getFields(x.subject.id, ["phone"]), []);
      for (const l of x.lookups) assert.deepEqual(await data.findByLookup(l.field, l.digest), []);
    }
    assert.deepEqual(await data.erasedBacklog(), { subjects: 2, oldest: erasedAt });
    // The other subject is untouched.
    assert.deepEqual(await data.getSubject(c!.subject.id), c!.subject);
  });

  it("compaction deletes the queued subjects' fields and blind indexes, in batches, and empties the queue", async () => {
    const { data } = fx().stores;
    await compactAll();
    const [a, b, c] = await seed(3);
    assert.equal(await data.markErased([a!.subject.id, b!.subject.id], at(12)), 2);
    assert.equal(await data.compactErased(1), 1, "at most the limit");
    assert.equal((await data.erasedBacklog()).subjects, 1);
    assert.equal(await data.compactErased(10), 1);
    assert.equal(await data.compactErased(10), 0);
    assert.deepEqual(await data.erasedBacklog(), { subjects: 0, oldest: null });
    // Reactivated, the subject shows that no field or blind-index row is left behind.
    await data.transaction(async (tx) => tx.setSubjectStatus(a!.subject.id, "active", at(13)));
    assert.deepEqual(await data.getFields(a!.subject.id, a!.fields.map((f) => f.field)), []);
    for (const l of a!.lookups) assert.deepEqual(await data.findByLookup(l.field, l.digest), []);
    // The consent ledger is evidence: kept.
    assert.equal((await data.consentHistory(a!.subject.id)).length, 1);
    // The other subject is untouched.
    const names = c!.fields.map((f) => f.field);
    assert.deepEqual(await data.getFields(c!.subject.id, names), [...c!.fields].sort((x, y) => byId(x.field, y.field)));
    for (const l of c!.lookups) assert.deepEqual(await data.findByLookup(l.field, l.digest), [c!.subject.id]);
    assert.equal(await data.compactErased(0), 0);
  });

  it("counts only subjects that were active, and is idempotent", async () => {
    const { data } = fx().stores;
    await compactAll();
    const items = await seed(4);
    const [a, b, c, d] = items.map((i) => i.subject.id) as [SubjectId, SubjectId, SubjectId, SubjectId];
    assert.equal(await data.markErased([a], at(20)), 1);
    // Already erased, unknown and repeated ids are not counted.
    assert.equal(await data.markErased([a, b, newId(), b, c, c], at(21)), 2);
    assert.equal((await data.getSubject(a))?.updatedAt.getTime(), at(20).getTime(), "an erased subject keeps its erasure time");
    assert.equal(await data.markErased([a, b, c], at(22)), 0);
    assert.equal((await data.getSubject(b))?.updatedAt.getTime(), at(21).getTime());
    assert.equal((await data.getSubject(d))?.status, "active");
    assert.equal(await data.markErased([], at(23)), 0);
    assert.deepEqual(await data.erasedBacklog(), { subjects: 3, oldest: at(20) }, "queued once each, with their erasure time");
    assert.equal(await compactAll(), 3);
  });

  it("erases a subject without fields or blind indexes", async () => {
    const { data } = fx().stores;
    const [a] = await seed(1, []);
    assert.equal(await data.markErased([a!.subject.id], at(30)), 1);
    assert.equal((await data.getSubject(a!.subject.id))?.status, "erased");
    assert.ok((await compactAll()) >= 1);
  });

  it("erases and compacts thousands in one call", async () => {
    const { data } = fx().stores;
    await compactAll();
    const items = await seed(2503, ["phone", "email"]);
    const keep = items.pop()!;
    // More ids than one statement's parameters allow on some stores; order does not matter.
    const ids = items.map((i) => i.subject.id).reverse();
    assert.equal(await data.markErased(ids, at(40)), ids.length);
    assert.equal(await data.compactErased(10_000), ids.length);
    const sample = [items[0]!, items[1234]!, items[items.length - 1]!];
    assert.ok(!(await data.dormant(at(0), null, 10_000)).some((s) => ids.includes(s.id)));
    for (const x of sample) {
      assert.equal((await data.getSubject(x.subject.id))?.status, "erased");
      // Reactivated, the subject shows that no row of it is left behind.
      await data.transaction(async (tx) => tx.setSubjectStatus(x.subject.id, "active", at(41)));
      assert.deepEqual(await data.findByLookup("phone", x.lookups[0]!.digest), []);
      assert.deepEqual(await data.getFields(x.subject.id, ["phone", "email"]), []);
    }
    assert.equal((await data.getSubject(keep.subject.id))?.status, "active");
    assert.deepEqual(await data.findByLookup("email", keep.lookups[1]!.digest), [keep.subject.id]);
  });

  it("refuses to run inside a transaction body", async () => {
    const { data } = fx().stores;
    const [a] = await seed(1);
    await rejectsWith(() => data.transaction(async () => data.markErased([a!.subject.id], at(50))), "INTERNAL");
    await rejectsWith(() => data.transaction(async () => data.compactErased(10)), "INTERNAL");
    assert.equal((await data.getSubject(a!.subject.id))?.status, "active");
  });
});

forEachStore("KeyStore.destroyMany", (fx) => {
  const keyRow = wrappedKeyRow;

  it("destroys the keys of many subjects, counts them and leaves the others", async () => {
    const { keys } = fx().stores;
    const rows = Array.from({ length: 1205 }, keyRow);
    await keys.putMany(rows);
    const [kept, ...gone] = rows;
    const ids = [...gone.map((r) => r.subjectId), newId(), gone[3]!.subjectId];
    assert.equal(await keys.destroyMany(ids), gone.length);
    assert.deepEqual(await keys.getMany(rows.map((r) => r.subjectId)), [kept]);
    assert.deepEqual(await keys.findByAuditRefs([gone[0]!.auditRef, kept!.auditRef]), new Map([[kept!.auditRef, kept!.subjectId]]));
    assert.equal(await keys.destroyMany(ids), 0, "idempotent");
    assert.equal(await keys.destroyMany([]), 0);
    assert.equal(await keys.destroyMany([kept!.subjectId]), 1);
  });

  it("leaves no copy of the destroyed keys in the database files after purge", async (t) => {
    const { dir } = fx();
    if (dir === undefined) {
      t.diagnostic("PostgreSQL keeps dead tuples until VACUUM; covered by KEK rotation, not by this check");
      return;
    }
    const { keys } = fx().stores;
    const rows = Array.from({ length: 20 }, () => ({ ...keyRow(), wrapped: Buffer.from(`BULK-KEY-MARKER-${newId()}`) }));
    await keys.putMany(rows);
    const onDisk = () =>
      fs
        .readdirSync(dir)
        .filter((f) => f.startsWith("keys.db"))
        .map((f) => fs.readFileSync(path.join(dir, f)));
    assert.ok(onDisk().some((b) => b.includes(rows[0]!.wrapped)), "marker is on disk before destroy");
    assert.equal(await keys.destroyMany(rows.map((r) => r.subjectId)), rows.length);
    await keys.purge();
    for (const r of rows) assert.ok(!onDisk().some((b) => b.includes(r.wrapped)), "marker is gone after destroy and purge");
  });
});
