/** The SQLite key scan on threads (ADR 0015): its ranges cover every id once, and it finds what one statement finds. */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { asAuditRef, asSubjectId, type AuditRef } from "../../src/core/ids.js";
import type { WrappedKeyRow } from "../../src/core/ports.js";
import { idRanges } from "../../src/storage/sqlite/sqlite-key-scan.js";
import { openSqliteKeyStore } from "../../src/storage/sqlite/sqlite-key-store.js";

const inRange = (id: string, r: { from: string; to: string | null }) => id >= r.from && (r.to === null || id < r.to);

describe("key scan ranges", () => {
  it("put every id in exactly one range, for any number of threads", () => {
    const ids = ["", "-", "0", "V", "U~", "_", "z", "zzzz", "~", "\u00e9", ...Array.from({ length: 2000 }, () => randomBytes(16).toString("base64url"))];
    for (const n of [1, 2, 3, 4, 7]) {
      const ranges = idRanges(n);
      assert.equal(ranges.length, n);
      assert.equal(ranges[0]!.from, "");
      assert.equal(ranges[n - 1]!.to, null);
      for (const id of ids) assert.equal(ranges.filter((r) => inRange(id, r)).length, 1, `${JSON.stringify(id)} with ${n} ranges`);
    }
  });

  it("split random base64url ids about evenly", () => {
    const ranges = idRanges(2);
    const ids = Array.from({ length: 10_000 }, () => randomBytes(16).toString("base64url"));
    const first = ids.filter((id) => inRange(id, ranges[0]!)).length;
    assert.ok(first > 4_500 && first < 5_500, `${first} of 10,000 in the first half`);
  });
});

describe("findByAuditRefs on scan threads", () => {
  it("finds the same subjects as the one-connection scan, and the threads end with the store", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-key-scan-"));
    try {
      const file = path.join(dir, "keys.db");
      const threaded = await openSqliteKeyStore({ file, synchronous: "FULL", scanThreads: 3, parallelScanMinBytes: 0 });
      const rows: WrappedKeyRow[] = Array.from({ length: 3000 }, (_, i) => ({
        // Mostly random ids, a few outside base64url: each must still be scanned once.
        subjectId: asSubjectId(i % 500 === 0 ? `~odd${i}` : randomBytes(16).toString("base64url")),
        kekVersion: 1,
        dekVersion: 1,
        wrapped: randomBytes(60),
        auditRef: asAuditRef(`ar_${randomBytes(16).toString("base64url")}`),
        createdAt: new Date(0),
      }));
      await threaded.putMany(rows);
      await threaded.destroyMany([rows[0]!.subjectId, rows[3]!.subjectId]);
      const asked: AuditRef[] = [...rows.filter((_, i) => i % 3 === 0).map((r) => r.auditRef), asAuditRef("ar_unknown")];
      const found = await threaded.findByAuditRefs(asked);
      const single = await openSqliteKeyStore({ file, synchronous: "FULL", scanThreads: 1 });
      try {
        assert.deepEqual(found, await single.findByAuditRefs(asked));
      } finally {
        await single.close();
      }
      assert.equal(found.size, 1000 - 2);
      for (const [i, r] of rows.entries()) {
        if (i % 3 !== 0) continue;
        assert.equal(found.get(r.auditRef), i === 0 || i === 3 ? undefined : r.subjectId);
      }
      assert.equal((await threaded.findByAuditRefs([])).size, 0);
      await threaded.close();
      await assert.rejects(threaded.findByAuditRefs(asked));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
