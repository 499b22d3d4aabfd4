/**
 * Unit tests of the audit log's pure logic: canonical form, chain, checkpoints, verification and
 * group commit. The AuditStore here is an in-memory test double of the port; the real SQLite and
 * PostgreSQL stores are held to the contract suite (test/contract).
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { auditLog } from "../../src/audit/audit-log.js";
import type { AuditEntry, AuditInput, VerifyProblemKind } from "../../src/audit/audit-types.js";
import { canonicalize, parseCanonical } from "../../src/audit/canonical.js";
import { chainHash, ZERO_HASH } from "../../src/audit/chain.js";
import {
  checkpointMessage,
  exportCheckpoint,
  parseCheckpointExport,
  signCheckpoint,
  verifyCheckpoint,
} from "../../src/audit/checkpoint.js";
import { verifyChain } from "../../src/audit/verify.js";
import { fixedClock } from "../../src/core/clock.js";
import { HaechiError } from "../../src/core/errors.js";
import { auditEntry, testSigner } from "../fixtures/audit-entries.js";
import type { AuditHead, AuditRow, AuditStore, Checkpoint } from "../../src/core/ports.js";

// ---------------------------------------------------------------- helpers

const KEY = Buffer.alloc(32, 7);

const GOLDEN_ENTRY: AuditEntry = {
  at: "2025-03-04T05:06:07.089Z",
  requestId: "req_01HZX",
  principal: "svc-crm",
  source: "203.0.113.7",
  action: "subject.read",
  effect: "allow",
  purpose: "order-fulfilment",
  subjectRef: "ar_Qx7Lm2Pz9Kd4",
  fields: ["name", "phone"],
  reasons: ["CONSENT_GRANTED"],
  count: 1,
  // Deliberately unsorted, with every value type and a non-ASCII string.
  meta: { zone: "서울", http: 200, cached: false, note: null },
};

const entry = auditEntry;

/** An in-memory AuditStore test double: rows in an array, appendBatch serialised like the head lock. */
const memStore = (opts: { delayMs?: number } = {}) => {
  const rows: AuditRow[] = [];
  const batches: number[] = [];
  /** appendBatch calls so far (a write is in flight from its call on). */
  let calls = 0;
  let failNext = 0;
  let lock: Promise<unknown> = Promise.resolve();
  const head = (): AuditHead | null => {
    const last = rows[rows.length - 1];
    return last ? { seq: last.seq, hash: last.hash } : null;
  };
  const store: Pick<AuditStore, "appendBatch" | "head" | "iterate"> = {
    appendBatch(build) {
      calls += 1;
      const run = lock.then(async () => {
        if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
        if (failNext > 0) {
          failNext--;
          throw new Error("SQLITE_IOERR: disk I/O error near INSERT INTO audit VALUES ('secret')");
        }
        const built = build(head());
        batches.push(built.length);
        rows.push(...built.map((r) => ({ ...r })));
        return built;
      });
      lock = run.catch(() => {});
      return run;
    },
    async head() {
      return head();
    },
    async *iterate(afterSeq, pageSize) {
      const rest = rows.filter((r) => r.seq > afterSeq);
      for (let i = 0; i < rest.length; i += pageSize) yield rest.slice(i, i + pageSize);
    },
  };
  return { store, rows, batches, calls: () => calls, failNext: (n: number) => (failNext = n) };
};

/** A chain of `n` rows built through the real AuditLog. */
const buildChain = async (n: number, key = KEY) => {
  const mem = memStore();
  const log = auditLog({ store: mem.store, chainKey: key });
  await log.recordMany(Array.from({ length: n }, (_, i) => entry(i + 1)));
  await log.close();
  return mem.rows;
};

const pagesOf = (rows: AuditRow[], size = 3): AuditRow[][] => {
  const out: AuditRow[][] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
};

const kinds = (r: { problems: { kind: VerifyProblemKind }[] }) => r.problems.map((p) => p.kind);

const signer = () => testSigner("cp-2025");

const headOf = (rows: AuditRow[], seq: number): AuditHead => {
  const r = rows.find((x) => x.seq === seq)!;
  return { seq: r.seq, hash: r.hash };
};

// ---------------------------------------------------------------- canonical form

