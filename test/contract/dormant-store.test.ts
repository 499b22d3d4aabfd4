/**
 * The dormant store contract (dormancy action `separate`, former Decree Art. 48-5; LAW §11.1), on
 * every store kind: DataStore.separateMany, separated, getDormantFields, markErased and compactErased on dormant subjects, and
 * the transaction steps reactivate and deleteDormantFields. Each suite has a database of its own.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import type { SubjectId } from "../../src/core/ids.js";
import type { ImportItem, LookupEntry, StoredField } from "../../src/core/ports.js";
import { at, bytes, consentEvent, forEachStore, newId, rejectsWith, T0 } from "./store-fixture.js";

const DAY = 24 * 3600 * 1000;
const byField = (a: StoredField, b: StoredField) => Buffer.compare(Buffer.from(a.field), Buffer.from(b.field));
const byId = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** A subject last active at `updatedAt`, holding `fields` (each collected a day before) and a lookup per field. */
const item = (updatedAt: Date, fields: string[]): ImportItem => {
  const id = newId();
  return {
    subject: { id, createdAt: new Date(updatedAt.getTime() - 2 * DAY), updatedAt, status: "active" },
    fields: fields.map((f): StoredField => ({ field: f, ciphertext: bytes(40), updatedAt: new Date(updatedAt.getTime() - DAY) })),
    lookups: fields.map((f): LookupEntry => ({ field: f, digest: bytes() })),
    consents: [consentEvent(id, { at: updatedAt })],
  };
};
const FIELDS = ["email", "name", "phone"];

