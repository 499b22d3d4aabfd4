/**
 * Parallel verification (audit/parallel-verify.ts + its worker) must give exactly verifyChain's
 * result: the same problems, kinds, seqs, wording and order, the same counts and head.
 *
 *  - The worker's chain formula equals chain.ts's.
 *  - In memory, the worker's range logic + stitching is compared with verifyChain on random
 *    tampered chains cut into ranges at random places (fast-check).
 *  - On real SQLite and PostgreSQL stores, tampered through the database as an attacker would,
 *    `verifyStore` on worker threads is compared with verifyChain over `iterate`.
 *  - A worker that fails makes verification fail (never "ok").
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import fc from "fast-check";
import pg from "pg";

import { auditLog } from "../../src/audit/audit-log.js";
import type { AuditInput } from "../../src/audit/audit-types.js";
import { chainHash, chainHasher, ZERO_HASH } from "../../src/audit/chain.js";
import { signCheckpoint } from "../../src/audit/checkpoint.js";
import { splitRanges, stitch, verifyInWorkers, verifyStore } from "../../src/audit/parallel-verify.js";
import { problemLog, trustCheckpoints, verifyChain, type VerifyOptions } from "../../src/audit/verify.js";
import { isHaechiError } from "../../src/core/errors.js";
import type { AuditHead, AuditReadSource, AuditRow, AuditStore, Checkpoint } from "../../src/core/ports.js";
import { openPostgresStores, openSqliteStores, type Stores } from "../../src/storage/index.js";
import { auditEntry, testSigner } from "../fixtures/audit-entries.js";
import { freshDatabase, startPostgres, type RunningPostgres } from "../helpers/pg.js";

// The worker is plain JavaScript; its pure parts are imported here directly.
interface RangeVerifier {
  row(seq: number, body: Buffer, bs: number, be: number, hashes: Buffer, ho: number, hl: number): void;
  finish(): Parameters<typeof stitch>[0][number];
}
const workerModule = (await import(new URL("../../src/audit/parallel-verify.worker.mjs", import.meta.url).href)) as {
  chainHashHex(key: Uint8Array, prev: Uint8Array, seq: number, body: string): string;
  rangeVerifier(
    key: Uint8Array,
    start: { seq: number; hash: Uint8Array },
    checkpoints: { seq: number; hash: Uint8Array; index: number }[],
    maxEvents: number,
  ): RangeVerifier;
};

const KEY = Buffer.alloc(32, 7);
const signer = () => testSigner("cp-test");

// Non-ASCII now and then: lengths are UTF-8 bytes.
const entry = (i: number): AuditInput => auditEntry(i, i % 7 === 0 ? { meta: { branch: "부산 해운대", e: "é😀" } } : {});

/** A chain of `n` rows in memory (the real canonical form and chain hash). */
const memoryChain = (n: number, key = KEY): AuditRow[] => {
  const h = chainHasher(key);
  const rows: AuditRow[] = [];
  let prev = ZERO_HASH;
  for (let i = 1; i <= n; i++) {
    const body = `{"v":1,"n":${i},"s":"${"x".repeat(i % 13)}${i % 5 === 0 ? "ü" : ""}"}`;
    const hash = h.hash(prev, i, body);
    rows.push({ seq: i, at: new Date(i), subjectRef: null, principal: null, action: "a", body, hash });
    prev = hash;
  }
  return rows;
};

/**
 * What verifyInWorkers does, on this thread: each range (lo, hi] starts from its stored
 * predecessor and goes through the worker's rangeVerifier; the results are stitched.
 */
const verifySplit = (rows: readonly AuditRow[], cuts: readonly number[], opts: VerifyOptions) => {
  const maxProblems = opts.maxProblems ?? 100;
  const log = problemLog(maxProblems);
  const trusted = trustCheckpoints(opts, log);
  const origin = { seq: opts.after?.seq ?? 0, hash: opts.after?.hash ?? ZERO_HASH };
  const bounds = [...new Set(cuts)].filter((c) => c > origin.seq).sort((a, b) => a - b);
  const ranges = [origin.seq, ...bounds].map((lo, i) => ({ lo, hi: bounds[i] ?? null }));
  const parts = ranges.map(({ lo, hi }) => {
    const below = rows.filter((r) => r.seq > origin.seq && r.seq <= lo);
    const pred = below.length > 0 ? below[below.length - 1]! : origin;
    const inRange = (seq: number) => seq > lo && (hi === null || seq <= hi);
    const v = workerModule.rangeVerifier(
      opts.chainKey,
      { seq: pred.seq, hash: pred.hash },
      trusted.flatMap((t, index) => (inRange(t.cp.seq) ? [{ seq: t.cp.seq, hash: t.hash, index }] : [])),
      maxProblems,
    );
    for (const r of rows) {
      if (!inRange(r.seq)) continue;
      const b = Buffer.from(r.body, "utf8");
      v.row(r.seq, b, 0, b.length, r.hash, 0, r.hash.length);
    }
    return v.finish();
  });
  return stitch(parts, trusted.map((t) => t.cp), log);
};

