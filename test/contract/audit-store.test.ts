/** AuditStore contract: every store kind must pass all of it. */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { it } from "node:test";
import { chainHasher } from "../../src/audit/chain.js";
import { verifyInWorkers } from "../../src/audit/parallel-verify.js";
import { verifyChain as verifyKeyedChain } from "../../src/audit/verify.js";
import type { AuditHead, AuditRow, AuditStore } from "../../src/core/ports.js";
import { at, forEachStore, rejectsWith } from "./store-fixture.js";

const GENESIS = Buffer.alloc(32);

/** A stand-in for audit/chain: hash = sha256(previous hash || body). */
const chained = (head: AuditHead | null, bodies: readonly string[], subjectRef: string | null = null): AuditRow[] => {
  let seq = head?.seq ?? 0;
  let prev = head?.hash ?? GENESIS;
  return bodies.map((body) => {
    seq += 1;
    const hash = createHash("sha256").update(prev).update(body).digest();
    prev = hash;
    return { seq, at: at(seq), subjectRef, principal: subjectRef === null ? null : "shop", action: "read", body, hash };
  });
};

const all = async (audit: AuditStore, afterSeq = 0, pageSize = 1000) => {
  const rows: AuditRow[] = [];
  for await (const page of audit.iterate(afterSeq, pageSize)) {
    assert.ok(page.length > 0 && page.length <= pageSize);
    rows.push(...page);
  }
  return rows;
};

const verifyChain = (rows: readonly AuditRow[]) => {
  let prev = GENESIS;
  rows.forEach((row, i) => {
    assert.equal(row.seq, i + 1, "gap-free seq");
    assert.deepEqual(row.hash, createHash("sha256").update(prev).update(row.body).digest());
    prev = row.hash;
  });
};

