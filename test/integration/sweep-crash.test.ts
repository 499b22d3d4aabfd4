/**
 * The dormancy sweep killed halfway (SIGKILL of `haechi sweep`), on SQLite and PostgreSQL: no
 * subject is left half-destroyed (each still has its key and its data, or has no key), and a
 * rerun completes (PIPA Art. 21; LAW §15 E4-E5).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { ImportItem, WrappedKeyRow } from "../../src/core/ports.js";
import { sealField } from "../../src/crypto/envelope.js";
import { newSubjectId } from "../../src/crypto/pseudonym.js";
import { subjectKeys } from "../../src/crypto/subject-keys.js";
import { buildCli } from "../../src/cli/cli.js";
import { STORE_KINDS, startApp, type TestApp } from "../helpers/app.js";

const root = path.resolve(import.meta.dirname, "../..");
const N = 20_000;

for (const kind of STORE_KINDS) {
  describe(`the dormancy sweep killed halfway on ${kind}`, () => {
    let t: TestApp;
    const ids: string[] = [];
    before(async () => {
      t = await startApp(kind);
      // Accounts last active two years ago: all past the demo catalog's one-year dormancy.
      const then = new Date(Date.now() - 2 * 365 * 24 * 3600 * 1000);
      const dataKeys = subjectKeys({ keys: t.c.stores.keys, kek: t.c.keyring.kek, cacheSize: 0 });
      for (let i = 0; i < N; i += 2000) {
        const items: ImportItem[] = [];
        const rows: WrappedKeyRow[] = [];
        for (let j = i; j < i + 2000; j++) {
          const id = newSubjectId();
          ids.push(id);
          const { row, key } = await dataKeys.create(id, then);
          rows.push(row);
          const v = { user_id: `old-${j}`, phone: `010-6${String(j).padStart(7, "0").slice(0, 3)}-${String(j).padStart(4, "0").slice(-4)}`, nickname: `o${j}` };
          items.push({
            subject: { id: id as never, createdAt: then, updatedAt: then, status: "active" },
            fields: Object.entries(v).map(([field, value]) => ({ field, ciphertext: sealField(key.dek, key.dekVersion, id as never, field, value), updatedAt: then })),
            lookups: [],
            consents: [],
          });
        }
        await t.c.stores.keys.putMany(rows);
        await t.c.stores.data.importBatch(items);
      }
    });
    after(async () => {
      await t?.close();
    });

    test("PIPA Art. 21(2): no half-destroyed subject after a SIGKILL, and the rerun erases the rest", { timeout: 300_000 }, async () => {
      const env: Record<string, string> = { ...(process.env as Record<string, string>), HAECHI_HOME: t.home, HAECHI_LOG_LEVEL: "silent" };
      if (t.c.config.store.kind === "postgres") Object.assign(env, { HAECHI_STORE: "postgres", HAECHI_PG_URL: t.c.config.store.url });
      const sample = ids.filter((_, i) => i % 97 === 0);
      const killed = await new Promise<NodeJS.Signals | null>((resolve, reject) => {
        const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", "sweep", "--batch", "1000"], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
        // Kill it as soon as some subjects are erased, with the rest still to go.
        const timer = setInterval(() => {
          t.c.stores.keys
            .getMany(sample as never)
            .then((left) => {
              if (left.length < sample.length && !child.killed) child.kill("SIGKILL");
            }, reject);
        }, 10);
        child.on("error", reject);
        child.on("close", (_code, signal) => {
          clearInterval(timer);
          resolve(signal);
        });
      });
      assert.equal(killed, "SIGKILL", "the sweep was killed mid-way");

      // Every subject is whole (key and values) or destroyed (no key); never values readable without a key.
      const keysLeft = new Set((await t.c.stores.keys.getMany(ids as never)).map((k) => k.subjectId as string));
      assert.ok(keysLeft.size > 0 && keysLeft.size < N, `killed halfway (${N - keysLeft.size} of ${N} keys destroyed)`);
      for (const id of sample) {
        const subject = await t.c.stores.data.getSubject(id as never);
        if (keysLeft.has(id)) {
          assert.equal(subject?.status, "active");
          assert.equal((await t.c.stores.data.getFields(id as never, ["phone"])).length, 1, "a subject with its key is whole");
        } else {
          assert.ok(subject?.status === "active" || subject?.status === "erased", "a subject without its key is destroyed (its values unreadable)");
        }
      }
      // The journal already names every subject whose key is gone (written ahead).
      const journalled = new Set((await t.c.journal.entries()).map((e) => e.subjectId as string));
      for (const id of ids) if (!keysLeft.has(id)) assert.ok(journalled.has(id), "a destroyed key is always journalled first");

      // The rerun completes.
      const out: string[] = [];
      const saved = process.exitCode;
      process.exitCode = undefined;
      try {
        await buildCli(env, (s) => out.push(s)).exitOverride().parseAsync(["node", "haechi", "sweep", "--overdue-days", "1000"]);
        assert.equal(Number(process.exitCode ?? 0), 0, out.join(""));
      } finally {
        process.exitCode = saved;
      }
      assert.equal((await t.c.stores.keys.getMany(ids as never)).length, 0, "every key destroyed");
      for (const id of sample) {
        assert.equal((await t.c.stores.data.getSubject(id as never))?.status, "erased");
        assert.deepEqual(await t.c.stores.data.getFields(id as never, ["user_id", "phone", "nickname"]), []);
      }
      assert.deepEqual(await t.c.stores.data.erasedBacklog(), { subjects: 0, oldest: null }, "the rerun deleted every erased account's rows");
      assert.match(out.join(""), /accounts erased/);
    });
  });
}
