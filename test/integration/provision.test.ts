/**
 * The provision gate end to end over HTTP, on SQLite and PostgreSQL, with the demo catalog:
 * the KakaoPay → Alipay drill (seeds 001 and 003; LAW §3, §4, §15 C-D), the kill switch, and
 * scheduled provisions with their population diff.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Decrypter } from "age-encryption";
import YAML from "yaml";
import { DEMO_CATALOG } from "../../src/config/config.js";
import { catalogSchema, type Catalog } from "../../src/core/catalog/catalog-schema.js";
import { fixedClock } from "../../src/core/clock.js";
import { asSubjectId } from "../../src/core/ids.js";
import { pseudonyms } from "../../src/crypto/pseudonym.js";
import { STORE_KINDS, startApp, type TestApp } from "../helpers/app.js";
import { demoIdentity } from "../helpers/recipients.js";

/** The recipient as KakaoPay declared it: a "consignee" with no contract, no basis, no transfer basis. */
const kakaoPayCatalog = (): Catalog => {
  const doc = YAML.parse(fs.readFileSync(DEMO_CATALOG, "utf8"));
  const nsf = doc.recipients["nsf-scoring"];
  delete doc.detection; // as the demo catalog is served here (test/helpers/app.ts)
  doc.recipients["nsf-scoring"] = {
    kind: "consignee",
    legal_name: nsf.legal_name,
    contact: nsf.contact,
    country: nsf.country,
    public_key: nsf.public_key,
    purposes: ["pay_service"],
    fields: ["user_id", "transaction_history"],
    population: { purposes: ["pay_overseas"] },
    recipient_purpose: "NSF scoring for its own client",
  };
  // Schema only: the catalog check already refuses this recipient; the gate must refuse it too.
  return catalogSchema.parse(doc);
};

const PERSONS = 40;
const history = (i: number) => [{ at: "2026-10-01", kind: "payment", amount: 1000 + i }];

