/**
 * The dormancy action `separate` on SQLite and PostgreSQL, with an injected clock (LAW §11.1,
 * §15 E7; former Decree Art. 48-5; PIPC guidance 2023): an account inactive for the declared
 * period is moved apart and refused to everything ordinary, until the service reactivates it or
 * `destroy_after` passes and it is erased like a deletion; deletion, consent withdrawal, the
 * legal-retention store and restores of older backups keep working on separated accounts.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { buildCli } from "../../src/cli/cli.js";
import { loadConfig, DEMO_CATALOG } from "../../src/config/config.js";
import { buildContainer, loadCatalog } from "../../src/container.js";
import type { Catalog, DormancyPolicy } from "../../src/core/catalog/catalog-schema.js";
import { addPeriod } from "../../src/core/catalog/catalog-fns.js";
import { fixedClock } from "../../src/core/clock.js";
import { asSubjectId, type SubjectId } from "../../src/core/ids.js";
import type { StoredField } from "../../src/core/ports.js";
import { pseudonyms } from "../../src/crypto/pseudonym.js";
import { restoreBackup } from "../../src/services/backup-service.js";
import { payFields } from "../fixtures/people.js";
import { STORE_KINDS, internalOf, pgUrl, startApp, type TestApp } from "../helpers/app.js";
import { assertNoKeyOpens, assertNotStored } from "../helpers/destruction.js";
import { freshDatabase } from "../helpers/pg.js";

const DAY = 24 * 3600 * 1000;
const demo = loadCatalog(DEMO_CATALOG);
const withDormancy = (dormancy: DormancyPolicy): Catalog => ({ ...demo, dormancy });
const SEPARATE: DormancyPolicy = { after: "P1Y", notice_before: "P30D", action: "separate", destroy_after: "P2Y" };
const TALK_FIELDS = ["name", "nickname", "phone", "user_id"];
const talker = (n: number) => ({ user_id: `dozer-${n}`, phone: `010-7${String(100 + n)}-0000`, name: "이잠", nickname: `doze${n}` });

/** Audit entries in order, parsed. */
const auditBodies = async (t: TestApp) => {
  await t.c.audit.flush();
  const out: any[] = [];
  for await (const page of t.c.stores.audit.iterate(0, 1000)) for (const row of page) out.push(JSON.parse(row.body));
  return out;
};

/** A messenger account made through the API; its pseudonymous id. */
const createTalker = async (t: TestApp, n: number) => {
  const r = await t.call("talk-app", "POST", "/v1/subjects", { purpose: "talk_service", fields: talker(n) });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id as string;
};