forEachStore("DataStore.separateMany", (fx) => {
  const cutOff = at(0);
  const old = (days: number) => at(-days * DAY);

  it("moves the values of idle active subjects to the dormant store, deletes their blind indexes and marks them dormant", async () => {
    const { data } = fx().stores;
    const [a, b, keep] = [item(old(400), FIELDS), item(old(500), []), item(old(300), FIELDS)];
    await data.importBatch([a, b, keep]);
    const separatedAt = at(10);
    assert.equal(await data.separateMany([a.subject.id, b.subject.id], cutOff, separatedAt), 2);

    // Dormant, last activity kept; out of every ordinary read, scan and lookup.
    assert.deepEqual(await data.getSubject(a.subject.id), { ...a.subject, status: "dormant" });
    assert.equal((await data.getSubject(b.subject.id))?.status, "dormant");
    assert.equal(await data.readBundle(a.subject.id, FIELDS), undefined);
    assert.deepEqual(await data.getFields(a.subject.id, FIELDS), []);
    for (const l of a.lookups) assert.deepEqual(await data.findByLookup(l.field, l.digest), []);
    assert.ok(!(await data.provisions.scanSubjects(null, 1000, FIELDS)).some((s) => s.id === a.subject.id));
    assert.ok(!(await data.dormant(at(1000 * DAY), null, 1000)).some((s) => s.id === a.subject.id));
    // The same ciphertexts, with their own times, in the dormant store.
    assert.deepEqual(await data.getDormantFields(a.subject.id, FIELDS), [...a.fields].sort(byField));
    assert.deepEqual(await data.getDormantFields(a.subject.id, ["phone", "fax"]), a.fields.filter((f) => f.field === "phone"));
    assert.deepEqual(await data.getDormantFields(a.subject.id, []), []);
    // The consent ledger and state stay (a withdrawal must still be possible).
    assert.equal((await data.consentHistory(a.subject.id)).length, 1);
    assert.equal((await data.currentConsents(a.subject.id)).length, 1);

    // The other subject is untouched, and has no dormant values.
    assert.deepEqual(await data.getSubject(keep.subject.id), keep.subject);
    assert.deepEqual(await data.getFields(keep.subject.id, FIELDS), [...keep.fields].sort(byField));
    assert.deepEqual(await data.getDormantFields(keep.subject.id, FIELDS), []);
    for (const l of keep.lookups) assert.deepEqual(await data.findByLookup(l.field, l.digest), [keep.subject.id]);
  });

  it("fieldsHeld: which contact fields each person holds, live or separated, in one query; erased and unknown people are absent", async () => {
    const { data } = fx().stores;
    const [live, phoneOnly, sleeper, gone] = [item(old(400), FIELDS), item(old(10), ["phone"]), item(old(400), ["email"]), item(old(400), FIELDS)];
    await data.importBatch([live, phoneOnly, sleeper, gone]);
    assert.equal(await data.separateMany([sleeper.subject.id], cutOff, at(1)), 1);
    assert.equal(await data.markErased([gone.subject.id], at(2)), 1);
    const ids = [live, phoneOnly, sleeper, gone].map((x) => x.subject.id);
    const held = await data.fieldsHeld([...ids, newId()], ["email", "phone", "fax"]);
    assert.deepEqual(
      new Map([...held].map(([id, f]) => [id, [...f].sort()])),
      new Map([
        [live.subject.id, ["email", "phone"]],
        [phoneOnly.subject.id, ["phone"]],
        [sleeper.subject.id, ["email"]],
      ]),
    );
    assert.equal((await data.fieldsHeld(ids, [])).size, 0);
    assert.equal((await data.fieldsHeld([], FIELDS)).size, 0);
  });

  it("separates only subjects still active and still idle since before the cut-off; counts them; is idempotent", async () => {
    const { data } = fx().stores;
    const idle = item(old(400), FIELDS);
    const touched = item(old(400), FIELDS);
    const recent = item(new Date(cutOff.getTime() + 1), FIELDS);
    const atCutOff = item(cutOff, FIELDS);
    const erased = item(old(400), []);
    await data.importBatch([idle, touched, recent, atCutOff, erased]);
    // Active again since the sweep read its page: not separated.
    await data.transaction(async (tx) => tx.touchSubject(touched.subject.id, at(1)));
    assert.equal(await data.markErased([erased.subject.id], at(2)), 1);
    const ids = [idle, touched, recent, atCutOff, erased].map((i) => i.subject.id);
    assert.equal(await data.separateMany([...ids, newId(), idle.subject.id], cutOff, at(3)), 1);
    assert.equal((await data.getSubject(idle.subject.id))?.status, "dormant");
    for (const x of [touched, recent, atCutOff]) {
      assert.equal((await data.getSubject(x.subject.id))?.status, "active");
      assert.equal((await data.getFields(x.subject.id, FIELDS)).length, 3);
    }
    assert.equal((await data.getSubject(erased.subject.id))?.status, "erased");
    assert.equal(await data.separateMany(ids, cutOff, at(4)), 0, "already dormant: nothing more");
    assert.deepEqual(await data.getDormantFields(idle.subject.id, FIELDS), [...idle.fields].sort(byField));
    assert.equal(await data.separateMany([], cutOff, at(5)), 0);
  });

  it("separates thousands in one call", async () => {
    const { data } = fx().stores;
    const items = Array.from({ length: 2503 }, (_, i) => item(old(400 + i), ["phone", "email"]));
    await data.importBatch(items);
    const keep = items.pop()!;
    const ids = items.map((i) => i.subject.id).reverse();
    assert.equal(await data.separateMany(ids, cutOff, at(6)), ids.length);
    for (const x of [items[0]!, items[1234]!, items[items.length - 1]!]) {
      assert.equal((await data.getSubject(x.subject.id))?.status, "dormant");
      assert.deepEqual(await data.findByLookup("phone", x.lookups[0]!.digest), []);
      assert.equal((await data.getDormantFields(x.subject.id, ["phone", "email"])).length, 2);
    }
    assert.equal((await data.getSubject(keep.subject.id))?.status, "active");
    assert.deepEqual(await data.findByLookup("email", keep.lookups[1]!.digest), [keep.subject.id]);
  });

  it("refuses to run inside a transaction body", async () => {
    const { data } = fx().stores;
    const x = item(old(400), FIELDS);
    await data.importBatch([x]);
    await rejectsWith(() => data.transaction(async () => data.separateMany([x.subject.id], cutOff, at(7))), "INTERNAL");
    assert.equal((await data.getSubject(x.subject.id))?.status, "active");
  });
});

