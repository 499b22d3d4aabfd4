/**
 * Data-subject requests over HTTP and the CLI, on SQLite and PostgreSQL, with an injected clock
 * (PIPA Arts. 35–37; Decree Arts. 41–44; LAW §8, §15 I): filed by a service on the person's
 * behalf, fulfilled through the vault's own paths where it can, tracked with the 10-day clock,
 * postponed or refused by the privacy office with reasons, and fail-closed access control.
 */
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { after, before, describe, test } from "node:test";
import { fixedClock } from "../../src/core/clock.js";
import { payFields } from "../fixtures/people.js";
import { STORE_KINDS, internalOf, startApp, type TestApp } from "../helpers/app.js";
import { runCli } from "../helpers/cli.js";

const person = (n: number) => ({
  user_id: `dsr-${n}`,
  phone: `010-7777-${String(1000 + n).slice(-4)}`,
  name: "김하늘",
  nickname: `sky${n}`,
  email: `sky${n}@example.com`,
});
const sha256 = (t: string) => crypto.createHash("sha256").update(t).digest("hex");
const DAY = 86400_000;

for (const kind of STORE_KINDS) {
  describe(`data-subject requests on ${kind}`, () => {
    let t: TestApp;
    const clock = fixedClock("2026-11-21T03:00:00Z"); // 12:00 KST, Saturday 21 Nov
    before(async () => {
      t = await startApp(kind, { clock });
    });
    after(async () => {
      await t?.close();
    });
    let n = 0;
    const createTalk = async () => {
      const r = await t.call("talk-app", "POST", "/v1/subjects", { purpose: "talk_service", fields: person(++n) });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return { id: r.body.id as string, n };
    };
    const file = (principal: string, id: string, body: Record<string, unknown>) => t.call(principal, "POST", `/v1/subjects/${id}/requests`, body);
    const auditRows = async (action: string) => {
      await t.c.audit.flush();
      const out: { principal: string | null; body: Record<string, unknown> }[] = [];
      for await (const page of t.c.stores.audit.iterate(0, 5000)) for (const row of page) if (row.action === action) out.push({ principal: row.principal, body: JSON.parse(row.body) });
      return out;
    };

    test("PIPA Art. 35(3), Decree Art. 41(4)-(5): an access request is answered at once — the person's data decrypted as JSON and CSV; the ledger keeps the digests, never the values; one audit entry names every field", async () => {
      clock.set("2026-11-21T03:00:00Z");
      const s = await createTalk();
      const g = await t.call("talk-app", "POST", `/v1/subjects/${s.id}/consents`, { consents: [{ notice: "marketing", action: "grant", channel: "app" }] });
      assert.equal(g.status, 200, JSON.stringify(g.body));
      const r = await file("talk-app", s.id, { kind: "access", channel: "portal" });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const { request, export: exp } = r.body;
      assert.equal(request.status, "completed");
      assert.equal(request.onTime, true);
      assert.equal(request.dueBy, "2026-12-01T15:00:00.000Z");
      assert.deepEqual(request.subject, { principal: "talk-app", id: s.id });
      assert.match(request.rule.deadline, /Decree Art\. 41\(4\)-\(5\)/);
      // The export: every item, decrypted and unmasked, with purposes, consents and provisions.
      const doc = JSON.parse(exp.json);
      const items = Object.fromEntries(doc.items.map((i: { field: string; value: unknown }) => [i.field, i.value]));
      assert.deepEqual(items, person(s.n));
      assert.ok(doc.purposes.some((p: { purpose: string; basis: string }) => p.purpose === "talk_service" && p.basis === "contract"));
      assert.ok(doc.consents.some((c: { notice: string; status: string }) => c.notice === "marketing" && c.status === "granted"));
      assert.deepEqual(doc.provisions, []);
      const csv = exp.csv.split("\r\n");
      assert.equal(csv[0], "field,value,updated_at,purposes");
      assert.ok(csv.some((l: string) => l.startsWith(`phone,${person(s.n).phone},`)), exp.csv);
      assert.deepEqual(exp.sha256, { json: sha256(exp.json), csv: sha256(exp.csv) });
      assert.deepEqual(request.outcome.sha256, exp.sha256);
      assert.deepEqual(request.history.map((h: { act: string }) => h.act), ["received", "completed"]);
      // The ledger holds no personal data.
      const row = await t.c.stores.data.requests.get(request.id);
      const stored = JSON.stringify(row);
      for (const v of Object.values(person(s.n))) assert.equal(stored.includes(v), false, `the ledger holds ${v}`);
      // Audited: filed, exported (every field), completed.
      const exports = (await auditRows("subject.access_export")).filter((e) => (e.body.meta as { request?: string } | undefined)?.request === request.id);
      assert.equal(exports.length, 1);
      assert.deepEqual(exports[0]!.body.fields, Object.keys(person(s.n)).sort());
      assert.equal(exports[0]!.body.effect, "allow");
      assert.deepEqual(request.history.map((h: { auditSeq: number }) => typeof h.auditSeq), ["number", "number"]);
      // Portability: the same machine-readable export (Art. 35-2).
      const p = await file("talk-app", s.id, { kind: "portability", channel: "service_api" });
      assert.equal(p.status, 201, JSON.stringify(p.body));
      assert.equal(p.body.request.status, "completed");
      assert.deepEqual(JSON.parse(p.body.export.json).items.length, 5);
    });

    test("PIPA Art. 36(1) proviso, Decree Art. 43(3): deletion goes through the erase path; what a law keeps is sealed and the ledger records it with its rule", async () => {
      clock.set("2026-11-21T03:00:00Z");
      const c = await t.call("pay-app", "POST", "/v1/subjects", { purpose: "pay_service", fields: payFields(71) });
      assert.equal(c.status, 201, JSON.stringify(c.body));
      const r = await file("pay-app", c.body.id, { kind: "deletion", channel: "service_api" });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const { request } = r.body;
      assert.equal(request.status, "completed");
      assert.deepEqual(request.outcome.destroyed, ["phone"]);
      const kept = Object.fromEntries(request.outcome.retained.map((k: { field: string; code: string; until: string }) => [k.field, k]));
      assert.match(kept.transaction_history.code, /^RETAINED_BY_LAW:/);
      assert.equal(kept.transaction_history.until, "2031-11-21T03:00:00.000Z");
      assert.match(kept.transaction_history.citation, /Act/);
      assert.equal((await t.call("pay-app", "GET", `/v1/subjects/${c.body.id}?purpose=pay_service`)).status, 404);
      // The record of the request outlives the account.
      assert.equal((await t.call("privacy-office", "GET", `/v1/requests/${request.id}`)).body.status, "completed");
      // A second request for an erased account: not found, and audited.
      const again = await file("pay-app", c.body.id, { kind: "access", channel: "service_api" });
      assert.equal(again.status, 404);
    });

    test("PIPA Art. 36(2), Decree Art. 43(3): correction through the update path; the ledger keeps the field names, never the values", async () => {
      clock.set("2026-11-21T03:00:00Z");
      const s = await createTalk();
      const r = await file("talk-app", s.id, { kind: "correction", channel: "portal", correction: { purpose: "talk_service", fields: { nickname: "corrected-nick" } } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.equal(r.body.request.status, "completed");
      assert.deepEqual(r.body.request.outcome.updated, ["nickname"]);
      assert.deepEqual(r.body.request.detail, { purpose: "talk_service", fields: ["nickname"] });
      const read = await t.call("talk-app", "GET", `/v1/subjects/${s.id}?purpose=talk_service&fields=nickname`);
      assert.equal(read.body.fields.nickname, "corrected-nick");
      assert.equal(JSON.stringify(await t.c.stores.data.requests.get(r.body.request.id)).includes("corrected-nick"), false);
      // A correction the vault refuses (a required item removed) stays open for the privacy office, with the reason.
      const bad = await file("talk-app", s.id, { kind: "correction", channel: "portal", correction: { purpose: "talk_service", fields: { user_id: null } } });
      assert.equal(bad.status, 201, JSON.stringify(bad.body));
      assert.equal(bad.body.request.status, "in_progress");
      assert.deepEqual(bad.body.request.history.map((h: { act: string; detail: { code?: string } }) => [h.act, h.detail.code ?? null]), [["received", null], ["fulfilment_failed", "VALIDATION_FAILED"]]);
    });

    test("PIPA Art. 37(1), (3), Decree Art. 44(2): a withdrawal stops consent-based processing at once; a suspension of contract processing waits for the privacy office", async () => {
      clock.set("2026-11-21T03:00:00Z");
      const s = await createTalk();
      await t.call("talk-app", "POST", `/v1/subjects/${s.id}/consents`, { consents: [{ notice: "marketing", action: "grant", channel: "app" }] });
      const find = () => t.call("marketing-svc", "POST", "/v1/lookup", { purpose: "marketing", field: "phone", value: person(s.n).phone });
      assert.equal((await find()).body.matches.length, 1);
      const w = await file("talk-app", s.id, { kind: "withdrawal", channel: "service_api", notices: ["marketing"] });
      assert.equal(w.status, 201, JSON.stringify(w.body));
      assert.equal(w.body.request.status, "completed");
      assert.deepEqual(w.body.request.outcome.notices, ["marketing"]);
      assert.deepEqual((await find()).body.matches, [], "marketing no longer finds the person");
      const sus = await file("talk-app", s.id, { kind: "suspension", channel: "operator", note: "stop profile processing" });
      assert.equal(sus.status, 201, JSON.stringify(sus.body));
      assert.equal(sus.body.request.status, "in_progress");
      assert.equal(sus.body.request.history.at(-1).detail.code, "NEEDS_REVIEW");
    });

    test("Decree Arts. 41(4), 42(2): the ledger shows the clock — time left, then overdue (injected clock); a postponement with its reason and notice moves the deadline", async () => {
      clock.set("2026-11-21T03:00:00Z");
      const s = await createTalk();
      const a = await file("talk-app", s.id, { kind: "access", channel: "operator", fulfil: false, note: "asked at the counter; identity being checked" });
      assert.equal(a.status, 201, JSON.stringify(a.body));
      assert.equal(a.body.request.status, "received");
      assert.equal(a.body.export, undefined);
      assert.equal(a.body.request.timeLeft.text, "10d 12h left");
      const b = await file("talk-app", s.id, { kind: "access", channel: "portal", fulfil: false });
      const ids = [a.body.request.id, b.body.request.id];

      const listed = await t.call("privacy-office", "GET", "/v1/requests?kind=access&status=received");
      assert.equal(listed.status, 200, JSON.stringify(listed.body));
      assert.ok(ids.every((id) => listed.body.requests.some((r: { id: string }) => r.id === id)));

      // Day 3: the privacy office postpones one, telling the person why by e-mail.
      clock.set("2026-11-24T01:00:00Z");
      const ext = await t.call("privacy-office", "POST", `/v1/requests/${a.body.request.id}/extend`, {
        until: "2026-12-15T15:00:00Z",
        reason: "the records are held in the off-site archive",
        notice: { channel: "email" },
      });
      assert.equal(ext.status, 200, JSON.stringify(ext.body));
      assert.equal(ext.body.status, "extended");
      assert.equal(ext.body.deadline, "2026-12-15T15:00:00.000Z");
      assert.equal(ext.body.dueBy, "2026-12-01T15:00:00.000Z");
      assert.deepEqual(ext.body.extension, { until: "2026-12-15T15:00:00.000Z", reason: "the records are held in the off-site archive", noticeAt: "2026-11-24T01:00:00.000Z", noticeChannel: "email" });
      // Beyond three months from receipt: refused (GDPR Art. 12(3)).
      const far = await t.call("privacy-office", "POST", `/v1/requests/${b.body.request.id}/extend`, { until: "2027-03-01T00:00:00Z", reason: "backlog", notice: { channel: "email" } });
      assert.equal(far.status, 400);
      assert.equal(far.body.error.details.reasons[0].code, "UNTIL_BEYOND_LIMIT");

      // Day 11 (after 24:00 KST on 1 Dec): the other one is overdue; the postponed one is not.
      clock.set("2026-12-01T15:00:01Z");
      const overdue = await t.call("privacy-office", "GET", "/v1/requests?overdue=true");
      assert.equal(overdue.status, 200);
      const over = overdue.body.requests.map((r: { id: string }) => r.id);
      assert.ok(over.includes(b.body.request.id));
      assert.equal(over.includes(a.body.request.id), false);
      assert.ok(overdue.body.requests.every((r: { overdue: boolean }) => r.overdue));
      assert.ok(overdue.body.counts.overdue >= 1);
      const shown = await t.call("privacy-office", "GET", `/v1/requests/${b.body.request.id}`);
      assert.equal(shown.body.overdue, true);
      assert.equal(shown.body.timeLeft.text, "overdue by 0h 00m");
      // Too late to postpone now (Decree 42(2)): the notice was due within the 10 days.
      const late = await t.call("privacy-office", "POST", `/v1/requests/${b.body.request.id}/extend`, { until: "2026-12-20T00:00:00Z", reason: "backlog", notice: { channel: "email" } });
      assert.equal(late.status, 409);
      assert.equal(late.body.error.details.reasons[0].code, "NOTICE_LATE");
      // Answered late: completed, and the ledger says so.
      const done = await t.call("privacy-office", "POST", `/v1/requests/${b.body.request.id}/complete`, { result: "the person viewed the data at the counter" });
      assert.equal(done.status, 200, JSON.stringify(done.body));
      assert.equal(done.body.onTime, false);
      assert.equal(done.body.timeLeft, null);
      const doneAgain = await t.call("privacy-office", "POST", `/v1/requests/${b.body.request.id}/complete`, { result: "again" });
      assert.equal(doneAgain.status, 409);
      // The postponed one, answered within its new deadline, is on time.
      clock.set("2026-12-10T00:00:00Z");
      const ok = await t.call("privacy-office", "POST", `/v1/requests/${a.body.request.id}/complete`, { result: "the export was sent through the portal" });
      assert.equal(ok.body.onTime, true);
      assert.deepEqual(ok.body.history.map((h: { act: string }) => h.act), ["received", "extended", "completed"]);
    });

    test("Decree Arts. 43(3), 44(2): deletion cannot be postponed; a refusal names a lawful ground, the reason and how to object", async () => {
      clock.set("2026-11-21T03:00:00Z");
      const s = await createTalk();
      const d = await file("talk-app", s.id, { kind: "deletion", channel: "portal", fulfil: false });
      const id = d.body.request.id;
      const ext = await t.call("privacy-office", "POST", `/v1/requests/${id}/extend`, { until: "2026-12-10T00:00:00Z", reason: "busy", notice: { channel: "email" } });
      assert.equal(ext.status, 409);
      assert.equal(ext.body.error.details.reasons[0].code, "NOT_EXTENDABLE");
      const wrong = await t.call("privacy-office", "POST", `/v1/requests/${id}/refuse`, { ground: "NOT_INACCURATE", reason: "r", objection: "o" });
      assert.equal(wrong.status, 400);
      assert.match(wrong.body.error.message, /REQUIRED_BY_LAW/);
      const refused = await t.call("privacy-office", "POST", `/v1/requests/${id}/refuse`, {
        ground: "REQUIRED_BY_LAW",
        reason: "payment records must be kept for 5 years under the E-Commerce Act",
        objection: "reply to the notice or write to privacy@example.com within 30 days",
      });
      assert.equal(refused.status, 200, JSON.stringify(refused.body));
      assert.equal(refused.body.status, "refused");
      assert.match(refused.body.outcome.article, /Art\. 36\(1\) proviso/);
      assert.equal(refused.body.outcome.objection, "reply to the notice or write to privacy@example.com within 30 days");
      assert.match(refused.body.outcome.notice, /Decree Art\. 43\(3\)/);
      // The person withdraws a request of theirs (recorded by the service that filed it).
      const other = await file("talk-app", s.id, { kind: "access", channel: "portal", fulfil: false });
      const wd = await t.call("talk-app", "POST", `/v1/requests/${other.body.request.id}/withdraw`, {});
      assert.equal(wd.status, 200, JSON.stringify(wd.body));
      assert.equal(wd.body.status, "withdrawn");
    });

    test("fail closed: no key is 401; a service on the operator ledger, an operator filing, a service without a collecting purpose are denied and audited; foreign and unknown ids are 404", async () => {
      clock.set("2026-11-21T03:00:00Z");
      const s = await createTalk();
      assert.equal((await t.call(null, "GET", "/v1/requests")).status, 401);
      assert.equal((await t.call("hk_bogus_key", "GET", "/v1/requests")).status, 401);
      const svcList = await t.call("talk-app", "GET", "/v1/requests");
      assert.equal(svcList.status, 403);
      assert.equal(svcList.body.error.details.reasons[0].code, "ROLE_NOT_PERMITTED");
      const op = await file("privacy-office", s.id, { kind: "access", channel: "operator" });
      assert.equal(op.status, 403);
      const mkt = await file("marketing-svc", s.id, { kind: "access", channel: "service_api" });
      assert.equal(mkt.status, 403, "a principal that never collected from the person is not a channel for their requests");
      const foreign = await file("openchat-app", s.id, { kind: "access", channel: "service_api" });
      assert.equal(foreign.status, 404, "another context's id is unknown there");
      const filed = await file("talk-app", s.id, { kind: "access", channel: "portal", fulfil: false });
      const rid = filed.body.request.id;
      assert.equal((await t.call("pay-app", "GET", `/v1/requests/${rid}`)).status, 404, "another service cannot see it");
      assert.equal((await t.call("talk-app", "GET", `/v1/requests/${rid}`)).status, 200, "the filing service can");
      assert.equal((await t.call("talk-app", "POST", `/v1/requests/${rid}/complete`, { result: "x" })).status, 403);
      assert.equal((await t.call("talk-app", "POST", `/v1/requests/${rid}/refuse`, { ground: "HARMS_OTHERS", reason: "x", objection: "y" })).status, 403);
      assert.equal((await t.call("privacy-office", "GET", "/v1/requests/req_nobody")).status, 404);
      const bad = await file("talk-app", s.id, { kind: "erasure", channel: "portal" });
      assert.equal(bad.status, 400);
      const future = await file("talk-app", s.id, { kind: "access", channel: "portal", receivedAt: "2026-12-01T00:00:00Z" });
      assert.equal(future.status, 400);
      // Every denial is in the audit log.
      const denied = async (action: string, principal: string) => (await auditRows(action)).filter((e) => e.principal === principal && e.body.effect === "deny");
      assert.ok((await denied("request.list", "talk-app")).some((e) => (e.body.reasons as string[]).includes("ROLE_NOT_PERMITTED")));
      assert.ok((await denied("request.file", "privacy-office")).length >= 1);
      assert.ok((await denied("request.file", "marketing-svc")).length >= 1);
      assert.ok((await denied("request.file", "openchat-app")).some((e) => (e.body.reasons as string[]).includes("NOT_FOUND")));
      assert.ok((await denied("request.read", "pay-app")).length >= 1);
      assert.ok((await denied("request.complete", "talk-app")).length >= 1);
      // The request's subject is the person, by internal id (never shown): the ledger can find it.
      const mine = await t.c.stores.data.requests.list({ subjectId: internalOf(t, "talk-app", s.id), limit: 10 });
      assert.deepEqual(mine.map((r) => r.id), [rid]);
    });

    test("OpenAPI: the request routes are documented", async () => {
      const doc = (await t.call(null, "GET", "/openapi.json")).body;
      for (const p of ["/v1/subjects/{id}/requests", "/v1/requests", "/v1/requests/{id}", "/v1/requests/{id}/complete", "/v1/requests/{id}/extend", "/v1/requests/{id}/refuse"]) {
        assert.ok(doc.paths[p], p);
      }
    });

    test("CLI: haechi requests list --overdue, show, extend, refuse — the privacy office's view of the clocks", async () => {
      const now = Date.now();
      clock.set(new Date(now));
      const s = await createTalk();
      const late = await file("talk-app", s.id, { kind: "access", channel: "operator", fulfil: false, receivedAt: new Date(now - 20 * DAY).toISOString() });
      assert.equal(late.status, 201, JSON.stringify(late.body));
      const fresh = await file("talk-app", s.id, { kind: "portability", channel: "portal", fulfil: false });
      const list = await runCli(t.env, "requests", "list", "--overdue");
      assert.equal(list.code, 0, String(list.error));
      assert.match(list.out, new RegExp(`${late.body.request.id}\\s+access\\s+received .*overdue by`));
      assert.equal(list.out.includes(fresh.body.request.id), false);
      assert.match(list.out, /\d+ open, \d+ overdue/);
      const show = await runCli(t.env, "requests", "show", fresh.body.request.id);
      assert.equal(show.code, 0, String(show.error));
      assert.match(show.out, /left\)/);
      assert.match(show.out, /Decree Art\. 42-6\(1\)/);
      const ext = await runCli(t.env, "requests", "extend", fresh.body.request.id, "--until", new Date(now + 20 * DAY).toISOString(), "--reason", "archive retrieval", "--notice-channel", "email");
      assert.equal(ext.code, 0, String(ext.error));
      assert.match(ext.out, /extended/);
      const tooLate = await runCli(t.env, "requests", "extend", late.body.request.id, "--until", new Date(now + 5 * DAY).toISOString(), "--reason", "x", "--notice-channel", "email");
      assert.notEqual(tooLate.code, 0);
      assert.match(String((tooLate.error as Error)?.message), /before the deadline/);
      const ref = await runCli(t.env, "requests", "refuse", late.body.request.id, "--ground", "IDENTITY_UNVERIFIED", "--reason", "the requester could not prove identity", "--objection", "visit a branch with ID");
      assert.equal(ref.code, 0, String(ref.error));
      assert.match(ref.out, /refused/);
    });
  });
}

for (const kind of STORE_KINDS) {
  describe(`data-subject requests fail closed on ${kind}`, () => {
    let t: TestApp;
    let broken = false;
    before(async () => {
      t = await startApp(kind, {
        wrapAuditStore: (s) => ({ ...s, appendBatch: (build) => (broken ? Promise.reject(new Error("disk full")) : s.appendBatch(build)) }),
      });
    });
    after(async () => {
      await t?.close();
    });

    test("ADR 0003: if the audit entry cannot be written, no request is recorded, no data is released, and an operator's act changes nothing", async () => {
      const c = await t.call("talk-app", "POST", "/v1/subjects", { purpose: "talk_service", fields: person(90) });
      assert.equal(c.status, 201, JSON.stringify(c.body));
      const open = await t.call("talk-app", "POST", `/v1/subjects/${c.body.id}/requests`, { kind: "deletion", channel: "portal", fulfil: false });
      assert.equal(open.status, 201, JSON.stringify(open.body));
      broken = true;
      try {
        const r = await t.call("talk-app", "POST", `/v1/subjects/${c.body.id}/requests`, { kind: "access", channel: "portal" });
        assert.equal(r.status, 503);
        assert.equal(r.body.error.code, "AUDIT_UNAVAILABLE");
        assert.equal(JSON.stringify(r.body).includes("7777"), false);
        const done = await t.call("privacy-office", "POST", `/v1/requests/${open.body.request.id}/complete`, { result: "deleted by hand" });
        assert.equal(done.status, 503);
      } finally {
        broken = false;
      }
      const mine = await t.c.stores.data.requests.list({ subjectId: internalOf(t, "talk-app", c.body.id), limit: 10 });
      assert.deepEqual(mine.map((m) => [m.kind, m.status]), [["deletion", "received"]]);
    });
  });
}