describe("canonical form", () => {
  test("Safety Standard Art. 8: the canonical body carries who, when, from where, whose data and what action — and is frozen", () => {
    // A golden string: if this test fails, canonicalize() changed and every stored chain breaks.
    assert.equal(
      canonicalize(GOLDEN_ENTRY),
      '{"v":1,"at":"2025-03-04T05:06:07.089Z","requestId":"req_01HZX","principal":"svc-crm",' +
        '"source":"203.0.113.7","action":"subject.read","effect":"allow","purpose":"order-fulfilment",' +
        '"subjectRef":"ar_Qx7Lm2Pz9Kd4","fields":["name","phone"],"reasons":["CONSENT_GRANTED"],"count":1,' +
        '"meta":{"cached":false,"http":200,"note":null,"zone":"서울"}}',
    );
  });

  test("optional count and meta are left out when absent; key order does not depend on the input", () => {
    const { count: _c, meta: _m, ...plain } = GOLDEN_ENTRY;
    const reversed = Object.fromEntries(Object.entries(plain).reverse()) as unknown as AuditEntry;
    assert.equal(
      canonicalize(reversed),
      '{"v":1,"at":"2025-03-04T05:06:07.089Z","requestId":"req_01HZX","principal":"svc-crm",' +
        '"source":"203.0.113.7","action":"subject.read","effect":"allow","purpose":"order-fulfilment",' +
        '"subjectRef":"ar_Qx7Lm2Pz9Kd4","fields":["name","phone"],"reasons":["CONSENT_GRANTED"]}',
    );
  });

  test("parseCanonical round-trips and refuses bodies that are not exactly canonical", () => {
    const body = canonicalize(GOLDEN_ENTRY);
    assert.deepEqual(parseCanonical(body), GOLDEN_ENTRY);
    assert.throws(() => parseCanonical(body.replace('"v":1,', '"v":1, ')), HaechiError);
    assert.throws(() => parseCanonical(body.replace('{"v":1,', '{"v":2,')), HaechiError);
    assert.throws(() => parseCanonical(body.replace('"count":1,', '"count":1,"extra":1,')), HaechiError);
    assert.throws(() => parseCanonical("not json"), HaechiError);
  });

  test("malformed entries are refused without echoing their values", () => {
    const bad: [string, Partial<AuditEntry>][] = [
      ["at", { at: "2025-03-04T05:06:07Z" }],
      ["effect", { effect: "maybe" as AuditEntry["effect"] }],
      ["count", { count: Number.NaN }],
      ["fields", { fields: ["name", 3 as unknown as string] }],
      ["meta", { meta: { x: { nested: true } as unknown as string } }],
    ];
    for (const [field, over] of bad) {
      assert.throws(
        () => canonicalize({ ...GOLDEN_ENTRY, ...over }),
        (e: unknown) => e instanceof HaechiError && e.code === "VALIDATION_FAILED" && e.message.endsWith(field),
      );
    }
  });
});

// ---------------------------------------------------------------- chain

describe("chain", () => {
  test("the chain hash is frozen: SHA-256(key ‖ prev ‖ uint64be(seq) ‖ uint32be(len) ‖ body)", () => {
    // Cross-checked with Python's hashlib; changing it breaks every stored chain.
    const h = chainHash(Buffer.alloc(32, 1), ZERO_HASH, 1, canonicalize(GOLDEN_ENTRY));
    assert.equal(h.toString("hex"), "6d172a7d80626185b14d7014c8ba2996fd9328c216393cacd857b878d3456a4c");
  });

  test("seq and length are bound: the same body at another seq, or extended, hashes differently", () => {
    const body = canonicalize(GOLDEN_ENTRY);
    const a = chainHash(KEY, ZERO_HASH, 1, body);
    assert.notDeepEqual(chainHash(KEY, ZERO_HASH, 2, body), a);
    assert.notDeepEqual(chainHash(KEY, ZERO_HASH, 1, body + " "), a);
  });

  test("a chain key must be 32 bytes", () => {
    assert.throws(() => auditLog({ store: memStore().store, chainKey: Buffer.alloc(16) }), HaechiError);
  });
});

// ---------------------------------------------------------------- verify