// ---------------------------------------------------------------- pure parts

describe("parallel verification: the worker's pure parts", () => {
  test("the worker's chain formula equals chain.ts (ASCII, non-ASCII, empty, seq above 2^32)", () => {
    const prev = randomBytes(32);
    for (const [seq, body] of [
      [1, '{"v":1}'],
      [2, '{"v":1,"meta":{"zone":"서울","e":"é😀"}}'],
      [3, ""],
      [2 ** 32 + 5, "x".repeat(5000)],
      [Number.MAX_SAFE_INTEGER, "last"],
    ] as const) {
      assert.equal(workerModule.chainHashHex(KEY, prev, seq, body), chainHash(KEY, prev, seq, body).toString("hex"));
    }
    assert.equal(workerModule.chainHashHex(KEY, ZERO_HASH, 1, "a"), chainHash(KEY, ZERO_HASH, 1, "a").toString("hex"));
  });

  test("splitRanges covers (start, ∞) with the last range open-ended", () => {
    assert.deepEqual(splitRanges(0, null, 4), [{ lo: 0, hi: null }]);
    assert.deepEqual(splitRanges(0, { first: 1, last: 2 }, 4), [{ lo: 0, hi: null }]);
    assert.deepEqual(splitRanges(0, { first: 1, last: 100 }, 2), [{ lo: 0, hi: 50 }, { lo: 50, hi: null }]);
    assert.deepEqual(splitRanges(10, { first: 1, last: 100 }, 3), [{ lo: 10, hi: 40 }, { lo: 40, hi: 70 }, { lo: 70, hi: null }]);
  });

  test("stitched ranges give verifyChain's result on random tampered chains cut anywhere", async () => {
    const s = signer();
    const tamper = fc.oneof(
      fc.record({ kind: fc.constant("body" as const), at: fc.nat() }),
      fc.record({ kind: fc.constant("hash" as const), at: fc.nat() }),
      fc.record({ kind: fc.constant("shortHash" as const), at: fc.nat() }),
      fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), len: fc.integer({ min: 1, max: 4 }) }),
      fc.record({ kind: fc.constant("swap" as const), at: fc.nat(), other: fc.nat() }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 30 }),
        fc.array(tamper, { maxLength: 5 }),
        fc.array(fc.integer({ min: 0, max: 34 }), { maxLength: 4 }),
        fc.array(fc.record({ at: fc.integer({ min: 1, max: 34 }), wrong: fc.boolean(), forged: fc.boolean() }), { maxLength: 4 }),
        fc.integer({ min: 1, max: 6 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 5 }),
        async (n, tampers, cuts, cps, maxProblems, wrongKey, afterSeq) => {
          const whole = memoryChain(n);
          const checkpoints: Checkpoint[] = cps.map((c) => {
            const hash = whole[c.at - 1]?.hash ?? randomBytes(32);
            const cp = signCheckpoint({ seq: c.at, hash: c.wrong ? randomBytes(32) : hash }, new Date(0), s);
            return c.forged ? { ...cp, signature: Buffer.alloc(64).toString("base64") } : cp;
          });
          let rows = whole.map((r) => ({ ...r }));
          for (const t of tampers) {
            if (rows.length === 0) break;
            const i = t.at % rows.length;
            if (t.kind === "body") rows[i]!.body += " ";
            if (t.kind === "hash") rows[i]!.hash = randomBytes(32);
            if (t.kind === "shortHash") rows[i]!.hash = rows[i]!.hash.subarray(0, 31);
            if (t.kind === "delete") rows.splice(i, t.len);
            if (t.kind === "swap") {
              const j = t.other % rows.length;
              const a = rows[i]!;
              const b = rows[j]!;
              [a.body, b.body, a.hash, b.hash] = [b.body, a.body, b.hash, a.hash];
            }
          }
          const after: AuditHead | undefined =
            afterSeq > 0 && afterSeq <= n ? { seq: afterSeq, hash: whole[afterSeq - 1]!.hash } : undefined;
          if (after) rows = rows.filter((r) => r.seq > after.seq);
          const opts: VerifyOptions = {
            chainKey: wrongKey ? Buffer.alloc(32, 8) : KEY,
            checkpoints,
            publicKey: s.publicKey,
            maxProblems,
            after,
          };
          const expected = await verifyChain([rows], opts);
          assert.deepEqual(verifySplit(rows, cuts, opts), expected, `cuts ${JSON.stringify(cuts)}`);
        },
      ),
      { numRuns: 400 },
    );
  });

  test("rows out of seq order (never from a store, but in memory) are reported as verifyChain does", async () => {
    const rows = memoryChain(10);
    [rows[3], rows[4]] = [rows[4]!, rows[3]!];
    const [moved] = rows.splice(1, 1);
    rows.splice(7, 0, moved!);
    const expected = await verifyChain([rows], { chainKey: KEY });
    assert.deepEqual(kinds(expected), ["seq_gap", "seq_order", "seq_order"]);
    assert.deepEqual(verifySplit(rows, [], { chainKey: KEY }), expected);
  });
});