forEachStore("DataStore.separated", (fx) => {
  const cutOff = at(0);

  it("pages dormant subjects separated before a time, in id order, with last activity, separation time and field names", async () => {
    const { data } = fx().stores;
    const early = [item(at(-900 * DAY), FIELDS), item(at(-800 * DAY), []), item(at(-700 * DAY), ["phone"]), item(at(-600 * DAY), ["email", "name"])];
    const late = item(at(-500 * DAY), FIELDS);
    const active = item(at(-400 * DAY), FIELDS);
    await data.importBatch([...early, late, active]);
    const separatedEarly = at(-10 * DAY);
    assert.equal(await data.separateMany(early.map((i) => i.subject.id), cutOff, separatedEarly), early.length);
    assert.equal(await data.separateMany([late.subject.id], cutOff, cutOff), 1); // at the time: not before it

    const expected = [...early]
      .sort((a, b) => byId(a.subject.id, b.subject.id))
      .map((i) => ({ id: i.subject.id, updatedAt: i.subject.updatedAt, dormantAt: separatedEarly, fields: i.fields.map((f) => f.field).sort() }));
    const pages: (typeof expected)[] = [];
    let after: SubjectId | null = null;
    for (;;) {
      const page = await data.separated(cutOff, after, 3);
      if (page.length === 0) break;
      pages.push(page);
      after = page[page.length - 1]!.id;
    }
    assert.deepEqual(pages.map((p) => p.length), [3, 1]);
    assert.deepEqual(pages.flat(), expected);
    assert.deepEqual(await data.separated(cutOff, null, 0), []);
    assert.equal((await data.separated(at(1), null, 100)).length, 5, "a later time includes the one separated at the cut-off");
    assert.deepEqual(await data.separated(separatedEarly, null, 100), [], "nothing separated before the earliest separation");
  });

  it("leaves out subjects reactivated or erased since", async () => {
    const { data } = fx().stores;
    const [first, second, third] = await data.separated(at(0), null, 3);
    assert.ok(first && second && third);
    assert.equal(await data.transaction((tx) => tx.reactivate(first.id, at(5))), true);
    assert.equal(await data.markErased([second.id], at(5)), 1);
    const now = await data.separated(at(1), null, 100);
    assert.ok(!now.some((s) => s.id === first.id || s.id === second.id));
    assert.ok(now.some((s) => s.id === third.id));
  });
});

forEachStore("DataTx.reactivate", (fx) => {
  const seedDormant = async (fields = FIELDS) => {
    const { data } = fx().stores;
    const x = item(at(-400 * DAY), fields);
    await data.importBatch([x]);
    assert.equal(await data.separateMany([x.subject.id], at(0), at(1)), 1);
    return x;
  };

  it("moves the separated values back unchanged, makes the subject active as of the time given; blind indexes in the same transaction", async () => {
    const { data } = fx().stores;
    const x = await seedDormant();
    const woke = at(2 * DAY);
    const done = await data.transaction(async (tx) => {
      const r = await tx.reactivate(x.subject.id, woke);
      await tx.putLookups(x.subject.id, x.lookups);
      return r;
    });
    assert.equal(done, true);
    assert.deepEqual(await data.getSubject(x.subject.id), { ...x.subject, status: "active", updatedAt: woke });
    assert.deepEqual(await data.getFields(x.subject.id, FIELDS), [...x.fields].sort(byField), "same ciphertexts, same value times");
    assert.deepEqual(await data.getDormantFields(x.subject.id, FIELDS), []);
    assert.deepEqual((await data.readBundle(x.subject.id, ["phone"]))?.fields, x.fields.filter((f) => f.field === "phone"));
    for (const l of x.lookups) assert.deepEqual(await data.findByLookup(l.field, l.digest), [x.subject.id]);
    assert.deepEqual(await data.separated(at(100 * DAY), null, 1000).then((p) => p.filter((s) => s.id === x.subject.id)), []);
    // Idle again later, it can be separated again.
    assert.equal(await data.separateMany([x.subject.id], at(3 * DAY), at(3 * DAY)), 1);
    assert.equal((await data.getDormantFields(x.subject.id, FIELDS)).length, 3);
  });

  it("changes nothing and returns false for an active, erased or unknown subject", async () => {
    const { data } = fx().stores;
    const active = item(at(-DAY), FIELDS);
    const erased = item(at(-DAY), FIELDS);
    await data.importBatch([active, erased]);
    assert.equal(await data.markErased([erased.subject.id], at(1)), 1);
    for (const id of [active.subject.id, erased.subject.id, newId()]) {
      assert.equal(await data.transaction((tx) => tx.reactivate(id, at(2))), false);
    }
    assert.deepEqual(await data.getSubject(active.subject.id), active.subject);
    assert.equal((await data.getSubject(erased.subject.id))?.status, "erased");
  });

  it("is atomic with the rest of its transaction", async () => {
    const { data } = fx().stores;
    const x = await seedDormant();
    await assert.rejects(
      data.transaction(async (tx) => {
        await tx.reactivate(x.subject.id, at(2));
        throw new Error("crash after the move");
      }),
      /crash after the move/,
    );
    assert.equal((await data.getSubject(x.subject.id))?.status, "dormant");
    assert.equal((await data.getDormantFields(x.subject.id, FIELDS)).length, 3);
    assert.deepEqual(await data.getFields(x.subject.id, FIELDS), []);
  });

  it("reactivates a subject that had no values", async () => {
    const { data } = fx().stores;
    const x = await seedDormant([]);
    assert.equal(await data.transaction((tx) => tx.reactivate(x.subject.id, at(2))), true);
    assert.equal((await data.getSubject(x.subject.id))?.status, "active");
  });
});