describe("verifyChain", () => {
  test("an untouched chain verifies, across pages of any size", async () => {
    const rows = await buildChain(20);
    for (const size of [1, 3, 7, 100]) {
      const r = await verifyChain(pagesOf(rows, size), { chainKey: KEY });
      assert.equal(r.ok, true, JSON.stringify(r.problems));
      assert.equal(r.entries, 20);
      assert.deepEqual(r.head, { seq: 20, hash: rows[19]!.hash.toString("hex") });
    }
  });

  test("an empty log verifies with a null head", async () => {
    const r = await verifyChain([], { chainKey: KEY });
    assert.deepEqual(r, { ok: true, entries: 0, head: null, problems: [], problemCount: 0, checkpointsChecked: 0 });
  });

  test("non-ASCII bodies verify (the length prefix counts UTF-8 bytes)", async () => {
    const mem = memStore();
    const log = auditLog({ store: mem.store, chainKey: KEY });
    await log.recordMany([entry(1, { meta: { branch: "부산 해운대" } }), entry(2, { meta: { e: "é😀" } })]);
    assert.equal((await verifyChain([mem.rows], { chainKey: KEY })).ok, true);
  });

  test("reads straight from a store's iterate()", async () => {
    const mem = memStore();
    const log = auditLog({ store: mem.store, chainKey: KEY });
    await log.recordMany(Array.from({ length: 25 }, (_, i) => entry(i)));
    let progress = 0;
    const r = await verifyChain(mem.store.iterate(0, 10), { chainKey: KEY, onProgress: (n) => (progress = n) });
    assert.equal(r.ok, true);
    assert.equal(progress, 25);
  });

  describe("Safety Standard Art. 8: alteration, deletion and forgery of the access log are detected", () => {
    test("an edited body → hash_mismatch at that entry only", async () => {
      const rows = await buildChain(10);
      rows[4]!.body = rows[4]!.body.replace('"effect":"allow"', '"effect":"deny"');
      const r = await verifyChain(pagesOf(rows), { chainKey: KEY });
      assert.equal(r.ok, false);
      assert.deepEqual(r.problems.map((p) => [p.kind, p.seq]), [["hash_mismatch", 5]]);
    });

    test("an edited hash → hash_mismatch at the entry, its successor counted in the same report", async () => {
      const rows = await buildChain(10);
      rows[4]!.hash = randomBytes(32);
      const r = await verifyChain(pagesOf(rows), { chainKey: KEY });
      assert.deepEqual(r.problems.map((p) => [p.kind, p.seq]), [["hash_mismatch", 5]]);
      assert.match(r.problems[0]!.detail, /^2 consecutive entries from 5/);
    });

    test("a truncated stored hash is a mismatch, not an error", async () => {
      const rows = await buildChain(5);
      rows[2]!.hash = rows[2]!.hash.subarray(0, 31);
      const r = await verifyChain([rows], { chainKey: KEY });
      assert.deepEqual(kinds(r), ["hash_mismatch"]);
    });

    test("a deleted middle entry → seq_gap", async () => {
      const rows = await buildChain(10);
      rows.splice(5, 1);
      const r = await verifyChain(pagesOf(rows), { chainKey: KEY });
      assert.deepEqual(r.problems.map((p) => [p.kind, p.seq]), [["seq_gap", 7]]);
      assert.match(r.problems[0]!.detail, /entry 6 is missing/);
    });

    test("a deleted first entry → seq_gap", async () => {
      const rows = await buildChain(5);
      rows.shift();
      assert.deepEqual(kinds(await verifyChain([rows], { chainKey: KEY })), ["seq_gap"]);
    });

    test("two swapped rows → one seq_order; the row after them still chains", async () => {
      const rows = await buildChain(10);
      [rows[3], rows[4]] = [rows[4]!, rows[3]!];
      const r = await verifyChain(pagesOf(rows), { chainKey: KEY });
      assert.deepEqual(r.problems.map((p) => [p.kind, p.seq]), [["seq_order", 4]]);
      // …and an edit to that next row is still seen.
      rows[5]!.body += " ";
      assert.deepEqual(kinds(await verifyChain(pagesOf(rows), { chainKey: KEY })), ["seq_order", "hash_mismatch"]);
    });

    test("a row moved far → seq_gap where it was taken out, seq_order where it reappears", async () => {
      const rows = await buildChain(10);
      const [moved] = rows.splice(2, 1);
      rows.splice(7, 0, moved!);
      const r = await verifyChain(pagesOf(rows), { chainKey: KEY });
      assert.deepEqual(r.problems.map((p) => [p.kind, p.seq]), [["seq_gap", 4], ["seq_order", 3]]);
    });

    test("a deleted row under a checkpoint → seq_gap and checkpoint_mismatch", async () => {
      const rows = await buildChain(10);
      const s = signer();
      const cp = signCheckpoint(headOf(rows, 6), new Date(), s);
      rows.splice(5, 1);
      const r = await verifyChain(pagesOf(rows), { chainKey: KEY, checkpoints: [cp], publicKey: s.publicKey });
      assert.deepEqual(r.problems.map((p) => [p.kind, p.seq]), [["seq_gap", 7], ["checkpoint_mismatch", 6]]);
    });

    test("two entries swapped under their seq numbers → hash_mismatch", async () => {
      const rows = await buildChain(10);
      const a = rows[3]!;
      const b = rows[4]!;
      [a.body, b.body] = [b.body, a.body];
      [a.hash, b.hash] = [b.hash, a.hash];
      const r = await verifyChain(pagesOf(rows), { chainKey: KEY });
      assert.deepEqual(r.problems.map((p) => [p.kind, p.seq]), [["hash_mismatch", 4]]);
    });

    test("a cut tail → truncated, against a checkpoint kept outside (export → parse)", async () => {
      const rows = await buildChain(10);
      const s = signer();
      const cp = signCheckpoint(headOf(rows, 10), new Date("2025-02-01T00:00:00.000Z"), s);
      const kept = JSON.parse(JSON.stringify(exportCheckpoint(cp, s.publicKey.export({ type: "spki", format: "pem" }).toString())));
      const { checkpoint, publicKey } = parseCheckpointExport(kept);
      const cut = rows.slice(0, 7);
      const r = await verifyChain(pagesOf(cut), { chainKey: KEY, checkpoints: [checkpoint], publicKey });
      assert.deepEqual(r.problems.map((p) => [p.kind, p.seq]), [["truncated", 10]]);
      assert.match(r.problems[0]!.detail, /log ends at seq 7/);
      // Without the cut, the same checkpoint matches.
      const whole = await verifyChain(pagesOf(rows), { chainKey: KEY, checkpoints: [checkpoint], publicKey });
      assert.equal(whole.ok, true);
      assert.equal(whole.checkpointsChecked, 1);
    });

    test("a chain rewritten by someone holding the chain key → checkpoint_mismatch", async () => {
      const rows = await buildChain(10);
      const s = signer();
      const cp = signCheckpoint(headOf(rows, 8), new Date(), s);
      // The insider edits entry 3 and re-chains everything after it with the real key.
      const forged = rows.map((r) => ({ ...r }));
      forged[2]!.body = forged[2]!.body.replace('"principal":"svc-crm"', '"principal":"svc-shop"');
      let prev = forged[1]!.hash;
      for (const r of forged.slice(2)) {
        r.hash = chainHash(KEY, prev, r.seq, r.body);
        prev = r.hash;
      }
      const r = await verifyChain(pagesOf(forged), { chainKey: KEY, checkpoints: [cp], publicKey: s.publicKey });
      assert.deepEqual(r.problems.map((p) => [p.kind, p.seq]), [["checkpoint_mismatch", 8]]);
    });

    test("a forged checkpoint signature → bad_signature, and the checkpoint is not trusted", async () => {
      const rows = await buildChain(10);
      const s = signer();
      const real = signCheckpoint(headOf(rows, 10), new Date(), s);
      // A forger moves the checkpoint back to hide a cut of entries 6–10.
      const forged: Checkpoint = { ...real, seq: 5, hash: rows[4]!.hash.toString("hex") };
      const r = await verifyChain(pagesOf(rows.slice(0, 5)), { chainKey: KEY, checkpoints: [forged], publicKey: s.publicKey });
      assert.deepEqual(kinds(r), ["bad_signature"]);
      assert.equal(r.checkpointsChecked, 0);
    });

    test("a wrong chain key → hash_mismatch on every entry, reported once", async () => {
      const rows = await buildChain(10);
      const r = await verifyChain(pagesOf(rows), { chainKey: Buffer.alloc(32, 8) });
      assert.deepEqual(r.problems.map((p) => [p.kind, p.seq]), [["hash_mismatch", 1]]);
      assert.match(r.problems[0]!.detail, /10 consecutive entries.*wrong chain key/);
    });

    test("checkBodies: an edited searchable copy → copy_mismatch; a non-canonical body → body_invalid", async () => {
      const rows = await buildChain(6);
      // Hide entry 2 from a subject's access report by editing the indexed column only.
      rows[1]!.subjectRef = "ar_someone_else";
      // A body written by a key holder but not in canonical form.
      const raw = rows[3]!.body.replace('"v":1,', '"v":1, ');
      rows[3]!.body = raw;
      rows[3]!.hash = chainHash(KEY, rows[2]!.hash, 4, raw);
      rows[4]!.hash = chainHash(KEY, rows[3]!.hash, 5, rows[4]!.body);
      rows[5]!.hash = chainHash(KEY, rows[4]!.hash, 6, rows[5]!.body);
      assert.equal((await verifyChain([rows], { chainKey: KEY })).ok, true); // the fast pass cannot see these
      const r = await verifyChain([rows], { chainKey: KEY, checkBodies: true });
      assert.deepEqual(r.problems.map((p) => [p.kind, p.seq]), [["copy_mismatch", 2], ["body_invalid", 4]]);
    });

    test("problems are capped but all counted", async () => {
      const rows = await buildChain(30);
      for (const i of [2, 6, 10, 14, 18]) rows[i]!.body += " ";
      const r = await verifyChain([rows], { chainKey: KEY, maxProblems: 2 });
      assert.equal(r.problems.length, 2);
      assert.equal(r.problemCount, 5);
    });
  });

  test("verification can start from a trusted point after older entries were pruned", async () => {
    const rows = await buildChain(10);
    const r = await verifyChain([rows.slice(4)], { chainKey: KEY, after: headOf(rows, 4) });
    assert.equal(r.ok, true);
    assert.equal(r.entries, 6);
    const wrong = await verifyChain([rows.slice(5)], { chainKey: KEY, after: headOf(rows, 4) });
    assert.deepEqual(kinds(wrong), ["seq_gap"]);
  });
});