const kinds = (r: { problems: { kind: string }[] }) => r.problems.map((p) => p.kind);
const where = (r: { problems: { kind: string; seq: number }[] }) => r.problems.map((p) => [p.kind, p.seq]);

// ---------------------------------------------------------------- real stores

let server: Promise<RunningPostgres> | undefined;
const pgServer = () => (server ??= startPostgres());
after(async () => {
  if (server !== undefined) await (await server.catch(() => undefined))?.stop();
});

/** A fresh store holding a chain of `n` entries, and an attacker's handle on its database. */
interface Fresh {
  stores: Stores;
  audit: AuditStore;
  rows: AuditRow[];
  /** Overwrite body and/or hash of an entry (the append-only triggers dropped first). */
  update(seq: number, set: { body?: string; hash?: Buffer }): Promise<void>;
  /** Delete entries from..to (inclusive). */
  remove(from: number, to: number): Promise<void>;
  close(): Promise<void>;
}

const N = 120;

const openFresh = async (kind: "sqlite" | "postgres", n = N): Promise<Fresh> => {
  let stores: Stores;
  let run: (sqlite: string, postgres: string, params: unknown[]) => Promise<void>;
  let cleanup: () => Promise<void>;
  if (kind === "sqlite") {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-pverify-"));
    stores = await openSqliteStores({ dir, synchronous: "NORMAL" });
    run = async (sql, _pg, params) => {
      const db = new Database(path.join(dir, "audit.db"));
      try {
        db.exec("DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete;");
        db.prepare(sql).run(...params);
      } finally {
        db.close();
      }
    };
    cleanup = async () => fs.rmSync(dir, { recursive: true, force: true });
  } else {
    const db = await freshDatabase((await pgServer()).url);
    stores = await openPostgresStores({ url: db.url, poolSize: 4 });
    run = async (_sqlite, sql, params) => {
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        await client.query("ALTER TABLE haechi_audit.audit_log DISABLE TRIGGER USER");
        await client.query(sql, params);
        await client.query("ALTER TABLE haechi_audit.audit_log ENABLE TRIGGER USER");
      } finally {
        await client.end();
      }
    };
    cleanup = () => db.drop();
  }
  const log = auditLog({ store: stores.audit, chainKey: KEY });
  await log.recordMany(Array.from({ length: n }, (_, i) => entry(i + 1)));
  await log.close();
  const rows: AuditRow[] = [];
  for await (const page of stores.audit.iterate(0, 1000)) rows.push(...page);
  return {
    stores,
    audit: stores.audit,
    rows,
    async update(seq, set) {
      if (set.body !== undefined) {
        await run("UPDATE audit_log SET body = ? WHERE seq = ?", "UPDATE haechi_audit.audit_log SET body = $1 WHERE seq = $2", [set.body, seq]);
      }
      if (set.hash !== undefined) {
        await run("UPDATE audit_log SET hash = ? WHERE seq = ?", "UPDATE haechi_audit.audit_log SET hash = $1 WHERE seq = $2", [set.hash, seq]);
      }
    },
    remove: (from, to) =>
      run("DELETE FROM audit_log WHERE seq BETWEEN ? AND ?", "DELETE FROM haechi_audit.audit_log WHERE seq BETWEEN $1 AND $2", [from, to]),
    async close() {
      await stores.close();
      await cleanup();
    },
  };
};

