/**
 * The key file and the stores belong together (ADR 0001; docs/crisis-manual.md §4.7). After a
 * fire the key file may be missing on a rebuilt server: Haechi must not create a new one over
 * stores that hold data (it would read none of it, and the audit chain would break at its first
 * entry), nor open them with another site's or an old installation's key file. On both stores.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { loadConfig } from "../../src/config/config.js";
import { buildContainer } from "../../src/container.js";
import { STORE_KINDS, startApp, type TestApp } from "../helpers/app.js";

for (const kind of STORE_KINDS) {
  describe(`the key file the stores were written under, on ${kind}`, () => {
    let t: TestApp;
    let keyFile: string;
    let original: Buffer;
    let subject: string;
    before(async () => {
      t = await startApp(kind);
      const r = await t.call("talk-app", "POST", "/v1/subjects", { purpose: "talk_service", fields: { user_id: "keyring-guard", name: "열쇠", nickname: "k", phone: "010-4242-0001" } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      subject = r.body.id;
      await t.close({ keep: true });
      keyFile = path.join(t.home, "keyring.json");
      original = fs.readFileSync(keyFile);
    });
    after(async () => {
      await t.reuse.db?.drop();
      fs.rmSync(t.home, { recursive: true, force: true });
    });

    test("Safety Standard Art. 11: a missing key file is not replaced by a new one over stores holding data (`init`, `serve --demo`)", async () => {
      fs.rmSync(keyFile);
      await assert.rejects(buildContainer(loadConfig(t.env), { createKeyring: true }), (e: any) => {
        assert.equal(e.code, "KEY_UNAVAILABLE");
        assert.match(e.message, /is missing, and these stores hold data written under key file [0-9a-f]{16}: restore that file from its offline copy/);
        return true;
      });
      assert.equal(fs.existsSync(keyFile), false, "no new key file was written");
    });

    test("another key file is refused, naming both ids", async () => {
      const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-other-keyring-"));
      try {
        const other = await buildContainer(loadConfig({ ...t.env, HAECHI_HOME: elsewhere, HAECHI_STORE: "sqlite" }), { createKeyring: true });
        await other.close();
        fs.copyFileSync(path.join(elsewhere, "keyring.json"), keyFile);
        await assert.rejects(buildContainer(loadConfig(t.env)), (e: any) => e.code === "KEY_UNAVAILABLE" && /\(id [0-9a-f]{16}\) is not the one these stores were written under \(id [0-9a-f]{16}\)/.test(e.message));
      } finally {
        fs.rmSync(elsewhere, { recursive: true, force: true });
      }
    });

    test("the original key file, restored, opens the stores and reads the data", async () => {
      fs.writeFileSync(keyFile, original, { mode: 0o600 });
      const again = await startApp(kind, { reuse: t.reuse });
      try {
        const r = await again.call("talk-app", "GET", `/v1/subjects/${subject}?purpose=talk_service&fields=name`);
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.equal(r.body.fields.name, "열쇠");
        assert.equal((await again.c.services.audit.verify()).ok, true);
      } finally {
        await again.close({ keep: true });
      }
    });
  });
}
