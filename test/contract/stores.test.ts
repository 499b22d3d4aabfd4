/** Factory contract: opening, reopening and configuration, on every store kind. */
import assert from "node:assert/strict";
import { it } from "node:test";
import { openStores, openSqliteStores, openPostgresStores } from "../../src/storage/index.js";
import { bytes, forEachStore, newId, newRef, rejectsWith, subjectRow, T0 } from "./store-fixture.js";

forEachStore("Stores", (fx) => {
  it("reports its kind", () => {
    assert.equal(fx().stores.kind, fx().kind);
  });

  it("keeps data across a reopen and re-running migrations", async () => {
    const { data, keys, audit } = fx().stores;
    const row = subjectRow();
    await data.transaction(async (tx) => tx.insertSubject(row));
    await keys.put({ subjectId: row.id, kekVersion: 1, dekVersion: 1, wrapped: bytes(), auditRef: newRef(), createdAt: T0 });
    await audit.appendBatch((h) => [
      { seq: (h?.seq ?? 0) + 1, at: T0, subjectRef: null, principal: null, action: "boot", body: "{}", hash: bytes() },
    ]);
    const again = await fx().openAnother();
    assert.deepEqual(await again.data.getSubject(row.id), row);
    assert.equal((await again.keys.get(row.id))?.kekVersion, 1);
    assert.deepEqual(await again.audit.head(), await audit.head());
  });

  it("opens through openStores", async () => {
    const f = fx();
    const s = await (f.kind === "sqlite" ? openStores({ kind: "sqlite", dir: f.dir! }) : openStores({ kind: "postgres", url: f.url! }));
    try {
      assert.equal(s.kind, f.kind);
      assert.equal(await s.data.subjectExists(newId()), false);
    } finally {
      await s.close();
      await s.close();
    }
  });

  it("validates its connection settings", async (t) => {
    const f = fx();
    if (f.kind === "sqlite") {
      await rejectsWith(() => openSqliteStores({ dir: f.dir!, synchronous: "OFF" as "FULL" }), "CONFIG_INVALID");
      const normal = await openSqliteStores({ dir: f.dir!, synchronous: "NORMAL" });
      await normal.close();
      return;
    }
    // Several hosts: the first is unreachable, the store binds to the first writable one.
    const u = new URL(f.url!);
    const multi = f.url!.replace(`@${u.host}/`, `@127.0.0.1:1,${u.host}/`) + "?target_session_attrs=read-write";
    assert.notEqual(multi, f.url);
    const s = await openPostgresStores({ url: multi, poolSize: 2 });
    try {
      assert.equal(await s.data.subjectExists(newId()), false);
    } finally {
      await s.close();
    }
    const err = await rejectsWith(() => openPostgresStores({ url: "postgres://nobody:secret@127.0.0.1:1/none" }), "INTERNAL");
    assert.doesNotMatch(err.message, /secret/);
    t.diagnostic(err.message);
  });
});