// ---------------------------------------------------------------- checkpoints

describe("checkpoints", () => {
  test("sign and verify; any changed field or another key fails", () => {
    const s = signer();
    const head: AuditHead = { seq: 42, hash: randomBytes(32) };
    const cp = signCheckpoint(head, new Date("2025-05-06T07:08:09.010Z"), s);
    assert.equal(cp.keyId, "cp-2025");
    assert.equal(checkpointMessage(cp), `haechi-audit-checkpoint:v1|42|${head.hash.toString("hex")}|2025-05-06T07:08:09.010Z`);
    assert.equal(verifyCheckpoint(cp, s.publicKey), true);
    assert.equal(verifyCheckpoint({ ...cp, seq: 41 }, s.publicKey), false);
    assert.equal(verifyCheckpoint({ ...cp, hash: randomBytes(32).toString("hex") }, s.publicKey), false);
    assert.equal(verifyCheckpoint({ ...cp, at: "2025-05-06T07:08:09.011Z" }, s.publicKey), false);
    assert.equal(verifyCheckpoint({ ...cp, signature: "garbage" }, s.publicKey), false);
    assert.equal(verifyCheckpoint(cp, signer().publicKey), false);
  });

  // openssl is installed by .ci/run; the ADR promises this check works without Haechi.
  test("an exported checkpoint verifies with openssl alone", () => {
    const s = signer();
    const cp = signCheckpoint({ seq: 7, hash: randomBytes(32) }, new Date(), s);
    const doc = exportCheckpoint(cp, s.publicKey.export({ type: "spki", format: "pem" }).toString());
    const dir = mkdtempSync(join(tmpdir(), "haechi-cp-"));
    try {
      writeFileSync(join(dir, "pub.pem"), doc.publicKeyPem);
      writeFileSync(join(dir, "msg.txt"), doc.message);
      writeFileSync(join(dir, "sig.bin"), Buffer.from(doc.checkpoint.signature, "base64"));
      const args = ["pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-in", "msg.txt", "-sigfile", "sig.bin"];
      assert.match(execFileSync("openssl", args, { cwd: dir }).toString(), /Signature Verified Successfully/);
      writeFileSync(join(dir, "msg.txt"), doc.message.replace("|7|", "|8|"));
      assert.throws(() => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("parseCheckpointExport refuses a document whose message or signature was changed", () => {
    const s = signer();
    const cp = signCheckpoint({ seq: 3, hash: randomBytes(32) }, new Date(), s);
    const doc = exportCheckpoint(cp, s.publicKey.export({ type: "spki", format: "pem" }).toString());
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as HaechiError).code;
      }
      return "none";
    };
    assert.equal(code(() => parseCheckpointExport({ ...doc, message: doc.message.replace("|3|", "|4|") })), "AUDIT_TAMPERED");
    assert.equal(code(() => parseCheckpointExport({ ...doc, checkpoint: { ...cp, seq: 4 } })), "AUDIT_TAMPERED");
    assert.equal(code(() => parseCheckpointExport({ nope: 1 })), "VALIDATION_FAILED");
  });
});

// ---------------------------------------------------------------- audit log service

describe("auditLog (group commit, fail closed)", () => {
  test("1,000 concurrent record() calls → few appendBatch calls, gap-free seqs, a valid chain", async () => {
    const mem = memStore();
    const log = auditLog({ store: mem.store, chainKey: KEY });
    const seqs = await Promise.all(Array.from({ length: 1000 }, (_, i) => log.record(entry(i))));
    assert.ok(mem.batches.length <= 3, `appendBatch called ${mem.batches.length} times`);
    assert.ok(mem.batches.every((n) => n <= 512));
    assert.deepEqual([...seqs].sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i + 1));
    assert.equal((await verifyChain([mem.rows], { chainKey: KEY })).ok, true);
  });

  test("entries recorded while a batch is being written join the next batch", async () => {
    const mem = memStore({ delayMs: 20 });
    const log = auditLog({ store: mem.store, chainKey: KEY });
    const first = log.record(entry(0));
    while (mem.calls() === 0) await new Promise((r) => setImmediate(r)); // the first batch is now in flight (its write takes 20 ms)
    const rest = Array.from({ length: 100 }, (_, i) => log.record(entry(i + 1)));
    assert.equal(await first, 1);
    assert.deepEqual(await Promise.all(rest), Array.from({ length: 100 }, (_, i) => i + 2));
    assert.deepEqual(mem.batches, [1, 100]);
  });

  test("batches are capped at maxBatch", async () => {
    const mem = memStore();
    const log = auditLog({ store: mem.store, chainKey: KEY, maxBatch: 10 });
    await log.recordMany(Array.from({ length: 25 }, (_, i) => entry(i)));
    assert.deepEqual(mem.batches, [10, 10, 5]);
  });

  test("a failed write rejects every entry of the batch with AUDIT_UNAVAILABLE (fail closed), without driver text", async () => {
    const mem = memStore();
    const errors: unknown[] = [];
    const log = auditLog({ store: mem.store, chainKey: KEY, onError: (e) => errors.push(e) });
    mem.failNext(1);
    const results = await Promise.allSettled([log.record(entry(1)), log.record(entry(2))]);
    for (const r of results) {
      assert.equal(r.status, "rejected");
      const e = (r as PromiseRejectedResult).reason as HaechiError;
      assert.ok(e instanceof HaechiError);
      assert.equal(e.code, "AUDIT_UNAVAILABLE");
      assert.doesNotMatch(JSON.stringify({ m: e.message, d: e.details }), /secret|INSERT/);
    }
    assert.equal(errors.length, 1);
    assert.equal(mem.rows.length, 0);
    // The store recovers: the chain continues from its real head.
    assert.equal(await log.record(entry(3)), 1);
    assert.equal((await verifyChain([mem.rows], { chainKey: KEY })).ok, true);
  });

  test("a malformed entry, or one recorded after close(), is refused with AUDIT_UNAVAILABLE and nothing is written", async () => {
    const mem = memStore();
    const log = auditLog({ store: mem.store, chainKey: KEY });
    await assert.rejects(log.record(entry(1, { at: "yesterday" })), { code: "AUDIT_UNAVAILABLE" });
    await assert.rejects(log.recordMany([entry(1), entry(2, { effect: "maybe" as AuditEntry["effect"] })]), {
      code: "AUDIT_UNAVAILABLE",
    });
    await log.close();
    await assert.rejects(log.record(entry(3)), { code: "AUDIT_UNAVAILABLE" });
    assert.equal(mem.rows.length, 0);
  });

  test("entries without `at` are stamped by the clock; searchable copies match the body", async () => {
    const mem = memStore();
    const clock = fixedClock("2025-06-01T12:00:00.000Z");
    const log = auditLog({ store: mem.store, chainKey: KEY, clock });
    const { at: _at, ...noAt } = entry(1) as AuditEntry;
    await log.record(noAt);
    const row = mem.rows[0]!;
    assert.equal(row.at.toISOString(), "2025-06-01T12:00:00.000Z");
    assert.equal(parseCanonical(row.body).at, "2025-06-01T12:00:00.000Z");
    assert.equal((await verifyChain([mem.rows], { chainKey: KEY, checkBodies: true })).ok, true);
  });

  test("two processes sharing one store keep one valid chain (hashes come from the store's head)", async () => {
    const mem = memStore({ delayMs: 1 });
    const a = auditLog({ store: mem.store, chainKey: KEY });
    const b = auditLog({ store: mem.store, chainKey: KEY });
    const all = await Promise.all(
      Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? a : b).record(entry(i))),
    );
    assert.deepEqual([...all].sort((x, y) => x - y), Array.from({ length: 200 }, (_, i) => i + 1));
    assert.equal((await verifyChain(pagesOf(mem.rows, 50), { chainKey: KEY })).ok, true);
  });

  test("observe(): every entry once, stamped, in record order, before it is durable; malformed ones never; a throwing observer changes nothing", async () => {
    const mem = memStore({ delayMs: 20 });
    const errors: unknown[] = [];
    const clock = fixedClock("2025-06-01T12:00:00.000Z");
    const log = auditLog({ store: mem.store, chainKey: KEY, clock, onError: (e) => errors.push(e) });
    const seen: string[] = [];
    const stop = log.observe((e) => {
      seen.push(`${e.requestId}@${e.at}:${mem.rows.length}`);
    });
    log.observe(() => {
      throw new Error("observer bug");
    });
    const { at: _at, ...noAt } = entry(1) as AuditEntry;
    const one = log.record({ ...noAt, requestId: "a" });
    const many = log.recordMany([entry(2, { requestId: "b" }), entry(3, { requestId: "c" })]);
    await assert.rejects(log.record(entry(4, { at: "yesterday", requestId: "bad" })), { code: "AUDIT_UNAVAILABLE" });
    assert.deepEqual(seen, ["a@2025-06-01T12:00:00.000Z:0", `b@${entry(2).at}:0`, `c@${entry(3).at}:0`], "seen before anything was written");
    assert.deepEqual([await one, ...(await many)], [1, 2, 3]);
    assert.equal(errors.length, 3, "each throw reported, none failed a record");
    stop();
    await log.record(entry(5, { requestId: "d" }));
    assert.equal(seen.length, 3, "stopped");
  });

  test("flush() waits for everything recorded so far", async () => {
    const mem = memStore({ delayMs: 5 });
    const log = auditLog({ store: mem.store, chainKey: KEY });
    void log.record(entry(1));
    void log.record(entry(2));
    await log.flush();
    assert.equal(mem.rows.length, 2);
  });
});

