/**
 * Bulk import (`haechi import`) on SQLite and PostgreSQL: NDJSON and CSV with good and bad rows,
 * consents recorded, denials audited, and resumption: a rerun imports nothing twice, after a
 * clean finish, a failure halfway, or a SIGKILL of the CLI halfway.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { buildCli } from "../../src/cli/cli.js";
import type { ImportOptions } from "../../src/services/import-service.js";
import { STORE_KINDS, startApp, type TestApp } from "../helpers/app.js";

const root = path.resolve(import.meta.dirname, "../..");

const person = (n: number) => ({
  user_id: `imp-${n}`,
  phone: `010-${String(2000 + Math.floor(n / 10_000)).padStart(4, "0")}-${String(n % 10_000).padStart(4, "0")}`,
  name: "홍길동",
  nickname: `nick${n}`,
});

/** Runs a CLI command in this process; returns the exit code it set (and restores the runner's). */
const inProcess = async (cli: ReturnType<typeof buildCli>, args: string[]): Promise<number> => {
  const saved = process.exitCode;
  process.exitCode = undefined;
  try {
    await cli.exitOverride().parseAsync(["node", "haechi", ...args]);
    return Number(process.exitCode ?? 0);
  } finally {
    process.exitCode = saved;
  }
};

type Imported = { line: number; ref: string | null; id: string };
type Rejected = { line: number; ref: string | null; code: string; message: string };

