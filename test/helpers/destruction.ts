/**
 * Proof of destruction (PIPA Art. 21(2)) for integration tests: what a store keeps on disk, and
 * whether any key it still holds opens a ciphertext.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { SubjectId } from "../../src/core/ids.js";
import type { StoredField } from "../../src/core/ports.js";
import { dekAad, openField, sealedKeyAad } from "../../src/crypto/envelope.js";
import type { TestApp } from "./app.js";

/** Every SQLite file of the store (databases, WAL, shared memory), or a dump of the PostgreSQL database. */
export const storeHaystacks = (t: TestApp): Buffer[] => {
  if (t.c.config.store.kind === "postgres") {
    return [execFileSync("/usr/lib/postgresql/15/bin/pg_dump", ["--dbname", t.c.config.store.url, "--no-owner"], { maxBuffer: 1 << 28 })];
  }
  const dir = path.join(t.home, "db");
  return fs.readdirSync(dir).map((f) => fs.readFileSync(path.join(dir, f)));
};

/** Asserts that no plaintext and no destroyed wrapped key (raw, or hex as a dump writes it) is in any haystack. */
export const assertNotStored = (t: TestApp, plaintexts: readonly string[], destroyedWrapped: readonly Buffer[]) => {
  for (const h of storeHaystacks(t)) {
    for (const p of plaintexts) assert.equal(h.includes(Buffer.from(p)), false, `plaintext ${p} found in a store file`);
    for (const w of destroyedWrapped) {
      assert.equal(h.includes(w), false, "a destroyed data key is still in a store file");
      assert.equal(h.includes(Buffer.from(w.toString("hex"))), false, "a destroyed data key is still in the dump");
    }
  }
};

/** Asserts that every key the key store still holds, live or sealed, fails on every one of these ciphertexts. */
export const assertNoKeyOpens = async (t: TestApp, erased: readonly { id: SubjectId; fields: readonly StoredField[] }[]) => {
  const live = await t.c.stores.keys.listNotWrappedBy(1_000_000, null, 100_000);
  const sealedKeys = await t.c.stores.keys.dueSealed(new Date("9999-01-01"), 100_000);
  const deks: Buffer[] = [];
  for (const k of live) deks.push(await t.c.keyring.kek.unwrap(k.kekVersion, k.wrapped, dekAad(k.subjectId, k.dekVersion)));
  for (const k of sealedKeys) deks.push(await t.c.keyring.kek.unwrap(k.kekVersion, k.wrapped, sealedKeyAad(k.subjectId)));
  assert.ok(deks.length > 0);
  for (const e of erased) {
    assert.equal(live.some((k) => k.subjectId === e.id), false, "an erased subject still has its data key");
    for (const f of e.fields) for (const dek of deks) assert.throws(() => openField(dek, e.id, f.field, f.ciphertext));
  }
};