describe("effectAndFieldsOf and purposeOf: fast reads of a canonical body (ADR 0010, ADR 0013)", async () => {
  const fc = (await import("fast-check")).default;
  const { effectAndFieldsOf, purposeOf } = await import("../../src/audit/canonical.js");
  test("agree with parseCanonical on any entry, quotes and brackets in its strings included", () => {
    const text = fc.string({ unit: fc.constantFrom("a", '"', "\\", ",", "]", "[", ":", "{", "}", "effect", "fields", "reasons", "purpose", "subjectRef", "한", " ") });
    fc.assert(
      fc.property(
        fc.record({
          requestId: text,
          principal: fc.option(text, { nil: null }),
          source: fc.option(text, { nil: null }),
          action: text,
          effect: fc.constantFrom("allow", "deny", "error", "info"),
          purpose: fc.option(text, { nil: null }),
          subjectRef: fc.option(text, { nil: null }),
          fields: fc.array(text, { maxLength: 4 }),
          reasons: fc.array(text, { maxLength: 3 }),
        }),
        (e) => {
          const body = canonicalize({ at: "2026-11-20T01:02:03.456Z", ...e, meta: { note: '],"reasons":["x' } });
          const parsed = parseCanonical(body);
          assert.deepEqual(effectAndFieldsOf(body), { effect: parsed.effect, fields: parsed.fields });
          assert.equal(purposeOf(body), parsed.purpose);
        },
      ),
      { numRuns: 500 },
    );
  });
  test("refuses a body that is not canonical", () => {
    assert.throws(() => effectAndFieldsOf('{"effect":"allow","fields":[]}'), /not canonical/);
    assert.throws(() => purposeOf('{"purpose":"x","subjectRef":null}'), /not canonical/);
  });
});
