/**
 * A provision killed halfway (SIGKILL of the CLI) and resumed, on SQLite and PostgreSQL:
 * no ledger entry without its export record, and the rerun completes without duplicates
 * (docs/adr/0005-provision-gate.md).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Decrypter } from "age-encryption";
import { buildCli } from "../../src/cli/cli.js";
import { STORE_KINDS, startApp, type TestApp } from "../helpers/app.js";
import { demoIdentity } from "../helpers/recipients.js";

const root = path.resolve(import.meta.dirname, "../..");
const N = 1200;

for (const kind of STORE_KINDS) {
  describe(`a provision killed halfway on ${kind}`, () => {
    let t: TestApp;
    before(async () => {
      t = await startApp(kind);
      const consents = ["pay_overseas", "nsf_provision", "nsf_overseas_transfer"].map((notice) => ({ notice, action: "grant", channel: "app" }));
      for (let i = 0; i < N; i++) {
        const r = await t.call("pay-app", "POST", "/v1/subjects", {
          purpose: "pay_service",
          fields: { user_id: `crash-${i}`, name: "박민수", phone: `010-7300-${String(1000 + (i % 9000))}`, transaction_history: [{ amount: i }] },
          consents,
        });
        assert.equal(r.status, 201, JSON.stringify(r.body));
      }
    });
    after(async () => {
      await t?.close();
    });

    test("no ledger entry without its export record; the resumed run completes without duplicates", { timeout: 180_000 }, async () => {
      const env: Record<string, string> = {
        ...(process.env as Record<string, string>),
        HAECHI_HOME: t.home,
        HAECHI_LOG_LEVEL: "silent",
        HAECHI_PROVISION_PAGE: "10",
        HAECHI_PROVISION_THREADS: "1",
      };
      if (t.c.config.store.kind === "postgres") Object.assign(env, { HAECHI_STORE: "postgres", HAECHI_PG_URL: t.c.config.store.url });
      const args = ["provide", "--as", "pay-app", "--recipient", "nsf-scoring", "--purpose", "pay_service", "--label", "provision"];
      args.push("--fields", "user_id,transaction_history", "--population", "pay_overseas");
      const store = t.c.stores.data.provisions;

      const { id, signal } = await new Promise<{ id: string; signal: NodeJS.Signals | null }>((resolve, reject) => {
        const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", ...args], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        let id = "";
        let timer: NodeJS.Timeout | undefined;
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        child.stdout.on("data", (d: Buffer) => {
          stdout += d.toString();
          const m = /provision (prv_[A-Za-z0-9_-]+) started/.exec(stdout);
          if (m && !id) {
            id = m[1]!;
            // Kill it once a few parts are committed: mid-stream, with parts in flight.
            timer = setInterval(() => {
              store.getProvision(id).then((p) => {
                if (p && p.parts >= 3 && !child.killed) child.kill("SIGKILL");
              }, reject);
            }, 5);
          }
        });
        child.on("error", reject);
        child.on("close", (code, signal) => {
          clearInterval(timer);
          if (!id) reject(new Error(`no provision started (exit ${code}): ${stdout}${stderr}`));
          else resolve({ id, signal });
        });
      });
      assert.equal(signal, "SIGKILL", "the run was killed halfway");

      const dir = path.join(t.home, "exports", id);
      const checkEvidence = async () => {
        const parts = await store.partsOf(id);
        let entries = 0;
        for (const p of parts) {
          const subjects = await store.subjectsOfPart(id, p.part);
          assert.equal(subjects.length, p.subjects, `part ${p.part}: its ledger entries are its subjects`);
          entries += subjects.length;
          const file = path.join(dir, p.file);
          assert.ok(fs.existsSync(file), `part ${p.part}: its export file exists`);
          assert.equal(crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex"), p.sha256);
        }
        // Every ledger entry of this provision belongs to a committed part.
        let all = 0;
        let after: { provisionId: string; subjectId: never } | null = null;
        for (;;) {
          const page = await store.ledgerByRecipient("nsf-scoring", after, 500);
          all += page.filter((e) => e.provisionId === id).length;
          if (page.length < 500) break;
          const last = page[page.length - 1]!;
          after = { provisionId: last.provisionId, subjectId: last.subjectId as never };
        }
        assert.equal(all, entries, "no ledger entry without its export record");
        return { parts, entries };
      };
      const halfway = await checkEvidence();
      assert.ok(halfway.parts.length >= 3 && halfway.entries < N, `killed mid-stream (${halfway.entries} of ${N} sent)`);
      assert.equal((await store.getProvision(id))!.status, "running");

      // The rerun: resume from the cursor.
      const out: string[] = [];
      const saved = process.exitCode;
      process.exitCode = undefined;
      try {
        await buildCli(env, (s) => out.push(s)).exitOverride().parseAsync(["node", "haechi", "provide", "--resume", id]);
        assert.equal(Number(process.exitCode ?? 0), 0, out.join(""));
      } finally {
        process.exitCode = saved;
      }
      const done = await store.getProvision(id);
      assert.equal(done!.status, "completed", out.join(""));
      const final = await checkEvidence();
      assert.equal(final.entries, N, "everyone sent exactly once");
      assert.deepEqual(final.parts.map((p) => p.part), final.parts.map((_, i) => i + 1), "parts are consecutive");

      // The export holds each person once, and nothing else is in the directory.
      const manifest = JSON.parse(done!.manifest!);
      assert.deepEqual(fs.readdirSync(dir).sort(), [...manifest.parts.map((p: { file: string }) => p.file), "manifest.json"].sort());
      const d = new Decrypter();
      d.addIdentity(demoIdentity("nsf-scoring"));
      const seen = new Set<string>();
      for (const p of manifest.parts) {
        for (const line of (await d.decrypt(fs.readFileSync(path.join(dir, p.file)), "text")).trim().split("\n")) seen.add(JSON.parse(line).id);
      }
      assert.equal(seen.size, N);
      const v = await t.c.services.provisions.verify({ principal: "pay-app", source: null, requestId: "t" }, id);
      assert.deepEqual(v, { ok: true, problems: [] });
    });

    test("haechi provide --plan, a refusal (exit 3, every condition listed), and haechi suspend add / list / lift", async () => {
      const env: Record<string, string> = { HAECHI_HOME: t.home, HAECHI_LOG_LEVEL: "silent" };
      if (t.c.config.store.kind === "postgres") Object.assign(env, { HAECHI_STORE: "postgres", HAECHI_PG_URL: t.c.config.store.url });
      const cli = async (...args: string[]) => {
        const chunks: string[] = [];
        const saved = process.exitCode;
        process.exitCode = undefined;
        try {
          await buildCli(env, (s) => chunks.push(s)).exitOverride().parseAsync(["node", "haechi", ...args]);
          return { out: chunks.join(""), code: Number(process.exitCode ?? 0) };
        } finally {
          process.exitCode = saved;
        }
      };
      const base = ["provide", "--as", "pay-app", "--recipient", "nsf-scoring", "--purpose", "pay_service"];
      const plan = await cli(...base, "--label", "provision", "--fields", "user_id,transaction_history", "--population", "pay_overseas", "--plan");
      assert.equal(plan.code, 0, plan.out);
      assert.match(plan.out, /planned — provision \(consent:nsf_provision\), overseas to SG on A:consent:nsf_overseas_transfer/);
      assert.match(plan.out, new RegExp(`scanned ${N}, included ${N}`));
      const refused = await cli(...base, "--label", "consignment", "--fields", "user_id,phone,transaction_history", "--transform", "phone=hash");
      assert.equal(refused.code, 3, refused.out);
      for (const code of ["RECIPIENT_PURPOSE_NOT_CONTROLLERS", "CONSIGNMENT_CONTRACT_MISSING", "FIELD_NOT_ALLOWED", "POPULATION_OUT_OF_SCOPE"]) {
        assert.match(refused.out, new RegExp(code));
      }
      const sus = await cli("suspend", "add", "--recipient", "nsf-scoring", "--order", "PIPC-CLI-1");
      assert.equal(sus.code, 0, sus.out);
      const susId = /suspension (sus_[A-Za-z0-9_-]+)/.exec(sus.out)![1]!;
      assert.match((await cli("suspend", "list")).out, new RegExp(`${susId}  recipient nsf-scoring  order PIPC-CLI-1 .*ACTIVE \\(objection until`));
      const blocked = await cli(...base, "--label", "provision", "--fields", "user_id", "--population", "pay_overseas", "--plan");
      assert.equal(blocked.code, 3);
      assert.match(blocked.out, /RECIPIENT_SUSPENDED: transfers to recipient nsf-scoring are suspended by order PIPC-CLI-1/);
      assert.equal((await cli("suspend", "lift", susId)).code, 0);
      assert.equal((await cli(...base, "--label", "provision", "--fields", "user_id", "--population", "pay_overseas", "--plan")).code, 0);
    });
  });
}
