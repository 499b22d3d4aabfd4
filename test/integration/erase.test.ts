/**
 * Account deletion by crypto-shredding, the sealed legal-retention store and the sweep, on SQLite
 * and PostgreSQL (PIPA Art. 21; LAW §5, §15 E): what goes at once, what a law keeps and until when,
 * who may read it, proof that nothing erased can be recovered, and interrupted erasures.
 */
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { after, before, describe, test } from "node:test";
import { buildCli } from "../../src/cli/cli.js";
import { fixedClock } from "../../src/core/clock.js";
import type { SubjectId } from "../../src/core/ids.js";
import type { StoredField, WrappedKeyRow } from "../../src/core/ports.js";
import { pseudonyms } from "../../src/crypto/pseudonym.js";
import { payFields } from "../fixtures/people.js";
import { STORE_KINDS, internalOf, startApp, type TestApp } from "../helpers/app.js";
import { assertNoKeyOpens, assertNotStored } from "../helpers/destruction.js";

const DAY = 24 * 3600 * 1000;

for (const kind of STORE_KINDS) {
  describe(`account deletion on ${kind}`, () => {
    let t: TestApp;
    const clock = fixedClock("2026-11-21T03:00:00Z");
    before(async () => {
      t = await startApp(kind, { clock });
    });
    after(async () => {
      await t?.close();
    });
    const createPayer = async (i: number) => {
      const r = await t.call("pay-app", "POST", "/v1/subjects", { purpose: "pay_service", fields: payFields(i) });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.id as string;
    };
    const internal = (principal: string, ext: string) => internalOf(t, principal, ext);

    test("PIPA Art. 21(3): a payment customer deletes the account; payment records stay sealed for 5 years (legal_retention only), the phone goes at once; at 5 years the sweep destroys the rest", async () => {
      const id = await createPayer(1);
      const del = await t.call("pay-app", "DELETE", `/v1/subjects/${id}`);
      assert.equal(del.status, 200, JSON.stringify(del.body));
      assert.deepEqual(del.body.destroyed, ["phone"]);
      const retained = Object.fromEntries(del.body.retained.map((r: { field: string }) => [r.field, r]));
      assert.deepEqual(Object.keys(retained).sort(), ["bank_account", "card_number", "name", "transaction_history", "user_id"]);
      assert.match(retained.transaction_history.code, /^RETAINED_BY_LAW:/);
      assert.equal(retained.transaction_history.until, "2031-11-21T03:00:00.000Z");
      assert.match(retained.transaction_history.citation, /Act/);

      // The service can no longer read anything, and may not ask for legal_retention.
      assert.equal((await t.call("pay-app", "GET", `/v1/subjects/${id}?purpose=pay_service`)).status, 404);
      const prod = await t.call("pay-app", "GET", `/v1/subjects/${id}?purpose=legal_retention`);
      assert.equal(prod.status, 403);
      // Only the legal-retention principal reads the sealed values, masked as the purpose says.
      const ref = del.body.retentionIds["legal-archive"];
      const sealed = await t.call("legal-archive", "GET", `/v1/subjects/${ref}?purpose=legal_retention`);
      assert.equal(sealed.status, 200, JSON.stringify(sealed.body));
      assert.deepEqual(sealed.body.fields.transaction_history, payFields(1).transaction_history);
      assert.match(sealed.body.fields.card_number, /^\*+1001$/, "masked to the last four");
      assert.equal(sealed.body.fields.phone, undefined);
      // Live data is never read under legal_retention.
      const live = await createPayer(2);
      const liveRef = pseudonyms(t.c.keyring.secrets.pseudonymKey).externalId("legal-archive", internal("pay-app", live));
      assert.equal((await t.call("legal-archive", "GET", `/v1/subjects/${liveRef}?purpose=legal_retention`)).status, 404);

      // A day before the deadline the sweep keeps it; after it, everything goes, with a certificate.
      clock.advance(5 * 365 * DAY);
      let s = await t.c.services.erase.sweep({ by: "test" });
      assert.equal(s.values, 0);
      assert.equal((await t.call("legal-archive", "GET", `/v1/subjects/${ref}?purpose=legal_retention`)).status, 200);
      clock.advance(3 * DAY);
      s = await t.c.services.erase.sweep({ by: "test" });
      assert.equal(s.values, 5);
      assert.equal(s.keys, 1);
      assert.equal(s.overdue, 0);
      assert.equal((await t.call("legal-archive", "GET", `/v1/subjects/${ref}?purpose=legal_retention`)).status, 404);
      assert.equal(await t.c.stores.keys.getSealed(internal("pay-app", id)), undefined);
      const certs = [];
      for await (const page of t.c.stores.audit.iterate(0, 1000)) {
        for (const row of page) if (row.action === "destruction.certificate") certs.push(JSON.parse(row.body));
      }
      assert.equal(certs.length, 1);
      assert.deepEqual(certs[0].fields, ["bank_account", "card_number", "name", "transaction_history", "user_id"]);
      assert.match(certs[0].meta.method, /crypto-shredding/);
      assert.equal(certs[0].meta.by, "test");
      clock.set("2026-11-21T03:00:00Z");
    });

    test("haechi erase prints what was destroyed, what is kept until when under which law, and the retention id", async () => {
      const id = await createPayer(30);
      const env: Record<string, string> = { HAECHI_HOME: t.home, HAECHI_LOG_LEVEL: "silent" };
      if (t.c.config.store.kind === "postgres") Object.assign(env, { HAECHI_STORE: "postgres", HAECHI_PG_URL: t.c.config.store.url });
      const out: string[] = [];
      const saved = process.exitCode;
      process.exitCode = undefined;
      try {
        await buildCli(env, (s) => out.push(s)).exitOverride().parseAsync(["node", "haechi", "erase", id, "--as", "pay-app"]);
        assert.equal(Number(process.exitCode ?? 0), 0);
      } finally {
        process.exitCode = saved;
      }
      const text = out.join("");
      assert.match(text, new RegExp(`${id}: erased; destroyed phone`));
      assert.match(text, /transaction_history: RETAINED_BY_LAW:\w+ until \d{4}-\d{2}-\d{2} \(.*Act/);
      assert.match(text, /sealed; legal-archive reads it as sub_/);
      assert.equal((await t.call("pay-app", "GET", `/v1/subjects/${id}?purpose=pay_service`)).status, 404);
    });

    test("the audit entries of an erased subject become unlinkable, and the chain still verifies", async () => {
      const id = await createPayer(40);
      assert.equal((await t.call("pay-app", "GET", `/v1/subjects/${id}?purpose=pay_service&fields=phone`)).status, 200);
      const sid = internal("pay-app", id);
      const ref = (await t.c.stores.keys.get(sid))!.auditRef;
      assert.ok((await t.c.stores.audit.bySubjectRef(ref, 100)).length >= 2, "its reads and writes are under its audit reference");
      assert.equal((await t.c.stores.keys.findByAuditRefs([ref])).get(ref), sid);
      assert.equal((await t.call("pay-app", "DELETE", `/v1/subjects/${id}`)).status, 200);
      assert.equal((await t.c.stores.keys.findByAuditRefs([ref])).size, 0, "nothing links the reference to the person any more");
      const v = await t.c.services.audit.verify();
      assert.equal(v.ok, true, JSON.stringify(v.problems));
    });

    test("Safety Standard Art. 7: a KEK rotation re-wraps the sealed-store keys too; what a law keeps stays readable for legal_retention", async () => {
      const c = await t.call("pay-app", "POST", "/v1/subjects", { purpose: "pay_service", fields: payFields(77) });
      assert.equal(c.status, 201, JSON.stringify(c.body));
      const del = await t.call("pay-app", "DELETE", `/v1/subjects/${c.body.id}`);
      const ref = del.body.retentionIds["legal-archive"] as string;
      const id = internalOf(t, "pay-app", c.body.id);
      const before = (await t.c.stores.keys.getSealed(id))!;
      const r = await t.c.services.keys.rotate();
      assert.ok(r.rewrappedSealed >= 1);
      const after = (await t.c.stores.keys.getSealed(id))!;
      assert.equal(after.kekVersion, r.kekVersion);
      assert.notEqual(before.kekVersion, after.kekVersion);
      assert.deepEqual(await t.c.stores.keys.listSealedNotWrappedBy(r.kekVersion, null, 10), [], "every sealed key is on the new KEK");
      const sealed = await t.call("legal-archive", "GET", `/v1/subjects/${ref}?purpose=legal_retention&fields=transaction_history`);
      assert.equal(sealed.status, 200, JSON.stringify(sealed.body));
      assert.deepEqual(sealed.body.fields.transaction_history, payFields(77).transaction_history);
    });

    test("a messenger account keeps nothing: everything is destroyed at once", async () => {
      const c = await t.call("talk-app", "POST", "/v1/subjects", {
        purpose: "talk_service",
        fields: { user_id: "talker-1", phone: "010-3333-4444", name: "김하나", nickname: "hana" },
      });
      const del = await t.call("talk-app", "DELETE", `/v1/subjects/${c.body.id}`);
      assert.equal(del.status, 200, JSON.stringify(del.body));
      assert.deepEqual(del.body.destroyed, ["name", "nickname", "phone", "user_id"]);
      assert.deepEqual(del.body.retained, []);
      assert.equal(del.body.retentionIds, null);
      assert.equal((await t.call("talk-app", "DELETE", `/v1/subjects/${c.body.id}`)).status, 404, "a second deletion finds nothing");
      const found = await t.call("talk-app", "POST", "/v1/lookup", { purpose: "talk_service", field: "phone", value: "010-3333-4444" });
      assert.deepEqual(found.body.matches, [], "the blind index is gone too");
    });

    test("PIPA Art. 21(2): proof of destruction — no plaintext, no key and no key copy that still decrypts erased data", async () => {
      const ids = await Promise.all([10, 11, 12].map(createPayer));
      const before: { id: SubjectId; key: WrappedKeyRow; fields: StoredField[] }[] = [];
      for (const ext of ids) {
        const id = internal("pay-app", ext);
        before.push({ id, key: (await t.c.stores.keys.get(id))!, fields: await t.c.stores.data.getFields(id, ["phone", "transaction_history", "name"]) });
      }
      for (const ext of ids) assert.equal((await t.call("pay-app", "DELETE", `/v1/subjects/${ext}`)).status, 200);

      assertNotStored(
        t,
        [10, 11, 12].map((i) => payFields(i).phone),
        before.map((b) => b.key.wrapped),
      );
      // Every key the key store still holds, live or sealed, fails on every erased ciphertext.
      await assertNoKeyOpens(t, before);
    });

    test("PIPA Art. 37(3): withdrawing consent destroys at once what only that consent held, and journals it", async () => {
      const c = await t.call("pay-app", "POST", "/v1/subjects", {
        purpose: "pay_overseas",
        fields: { user_id: "traveller-1", name: "오세아", passport_number: "M12345678", card_number: "4000-1111-2222-3333" },
        consents: ["pay_overseas", "passport_unique_id"].map((notice) => ({ notice, action: "grant", channel: "app" })),
      });
      assert.equal(c.status, 201, JSON.stringify(c.body));
      const w = await t.call("pay-app", "POST", `/v1/subjects/${c.body.id}/consents`, {
        consents: [{ notice: "pay_overseas", action: "withdraw", channel: "app" }],
      });
      assert.equal(w.status, 200, JSON.stringify(w.body));
      assert.deepEqual(w.body.destroyed, ["passport_number"], "the card stays: the payment service (a contract) still holds it");
      const id = internal("pay-app", c.body.id);
      assert.deepEqual((await t.c.stores.data.getFields(id, ["passport_number", "card_number"])).map((f) => f.field), ["card_number"]);
      const journal = await t.c.journal.entries();
      assert.deepEqual(journal.filter((e) => e.subjectId === id).map((e) => [e.scope, e.fields]), [["fields", ["passport_number"]]]);
      const r = await t.call("pay-app", "GET", `/v1/subjects/${c.body.id}?purpose=pay_service&fields=card_number`);
      assert.equal(r.status, 200);
    });

    test("an erasure interrupted at any step leaves no half-destroyed subject, and a rerun completes", async () => {
      const keys = t.c.stores.keys;
      const data = t.c.stores.data;
      // Crash after sealing, before the key is destroyed: the account is still whole.
      const a = await createPayer(20);
      const destroy = keys.destroy;
      keys.destroy = async () => {
        throw new Error("simulated crash");
      };
      try {
        assert.equal((await t.call("pay-app", "DELETE", `/v1/subjects/${a}`)).status, 500);
      } finally {
        keys.destroy = destroy;
      }
      const whole = await t.call("pay-app", "GET", `/v1/subjects/${a}?purpose=pay_service&fields=phone`);
      assert.equal(whole.status, 200, "nothing destroyed yet: the account reads as before");
      const rerunA = await t.call("pay-app", "DELETE", `/v1/subjects/${a}`);
      assert.equal(rerunA.status, 200);
      assert.deepEqual(rerunA.body.destroyed, ["phone"]);

      // Crash after the key is destroyed, before the rows are removed: unreadable, then finished.
      const b = await createPayer(21);
      const transaction = data.transaction;
      (data as { transaction: unknown }).transaction = async () => {
        throw new Error("simulated crash");
      };
      try {
        assert.equal((await t.call("pay-app", "DELETE", `/v1/subjects/${b}`)).status, 500);
      } finally {
        (data as { transaction: unknown }).transaction = transaction;
      }
      assert.equal((await t.call("pay-app", "GET", `/v1/subjects/${b}?purpose=pay_service`)).status, 404, "without its key the data is gone");
      const rerunB = await t.call("pay-app", "DELETE", `/v1/subjects/${b}`);
      assert.equal(rerunB.status, 200, JSON.stringify(rerunB.body));
      assert.deepEqual(rerunB.body.retained.map((r: { field: string }) => r.field).sort(), ["bank_account", "card_number", "name", "transaction_history", "user_id"]);
      const ref = rerunB.body.retentionIds["legal-archive"];
      const sealed = await t.call("legal-archive", "GET", `/v1/subjects/${ref}?purpose=legal_retention&fields=transaction_history`);
      assert.equal(sealed.status, 200, "what was sealed before the crash is still readable for legal_retention");
      assert.equal((await data.getSubject(internal("pay-app", b)))?.status, "erased");
    });
  });

  describe(`the dormancy sweep on ${kind}`, () => {
    let t: TestApp;
    const clock = fixedClock("2026-01-10T00:00:00Z");
    before(async () => {
      t = await startApp(kind, { clock });
    });
    after(async () => {
      await t?.close();
    });

    test("LAW §11.1, §15 E4, E7: accounts inactive past the declared period are erased (records a law keeps are sealed), people near it are counted for notice, a certificate is written", async () => {
      const talk = async (n: number) =>
        (
          await t.call("talk-app", "POST", "/v1/subjects", {
            purpose: "talk_service",
            fields: { user_id: `sleeper-${n}`, phone: `010-5${String(100 + n)}-0000`, name: "이잠", nickname: `z${n}` },
          })
        ).body.id as string;
      const quietA = await talk(1);
      const quietB = await talk(2);
      const payer = (await t.call("pay-app", "POST", "/v1/subjects", { purpose: "pay_service", fields: payFields(50) })).body.id as string;
      clock.advance(10 * DAY);
      const soon = await talk(3); // reaches a year 10 days after the others
      clock.advance(356 * DAY); // one year and a day after the first three
      const active = await talk(4);

      const r = await t.c.services.erase.sweepDormant({ by: "test" });
      assert.equal(r.erased, 2, "the two messenger accounts, in bulk");
      assert.equal(r.sealed, 1, "the payer, one by one: its payment records are sealed first");
      assert.equal(r.noticeDue, 1, "the account reaching a year within 30 days is due a notice");
      assert.equal(r.overdue, 0);
      for (const id of [quietA, quietB]) assert.equal((await t.call("talk-app", "GET", `/v1/subjects/${id}?purpose=talk_service`)).status, 404);
      assert.equal((await t.call("pay-app", "GET", `/v1/subjects/${payer}?purpose=pay_service`)).status, 404);
      for (const id of [soon, active]) assert.equal((await t.call("talk-app", "GET", `/v1/subjects/${id}?purpose=talk_service`)).status, 200);
      const payerId = internalOf(t, "pay-app", payer);
      assert.ok(await t.c.stores.keys.getSealed(payerId), "the payer's records a law keeps are sealed");
      const certs = [];
      for await (const page of t.c.stores.audit.iterate(0, 1000)) {
        for (const row of page) if (row.action === "destruction.certificate") certs.push(JSON.parse(row.body));
      }
      assert.equal(certs.length, 1);
      assert.equal(certs[0].count, 2);
      assert.deepEqual(certs[0].reasons, ["DORMANCY:P1Y"]);
      const bulkIds = [quietA, quietB].map((id) => internalOf(t, "talk-app", id)).sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      assert.equal(certs[0].meta.subjectsSha256, crypto.createHash("sha256").update(bulkIds.join("\n")).digest("hex"), "the certificate names the batch by a digest of its ids");
      assert.equal(r.compacted, 2, "the bulk-erased accounts' unreadable rows are deleted before the sweep returns");
      assert.deepEqual(await t.c.stores.data.erasedBacklog(), { subjects: 0, oldest: null });
      assert.equal((await t.c.journal.entries()).filter((e) => e.scope === "subject").length, 3);
      // A second run finds nothing more to do.
      const again = await t.c.services.erase.sweepDormant({ by: "test" });
      assert.equal(again.erased + again.sealed, 0);
    });
  });

  describe(`purpose periods on ${kind}`, () => {
    let t: TestApp;
    const clock = fixedClock("2026-03-01T00:00:00Z");
    before(async () => {
      t = await startApp(kind, { clock });
    });
    after(async () => {
      await t?.close();
    });

    test("PIPA Art. 21(1): values a purpose keeps for 3 months from collection are destroyed when the period ends; the rest stays", async () => {
      const id = (await t.call("pay-app", "POST", "/v1/subjects", { purpose: "pay_service", fields: payFields(60) })).body.id as string;
      const p = await t.call("pay-app", "PATCH", `/v1/subjects/${id}`, {
        purpose: "security_monitoring",
        fields: { ip_address: "203.0.113.77", device_id: "dev-60", last_seen: "2026-03-01T00:10:00Z" },
      });
      assert.equal(p.status, 200, JSON.stringify(p.body));
      clock.advance(60 * DAY);
      let r = await t.c.services.erase.sweepRetention({ by: "test" });
      assert.deepEqual([r.subjects, r.destroyed, r.sealed], [0, 0, 0], "two months in, nothing is due");
      clock.advance(33 * DAY);
      r = await t.c.services.erase.sweepRetention({ by: "test" });
      assert.deepEqual([r.subjects, r.destroyed, r.sealed], [1, 3, 0]);
      const sid = internalOf(t, "pay-app", id);
      assert.deepEqual((await t.c.stores.data.getFields(sid, ["ip_address", "device_id", "last_seen"])).map((f) => f.field), []);
      const pay = await t.call("pay-app", "GET", `/v1/subjects/${id}?purpose=pay_service&fields=phone,card_number`);
      assert.equal(pay.status, 200, "the payment data the contract holds stays");
      const certs = [];
      for await (const page of t.c.stores.audit.iterate(0, 1000)) {
        for (const row of page) if (row.action === "destruction.certificate") certs.push(JSON.parse(row.body));
      }
      assert.equal(certs.length, 1);
      assert.deepEqual(certs[0].fields, ["device_id", "ip_address", "last_seen"]);
      assert.deepEqual(certs[0].reasons, ["PURPOSE_PERIOD_ENDED"]);
      assert.deepEqual((await t.c.journal.entries()).map((e) => [e.scope, e.fields]), [["fields", ["device_id", "ip_address", "last_seen"]]]);
    });
  });
}
