/**
 * `haechi backup` / `haechi restore` on SQLite and PostgreSQL: keys backed up apart from data,
 * manifests that refuse a damaged or altered backup, a restore refused while Haechi is running,
 * and the shred journal replayed so that a backup taken before an erasure does not bring the
 * erased subject back (PIPA Art. 21(2); docs/operations.md, "Backups and restore").
 */
import assert from "node:assert/strict";
import { addPeriod } from "../../src/core/catalog/catalog-fns.js";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { buildCli } from "../../src/cli/cli.js";
import { loadConfig, type Config } from "../../src/config/config.js";
import { buildContainer, type Container } from "../../src/container.js";
import { fixedClock } from "../../src/core/clock.js";
import { isHaechiError } from "../../src/core/errors.js";
import { asSubjectId, type SubjectId } from "../../src/core/ids.js";
import { pseudonyms } from "../../src/crypto/pseudonym.js";
import { buildServer } from "../../src/http/server.js";
import { MANIFEST_FILE, restoreBackup, type BackupManifest } from "../../src/services/backup-service.js";
import { payFields } from "../fixtures/people.js";
import { STORE_KINDS, pgUrl } from "../helpers/app.js";
import { freshDatabase } from "../helpers/pg.js";

const DAY = 24 * 3600 * 1000;

type Call = (principal: string, method: string, p: string, body?: unknown) => Promise<{ status: number; body: any }>;