/**
 * Both paths over the store: verifyChain reading `iterate` on this thread, and verifyStore on
 * three worker threads (ranges (0, 40], (40, 80], (80, ∞) for 120 entries) with small pages.
 * They must agree exactly; returns the result.
 */
const both = async (audit: AuditStore, opts: VerifyOptions) => {
  const single = await verifyChain(audit.iterate(opts.after?.seq ?? 0, 7), opts);
  let progress = 0;
  const parallel = await verifyStore(audit, { ...opts, threads: 3, minRowsPerThread: 1, pageSize: 11, onProgress: (n) => (progress = n) });
  assert.deepEqual(parallel, single);
  assert.equal(progress, parallel.entries, "progress ends at the number of entries read");
  return parallel;
};

for (const kind of ["sqlite", "postgres"] as const) {
  describe(`parallel verification equals verifyChain on ${kind}`, () => {
    let fx: Fresh;
    before(async () => {
      fx = await openFresh(kind);
    });
    after(async () => {
      await fx?.close();
    });
    test("an untouched chain verifies, against a checkpoint too", async () => {
      const s = signer();
      const cp = signCheckpoint({ seq: 77, hash: fx.rows[76]!.hash }, new Date(0), s);
      const r = await both(fx.audit, { chainKey: KEY, checkpoints: [cp], publicKey: s.publicKey });
      assert.equal(r.ok, true, JSON.stringify(r.problems));
      assert.equal(r.entries, N);
      assert.deepEqual(r.head, { seq: N, hash: fx.rows[N - 1]!.hash.toString("hex") });
      assert.equal(r.checkpointsChecked, 1);
    });

    test("a wrong chain key: one run over every range, worded as a wrong key", async () => {
      const r = await both(fx.audit, { chainKey: Buffer.alloc(32, 9) });
      assert.deepEqual(where(r), [["hash_mismatch", 1]]);
      assert.match(r.problems[0]!.detail, /^120 consecutive entries from 1 .*wrong chain key/);
    });

    test("verification can start from a trusted point", async () => {
      const r = await both(fx.audit, { chainKey: KEY, after: { seq: 50, hash: fx.rows[49]!.hash } });
      assert.equal(r.ok, true);
      assert.equal(r.entries, 70);
    });
  });

  describe(`tampering through the database is found the same way on ${kind}`, () => {
    let fx: Fresh;
    const s = signer();
    before(async () => {
      fx = await openFresh(kind);
    });
    after(async () => {
      await fx?.close();
    });
    const body = (seq: number) => fx.rows[seq - 1]!.body;
    const hash = (seq: number) => fx.rows[seq - 1]!.hash;

    test("edited bodies, also at range boundaries → hash_mismatch at each", async () => {
      for (const seq of [5, 40, 41, 80]) await fx.update(seq, { body: body(seq).replace('"effect":"allow"', '"effect":"deny"') });
      const r = await both(fx.audit, { chainKey: KEY });
      assert.deepEqual(where(r), [["hash_mismatch", 5], ["hash_mismatch", 40], ["hash_mismatch", 80]]);
      assert.match(r.problems[1]!.detail, /^2 consecutive entries from 40 /);
      for (const seq of [5, 40, 41, 80]) await fx.update(seq, { body: body(seq) });
      assert.equal((await both(fx.audit, { chainKey: KEY })).ok, true, "restored");
    });

    test("edited hashes across a boundary → one run per edit", async () => {
      await fx.update(40, { hash: randomBytes(32) });
      await fx.update(80, { hash: randomBytes(32) });
      const r = await both(fx.audit, { chainKey: KEY });
      assert.deepEqual(where(r), [["hash_mismatch", 40], ["hash_mismatch", 80]]);
      assert.match(r.problems[0]!.detail, /^2 consecutive entries from 40 /);
      await fx.update(40, { hash: hash(40) });
      await fx.update(80, { hash: hash(80) });
    });

    test("a stored hash of the wrong length → the same mismatch as one thread finds", async () => {
      await fx.update(30, { hash: hash(30).subarray(0, 31) });
      const r = await both(fx.audit, { chainKey: KEY });
      assert.deepEqual(where(r), [["hash_mismatch", 30]]);
      await fx.update(30, { hash: hash(30) });
    });

    test("two entries swapped under their seq numbers, also across a boundary → hash_mismatch", async () => {
      await fx.update(7, { body: body(8), hash: hash(8) });
      await fx.update(8, { body: body(7), hash: hash(7) });
      await fx.update(40, { body: body(41), hash: hash(41) });
      await fx.update(41, { body: body(40), hash: hash(40) });
      const r = await both(fx.audit, { chainKey: KEY });
      assert.deepEqual(kinds(r), ["hash_mismatch", "hash_mismatch"]);
      assert.deepEqual(r.problems.map((p) => p.seq), [7, 40]);
      for (const seq of [7, 8, 40, 41]) await fx.update(seq, { body: body(seq), hash: hash(seq) });
    });

    test("checkpoints: a forged one → bad_signature, a wrong one → checkpoint_mismatch", async () => {
      const real = signCheckpoint({ seq: 60, hash: hash(60) }, new Date(0), s);
      const forged: Checkpoint = { ...real, seq: 61, hash: hash(61).toString("hex") };
      const wrong = signCheckpoint({ seq: 45, hash: randomBytes(32) }, new Date(0), s);
      const r = await both(fx.audit, { chainKey: KEY, checkpoints: [real, forged, wrong], publicKey: s.publicKey });
      assert.deepEqual(where(r), [["bad_signature", 61], ["checkpoint_mismatch", 45]]);
      assert.equal(r.checkpointsChecked, 2);
    });

    test("problems are capped the same way and all counted", async () => {
      for (const seq of [3, 20, 39, 44, 79, 81, 100]) await fx.update(seq, { body: `${body(seq)} ` });
      const r = await both(fx.audit, { chainKey: KEY, maxProblems: 3 });
      assert.equal(r.problems.length, 3);
      assert.equal(r.problemCount, 7);
      for (const seq of [3, 20, 39, 44, 79, 81, 100]) await fx.update(seq, { body: body(seq) });
    });

    // Destructive ones last.
    test("deleted entries, also across a boundary and the first → seq_gap, and under a checkpoint", async () => {
      const cp = signCheckpoint({ seq: 40, hash: hash(40) }, new Date(0), s);
      await fx.remove(1, 1);
      await fx.remove(10, 10);
      await fx.remove(39, 42);
      const r = await both(fx.audit, { chainKey: KEY, checkpoints: [cp], publicKey: s.publicKey });
      assert.deepEqual(where(r), [["seq_gap", 2], ["seq_gap", 11], ["seq_gap", 43], ["checkpoint_mismatch", 40]]);
      assert.match(r.problems[2]!.detail, /entries 39–42 are missing/);
    });

    test("a cut tail → truncated against a checkpoint kept outside", async () => {
      const cp = signCheckpoint({ seq: N, hash: hash(N) }, new Date("2025-02-01T00:00:00.000Z"), s);
      await fx.remove(101, N);
      const r = await both(fx.audit, { chainKey: KEY, checkpoints: [cp], publicKey: s.publicKey });
      assert.equal(r.problems.at(-1)!.kind, "truncated");
      assert.match(r.problems.at(-1)!.detail, /log ends at seq 100 but 1 checkpoint\(s\) reach seq 120/);
      assert.equal(r.head?.seq, 100);
    });
  });

  describe(`parallel verification fails closed on ${kind}`, () => {
    test("an empty log verifies like one thread does", async () => {
      const fx = await openFresh(kind, 0);
      try {
        const r = await both(fx.audit, { chainKey: KEY });
        assert.deepEqual(r, { ok: true, entries: 0, head: null, problems: [], problemCount: 0, checkpointsChecked: 0 });
      } finally {
        await fx.close();
      }
    });

    test("a worker that cannot read → INTERNAL, never ok, and no driver text in the message", async () => {
      const fx = await openFresh(kind, 3);
      try {
        const source = fx.audit.readSource!();
        const broken: AuditReadSource =
          source.kind === "sqlite"
            ? { ...source, file: path.join(os.tmpdir(), `haechi-missing-${randomBytes(4).toString("hex")}.db`) }
            : { ...source, sql: { ...source.sql, copy: "COPY (SELECT no_such_column FROM haechi_audit.audit_log) TO STDOUT (FORMAT binary)" } };
        for (const threads of [1, 2]) {
          await assert.rejects(verifyInWorkers(broken, { first: 1, last: 3 }, { chainKey: KEY, threads, minRowsPerThread: 1 }), (e) => {
            assert.ok(isHaechiError(e) && e.code === "INTERNAL", String(e));
            assert.doesNotMatch(e.message, /SELECT|no_such|haechi-missing/);
            return true;
          });
        }
        const garbled = { ...source, kind: "nonsense" } as unknown as AuditReadSource;
        await assert.rejects(verifyInWorkers(garbled, null, { chainKey: KEY }), (e) => isHaechiError(e) && e.code === "INTERNAL");
      } finally {
        await fx.close();
      }
    });
  });
}