for (const kind of STORE_KINDS) {
  describe(`import on ${kind}`, () => {
    let t: TestApp;
    let dir: string;
    let fileNo = 0;
    before(async () => {
      t = await startApp(kind);
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-import-"));
    });
    after(async () => {
      await t?.close();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    const write = (ext: string, lines: string[]) => {
      const f = path.join(dir, `in-${++fileNo}.${ext}`);
      fs.writeFileSync(f, `${lines.join("\n")}\n`);
      return f;
    };
    const ndjson = (rows: unknown[]) => write("ndjson", rows.map((r) => (typeof r === "string" ? r : JSON.stringify(r))));

    /** Runs the import service directly, collecting what it reports. */
    const run = async (file: string, opts: Partial<ImportOptions> = {}) => {
      const imported: Imported[] = [];
      const rejected: Rejected[] = [];
      const r = await t.c.services.import.run({
        file,
        principal: "talk-app",
        purpose: "talk_service",
        onImported: (x) => imported.push(x),
        onRejected: (x) => rejected.push(x),
        ...opts,
      });
      return { ...r, importedRows: imported, rejectedRows: rejected };
    };

    const read = (id: string, fields = "user_id,phone,name,nickname,email") => t.call("talk-app", "GET", `/v1/subjects/${id}?purpose=talk_service&fields=${fields}`);
    const lookup = (principal: string, purpose: string, field: string, value: string) =>
      t.call(principal, "POST", "/v1/lookup", { purpose, field, value }).then((r) => {
        assert.equal(r.status, 200, JSON.stringify(r.body));
        return r.body.matches as string[];
      });

    /** `subject.import` entries of one import, by line. */
    const importEntries = async (importId: string) => {
      await t.c.audit.flush();
      const byLine = new Map<number, { effect: string; subjectRef: string | null; reasons: string[] }[]>();
      for await (const page of t.c.stores.audit.iterate(0, 5000)) {
        for (const row of page) {
          if (row.action !== "subject.import") continue;
          const b = JSON.parse(row.body);
          if (b.requestId !== `import-${importId}`) continue;
          const list = byLine.get(b.meta.line) ?? [];
          list.push({ effect: b.effect, subjectRef: b.subjectRef, reasons: b.reasons });
          byLine.set(b.meta.line, list);
        }
      }
      return byLine;
    };

    test("NDJSON: good rows are imported and readable; each bad row is reported with its line, code and problem", async () => {
      const file = ndjson([
        { ref: "a1", fields: { ...person(1), email: "one@example.com" } },
        '{"ref": "a2", "fields": {"user_id": ',
        { ref: "a3", fields: { ...person(3), shoe_size: 270 } },
        { ref: "a4", fields: { user_id: "imp-4", name: "김", nickname: "k" } },
        { ref: "a5", fields: { ...person(5), phone: "12-34" } },
        { ref: "a6", fields: person(6), consents: [{ notice: "marketing", version: 1, action: "grant", channel: "app" }] },
        { ref: "a7", fields: person(7), consents: [{ notice: "no_such_notice", action: "grant" }] },
        "",
        { ref: "a9", fields: { ...person(9), email: "nine@example.com" }, consents: [{ notice: "marketing", action: "grant", channel: "web" }] },
        { fields: person(10) },
        { ref: "a11", fields: person(11), extra: true },
        { ref: "a12", fields: person(12), consents: [{ notice: "marketing", action: "maybe" }] },
      ]);
      const r = await run(file);
      assert.equal(r.imported, 3);
      assert.equal(r.rejected, 8);
      assert.equal(r.skipped, 0);
      assert.equal(r.lines, 11, "the blank line is not a row");

      const rejects = new Map(r.rejectedRows.map((x) => [x.line, x]));
      const expect = (line: number, ref: string | null, code: string, message: RegExp) => {
        const x = rejects.get(line);
        assert.ok(x, `line ${line} is reported`);
        assert.equal(x.ref, ref, `ref of line ${line}`);
        assert.equal(x.code, code, `code of line ${line}: ${x.message}`);
        assert.match(x.message, message, `message of line ${line}`);
      };
      expect(2, null, "VALIDATION_FAILED", /not valid JSON/);
      expect(3, "a3", "UNKNOWN_FIELD", /shoe_size/);
      expect(4, "a4", "REQUIRED_FIELD_MISSING", /phone/);
      expect(5, "a5", "VALIDATION_FAILED", /"phone" does not match its pattern/);
      expect(6, "a6", "CONFLICT", /marketing" v1 is not the version in force \(v2\)/);
      expect(7, "a7", "UNKNOWN_NOTICE", /no_such_notice/);
      expect(11, "a11", "VALIDATION_FAILED", /unknown keys: extra/);
      expect(12, "a12", "VALIDATION_FAILED", /action must be grant or withdraw/);
      for (const x of r.rejectedRows) assert.equal(x.message.includes("12-34"), false, "a rejected value is not echoed");

      assert.deepEqual(
        r.importedRows.map((x) => [x.line, x.ref]),
        [
          [1, "a1"],
          [9, "a9"],
          [10, null],
        ],
      );
      const byLine = new Map(r.importedRows.map((x) => [x.line, x.id]));
      const one = await read(byLine.get(1)!);
      assert.equal(one.status, 200, JSON.stringify(one.body));
      assert.deepEqual(one.body.fields, { ...person(1), email: "one@example.com" });
      const ten = await read(byLine.get(10)!, "user_id,phone");
      assert.deepEqual(ten.body.fields, { user_id: "imp-10", phone: person(10).phone });
      assert.deepEqual(await lookup("talk-app", "talk_service", "user_id", "imp-1"), [byLine.get(1)]);
      for (const n of [3, 4, 5, 6, 7, 11, 12]) assert.deepEqual(await lookup("talk-app", "talk_service", "user_id", `imp-${n}`), [], `rejected row ${n} wrote nothing`);

      // The consent in row 9 was recorded: marketing finds that person (and only that one).
      const m9 = await lookup("marketing-svc", "marketing", "phone", person(9).phone);
      assert.equal(m9.length, 1);
      const mread = await t.call("marketing-svc", "GET", `/v1/subjects/${m9[0]}?purpose=marketing&fields=email,phone`);
      assert.equal(mread.status, 200, JSON.stringify(mread.body));
      assert.deepEqual(mread.body.fields, { email: "nine@example.com", phone: person(9).phone });
      assert.deepEqual(await lookup("marketing-svc", "marketing", "phone", person(1).phone), [], "no consent: not found for marketing");

      const entries = await importEntries(r.importId);
      assert.deepEqual([...entries.keys()].sort((a, b) => a - b), [1, 9, 10], "one allow entry per imported row");
      for (const list of entries.values()) {
        assert.equal(list.length, 1);
        assert.equal(list[0]!.effect, "allow");
        assert.match(list[0]!.subjectRef!, /^ar_/);
      }
    });

    test("CSV: header columns, quoted values, consent columns; bad rows reported by line", async () => {
      const file = write("csv", [
        "ref,user_id,phone,name,nickname,email,consent:marketing",
        `c1,csv-1,010-3000-0001,"Kim, Gil-dong",gil,c1@example.com,grant`,
        "c2,csv-2,010-3000-0002,이몽룡,mong,,",
        "c3,csv-3,not-a-phone,성춘향,chun,,",
        "c4,csv-4,,박문수,moon,,",
        "c5,csv-5,010-3000-0005,홍길동,hong,,maybe",
        "c6,csv-6,010-3000-0006,홍길동",
        `c7,csv-7,010-3000-0007,"unterminated,x,,`,
      ]);
      const r = await run(file);
      assert.equal(r.imported, 2, JSON.stringify(r.rejectedRows));
      r.rejectedRows.sort((a, b) => a.line - b.line);
      assert.deepEqual(
        r.rejectedRows.map((x) => [x.line, x.ref, x.code]),
        [
          [4, "c3", "VALIDATION_FAILED"],
          [5, "c4", "REQUIRED_FIELD_MISSING"],
          [6, "c5", "VALIDATION_FAILED"],
          [7, "c6", "VALIDATION_FAILED"],
          [8, "c7", "VALIDATION_FAILED"],
        ],
      );
      const msg = new Map(r.rejectedRows.map((x) => [x.line, x.message]));
      assert.match(msg.get(4)!, /phone/);
      assert.match(msg.get(5)!, /phone/);
      assert.match(msg.get(6)!, /consent:marketing must be grant, withdraw or empty/);
      assert.match(msg.get(7)!, /expected 7 columns, found 4/);
      assert.match(msg.get(8)!, /unterminated/);
      const c1 = r.importedRows.find((x) => x.ref === "c1")!;
      const got = await read(c1.id);
      assert.deepEqual(got.body.fields, { user_id: "csv-1", phone: "010-3000-0001", name: "Kim, Gil-dong", nickname: "gil", email: "c1@example.com" });
      assert.equal((await lookup("marketing-svc", "marketing", "email", "c1@example.com")).length, 1, "consent column recorded");
      assert.deepEqual(await lookup("marketing-svc", "marketing", "phone", "010-3000-0002"), [], "empty consent cell: none");

      const unknown = write("csv", ["user_id,phone,name,nickname,shoe_size", "csv-8,010-3000-0008,a,b,270", "csv-9,010-3000-0009,a,b,"]);
      const u = await run(unknown);
      assert.equal(u.imported, 1);
      assert.deepEqual(
        u.rejectedRows.map((x) => [x.line, x.code]),
        [[2, "UNKNOWN_FIELD"]],
      );
      assert.match(u.rejectedRows[0]!.message, /shoe_size/);
    });

    test("every denial is audited: rows without the consent their purpose rests on are refused", async () => {
      const base = { user_id: "po-1", name: "성춘향", passport_number: "M12345678" };
      const file = ndjson([
        { ref: "p1", fields: { user_id: "po-1", name: "성춘향" } },
        { ref: "p2", fields: base, consents: [{ notice: "pay_overseas", action: "grant", channel: "app" }] },
        {
          ref: "p3",
          fields: { ...base, user_id: "po-3" },
          consents: [
            { notice: "pay_overseas", action: "grant", channel: "app" },
            { notice: "passport_unique_id", action: "grant", channel: "app" },
          ],
        },
      ]);
      const r = await run(file, { principal: "pay-app", purpose: "pay_overseas" });
      assert.equal(r.imported, 1);
      assert.deepEqual(
        r.rejectedRows.map((x) => [x.line, x.code]),
        [
          [1, "ACCESS_DENIED"],
          [2, "ACCESS_DENIED"],
        ],
      );
      assert.match(r.rejectedRows[0]!.message, /needs consent/);
      assert.match(r.rejectedRows[1]!.message, /separate unique_id consent/);
      const entries = await importEntries(r.importId);
      assert.deepEqual(entries.get(1), [{ effect: "deny", subjectRef: null, reasons: ["NO_LEGAL_BASIS"] }]);
      assert.deepEqual(entries.get(2), [{ effect: "deny", subjectRef: null, reasons: ["SEPARATE_CONSENT_REQUIRED"] }]);
      assert.equal(entries.get(3)?.[0]?.effect, "allow");
      const got = await t.call("pay-app", "GET", `/v1/subjects/${r.importedRows[0]!.id}?purpose=pay_overseas&fields=user_id,passport_number`);
      assert.equal(got.status, 200, JSON.stringify(got.body));
      assert.equal(got.body.fields.user_id, "po-3");
    });

    test("a purpose the principal may not use refuses the whole import at once, audited", async () => {
      const file = ndjson([{ ref: "d1", fields: { phone: person(20).phone, email: "d1@example.com", nickname: "d" } }]);
      await assert.rejects(run(file, { principal: "talk-app", purpose: "marketing", importId: "denied-import" }), {
        code: "ACCESS_DENIED",
        message: /may not use purpose "marketing"/,
      });
      await t.c.audit.flush();
      const denials: { reasons: string[]; subjectRef: string | null }[] = [];
      for await (const page of t.c.stores.audit.iterate(0, 5000)) {
        for (const row of page) if (row.action === "subject.import" && JSON.parse(row.body).requestId === "import-denied-import") denials.push(JSON.parse(row.body));
      }
      assert.equal(denials.length, 1);
      assert.deepEqual(denials[0]!.reasons, ["PURPOSE_NOT_ALLOWED_FOR_PRINCIPAL"]);
      assert.deepEqual(await lookup("talk-app", "talk_service", "email", "d1@example.com"), []);
    });

    test("an unknown principal or purpose, or a missing file, fails before reading a row", async () => {
      const file = ndjson([{ fields: person(30) }]);
      await assert.rejects(run(file, { principal: "nobody" }), { code: "VALIDATION_FAILED", message: /nobody/ });
      await assert.rejects(run(file, { purpose: "no_such_purpose" }), { code: "UNKNOWN_PURPOSE" });
      await assert.rejects(run(path.join(dir, "missing.ndjson")), { code: "NOT_FOUND" });
    });

    test("a rerun after a clean finish imports nothing again: the rows are reported as skipped, with the same ids", async () => {
      const rows: unknown[] = [];
      for (let n = 100; n < 160; n++) rows.push(n % 7 === 0 ? { ref: `r${n}`, fields: { ...person(n), phone: "bad" } } : { ref: `r${n}`, fields: person(n) });
      const file = ndjson(rows);
      const first = await run(file, { batchSize: 8 });
      assert.equal(first.imported, 52);
      assert.equal(first.rejected, 8);
      const again = await run(file, { batchSize: 8 });
      assert.equal(again.imported, 0);
      assert.equal(again.skipped, 52);
      assert.equal(again.rejected, 8, "bad rows are reported again");
      assert.deepEqual(
        again.importedRows.map((x) => [x.line, x.id]).sort((a, b) => (a[0] as number) - (b[0] as number)),
        first.importedRows.map((x) => [x.line, x.id]).sort((a, b) => (a[0] as number) - (b[0] as number)),
      );
      // Another batch size: batches of the earlier run straddle these; still nothing twice, and
      // no data key was written over a live one (every subject still decrypts).
      const third = await run(file, { batchSize: 5 });
      assert.equal(third.imported, 0);
      assert.equal(third.skipped, 52);
      for (const x of first.importedRows.filter((_, i) => i % 5 === 0)) {
        const got = await read(x.id, "user_id,phone");
        assert.equal(got.status, 200, JSON.stringify(got.body));
        assert.equal(got.body.fields.user_id, `imp-${Number(x.ref!.slice(1))}`);
      }
      const entries = await importEntries(first.importId);
      const allows = [...entries.values()].map((l) => l.filter((e) => e.effect === "allow").length);
      assert.equal(allows.length, 52);
      assert.ok(
        allows.every((n) => n === 1),
        "one allow entry per row over three runs",
      );
    });

    test("the same file imported for another principal is another import, not a resumption", async () => {
      const file = ndjson([{ ref: "s1", fields: { user_id: "sec-1", device_id: "dev-1" } }, { ref: "s2", fields: { user_id: "sec-2", device_id: "dev-2" } }]);
      const talk = await run(file, { principal: "talk-app", purpose: "security_monitoring" });
      const pay = await run(file, { principal: "pay-app", purpose: "security_monitoring" });
      assert.equal(talk.imported, 2);
      assert.equal(pay.imported, 2, "validated and stored for pay-app, not reported as already imported");
      assert.notEqual(pay.importId, talk.importId);
      const got = await t.call("pay-app", "GET", `/v1/subjects/${pay.importedRows[1]!.id}?purpose=security_monitoring&fields=device_id`);
      assert.equal(got.status, 200, JSON.stringify(got.body));
      assert.equal(got.body.fields.device_id, "dev-2");
      const cross = await t.call("pay-app", "GET", `/v1/subjects/${talk.importedRows[1]!.id}?purpose=security_monitoring`);
      assert.equal(cross.status, 404, "talk-app's ids mean nothing to pay-app");
    });

    test("an import that fails halfway is finished by running it again: one subject per row, none twice", async () => {
      const rows: unknown[] = [];
      for (let n = 1000; n < 1200; n++) rows.push({ ref: `h${n}`, fields: { ...person(n), email: `h${n}@example.com` } });
      const file = ndjson(rows);
      let seen = 0;
      await assert.rejects(
        run(file, {
          batchSize: 30,
          onImported: () => {
            if (++seen === 75) throw new Error("interrupted");
          },
        }),
        /interrupted/,
      );
      const rest = await run(file, { batchSize: 30 });
      assert.ok(rest.skipped >= 60 && rest.skipped < 200, `some rows were committed before the failure (${rest.skipped})`);
      assert.equal(rest.imported + rest.skipped, 200);
      assert.equal(rest.rejected, 0);
      assert.equal(new Set(rest.importedRows.map((x) => x.line)).size, 200, "every row reported once");
      for (let n = 1000; n < 1200; n += 13) {
        const m = await lookup("talk-app", "talk_service", "user_id", `imp-${n}`);
        assert.equal(m.length, 1, `imp-${n} exists once`);
        const got = await read(m[0]!, "email");
        assert.equal(got.body.fields.email, `h${n}@example.com`);
      }
    });

    test("a worker thread seals field values; results are the same as sealing inline", async () => {
      const rows: unknown[] = [];
      for (let n = 5000; n < 8000; n++) rows.push({ ref: `w${n}`, fields: { ...person(n), email: `w${n}@example.com` } });
      const file = ndjson(rows);
      const r = await run(file, { batchSize: 500, workers: 1 });
      assert.equal(r.imported, 3000);
      assert.deepEqual(r.sealing, { worker: 6, inline: 0 }, "asked for, the worker is waited for");
      const small = ndjson(rows.slice(0, 3).map((x) => ({ ...(x as object), ref: "inline" })));
      const i = await run(small, { workers: 0 });
      assert.equal(i.imported, 3);
      assert.deepEqual(i.sealing, { worker: 0, inline: 1 });
      for (const x of [...r.importedRows.filter((_, k) => k % 997 === 0), r.importedRows.at(-1)!, ...i.importedRows]) {
        const got = await read(x.id, "user_id,email");
        assert.equal(got.status, 200, JSON.stringify(got.body));
        const n = x.line - 1 + 5000;
        assert.deepEqual(got.body.fields, { user_id: `imp-${n}`, email: `w${n}@example.com` });
      }
    });

    test("the CLI killed halfway (SIGKILL) and run again: exactly one subject per row", { timeout: 180_000 }, async () => {
      const N = 20_000;
      const lines: string[] = [];
      for (let n = 0; n < N; n++) lines.push(JSON.stringify({ ref: `k${n}`, fields: { user_id: `kill-${n}`, phone: person(50_000 + n).phone, name: "김해치", nickname: `k${n}` } }));
      const file = write("ndjson", lines);
      const env: Record<string, string> = { ...(process.env as Record<string, string>), HAECHI_HOME: t.home, HAECHI_LOG_LEVEL: "silent" };
      if (t.c.config.store.kind === "postgres") Object.assign(env, { HAECHI_STORE: "postgres", HAECHI_PG_URL: t.c.config.store.url });
      const ids1 = path.join(dir, "kill-ids-1.ndjson");
      const args = ["--import", "tsx", "src/main.ts", "import", file, "--as", "talk-app", "--purpose", "talk_service", "--batch", "500", "--rejects", path.join(dir, "kill-rejects.ndjson")];
      const keysBefore = (await t.c.stores.keys.countByKekVersion()).reduce((a, x) => a + x.count, 0);

      const killed = await new Promise<{ signal: NodeJS.Signals | null; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, [...args, "--ids", ids1], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
        let stderr = "";
        child.stderr.on("data", (d: Buffer) => {
          stderr += d.toString();
          // The first progress line comes after the first committed batch.
          if (/import .*rows/.test(stderr) && !child.killed) child.kill("SIGKILL");
        });
        child.on("error", reject);
        child.on("close", (_code, signal) => resolve({ signal, stderr }));
      });
      assert.equal(killed.signal, "SIGKILL", `the run was killed halfway: ${killed.stderr}`);
      const firstIds = fs.existsSync(ids1) ? fs.readFileSync(ids1, "utf8").trim().split("\n").filter(Boolean) : [];
      assert.ok(firstIds.length < N, `killed before the end (${firstIds.length} rows reported)`);

      // The rerun, in-process: it must finish the import.
      const out: string[] = [];
      const ids2 = path.join(dir, "kill-ids-2.ndjson");
      const exitCode = await inProcess(buildCli(env, (s) => out.push(s)), [
        ...["import", file, "--as", "talk-app", "--purpose", "talk_service"],
        ...["--batch", "500", "--ids", ids2, "--rejects", path.join(dir, "kill-rejects-2.ndjson")],
      ]);
      assert.equal(exitCode, 0, out.join(""));
      const m = /(\d+) imported, (\d+) skipped \(already imported\), (\d+) rejected/.exec(out.join(""));
      assert.ok(m, out.join(""));
      const [imported, skipped, rejected] = [Number(m[1]), Number(m[2]), Number(m[3])];
      assert.equal(rejected, 0);
      assert.equal(imported + skipped, N);
      assert.ok(skipped >= 500, `the killed run had committed at least one batch (${skipped})`);
      assert.ok(skipped >= firstIds.length, "every row the killed run reported is skipped now");

      const reported = fs.readFileSync(ids2, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Imported);
      assert.equal(reported.length, N);
      assert.equal(new Set(reported.map((x) => x.line)).size, N, "one id per line");
      assert.equal(new Set(reported.map((x) => x.id)).size, N, "one subject per line");
      for (const l of firstIds.map((x) => JSON.parse(x) as Imported).filter((_, i) => i % 50 === 0)) {
        assert.equal(reported.find((x) => x.line === l.line)?.id, l.id, "the same id as the killed run reported");
      }
      const keysAfter = (await t.c.stores.keys.countByKekVersion()).reduce((a, x) => a + x.count, 0);
      assert.equal(keysAfter - keysBefore, N, "one data key per row, no extra subjects");

      // Blind-index lookups of a sample (including around the kill point): each finds one subject.
      const sample = new Set<number>();
      for (let n = 0; n < N; n += 499) sample.add(n);
      for (let n = Math.max(0, skipped - 5); n < Math.min(N, skipped + 5); n++) sample.add(n);
      for (const n of sample) {
        const found = await lookup("talk-app", "talk_service", "user_id", `kill-${n}`);
        assert.equal(found.length, 1, `kill-${n} exists exactly once`);
      }
      const last = reported.find((x) => x.line === N)!;
      assert.deepEqual((await read(last.id, "user_id,nickname")).body.fields, { user_id: `kill-${N - 1}`, nickname: `k${N - 1}` });

      // Audit: every row has an allow entry; only the batch in flight at the kill may have two
      // (an attempt whose data never landed), and exactly one entry per row names its live key.
      let twice = 0;
      const importId = /import (\S+):/.exec(out.join(""))![1]!;
      const byLine = await importEntries(importId);
      assert.equal(byLine.size, N);
      for (const [line, list] of byLine) {
        const allows = list.filter((e) => e.effect === "allow");
        assert.ok(allows.length >= 1, `line ${line}`);
        if (allows.length > 1) {
          twice++;
          const live = [];
          const known = await t.c.stores.keys.findByAuditRefs(allows.map((e) => e.subjectRef as never));
          for (const e of allows) if (known.has(e.subjectRef as never)) live.push(e);
          assert.equal(live.length, 1, `line ${line}: one entry names the live subject`);
        }
      }
      assert.ok(twice <= 1000, `at most the batches in flight at the kill were attempted twice (${twice})`);
    });

    test("the audit log still verifies after the imports", async () => {
      const v = await t.c.services.audit.verify();
      assert.equal(v.ok, true, JSON.stringify(v.problems));
      assert.ok(v.entries > 23_000, `${v.entries} entries`);
    });
  });
}