/** A server on `c` (loopback, random port) calling with the given API keys. */
const serve = async (c: Container, keys: Record<string, string>) => {
  const app = await buildServer(c, { logger: false });
  const url = await app.listen({ port: 0, host: "127.0.0.1" });
  const call: Call = async (principal, method, p, body) => {
    const res = await fetch(`${url}${p}`, {
      method,
      headers: { authorization: `Bearer ${keys[principal]}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  return { call, close: () => app.close() };
};

const rejectsWith = async (p: Promise<unknown>, code: string, message: RegExp) => {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isHaechiError(e), `expected a HaechiError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    return true;
  });
};

for (const kind of STORE_KINDS) {
  describe(`backup and restore on ${kind}`, () => {
    const clock = fixedClock("2026-11-21T03:00:00Z");
    let home: string;
    let work: string;
    let env: Record<string, string>;
    let config: Readonly<Config>;
    let db: { url: string; drop(): Promise<void> } | undefined;
    const open = (create = false) => buildContainer(config, { clock, createKeyring: create });

    before(async () => {
      home = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-backup-home-"));
      work = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-backup-"));
      env = { HAECHI_HOME: home, HAECHI_LOG_LEVEL: "silent" };
      if (kind === "postgres") {
        db = await freshDatabase(pgUrl());
        env.HAECHI_STORE = "postgres";
        env.HAECHI_PG_URL = db.url;
      }
      config = loadConfig(env);
    });
    after(async () => {
      await db?.drop();
      fs.rmSync(home, { recursive: true, force: true });
      fs.rmSync(work, { recursive: true, force: true });
    });

    test("PIPA Art. 21(2): restoring a backup taken before an erasure destroys the subject again", async () => {
      let c = await open(true);
      const keys: Record<string, string> = {};
      for (const p of Object.keys(c.catalog.current().principals)) keys[p] = (await c.services.auth.issue(p)).token;
      let srv = await serve(c, keys);
      const internal = (ext: string): SubjectId => asSubjectId(pseudonyms(c.keyring.secrets.pseudonymKey).resolve("pay-app", ext)!);
      const allFields = Object.keys(c.catalog.current().fields);
      const createPayer = async (i: number) => {
        const r = await srv.call("pay-app", "POST", "/v1/subjects", { purpose: "pay_service", fields: payFields(i) });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        return r.body.id as string;
      };

      const kept = await createPayer(1);
      const gone = await createPayer(2);
      const sealedEarly = await createPayer(3);
      const traveller = await srv.call("pay-app", "POST", "/v1/subjects", {
        purpose: "pay_overseas",
        fields: { user_id: "traveller-1", name: "오세아", passport_number: "M12345678", card_number: "4000-1111-2222-3333" },
        consents: ["pay_overseas", "passport_unique_id"].map((notice) => ({ notice, action: "grant", channel: "app" })),
      });
      assert.equal(traveller.status, 201, JSON.stringify(traveller.body));
      // Erased before the backup: the backup holds its sealed payment records (5 years).
      assert.equal((await srv.call("pay-app", "DELETE", `/v1/subjects/${sealedEarly}`)).status, 200);
      const keptBefore = await srv.call("pay-app", "GET", `/v1/subjects/${kept}?purpose=pay_service`);
      assert.equal(keptBefore.status, 200);

      // The backup: data and audit log in one directory, the key store in another.
      const dataDir = path.join(work, "data");
      const keysDir = path.join(work, "keys");
      const steps = new Set<string>();
      const b = await c.services.backup.backup({ dataDir, keysDir, onProgress: (p) => steps.add(p.step) });
      assert.deepEqual([...steps].sort(), ["copy", "hash"]);
      const names = kind === "sqlite" ? { data: ["audit.db", "data.db"], keys: ["keys.db"] } : { data: ["haechi.dump", "haechi_audit.dump"], keys: ["haechi_keys.dump"] };
      assert.deepEqual(fs.readdirSync(dataDir).sort(), [...names.data, MANIFEST_FILE].sort());
      assert.deepEqual(fs.readdirSync(keysDir).sort(), [...names.keys, MANIFEST_FILE].sort());
      const manifest = JSON.parse(fs.readFileSync(path.join(dataDir, MANIFEST_FILE), "utf8")) as BackupManifest;
      assert.equal(manifest.backupId, b.backupId);
      assert.equal(manifest.part, "data");
      assert.equal(manifest.store, kind);
      assert.equal(manifest.journal.entries, (await c.journal.entries()).length);
      assert.match(manifest.keyring, /not in this backup/);
      for (const f of manifest.files) assert.match(f.sha256, /^[0-9a-f]{64}$/);
      for (const dir of [dataDir, keysDir]) for (const f of fs.readdirSync(dir)) assert.equal(fs.statSync(path.join(dir, f)).mode & 0o077, 0, `${f} is private`);
      assert.equal(fs.readdirSync(dataDir).includes("keyring.json") || fs.readdirSync(keysDir).includes("keyring.json"), false, "the key file is never copied");

      // After the backup: one account is deleted, one consent withdrawn, and five years later the
      // sweep destroys the sealed records of the account deleted before the backup.
      clock.advance(365 * DAY);
      const goneErasedAt = clock.now();
      assert.equal((await srv.call("pay-app", "DELETE", `/v1/subjects/${gone}`)).status, 200);
      const w = await srv.call("pay-app", "POST", `/v1/subjects/${traveller.body.id}/consents`, {
        consents: [{ notice: "pay_overseas", action: "withdraw", channel: "app" }],
      });
      assert.deepEqual(w.body.destroyed, ["passport_number"]);
      clock.advance(4 * 365 * DAY + 3 * DAY);
      const swept = await c.services.erase.sweep({ by: "test" });
      assert.equal(swept.keys, 1, "the sealed key of the account deleted before the backup");
      assert.deepEqual(
        (await c.journal.entries()).slice(manifest.journal.entries).map((e) => e.scope),
        ["subject", "fields", "sealed"],
        "what happened since the backup is journalled",
      );

      // A restore while the stores are open elsewhere (a running server) is refused.
      await rejectsWith(restoreBackup(() => open(), { dataDir, keysDir }), "CONFLICT", /stop Haechi before restoring/);

      await srv.close();
      await c.close();

      // A damaged or altered backup is refused before anything is touched.
      const tampered = path.join(work, "tampered");
      fs.cpSync(dataDir, tampered, { recursive: true });
      const victim = path.join(tampered, names.data[1]!);
      const bytes = fs.readFileSync(victim);
      const at = Math.floor(bytes.length / 2);
      bytes.writeUInt8(bytes.readUInt8(at) ^ 0x01, at);
      fs.writeFileSync(victim, bytes);
      await rejectsWith(restoreBackup(() => open(), { dataDir: tampered, keysDir }), "VALIDATION_FAILED", /does not match its manifest.*nothing was restored/);
      // Two halves of one directory, or swapped halves, are refused too.
      await rejectsWith(restoreBackup(() => open(), { dataDir, keysDir: dataDir }), "VALIDATION_FAILED", /two separate directories/);
      await rejectsWith(restoreBackup(() => open(), { dataDir: keysDir, keysDir: dataDir }), "VALIDATION_FAILED", /directories swapped/);

      // The restore.
      const replaySteps: number[] = [];
      const r = await restoreBackup(() => open(), {
        dataDir,
        keysDir,
        by: "test",
        onProgress: (p) => {
          if (p.step === "replay") replaySteps.push(p.done);
        },
      });
      assert.equal(r.backupId, b.backupId);
      assert.equal(r.newSinceBackup, 3);
      assert.equal(r.subjectsRedestroyed, 1, "the account deleted after the backup was live in it, and is erased again");
      assert.equal(r.sealedRedestroyed, 1, "the sealed records destroyed after the backup are destroyed again");
      assert.equal(r.fieldSetsRedestroyed, 1, "the passport number of the withdrawn consent is destroyed again");
      assert.equal(replaySteps.at(-1), r.journalEntries);

      c = await open();
      srv = await serve(c, keys);
      try {
        // The erased subject stays destroyed: unreadable, no key, no values, no blind index.
        const goneId = internal(gone);
        assert.equal((await srv.call("pay-app", "GET", `/v1/subjects/${gone}?purpose=pay_service`)).status, 404);
        assert.equal(await c.stores.keys.get(goneId), undefined, "no data key in the key store");
        assert.deepEqual(await c.stores.data.getFields(goneId, allFields), []);
        assert.equal((await c.stores.data.getSubject(goneId))?.status, "erased");
        const found = await srv.call("pay-app", "POST", "/v1/lookup", { purpose: "pay_service", field: "phone", value: payFields(2).phone });
        assert.deepEqual(found.body.matches, [], "the blind index is gone too");
        // PIPA Art. 21(3): what a law keeps was sealed again, with the original deadline.
        const resealed = await c.stores.data.sealed.get(goneId, []);
        assert.deepEqual(resealed.map((x) => x.field).sort(), ["bank_account", "card_number", "name", "transaction_history", "user_id"]);
        for (const x of resealed) assert.equal(x.until.toISOString(), addPeriod(goneErasedAt, "P5Y").toISOString());
        assert.ok(await c.stores.keys.getSealed(goneId), "its sealed key exists again");
        // The sealed records swept after the backup are gone again.
        const earlyId = internal(sealedEarly);
        assert.equal(await c.stores.keys.getSealed(earlyId), undefined);
        assert.deepEqual(await c.stores.data.sealed.get(earlyId, []), []);
        // The withdrawn field is gone; what the remaining purpose holds stays.
        const travellerId = internal(traveller.body.id);
        assert.deepEqual((await c.stores.data.getFields(travellerId, ["passport_number", "card_number"])).map((f) => f.field), ["card_number"]);
        // Everyone else reads back as before.
        const keptAfter = await srv.call("pay-app", "GET", `/v1/subjects/${kept}?purpose=pay_service`);
        assert.equal(keptAfter.status, 200, JSON.stringify(keptAfter.body));
        assert.deepEqual(keptAfter.body.fields, keptBefore.body.fields);
        // The audit chain verifies, and records the restore.
        const v = await c.services.audit.verify();
        assert.equal(v.ok, true, JSON.stringify(v));
        const restores = [];
        for await (const page of c.stores.audit.iterate(0, 1000)) for (const row of page) if (row.action === "backup.restore") restores.push(JSON.parse(row.body));
        assert.equal(restores.length, 1);
        assert.equal(restores[0].principal, "test");
        assert.equal(restores[0].meta.backupId, b.backupId);
        assert.equal(restores[0].meta.subjectsRedestroyed, 1);
        assert.equal(restores[0].meta.journalEntries, r.journalEntries);
      } finally {
        await srv.close();
        await c.close();
      }
    });

    test("keys are backed up apart from data: one directory, or one inside the other, is refused", async () => {
      const c = await open();
      try {
        const x = path.join(work, "same");
        await rejectsWith(c.services.backup.backup({ dataDir: x, keysDir: x }), "VALIDATION_FAILED", /two separate directories/);
        await rejectsWith(c.services.backup.backup({ dataDir: x, keysDir: path.join(x, "keys") }), "VALIDATION_FAILED", /neither inside the other/);
        await rejectsWith(c.services.backup.backup({ dataDir: path.join(x, "data"), keysDir: x }), "VALIDATION_FAILED", /neither inside the other/);
        assert.equal(fs.existsSync(x), false, "nothing was created");
        // A backup never overwrites one.
        await rejectsWith(c.services.backup.backup({ dataDir: path.join(work, "data"), keysDir: path.join(work, "keys2") }), "CONFLICT", /not empty/);
      } finally {
        await c.close();
      }
    });

    test("haechi backup and haechi restore: progress, the key file reminder and the summary", async () => {
      const run = async (...args: string[]) => {
        const chunks: string[] = [];
        await buildCli(env, (s) => chunks.push(s))
          .exitOverride()
          .parseAsync(["node", "haechi", ...args]);
        return chunks.join("");
      };
      const dataDir = path.join(work, "cli-data");
      const keysDir = path.join(work, "cli-keys");
      const out = await run("backup", "--data", dataDir, "--keys", keysDir);
      assert.match(out, /^backup bkp_[0-9a-f]+ of the (sqlite|postgres) stores/m);
      assert.match(out, /NOT BACKED UP: the key file .*keyring\.json\. Back it up separately and offline/);
      assert.match(out, /shred journal: \d+ entries at backup time/);
      const restored = await run("restore", "--data", dataDir, "--keys", keysDir);
      assert.match(restored, /every file matched its manifest/);
      assert.match(restored, /shred journal replayed: \d+ entries \(0 since the backup\): 0 subjects erased again/);
      assert.match(restored, /backup\.restore/);
    });

    test("PIPA Art. 21(2): a restore replays the other servers' shred journals too (--other-journal): an erasure made through another server stays destroyed", async () => {
      // Two servers on the same stores, each with its own journal (docs/operations.md, production topology).
      const otherJournal = path.join(work, "server-b.ndjson");
      const configB = loadConfig({ ...env, HAECHI_SHRED_JOURNAL: otherJournal });
      let c = await open();
      const keys: Record<string, string> = {};
      for (const p of Object.keys(c.catalog.current().principals)) keys[p] = (await c.services.auth.issue(p)).token;
      let srv = await serve(c, keys);
      const made = await srv.call("talk-app", "POST", "/v1/subjects", { purpose: "talk_service", fields: { user_id: "b-erased", name: "둘째", nickname: "b", phone: "010-2200-0002" } });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      const dataDir = path.join(work, "two-servers-data");
      const keysDir = path.join(work, "two-servers-keys");
      await c.services.backup.backup({ dataDir, keysDir });
      await srv.close();
      await c.close();

      // Server B deletes the account after the backup; only B's journal records it.
      const b = await buildContainer(configB, { clock });
      srv = await serve(b, keys);
      assert.equal((await srv.call("talk-app", "DELETE", `/v1/subjects/${made.body.id}`)).status, 200);
      await srv.close();
      await b.close();

      const run = async (...args: string[]) => {
        const chunks: string[] = [];
        await buildCli(env, (x) => chunks.push(x)).exitOverride().parseAsync(["node", "haechi", ...args]);
        return chunks.join("");
      };
      const read = async () => {
        c = await open();
        srv = await serve(c, keys);
        try {
          return (await srv.call("talk-app", "GET", `/v1/subjects/${made.body.id}?purpose=talk_service&fields=name`)).status;
        } finally {
          await srv.close();
          await c.close();
        }
      };
      // With server A's journal alone the account comes back: why B's journal must be replayed.
      await run("restore", "--data", dataDir, "--keys", keysDir);
      assert.equal(await read(), 200, "restored from the backup, B's erasure unknown to A's journal");
      const out = await run("restore", "--data", dataDir, "--keys", keysDir, "--other-journal", otherJournal);
      assert.match(out, /1 from the other servers' journals\): 1 subjects erased again/);
      assert.equal(await read(), 404, "destroyed again");
      await assert.rejects(run("restore", "--data", dataDir, "--keys", keysDir, "--other-journal", path.join(work, "missing.ndjson")), /--other-journal .*missing\.ndjson: no such file/);
    });
  });
}
