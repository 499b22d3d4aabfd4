/**
 * The monthly access-log review end to end (PIPC Safety Standard Art. 8(2); LAW §15 G4), on SQLite
 * and PostgreSQL: a month of real traffic through the HTTP API, `haechi review generate` reads
 * exactly that month from the audit log, lists the bulk releases with their justification and
 * escalates the one without, and `haechi review sign` records the sign-off against the report's
 * digest, refusing a report changed since.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fixedClock } from "../../src/core/clock.js";
import { STORE_KINDS, startApp, type TestApp } from "../helpers/app.js";
import { runCli, type Env } from "../helpers/cli.js";

const HOUR = 3600 * 1000;

for (const kind of STORE_KINDS) {
  describe(`the monthly access-log review on ${kind}`, () => {
    let t: TestApp;
    let incidentId = "";
    // Monday 2026-09-28 10:00 KST: a few entries in September, the rest in October.
    const clock = fixedClock("2026-09-28T01:00:00Z");
    before(async () => {
      t = await startApp(kind, { clock });
    });
    after(async () => {
      await t?.close();
    });

    /** Runs a command against this app's stores; what it throws is thrown here. */
    const cli = async (...args: string[]) => {
      const env: Env = { HAECHI_HOME: t.home, HAECHI_LOG_LEVEL: "silent" };
      if (t.c.config.store.kind === "postgres") Object.assign(env, { HAECHI_STORE: "postgres", HAECHI_PG_URL: t.c.config.store.url });
      const r = await runCli(env, ...args);
      if (r.error !== undefined) throw r.error;
      return r;
    };

    test("Safety Standard Art. 8(2): a finished month is reviewed from the audit log, bulk releases carry their justification, and the sign-off is recorded against the report", async () => {
      const talk = async (n: number) => {
        const r = await t.call("talk-app", "POST", "/v1/subjects", {
          purpose: "talk_service",
          fields: { user_id: `rev-${n}`, phone: `010-4${String(100 + n)}-0000`, name: "최검토", nickname: `rv${n}` },
        });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        return r.body.id as string;
      };
      const september = await talk(0); // in September: not in the October review
      clock.advance(4 * 24 * HOUR); // Friday 2026-10-02 10:00 KST
      const ids = [];
      for (let i = 1; i <= 5; i++) ids.push(await talk(i));
      for (const id of ids) assert.equal((await t.call("talk-app", "GET", `/v1/subjects/${id}?purpose=talk_service&fields=phone`)).status, 200);
      // Refusals: a purpose the principal is not allowed.
      for (let i = 0; i < 3; i++) assert.equal((await t.call("talk-app", "GET", `/v1/subjects/${ids[0]}?purpose=pay_service`)).status, 403);
      // Two bulk releases written by the jobs that make them: one with its justification, one without.
      await t.c.audit.record({
        at: clock.now().toISOString(), requestId: "bulk-1", principal: "provisioner", source: null, action: "provision.complete", effect: "allow",
        purpose: "nsf_scoring", subjectRef: null, fields: ["user_id"], reasons: [], count: 600, meta: { recipient: "nsf-scoring", provision: "prv_test" },
      });
      await t.c.audit.record({
        at: clock.now().toISOString(), requestId: "bulk-2", principal: "ops-tool", source: "10.1.2.3", action: "export.download", effect: "allow",
        purpose: null, subjectRef: null, fields: [], reasons: [], count: 5000,
      });
      // An outside report on 10-05, handled in October: the evidence pack carries its timeline.
      clock.advance(3 * 24 * HOUR); // 2026-10-05
      const inc = await t.call("privacy-office", "POST", "/v1/incidents", {
        kind: "leak",
        summary: "member nicknames posted on a forum",
        source: { type: "external", channel: "forum", reference: "thread 77" },
        scope: { from: "2026-10-01T15:00:00.000Z", to: "2026-10-02T15:00:00.000Z", principals: ["talk-app"] },
      });
      assert.equal(inc.status, 201, JSON.stringify(inc.body));
      incidentId = inc.body.id;
      clock.advance(27 * 24 * HOUR); // 2026-11-01: October is over
      await talk(9); // in November: not in the October review

      // The current month cannot be reviewed yet; a malformed month is named.
      const thisMonth = new Date().toISOString().slice(0, 7);
      await assert.rejects(t.c.services.review.generate({ month: thisMonth, by: "cpo" }), /has not ended yet/);
      await assert.rejects(cli("review", "generate", "--month", "2026-13"), /month must be YYYY-MM/);
      // Signing a month never generated is refused.
      await assert.rejects(cli("review", "sign", "--month", "2026-10", "--by", "cpo.kim"), /no access-log review was generated for 2026-10/);

      const gen = await cli("review", "generate", "--month", "2026-10", "--by", "cpo.kim");
      assert.equal(gen.code, 2, "findings exit 2");
      assert.match(gen.out, /access-log review 2026-10: \d+ entries, 4 principals, 2 bulk releases \(1 to escalate\)/);
      assert.match(gen.out, /ESCALATE bulk release without a recorded justification: seq \d+, ops-tool, export.download, 5000 records/);
      const json = JSON.parse(fs.readFileSync(`${t.home}/reports/access-review-2026-10.json`, "utf8"));
      const incidentEntries = json.principals.find((p: { principal: string }) => p.principal === "privacy-office").entries;
      assert.equal(json.entries, 15 + incidentEntries, "October only: 5 creations, 5 reads, 3 refusals, 2 bulk entries, and the incident's");
      const talkApp = json.principals.find((p: { principal: string }) => p.principal === "talk-app");
      assert.deepEqual([talkApp.allowed, talkApp.denied, talkApp.subjects], [10, 3, 5]);
      assert.deepEqual(talkApp.byAction, { "subject.create": 5, "subject.read": 8 });
      assert.ok(!JSON.stringify(json).includes("rev-"), "no personal data in the report");
      assert.ok(fs.existsSync(`${t.home}/reports/access-review-2026-10.md`));
      const svg = fs.readFileSync(`${t.home}/reports/access-review-2026-10.svg`, "utf8");
      assert.ok(svg.includes("2026-10-02: 12 allowed") && svg.includes("2026-10-02: 3 refused"), "the chart counts the day's entries");
      assert.equal((await cli("review", "status", "--month", "2026-10")).code, 2, "not signed off yet");

      const signed = await cli("review", "sign", "--month", "2026-10", "--by", "cpo.kim", "--note", "ops-tool export escalated to security");
      assert.match(signed.out, /access-log review 2026-10 signed off by cpo\.kim/);
      const st = await cli("review", "status", "--month", "2026-10");
      assert.equal(st.code, 0);
      assert.match(st.out, /2026-10: generated .* by cpo\.kim; signed off .* by cpo\.kim/);

      // A report changed after it was generated cannot be signed off.
      fs.appendFileSync(`${t.home}/reports/access-review-2026-10.json`, " ");
      await assert.rejects(cli("review", "sign", "--month", "2026-10", "--by", "cpo.kim"), /changed since it was generated/);
      await assert.rejects(cli("review", "sign", "--month", "2026-10", "--by", "김 담당"), /--by must be the reviewer's staff id/);
      const v = await t.c.services.audit.verify();
      assert.equal(v.ok, true, "the review's own entries are in the chain");
      void september;
    });

    test("issue 5 evidence pack: one signed archive with the catalog, the window's access records as chained, the verification, provisions, measures, the incident timeline and the month's review; no personal data", async () => {
      const r = await cli("evidence", "--from", "2026-10-01", "--to", "2026-11-01", "--by", "cpo.kim");
      assert.equal(r.code, 0, r.out);
      const file = /evidence pack (\S+\.tar\.gz)/.exec(r.out)![1]!;
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-evidence-test-"));
      try {
        execFileSync("tar", ["-xzf", file, "-C", dir]);
        const names = execFileSync("tar", ["-tzf", file], { encoding: "utf8" }).trim().split("\n").sort();
        for (const n of ["README.txt", "catalog/catalog.yaml", "catalog/data-map.json", "access-records.ndjson", "audit/verification.json", "audit/checkpoint.json", "provisions.json", "measures.json", "incidents.json", "manifest.json", "manifest.sig", "reviews/access-review-2026-10.json", "reviews/access-review-2026-10.md"]) {
          assert.ok(names.includes(n), `${n} is in the pack`);
        }
        // The manifest covers every member and is signed by the audit checkpoint key.
        const manifestText = fs.readFileSync(path.join(dir, "manifest.json"), "utf8");
        const manifest = JSON.parse(manifestText);
        const cp = JSON.parse(fs.readFileSync(path.join(dir, "audit/checkpoint.json"), "utf8"));
        const sig = Buffer.from(fs.readFileSync(path.join(dir, "manifest.sig"), "utf8").trim(), "base64");
        assert.equal(crypto.verify(null, Buffer.from(manifestText), crypto.createPublicKey(cp.publicKeyPem), sig), true, "the manifest signature verifies");
        for (const m of manifest.members) {
          assert.equal(crypto.createHash("sha256").update(fs.readFileSync(path.join(dir, m.name))).digest("hex"), m.sha256, `${m.name} matches the manifest`);
        }
        assert.equal(JSON.parse(fs.readFileSync(path.join(dir, "audit/verification.json"), "utf8")).ok, true);
        // Exactly October's entries (those reviewed), in chain order, with their hashes.
        const review = JSON.parse(fs.readFileSync(path.join(dir, "reviews/access-review-2026-10.json"), "utf8"));
        const records = fs.readFileSync(path.join(dir, "access-records.ndjson"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
        assert.equal(records.length, review.entries);
        assert.equal(manifest.accessRecords, review.entries);
        for (let i = 1; i < records.length; i++) assert.equal(records[i].seq, records[i - 1].seq + 1);
        for (const rec of records) {
          assert.match(rec.hash, /^[0-9a-f]{64}$/);
          assert.ok(rec.entry.at >= "2026-09-30T15:00:00.000Z" && rec.entry.at < "2026-10-31T15:00:00.000Z");
        }
        const map = JSON.parse(fs.readFileSync(path.join(dir, "catalog/data-map.json"), "utf8"));
        const phone = map.find((f: { field: string }) => f.field === "phone");
        assert.ok(phone.purposes.some((p: { purpose: string }) => p.purpose === "talk_service"));
        // The incident handled in October: its clock, duties, scope (counts, no people) and timeline.
        const incidents = JSON.parse(fs.readFileSync(path.join(dir, "incidents.json"), "utf8"));
        assert.equal(manifest.incidents, 1);
        assert.deepEqual(incidents.map((i: { id: string }) => i.id), [incidentId]);
        const [inc] = incidents;
        assert.equal(inc.awareAt, "2026-10-05T01:00:00.000Z");
        assert.equal(inc.deadline, "2026-10-08T01:00:00.000Z", "72 hours from awareness");
        assert.equal(inc.scope.people.total, 5, "the five people talk-app read on 10-02");
        assert.deepEqual(inc.timeline.map((e: { act: string }) => e.act), ["opened", "scoped"]);
        assert.ok(inc.duties.some((d: { code: string; status: string }) => d.code === "NOTIFY_SUBJECTS" && d.status === "pending"), "the notice owed is shown as not done");
        assert.ok(!JSON.stringify(inc).includes("sub_"), "no subject id in the incident record");
        const measures = JSON.parse(fs.readFileSync(path.join(dir, "measures.json"), "utf8"));
        assert.ok(measures.encryption.kekVersions.length > 0);
        assert.ok(measures.accessControl.some((p: { principal: string }) => p.principal === "talk-app"));
        // No personal data: the members hold no field value.
        for (const m of manifest.members) assert.ok(!fs.readFileSync(path.join(dir, m.name), "utf8").includes("010-41"), `${m.name} holds no phone number`);
        // The pack is itself in the audit log.
        const v = await t.c.services.audit.verify();
        assert.equal(v.ok, true);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
      await assert.rejects(cli("evidence", "--from", "2026-11-01", "--to", "2026-10-01"), /the window must end after it starts/);
      await assert.rejects(cli("evidence", "--from", "someday", "--to", "2026-10-01"), /must be dates/);
    });
  });
}
