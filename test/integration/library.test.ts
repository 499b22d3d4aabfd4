/** Haechi used as a library (no HTTP): same checks, same audit. */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { HaechiError, openHaechi } from "../../src/index.js";

test("the library collects, reads for a purpose, refuses the rest, and audits it all", async () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-lib-"));
  const h = await openHaechi({ home, createKeyring: true });
  try {
    const ctx = { principal: "talk-app", source: null, requestId: "lib-1" };
    const { id } = await h.subjects.create(ctx, { purpose: "talk_service", fields: { user_id: "lib", phone: "010-2222-3333", name: "최", nickname: "c" } });
    const r = await h.subjects.read(ctx, id, "talk_service", ["phone"]);
    assert.deepEqual(r.fields, { phone: "010-2222-3333" });
    await assert.rejects(h.subjects.read(ctx, id, "marketing", ["phone"]), (e: unknown) => e instanceof HaechiError && e.code === "ACCESS_DENIED");
    const v = await h.audit.verify();
    assert.equal(v.ok, true);
    assert.equal(v.entries, 3);
  } finally {
    await h.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
});