forEachStore("AuditStore", (fx) => {
  it("starts empty", async () => {
    const { audit } = fx().stores;
    assert.equal(await audit.head(), null);
    assert.equal(await audit.count(), 0);
    assert.deepEqual(await all(audit), []);
    assert.deepEqual(await audit.appendBatch(() => []), []);
    assert.equal(await audit.head(), null);
    assert.equal(typeof audit.seqRange, "function", "every store offers seqRange");
    assert.equal(await audit.seqRange!(), null);
  });

  it("appends a batch against the head and round-trips rows", async () => {
    const { audit } = fx().stores;
    let seen: AuditHead | null | undefined;
    const rows = await audit.appendBatch((head) => {
      seen = head;
      return chained(head, ["a", "b", "c"], "ref_1");
    });
    assert.equal(seen, null);
    assert.deepEqual(rows.map((r) => r.seq), [1, 2, 3]);
    assert.deepEqual(await audit.head(), { seq: 3, hash: rows[2]!.hash });
    assert.deepEqual(await all(audit), rows);
    assert.equal(await audit.count(), 3);
  });

  it("keeps the log unchanged when build throws or breaks the chain", async () => {
    const { audit } = fx().stores;
    const head = await audit.head();
    const boom = new Error("build failed");
    await assert.rejects(
      audit.appendBatch(() => {
        throw boom;
      }),
      (e) => e === boom,
    );
    await rejectsWith(
      () => audit.appendBatch((h) => chained(h, ["x", "y"]).map((r, i) => (i === 1 ? { ...r, seq: r.seq + 1 } : r))),
      "INTERNAL",
    );
    await rejectsWith(() => audit.appendBatch((h) => chained(h === null ? null : { ...h, seq: h.seq - 1 }, ["x"])), "INTERNAL");
    assert.deepEqual(await audit.head(), head);
    assert.equal(await audit.count(), head?.seq ?? 0);
  });

  it("chains 10 concurrent appends with no gap, each seeing the previous head", async () => {
    const { audit } = fx().stores;
    const other = (await fx().openAnother()).audit;
    const start = await audit.head();
    // build may run again when another writer moved the head meanwhile; the last call counts.
    const seen: { head: AuditHead | null; rows: AuditRow[] }[] = [];
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 === 0 ? audit : other).appendBatch((head) => {
          const rows = chained(head, Array.from({ length: 1 + (i % 4) }, (_, j) => `c${i}.${j}`));
          seen[i] = { head, rows };
          return rows;
        }),
      ),
    );
    assert.equal(seen.filter(Boolean).length, 10, "every append was built");
    seen.sort((a, b) => (a.head?.seq ?? 0) - (b.head?.seq ?? 0));
    let expected = start;
    for (const s of seen) {
      assert.deepEqual(s.head, expected);
      const last = s.rows[s.rows.length - 1]!;
      expected = { seq: last.seq, hash: last.hash };
    }
    assert.deepEqual(await audit.head(), expected);
    assert.deepEqual(await other.head(), expected);
    verifyChain(await all(audit));
  });

  it("iterates in seq order across page sizes and from a given seq", async () => {
    const { audit } = fx().stores;
    await audit.appendBatch((h) => chained(h, Array.from({ length: 37 }, (_, i) => `p${i}`)));
    const everything = await all(audit);
    verifyChain(everything);
    for (const size of [1, 7, 37, 500]) assert.deepEqual(await all(audit, 0, size), everything);
    const from = everything[10]!.seq;
    assert.deepEqual(await all(audit, from, 5), everything.filter((r) => r.seq > from));
    assert.deepEqual(await all(audit, everything[everything.length - 1]!.seq), []);
    assert.equal(await audit.count(), everything.length);
    for (const r of everything) assert.deepEqual(r.at, at(r.seq));
  });

  it("finds rows by subject reference in seq order", async () => {
    const { audit } = fx().stores;
    await audit.appendBatch((h) => [...chained(h, ["s1", "s2"], "ref_find")]);
    await audit.appendBatch((h) => chained(h, ["other"], "ref_other"));
    await audit.appendBatch((h) => chained(h, ["s3"], "ref_find"));
    const rows = await audit.bySubjectRef("ref_find", 10);
    assert.deepEqual(rows.map((r) => r.body), ["s1", "s2", "s3"]);
    assert.ok(rows.every((r) => r.subjectRef === "ref_find" && r.principal === "shop"));
    assert.deepEqual((await audit.bySubjectRef("ref_find", 2)).map((r) => r.body), ["s1", "s2"]);
    assert.deepEqual(await audit.bySubjectRef("ref_none", 10), []);
    // The person's access history: the newest first, the last `limit` of them.
    assert.deepEqual((await audit.bySubjectRef("ref_find", 2, "newest")).map((r) => r.body), ["s3", "s2"]);
    assert.deepEqual((await audit.bySubjectRef("ref_find", 10, "oldest")).map((r) => r.body), ["s1", "s2", "s3"]);
  });

  it("stores signed checkpoints", async () => {
    const { audit } = fx().stores;
    assert.equal(await audit.latestCheckpoint(), undefined);
    const cp = (seq: number) => ({
      seq,
      hash: "ab".repeat(32),
      at: "2025-03-01T09:30:15.123Z",
      keyId: "cp-key-1",
      signature: Buffer.from(`sig${seq}`).toString("base64"),
    });
    await audit.putCheckpoint(cp(5));
    await audit.putCheckpoint(cp(2));
    assert.deepEqual(await audit.latestCheckpoint(), cp(5));
    assert.deepEqual(await audit.listCheckpoints(), [cp(2), cp(5)]);
    await rejectsWith(() => audit.putCheckpoint({ ...cp(5), signature: "other" }), "CONFLICT");
    assert.deepEqual(await audit.latestCheckpoint(), cp(5));
  });

  it("offers its seq range, and a read source from which a worker thread reads exactly what iterate yields", async () => {
    const { audit } = fx().stores;
    assert.ok(audit.seqRange !== undefined && audit.readSource !== undefined, "every store offers the parallel read path");
    // Real keyed entries (non-ASCII bodies too), chained onto whatever the suite appended so far.
    const key = Buffer.alloc(32, 3);
    const hasher = chainHasher(key);
    const start = await audit.head();
    await audit.appendBatch((head) => {
      let prev = head?.hash ?? GENESIS;
      let seq = head?.seq ?? 0;
      return Array.from({ length: 25 }, (_, i) => {
        const body = `{"v":1,"i":${i},"zone":"${i % 3 === 0 ? "서울 é😀" : "x".repeat(i)}"}`;
        seq += 1;
        prev = hasher.hash(prev, seq, body);
        return { seq, at: at(seq), subjectRef: null, principal: null, action: "read", body, hash: prev };
      });
    });
    const everything = await all(audit);
    assert.deepEqual(await audit.seqRange(), { first: everything[0]!.seq, last: everything[everything.length - 1]!.seq });

    const fromStart = { chainKey: key, after: start ?? undefined };
    const single = await verifyKeyedChain(audit.iterate(start?.seq ?? 0, 10), fromStart);
    assert.equal(single.ok, true, JSON.stringify(single.problems));
    assert.equal(single.entries, 25);
    for (const threads of [1, 3]) {
      const opts = { ...fromStart, threads, minRowsPerThread: 1, pageSize: 4 };
      assert.deepEqual(await verifyInWorkers(audit.readSource(), await audit.seqRange(), opts), single);
    }
    // The whole log, stand-in rows included (mismatches under this key): the same verdict too.
    const whole = await verifyKeyedChain(audit.iterate(0, 10), { chainKey: key });
    const opts = { chainKey: key, threads: 2, minRowsPerThread: 1 };
    assert.deepEqual(await verifyInWorkers(audit.readSource(), await audit.seqRange(), opts), whole);
  });
});