for (const kind of STORE_KINDS) {
  describe(`the provision gate on ${kind}`, () => {
    let t: TestApp;
    const clock = fixedClock("2026-11-21T02:00:00Z");
    const ids: string[] = [];
    /** The 30 % of the overseas-payment users who consented to the provision and the transfer. */
    const consenting = new Set<number>();
    const grant = (id: string, ...notices: string[]) =>
      t.call("pay-app", "POST", `/v1/subjects/${id}/consents`, { consents: notices.map((notice) => ({ notice, action: "grant", channel: "app" })) });

    before(async () => {
      t = await startApp(kind, { clock, env: { HAECHI_PROVISION_PAGE: "7", HAECHI_PROVISION_THREADS: "1" } });
      for (let i = 0; i < PERSONS; i++) {
        const r = await t.call("pay-app", "POST", "/v1/subjects", {
          purpose: "pay_service",
          fields: { user_id: `pay-${i}`, name: "김철수", phone: `010-7000-${String(1000 + i)}`, transaction_history: history(i) },
        });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        ids.push(r.body.id);
      }
      // Half use overseas payments; 6 of those 20 (30 %) consent to the provision and the transfer.
      for (let i = 0; i < 20; i++) assert.equal((await grant(ids[i]!, "pay_overseas")).status, 200);
      for (const i of [0, 3, 6, 9, 12, 15]) {
        consenting.add(i);
        assert.equal((await grant(ids[i]!, "nsf_provision", "nsf_overseas_transfer")).status, 200);
      }
      // Someone outside the feature consents too: still not in the recipient's population.
      assert.equal((await grant(ids[30]!, "nsf_provision", "nsf_overseas_transfer")).status, 200);
    });
    after(async () => {
      await t?.close();
    });

    const drillRequest = {
      recipient: "nsf-scoring",
      purpose: "pay_service",
      label: "consignment",
      fields: ["user_id", "phone", "email", "transaction_history"],
      mode: "run",
    };

    test("KakaoPay drill: a daily feed of every customer, labelled consignment, is refused with every failing condition named", async () => {
      const demo = t.c.catalog.current();
      t.c.setCatalog(kakaoPayCatalog());
      try {
        for (const body of [drillRequest, { ...drillRequest, every: "P1D" }, { ...drillRequest, transform: { user_id: "hash", phone: "hash" } }]) {
          const r = await t.call("pay-app", "POST", "/v1/provisions", body);
          assert.equal(r.status, 403, JSON.stringify(r.body));
          assert.equal(r.body.error.code, "PROVISION_DENIED");
          const codes = r.body.error.details.reasons.map((x: { code: string }) => x.code).sort();
          assert.deepEqual(codes, [
            "CONSIGNMENT_CONTRACT_MISSING",
            "CREDIT_CONSENT_REQUIRED",
            "FIELD_NOT_ALLOWED",
            "FIELD_NOT_ALLOWED",
            "POPULATION_OUT_OF_SCOPE",
            "PROVISION_BASIS_MISSING",
            "RECIPIENT_PURPOSE_NOT_CONTROLLERS",
            "TRANSFER_DENIED",
          ]);
          const fields = r.body.error.details.reasons.filter((x: { code: string }) => x.code === "FIELD_NOT_ALLOWED").map((x: { field: string }) => x.field);
          assert.deepEqual(fields.sort(), ["email", "phone"]);
          assert.match(r.body.error.message, /TRANSFER_DENIED country=SG recipient=nsf-scoring basis=none; consent\(A\) absent/);
          assert.match(r.body.error.message, /C not applicable to PROVISION/);
          if ("transform" in body) assert.match(JSON.stringify(r.body.error.details.notes), /does not exempt/);
        }
      } finally {
        t.c.setCatalog(demo);
      }
      // Nothing left: no export, no ledger entry for anyone; the refusals are audited.
      for (const id of ids) assert.deepEqual((await t.call("pay-app", "GET", `/v1/subjects/${id}/provisions`)).body.provisions, []);
      const denied = [];
      for await (const page of t.c.stores.audit.iterate(0, 1000)) {
        for (const row of page) if (row.action.startsWith("provision.") && JSON.parse(row.body).effect === "deny") denied.push(row);
      }
      assert.ok(denied.length >= 3);
      const exports = path.join(t.home, "exports");
      const leftovers = fs.existsSync(exports) ? fs.readdirSync(exports).flatMap((d) => fs.readdirSync(path.join(exports, d))) : [];
      assert.deepEqual(leftovers, []);
    });

    let provisionId = "";
    test("KakaoPay drill, done lawfully: the plan counts who is in and who is out, and why", async () => {
      const r = await t.call("pay-app", "POST", "/v1/provisions", {
        recipient: "nsf-scoring",
        purpose: "pay_service",
        label: "provision",
        fields: ["user_id", "transaction_history"],
        population: { purposes: ["pay_overseas"] },
        mode: "plan",
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.status, "planned");
      assert.equal(r.body.classification, "provision");
      assert.equal(r.body.basis, "consent:nsf_provision");
      assert.equal(r.body.transferBasis, "A:consent:nsf_overseas_transfer");
      assert.equal(r.body.country, "SG");
      assert.deepEqual(r.body.counts, { scanned: PERSONS, included: 6, excluded: { NOT_IN_POPULATION: 20, PROVISION_CONSENT_ABSENT: 14 } });
      assert.equal(fs.existsSync(path.join(t.home, "exports", r.body.id)), false, "a plan writes no export");
    });

    test("KakaoPay drill, done lawfully: exactly the consenting feature users, only the allowed fields, leave, each with a ledger entry", async () => {
      const r = await t.call("pay-app", "POST", "/v1/provisions", {
        recipient: "nsf-scoring",
        purpose: "pay_service",
        label: "provision",
        fields: ["user_id", "transaction_history"],
        population: { purposes: ["pay_overseas"] },
        mode: "run",
        wait: true,
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.status, "completed", JSON.stringify(r.body));
      assert.equal(r.body.counts.included, 6);
      provisionId = r.body.id;

      // The export: decrypt every part with the recipient's key.
      const manifest = (await t.call("pay-app", "GET", `/v1/provisions/${provisionId}/export`)).body;
      assert.equal(manifest.subjects, 6);
      assert.equal(manifest.signature.alg, "Ed25519");
      const d = new Decrypter();
      d.addIdentity(demoIdentity("nsf-scoring"));
      const rows: Record<string, unknown>[] = [];
      for (const p of manifest.parts) {
        const res = await fetch(`${t.url}/v1/provisions/${provisionId}/export/${p.file}`, { headers: { authorization: `Bearer ${t.keys["pay-app"]}` } });
        assert.equal(res.status, 200);
        const text = await d.decrypt(new Uint8Array(await res.arrayBuffer()), "text");
        rows.push(...text.trim().split("\n").map((l) => JSON.parse(l)));
      }
      // Recipient-specific pseudonyms, unlinkable to the app's ids.
      const ps = pseudonyms(t.c.keyring.secrets.pseudonymKey);
      const expected = new Map<string, number>([...consenting].map((i) => [ps.externalId("recipient:nsf-scoring", asSubjectId(ps.resolve("pay-app", ids[i]!)!)), i]));
      assert.deepEqual(new Set(rows.map((x) => x.id)), new Set(expected.keys()));
      for (const row of rows) {
        assert.deepEqual(Object.keys(row).sort(), ["id", "transaction_history", "user_id"]);
        const i = expected.get(row.id as string)!;
        assert.equal(row.user_id, `pay-${i}`);
        assert.deepEqual(row.transaction_history, history(i));
        assert.ok(!ids.includes(row.id as string));
      }
      // The per-person ledger: one entry for each person sent, none for anyone else.
      for (let i = 0; i < PERSONS; i++) {
        const l = await t.call("pay-app", "GET", `/v1/subjects/${ids[i]}/provisions`);
        assert.equal(l.status, 200);
        if (consenting.has(i)) {
          assert.equal(l.body.provisions.length, 1);
          const e = l.body.provisions[0];
          assert.equal(e.provision, provisionId);
          assert.equal(e.recipient, "nsf-scoring");
          assert.equal(e.country, "SG");
          assert.deepEqual(e.fields, ["user_id", "transaction_history"]);
          assert.equal(e.purpose, "pay_service");
          assert.equal(e.basis, "consent:nsf_provision");
          assert.equal(e.transferBasis, "A:consent:nsf_overseas_transfer");
          assert.equal(e.status, "completed");
        } else assert.deepEqual(l.body.provisions, [], `person ${i} was not sent`);
      }
      // The recipient's ledger (operators) lists the same people under the recipient's pseudonyms.
      const rl = await t.call("privacy-office", "GET", "/v1/recipients/nsf-scoring/ledger");
      assert.equal(rl.status, 200, JSON.stringify(rl.body));
      assert.deepEqual(new Set(rl.body.entries.map((e: { subject: string }) => e.subject)), new Set(expected.keys()));
      // The evidence checks out.
      const v = await t.call("pay-app", "GET", `/v1/provisions/${provisionId}/verify`);
      assert.deepEqual(v.body, { ok: true, problems: [] });
    });

    test("PIPA Art. 21(1): a finished provision's export files are destroyed once the fetching period passes; the ledger and manifest stay as evidence", async () => {
      const dir = path.join(t.home, "exports", provisionId);
      assert.ok(fs.existsSync(dir));
      assert.deepEqual(await t.c.services.provisions.expireExports({ by: "test" }), { provisions: 0, files: 0 }, "within the 30 days: kept");
      const saved = clock.now();
      clock.advance(31 * 24 * 3600 * 1000);
      try {
        const r = await t.c.services.provisions.expireExports({ by: "test" });
        assert.equal(r.provisions, 1);
        assert.ok(r.files >= 2, "part files and the manifest");
        assert.equal(fs.existsSync(dir), false);
        const f = await t.call("pay-app", "GET", `/v1/provisions/${provisionId}/export/part-000001.ndjson.age`);
        assert.equal(f.status, 404);
        assert.match(f.body.error.message, /was destroyed once its P30D for fetching had passed/);
        const v = await t.call("pay-app", "GET", `/v1/provisions/${provisionId}/verify`);
        assert.deepEqual(v.body, { ok: true, problems: [] }, "the ledger still checks against the signed manifest");
        const certs: { reasons: string[]; meta: Record<string, unknown> }[] = [];
        for await (const page of t.c.stores.audit.iterate(0, 1000)) {
          for (const row of page) if (row.action === "destruction.certificate") certs.push(JSON.parse(row.body));
        }
        const cert = certs.find((c) => c.reasons.includes("EXPORT_RETENTION_ENDED"));
        assert.equal(cert?.meta.provision, provisionId);
        assert.deepEqual(await t.c.services.provisions.expireExports({ by: "test" }), { provisions: 0, files: 0 }, "idempotent");
      } finally {
        clock.set(saved);
      }
    });

    test("a tampered ledger no longer matches the signed manifest", async () => {
      if (kind === "sqlite") {
        const { default: Database } = await import("better-sqlite3");
        const db = new Database(path.join(t.home, "db", "data.db"));
        db.prepare(
          "DELETE FROM provision_ledger WHERE (provision_id, subject_id) IN (SELECT provision_id, subject_id FROM provision_ledger WHERE provision_id = ? LIMIT 1)",
        ).run(provisionId);
        db.close();
      } else {
        const pg = await import("pg");
        const client = new pg.default.Client({ connectionString: t.c.config.store.kind === "postgres" ? t.c.config.store.url : "" });
        await client.connect();
        await client.query("DELETE FROM haechi.provision_ledger WHERE ctid IN (SELECT ctid FROM haechi.provision_ledger WHERE provision_id = $1 LIMIT 1)", [provisionId]);
        await client.end();
      }
      const v = await t.call("pay-app", "GET", `/v1/provisions/${provisionId}/verify`);
      assert.equal(v.body.ok, false);
      assert.match(v.body.problems.join("\n"), /ledger entries differ from the signed digest/);
    });

    test("PIPA Art. 28-9: the kill switch stops a running provision at once, withholds its export, and refuses (and audits) later attempts", async () => {
      // Enough people that the run is still going when the order arrives.
      const more: string[] = [];
      for (let i = 0; i < 150; i++) {
        const r = await t.call("pay-app", "POST", "/v1/subjects", {
          purpose: "pay_service",
          fields: { user_id: `bulk-${i}`, name: "이영희", phone: `010-7100-${String(1000 + i)}`, transaction_history: history(i) },
          consents: ["pay_overseas", "nsf_provision", "nsf_overseas_transfer"].map((notice) => ({ notice, action: "grant", channel: "app" })),
        });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        more.push(r.body.id);
      }
      const body = {
        recipient: "nsf-scoring",
        purpose: "pay_service",
        label: "provision",
        fields: ["user_id", "transaction_history"],
        population: { purposes: ["pay_overseas"] },
        mode: "run",
      };
      const started = await t.call("pay-app", "POST", "/v1/provisions", body);
      assert.equal(started.status, 202, JSON.stringify(started.body));
      const s = await t.call("privacy-office", "POST", "/v1/suspensions", { scope: "country", target: "SG", order: "PIPC 2026-11-21-01", reason: "Art. 28-9 order" });
      assert.equal(s.status, 201, JSON.stringify(s.body));
      assert.deepEqual(s.body.stopped, [started.body.id]);
      assert.equal(Date.parse(s.body.objectionUntil) - Date.parse(s.body.at), 7 * 24 * 3600 * 1000, "PIPA Art. 28-9: 7 days to object");
      const g = await t.call("pay-app", "GET", `/v1/provisions/${started.body.id}`);
      assert.equal(g.body.status, "stopped");
      assert.deepEqual(g.body.reasons, ["RECIPIENT_SUSPENDED"]);
      assert.ok(g.body.counts.included < 156, "it stopped before the end");
      assert.equal(fs.existsSync(path.join(t.home, "exports", started.body.id)), false, "the parts made so far are destroyed");
      assert.equal((await t.call("pay-app", "GET", `/v1/provisions/${started.body.id}/export`)).status, 409);

      const again = await t.call("pay-app", "POST", "/v1/provisions", body);
      assert.equal(again.status, 403);
      assert.deepEqual(again.body.error.details.reasons.map((x: { code: string }) => x.code), ["RECIPIENT_SUSPENDED"]);
      assert.match(again.body.error.message, /PIPC 2026-11-21-01/);
      const audited = [];
      for await (const page of t.c.stores.audit.iterate(0, 5000)) {
        for (const row of page) {
          const e = JSON.parse(row.body);
          if (e.action === "provision.run" && e.effect === "deny" && e.reasons.includes("RECIPIENT_SUSPENDED")) audited.push(e);
        }
      }
      assert.ok(audited.length >= 2, "the stop and the later refusal are audited");

      // Lifting the order lets a new run through.
      assert.equal((await t.call("privacy-office", "DELETE", `/v1/suspensions/${s.body.id}`)).status, 204);
      const ok = await t.call("pay-app", "POST", "/v1/provisions", { ...body, wait: true });
      assert.equal(ok.body.status, "completed");
      assert.equal(ok.body.counts.included, 156);
    });

    test("only operators may suspend; a service principal is refused", async () => {
      const r = await t.call("pay-app", "POST", "/v1/suspensions", { scope: "recipient", target: "nsf-scoring", order: "x", reason: "y" });
      assert.equal(r.status, 403);
    });

    test("LAW §15 C2: a daily schedule re-checks every condition on each run and records how its population changed", async () => {
      const body = {
        recipient: "nsf-scoring",
        purpose: "pay_service",
        label: "provision",
        fields: ["user_id", "transaction_history"],
        population: { purposes: ["pay_overseas"] },
        mode: "run",
        every: "P1D",
      };
      const s = await t.call("pay-app", "POST", "/v1/provisions", body);
      assert.equal(s.status, 201, JSON.stringify(s.body));
      const [first] = await t.c.services.provisions.runDue();
      assert.equal(first!.status, "completed");
      assert.equal(first!.diff, null);
      const before = first!.counts.included;
      // One person withdraws; two more overseas users consent.
      await t.call("pay-app", "POST", `/v1/subjects/${ids[0]}/consents`, { consents: [{ notice: "nsf_provision", action: "withdraw", channel: "app" }] });
      for (const i of [1, 2]) await grant(ids[i]!, "nsf_provision", "nsf_overseas_transfer");
      assert.deepEqual(await t.c.services.provisions.runDue(), [], "nothing is due before the day has passed");
      clock.advance(24 * 3600 * 1000);
      const [second] = await t.c.services.provisions.runDue();
      assert.equal(second!.status, "completed");
      assert.equal(second!.counts.included, before + 1);
      assert.deepEqual(second!.diff, { previousId: first!.id, added: 2, removed: 1, kept: before - 1 });
      // A suspension makes the next run a recorded refusal.
      const sus = await t.call("privacy-office", "POST", "/v1/suspensions", { scope: "recipient", target: "nsf-scoring", order: "PIPC-2", reason: "order" });
      clock.advance(24 * 3600 * 1000);
      const [third] = await t.c.services.provisions.runDue();
      assert.equal(third!.status, "refused");
      assert.deepEqual(third!.reasons, ["RECIPIENT_SUSPENDED"]);
      await t.call("privacy-office", "DELETE", `/v1/suspensions/${sus.body.id}`);
    });
  });
}