forEachStore("DataTx.deleteDormantFields", (fx) => {
  it("deletes the named separated values only", async () => {
    const { data } = fx().stores;
    const x = item(at(-400 * DAY), FIELDS);
    await data.importBatch([x]);
    assert.equal(await data.separateMany([x.subject.id], at(0), at(1)), 1);
    await data.transaction(async (tx) => {
      await tx.deleteDormantFields(x.subject.id, ["phone", "phone", "fax"]);
      await tx.deleteDormantFields(x.subject.id, []);
    });
    assert.deepEqual((await data.getDormantFields(x.subject.id, FIELDS)).map((f) => f.field), ["email", "name"]);
    assert.equal((await data.getSubject(x.subject.id))?.status, "dormant");
  });
});

forEachStore("DataStore.markErased and compactErased on separated subjects", (fx) => {
  const compactAll = async () => {
    let n = 0;
    for (let k; (k = await fx().stores.data.compactErased(1000)) > 0; ) n += k;
    return n;
  };

  it("marks dormant subjects erased and, compacted, no value of either kind is left; counts them; is idempotent", async () => {
    const { data } = fx().stores;
    await compactAll();
    const [a, b, c] = [item(at(-400 * DAY), FIELDS), item(at(-400 * DAY), []), item(at(-400 * DAY), FIELDS)];
    await data.importBatch([a, b, c]);
    assert.equal(await data.separateMany([a.subject.id, b.subject.id, c.subject.id], at(0), at(1)), 3);
    const erasedAt = at(2);
    assert.equal(await data.markErased([a.subject.id, b.subject.id, newId(), a.subject.id], erasedAt), 2);
    for (const x of [a, b]) {
      assert.deepEqual(await data.getSubject(x.subject.id), { ...x.subject, status: "erased", updatedAt: erasedAt });
      assert.deepEqual(await data.getDormantFields(x.subject.id, FIELDS), []);
    }
    assert.equal(await compactAll(), 2);
    // Brought back by hand, the subject shows no value row of either kind was left behind.
    await data.transaction(async (tx) => tx.setSubjectStatus(a.subject.id, "dormant", at(3)));
    assert.deepEqual(await data.getDormantFields(a.subject.id, FIELDS), []);
    await data.transaction(async (tx) => tx.setSubjectStatus(a.subject.id, "active", at(3)));
    assert.deepEqual(await data.getFields(a.subject.id, FIELDS), []);
    assert.equal(await data.markErased([a.subject.id], at(4)), 1, "not erased (set active by hand): erased again");
    assert.equal(await data.markErased([a.subject.id, b.subject.id], at(5)), 0);
    assert.equal(await data.markErased([], at(5)), 0);
    // The other one is untouched; the consent ledger is evidence and stays.
    assert.equal((await data.getDormantFields(c.subject.id, FIELDS)).length, 3);
    assert.equal((await data.consentHistory(a.subject.id)).length, 1);
  });

  it("erases a subject reactivated between the sweep's page and its erasure (its key is already destroyed)", async () => {
    const { data } = fx().stores;
    const x = item(at(-400 * DAY), FIELDS);
    await data.importBatch([x]);
    assert.equal(await data.separateMany([x.subject.id], at(0), at(1)), 1);
    await data.transaction(async (tx) => {
      await tx.reactivate(x.subject.id, at(2));
      await tx.putLookups(x.subject.id, x.lookups);
    });
    assert.equal(await data.markErased([x.subject.id], at(3)), 1);
    assert.equal((await data.getSubject(x.subject.id))?.status, "erased");
    assert.deepEqual(await data.findByLookup(x.lookups[0]!.field, x.lookups[0]!.digest), []);
    assert.ok((await compactAll()) >= 1);
  });
});