for (const kind of STORE_KINDS) {
  describe(`dormancy: separate, refuse, reactivate on ${kind}`, () => {
    let t: TestApp;
    const clock = fixedClock("2026-01-10T00:00:00Z");
    before(async () => {
      t = await startApp(kind, { clock, catalog: withDormancy(SEPARATE) });
    });
    after(async () => {
      await t?.close();
    });
    const internal = (principal: string, ext: string) => internalOf(t, principal, ext);
    const create = (n: number) => createTalker(t, n);

    test("PIPA Art. 21 / former Decree 48-5: an account inactive past `after` is separated; every read, update and grant is refused with SUBJECT_DORMANT (audited), its lookups are gone; reactivated, it reads and is found again", async () => {
      const quiet = await create(1);
      const busy = await create(2);
      const granted = await t.call("talk-app", "POST", `/v1/subjects/${quiet}/consents`, { consents: [{ notice: "analytics", action: "grant", channel: "app" }] });
      assert.equal(granted.status, 200, JSON.stringify(granted.body));
      const before = await t.call("talk-app", "GET", `/v1/subjects/${quiet}?purpose=talk_service`);
      assert.equal(before.status, 200);
      clock.advance(200 * DAY);
      assert.equal((await t.call("talk-app", "PATCH", `/v1/subjects/${busy}`, { purpose: "talk_service", fields: { nickname: "awake" } })).status, 200);
      clock.advance(166 * DAY); // a year and a day after the quiet one's last write

      const r = await t.c.services.erase.sweepDormant({ by: "test" });
      assert.equal(r.action, "separate");
      assert.deepEqual([r.separated, r.erased, r.sealed, r.overdue], [1, 0, 0, 0]);
      const sid = internal("talk-app", quiet);
      assert.equal((await t.c.stores.data.getSubject(sid))?.status, "dormant");
      assert.deepEqual(await t.c.stores.data.getFields(sid, TALK_FIELDS), []);
      assert.deepEqual((await t.c.stores.data.getDormantFields(sid, TALK_FIELDS)).map((f) => f.field), TALK_FIELDS);
      assert.ok(await t.c.stores.keys.get(sid), "nothing is destroyed: the key stays");

      // The audit entry of the act, durable before it (one per page): count, rule, what moved.
      const sep = (await auditBodies(t)).filter((e) => e.action === "dormancy.separate");
      assert.equal(sep.length, 1);
      assert.equal(sep[0].count, 1);
      assert.deepEqual(sep[0].reasons, ["DORMANCY:P1Y"]);
      assert.deepEqual(sep[0].fields, TALK_FIELDS);
      assert.match(sep[0].meta.method, /dormant store/);
      assert.equal(sep[0].meta.destroyAfter, "P2Y");
      assert.match(sep[0].meta.subjectsSha256, /^[0-9a-f]{64}$/);

      // Refused to every ordinary read and update, for any purpose the principal has; each refusal audited.
      const read = await t.call("talk-app", "GET", `/v1/subjects/${quiet}?purpose=talk_service`);
      assert.equal(read.status, 409, JSON.stringify(read.body));
      assert.equal(read.body.error.code, "SUBJECT_DORMANT");
      assert.match(read.body.error.message, /dormant.*reactivate/);
      assert.equal(read.body.error.details.reasons[0].code, "SUBJECT_DORMANT");
      const ref = (await t.c.stores.keys.get(sid))!.auditRef;
      const denials = (await auditBodies(t)).filter((e) => e.requestId === read.body.error.requestId && e.effect === "deny");
      assert.deepEqual(denials.map((e) => [e.action, e.effect, e.reasons, e.subjectRef]), [["subject.read", "deny", ["SUBJECT_DORMANT"], ref]]);
      const sec = await t.call("talk-app", "GET", `/v1/subjects/${quiet}?purpose=security_monitoring`);
      assert.equal(sec.body.error?.code, "SUBJECT_DORMANT");
      const patch = await t.call("talk-app", "PATCH", `/v1/subjects/${quiet}`, { purpose: "talk_service", fields: { nickname: "x" } });
      assert.equal(patch.status, 409);
      assert.equal(patch.body.error.code, "SUBJECT_DORMANT");
      const grant = await t.call("talk-app", "POST", `/v1/subjects/${quiet}/consents`, { consents: [{ notice: "analytics", action: "grant", channel: "app" }] });
      assert.equal(grant.status, 409);
      assert.equal(grant.body.error.code, "SUBJECT_DORMANT");
      const ledger = await t.call("talk-app", "GET", `/v1/subjects/${quiet}/provisions`);
      assert.equal(ledger.status, 409);
      // The principal's own checks come first; another context still sees nothing.
      const wrongPurpose = await t.call("talk-app", "GET", `/v1/subjects/${quiet}?purpose=marketing`);
      assert.equal(wrongPurpose.status, 403);
      assert.equal(wrongPurpose.body.error.details.reasons[0].code, "PURPOSE_NOT_ALLOWED_FOR_PRINCIPAL");
      assert.equal((await t.call("support-console", "GET", `/v1/subjects/${quiet}?purpose=customer_support&fields=phone`)).status, 404);
      // The blind indexes are gone: a lookup finds only the active account.
      const lookQuiet = await t.call("talk-app", "POST", "/v1/lookup", { purpose: "talk_service", field: "phone", value: talker(1).phone });
      assert.deepEqual(lookQuiet.body.matches, []);
      const lookBusy = await t.call("talk-app", "POST", "/v1/lookup", { purpose: "talk_service", field: "phone", value: talker(2).phone });
      assert.deepEqual(lookBusy.body.matches, [busy]);
      assert.equal((await t.call("talk-app", "GET", `/v1/subjects/${busy}?purpose=talk_service`)).status, 200, "the active account is untouched");

      // Withdrawal is the person's right at any time (PIPA Art. 37), and is no return from dormancy.
      const withdrawn = await t.call("talk-app", "POST", `/v1/subjects/${quiet}/consents`, { consents: [{ notice: "analytics", action: "withdraw", channel: "app" }] });
      assert.equal(withdrawn.status, 200, JSON.stringify(withdrawn.body));
      assert.equal(withdrawn.body.consents.find((c: { notice: string }) => c.notice === "analytics").status, "withdrawn");
      assert.equal((await t.c.stores.data.getSubject(sid))?.status, "dormant");
      assert.equal((await t.c.stores.data.separated(new Date(clock.now().getTime() + 1), null, 10)).find((s) => s.id === sid)?.dormantAt.getTime(), clock.now().getTime());

      // Reactivation: only a principal allowed the purpose; a foreign id is not found.
      const stranger = await t.call("marketing-svc", "POST", `/v1/subjects/${quiet}/reactivate`, { purpose: "talk_service" });
      assert.equal(stranger.status, 403);
      assert.equal(stranger.body.error.details.reasons[0].code, "PURPOSE_NOT_ALLOWED_FOR_PRINCIPAL");
      assert.equal((await t.call("openchat-app", "POST", `/v1/subjects/${quiet}/reactivate`, { purpose: "openchat_service" })).status, 404);
      assert.equal((await t.c.stores.data.getSubject(sid))?.status, "dormant");

      clock.advance(3 * DAY);
      const wake = await t.call("talk-app", "POST", `/v1/subjects/${quiet}/reactivate`, { purpose: "talk_service" }, { "idempotency-key": "wake-quiet-0001" });
      assert.equal(wake.status, 200, JSON.stringify(wake.body));
      assert.deepEqual(wake.body, { id: quiet, status: "active", reactivated: true, restored: TALK_FIELDS });
      const again = await t.call("talk-app", "POST", `/v1/subjects/${quiet}/reactivate`, { purpose: "talk_service" }, { "idempotency-key": "wake-quiet-0001" });
      assert.deepEqual(again.body, wake.body, "a retry with the same key gets the same answer");
      const noop = await t.call("talk-app", "POST", `/v1/subjects/${quiet}/reactivate`, { purpose: "talk_service" });
      assert.deepEqual(noop.body, { id: quiet, status: "active", reactivated: false, restored: [] }, "an active account: nothing to do");

      const after = await t.call("talk-app", "GET", `/v1/subjects/${quiet}?purpose=talk_service`);
      assert.equal(after.status, 200, JSON.stringify(after.body));
      assert.deepEqual(after.body.fields, before.body.fields, "the same values, from the same ciphertexts");
      const found = await t.call("talk-app", "POST", "/v1/lookup", { purpose: "talk_service", field: "phone", value: talker(1).phone });
      assert.deepEqual(found.body.matches, [quiet], "the blind index is recomputed");
      const byUserId = await t.call("talk-app", "POST", "/v1/lookup", { purpose: "talk_service", field: "user_id", value: talker(1).user_id });
      assert.deepEqual(byUserId.body.matches, [quiet]);
      assert.equal((await t.c.stores.data.getSubject(sid))?.updatedAt.getTime(), clock.now().getTime(), "inactivity counts from the return");
      assert.deepEqual(await t.c.stores.data.getDormantFields(sid, TALK_FIELDS), []);
      const wakes = (await auditBodies(t)).filter((e) => e.action === "subject.reactivate");
      assert.deepEqual(
        wakes.map((e) => [e.effect, e.principal, e.purpose, e.fields]),
        [
          ["deny", "marketing-svc", "talk_service", []],
          ["deny", "openchat-app", "openchat_service", []],
          ["allow", "talk-app", "talk_service", TALK_FIELDS],
          ["allow", "talk-app", "talk_service", []],
        ],
      );
      assert.equal(wakes[2].subjectRef, ref);

      // Inactive from its return, not before: the next sweep leaves it alone.
      const next = await t.c.services.erase.sweepDormant({ by: "test" });
      assert.equal(next.separated, 0);
    });

    test("haechi reactivate: a dormant account comes back; an active one is left as it is", async () => {
      const id = await create(3);
      clock.advance(370 * DAY);
      assert.equal((await t.c.services.erase.sweepDormant({ by: "test" })).separated >= 1, true);
      const env: Record<string, string> = { HAECHI_HOME: t.home, HAECHI_LOG_LEVEL: "silent" };
      if (t.c.config.store.kind === "postgres") Object.assign(env, { HAECHI_STORE: "postgres", HAECHI_PG_URL: t.c.config.store.url });
      // The CLI builds its own container from the environment: the demo catalog (destroy), which
      // does not matter to a reactivation.
      const run = async (...args: string[]) => {
        const out: string[] = [];
        await buildCli(env, (s) => out.push(s)).exitOverride().parseAsync(["node", "haechi", ...args]);
        return out.join("");
      };
      assert.equal(await run("reactivate", id, "--as", "talk-app", "--purpose", "talk_service"), `${id}: reactivated; restored ${TALK_FIELDS.join(", ")}\n`);
      assert.equal(await run("reactivate", id, "--as", "talk-app", "--purpose", "talk_service"), `${id}: already active; nothing changed\n`);
      assert.equal((await t.call("talk-app", "GET", `/v1/subjects/${id}?purpose=talk_service`)).status, 200);
    });

    test("PIPA Art. 36: deleting a dormant account (DELETE and haechi erase) destroys its separated values and seals what a law keeps", async () => {
      const payer = (await t.call("pay-app", "POST", "/v1/subjects", { purpose: "pay_service", fields: payFields(80) })).body.id as string;
      const talk = await create(20);
      clock.advance(370 * DAY); // a year and some days (leap years included)
      await t.c.services.erase.sweepDormant({ by: "test" });
      const pid = internal("pay-app", payer);
      assert.equal((await t.c.stores.data.getSubject(pid))?.status, "dormant");

      const del = await t.call("pay-app", "DELETE", `/v1/subjects/${payer}`);
      assert.equal(del.status, 200, JSON.stringify(del.body));
      assert.deepEqual(del.body.destroyed, ["phone"]);
      assert.deepEqual(del.body.retained.map((r: { field: string }) => r.field).sort(), ["bank_account", "card_number", "name", "transaction_history", "user_id"]);
      assert.deepEqual(await t.c.stores.data.getDormantFields(pid, Object.keys(demo.fields)), []);
      assert.equal((await t.c.stores.data.getSubject(pid))?.status, "erased");
      assert.equal(await t.c.stores.keys.get(pid), undefined);
      const sealed = await t.call("legal-archive", "GET", `/v1/subjects/${del.body.retentionIds["legal-archive"]}?purpose=legal_retention&fields=card_number`);
      assert.equal(sealed.status, 200, JSON.stringify(sealed.body));
      assert.match(sealed.body.fields.card_number, /^\*+1080$/);
      assert.equal((await t.call("pay-app", "DELETE", `/v1/subjects/${payer}`)).status, 404, "a second deletion finds nothing");

      const env: Record<string, string> = { HAECHI_HOME: t.home, HAECHI_LOG_LEVEL: "silent" };
      if (t.c.config.store.kind === "postgres") Object.assign(env, { HAECHI_STORE: "postgres", HAECHI_PG_URL: t.c.config.store.url });
      const out: string[] = [];
      await buildCli(env, (s) => out.push(s)).exitOverride().parseAsync(["node", "haechi", "erase", talk, "--as", "talk-app"]);
      assert.equal(out.join(""), `${talk}: erased; destroyed ${TALK_FIELDS.join(", ")}\n`);
      const tid = internal("talk-app", talk);
      assert.deepEqual(await t.c.stores.data.getDormantFields(tid, TALK_FIELDS), []);
      assert.equal((await t.c.stores.data.getSubject(tid))?.status, "erased");
    });

    test("LAW §15 E7: the notice count works for both actions and says what will happen", async () => {
      const soon = await create(30);
      clock.advance(340 * DAY); // reaches a year 25 days from now
      const s = await t.c.services.erase.sweepDormant({ by: "test" });
      assert.equal(s.noticeDue, 1);
      const noticeOfInactivity = async () => (await auditBodies(t)).filter((e) => e.action === "dormancy.notice_due" && e.reasons[0] === "DORMANCY:P1Y").at(-1);
      const notice = await noticeOfInactivity();
      assert.equal(notice.count, 1);
      assert.equal(notice.meta.action, "separate");
      // Under destroy, the same account is due a notice of destruction.
      t.c.setCatalog(withDormancy({ after: "P1Y", notice_before: "P30D", action: "destroy" }));
      try {
        const d = await t.c.services.erase.sweepDormant({ by: "test" });
        assert.equal(d.action, "destroy");
        assert.equal(d.noticeDue, 1);
        assert.equal((await noticeOfInactivity()).meta.action, "destroy");
      } finally {
        t.c.setCatalog(withDormancy(SEPARATE));
      }
      assert.equal((await t.call("talk-app", "GET", `/v1/subjects/${soon}?purpose=talk_service`)).status, 200);
    });

    test("PIPC guidance 2023: accounts separated under an earlier `separate` policy are erased under `destroy` once inactive past `after`", async () => {
      const id = await create(40);
      clock.advance(370 * DAY); // a year and some days (leap years included)
      await t.c.services.erase.sweepDormant({ by: "test" });
      const sid = internal("talk-app", id);
      assert.equal((await t.c.stores.data.getSubject(sid))?.status, "dormant");
      t.c.setCatalog(withDormancy({ after: "P1Y", action: "destroy" }));
      try {
        const d = await t.c.services.erase.sweepDormant({ by: "test" });
        assert.ok(d.erased >= 1);
        assert.equal((await t.c.stores.data.getSubject(sid))?.status, "erased");
        assert.equal(await t.c.stores.keys.get(sid), undefined);
      } finally {
        t.c.setCatalog(withDormancy(SEPARATE));
      }
    });
  });

  describe(`dormancy: separated accounts erased after destroy_after on ${kind}`, () => {
    let t: TestApp;
    const clock = fixedClock("2026-03-01T00:00:00Z");
    before(async () => {
      t = await startApp(kind, { clock, catalog: withDormancy(SEPARATE) });
    });
    after(async () => {
      await t?.close();
    });
    const internal = (principal: string, ext: string) => internalOf(t, principal, ext);
    const create = (n: number) => createTalker(t, n);

    test("PIPA Art. 21(1) and 21(3): a separated account still dormant `destroy_after` after separation is erased (its payment records sealed first) and proven destroyed; people are told in advance", async () => {
      const talk = await create(10);
      const payer = (await t.call("pay-app", "POST", "/v1/subjects", { purpose: "pay_service", fields: payFields(70) })).body.id as string;
      clock.advance(370 * DAY); // a year and some days (leap years included)
      const s1 = await t.c.services.erase.sweepDormant({ by: "test" });
      assert.ok(s1.separated >= 2);
      const ids = [internal("talk-app", talk), internal("pay-app", payer)];
      const saved: { id: SubjectId; wrapped: Buffer; fields: StoredField[] }[] = [];
      for (const id of ids) {
        saved.push({ id, wrapped: (await t.c.stores.keys.get(id))!.wrapped, fields: await t.c.stores.data.getDormantFields(id, Object.keys(demo.fields)) });
        assert.equal((await t.c.stores.data.getSubject(id))?.status, "dormant");
      }

      // Twenty days before two years from separation: kept, and due a notice of the erasure.
      clock.advance(2 * 365 * DAY - 20 * DAY);
      const s2 = await t.c.services.erase.sweepDormant({ by: "test" });
      assert.deepEqual([s2.erased, s2.sealed], [0, 0]);
      assert.ok(s2.destroyNoticeDue >= 2, JSON.stringify(s2));
      assert.equal(s2.separatedCutoff, addPeriod(clock.now(), { years: -2, months: 0, days: 0 }).toISOString());
      const notices = (await auditBodies(t)).filter((e) => e.action === "dormancy.notice_due" && e.meta.action === "destroy");
      assert.ok(notices.length >= 1);
      assert.deepEqual(notices.at(-1).reasons, ["DORMANCY_SEPARATED:P2Y"]);

      clock.advance(25 * DAY);
      const s3 = await t.c.services.erase.sweepDormant({ by: "test" });
      assert.equal(s3.sealed, 1, "the payer, one by one: its payment records are sealed first");
      assert.ok(s3.erased >= 1, "the messenger account, in bulk");
      assert.equal(s3.overdue, 0);
      for (const id of ids) {
        assert.equal((await t.c.stores.data.getSubject(id))?.status, "erased");
        assert.equal(await t.c.stores.keys.get(id), undefined);
        assert.deepEqual(await t.c.stores.data.getDormantFields(id, Object.keys(demo.fields)), []);
      }
      assert.equal((await t.call("talk-app", "GET", `/v1/subjects/${talk}?purpose=talk_service`)).status, 404, "erased: not found, no longer dormant");
      // A destruction certificate for the bulk, and the erasure of the payer, both naming the rule.
      const bodies = await auditBodies(t);
      const certs = bodies.filter((e) => e.action === "destruction.certificate" && e.reasons.includes("DORMANCY_SEPARATED:P2Y"));
      assert.equal(certs.length, 1);
      assert.match(certs[0].meta.method, /crypto-shredding/);
      assert.ok(bodies.some((e) => e.action === "subject.erase" && e.reasons.includes("DORMANCY_SEPARATED:P2Y")));
      const journal = (await t.c.journal.entries()).filter((e) => ids.includes(e.subjectId));
      assert.deepEqual(journal.map((e) => e.scope), ["subject", "subject"], "journalled before the keys went");

      // What a law keeps was sealed from the separated values, readable for legal_retention only.
      const archiveRef = pseudonyms(t.c.keyring.secrets.pseudonymKey).externalId("legal-archive", ids[1]!);
      const sealed = await t.call("legal-archive", "GET", `/v1/subjects/${archiveRef}?purpose=legal_retention&fields=transaction_history`);
      assert.equal(sealed.status, 200, JSON.stringify(sealed.body));
      assert.deepEqual(sealed.body.fields.transaction_history, payFields(70).transaction_history);
      assert.equal((await t.c.stores.data.sealed.get(ids[1]!, ["transaction_history"]))[0]?.until.getTime(), addPeriod(clock.now(), "P5Y").getTime());

      // Proof of destruction (crypto-shredding): no plaintext and no wrapped key in any store file,
      // and no key left opens the separated ciphertexts (copies of which may linger in SQLite's WAL).
      assertNotStored(
        t,
        [talker(10).phone, payFields(70).phone],
        saved.map((x) => x.wrapped),
      );
      await assertNoKeyOpens(t, saved);
    });

  });

  describe(`dormancy and restores of older backups on ${kind}`, () => {
    const clock = fixedClock("2026-02-01T00:00:00Z");
    let home: string;
    let work: string;
    let db: { url: string; drop(): Promise<void> } | undefined;
    before(async () => {
      home = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-dormant-home-"));
      work = fs.mkdtempSync(path.join(os.tmpdir(), "haechi-dormant-backup-"));
      if (kind === "postgres") db = await freshDatabase(pgUrl());
    });
    after(async () => {
      await db?.drop();
      fs.rmSync(home, { recursive: true, force: true });
      fs.rmSync(work, { recursive: true, force: true });
    });

    test("PIPA Art. 21(2): a backup holding dormant accounts, restored after one was deleted and a consent withdrawn, destroys both again from the dormant store", async () => {
      const env: Record<string, string> = { HAECHI_HOME: home, HAECHI_LOG_LEVEL: "silent" };
      if (db) Object.assign(env, { HAECHI_STORE: "postgres", HAECHI_PG_URL: db.url });
      const config = loadConfig(env);
      const open = (create = false) => buildContainer(config, { clock, catalog: withDormancy(SEPARATE), createKeyring: create });
      const ctx = (principal: string) => ({ principal, source: null, requestId: `t-${Math.random().toString(36).slice(2)}` });

      let c = await open(true);
      const pay = await c.services.subjects.create(ctx("pay-app"), { purpose: "pay_service", fields: payFields(90) });
      const traveller = await c.services.subjects.create(ctx("pay-app"), {
        purpose: "pay_overseas",
        fields: { user_id: "traveller-9", name: "오세아", passport_number: "M99999999", card_number: "4000-9999-2222-3333" },
        consents: ["pay_overseas", "passport_unique_id"].map((notice) => ({ notice, action: "grant" as const, channel: "app" as const })),
      });
      const internal = (ext: string) => asSubjectId(pseudonyms(c.keyring.secrets.pseudonymKey).resolve("pay-app", ext)!);
      const [payId, travellerId] = [internal(pay.id), internal(traveller.id)];
      clock.advance(370 * DAY); // a year and some days (leap years included)
      assert.equal((await c.services.erase.sweepDormant({ by: "test" })).separated, 2);

      const dataDir = path.join(work, "data");
      const keysDir = path.join(work, "keys");
      await c.services.backup.backup({ dataDir, keysDir });

      // After the backup: the dormant payer deletes the account; the dormant traveller withdraws
      // the consent the passport number rests on (destroyed from the dormant store at once).
      clock.advance(10 * DAY);
      const erasedAt = clock.now();
      const del = await c.services.erase.erase(ctx("pay-app"), pay.id);
      assert.equal(del.retained.length, 5);
      const w = await c.services.subjects.recordConsents(ctx("pay-app"), traveller.id, [{ notice: "pay_overseas", action: "withdraw", channel: "app" }]);
      assert.deepEqual(w.destroyed, ["passport_number"]);
      assert.deepEqual((await c.stores.data.getDormantFields(travellerId, ["passport_number", "card_number"])).map((f) => f.field), ["card_number"]);
      assert.equal((await c.stores.data.getSubject(travellerId))?.status, "dormant", "a withdrawal is no return");
      await c.close();

      const r = await restoreBackup(() => open(), { dataDir, keysDir, by: "test" });
      assert.equal(r.subjectsRedestroyed, 1, "the payer, dormant in the backup, is erased again");
      assert.equal(r.fieldSetsRedestroyed, 1, "the passport number, separated in the backup, is destroyed again");

      c = await open();
      try {
        assert.equal((await c.stores.data.getSubject(payId))?.status, "erased");
        assert.equal(await c.stores.keys.get(payId), undefined);
        assert.deepEqual(await c.stores.data.getDormantFields(payId, Object.keys(demo.fields)), []);
        const resealed = await c.stores.data.sealed.get(payId, []);
        assert.deepEqual(resealed.map((x) => x.field).sort(), ["bank_account", "card_number", "name", "transaction_history", "user_id"]);
        for (const x of resealed) assert.equal(x.until.toISOString(), addPeriod(erasedAt, "P5Y").toISOString(), "sealed again with the original deadline");
        assert.equal((await c.stores.data.getSubject(travellerId))?.status, "dormant");
        assert.deepEqual((await c.stores.data.getDormantFields(travellerId, ["passport_number", "card_number"])).map((f) => f.field), ["card_number"]);
        const v = await c.services.audit.verify();
        assert.equal(v.ok, true, JSON.stringify(v.problems));
      } finally {
        await c.close();
      }
    });
  });
}
