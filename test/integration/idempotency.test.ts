/**
 * Idempotency-Key on every write (issue 7; ADR 0017), over HTTP on a real server and store, on
 * SQLite and PostgreSQL. For each write route: a retry with the same key answers the same status
 * and body (marked `Idempotent-Replayed`) and applies once (counted in the audit log, the consent
 * ledger, the provisions, the requests, the incidents); the same key with another request is
 * refused; and — the point of the issue — an unknown outcome: the first attempt commits and its
 * answer is lost (the store answers STORE_UNAVAILABLE after the commit, as after a failover), or
 * it stops half way, and the retry gets the answer the first attempt recorded, with one effect.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { fixedClock } from "../../src/core/clock.js";
import { PENDING } from "../../src/core/idempotency/idempotency-fns.js";
import type { NoticeTransport, OutgoingNotice } from "../../src/core/ports.js";
import { payFields } from "../fixtures/people.js";
import { STORE_KINDS, internalOf, startApp, type TestApp } from "../helpers/app.js";
import { lostAnswers } from "../helpers/lost-answer.js";

const person = (n: number) => ({
  user_id: `idem-${n}`,
  phone: `010-6${String(100 + (n % 900)).padStart(3, "0")}-${String(1000 + n).slice(-4)}`,
  name: "한결",
  nickname: `once${n}`,
  email: `once${n}@mail.example`,
});

/** Counts every hand-over of every message (delivery is at least once). */
const countingTransport = () => {
  const handed = new Map<string, number>();
  const transport: NoticeTransport = {
    name: "test-pickup",
    needsAddress: false,
    deliver: async (ms: readonly OutgoingNotice[]) => {
      for (const m of ms) handed.set(m.id, (handed.get(m.id) ?? 0) + 1);
      return ms.map((m) => ({ id: m.id, proof: `test:${m.id}`, error: null }));
    },
  };
  return { handed, transport };
};

for (const kind of STORE_KINDS) {
  describe(`Idempotency-Key on every write, on ${kind}`, () => {
    let t: TestApp;
    const clock = fixedClock("2026-11-21T03:00:00Z");
    const lost = lostAnswers();
    const mail = countingTransport();
    before(async () => {
      t = await startApp(kind, { clock, wrapDataStore: lost.wrap, transport: mail.transport });
    });
    after(async () => {
      await t?.close();
    });
    afterEach(() => lost.disarm());

    let n = 0;
    const newKey = (what: string) => `${what}-${kind}-${++n}-k3y`;

    /** One request; with a key when given. Returns the status, the parsed and raw body, and whether it was replayed. */
    const send = async (principal: string, method: string, path: string, body?: unknown, key?: string) => {
      const res = await fetch(`${t.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${t.keys[principal]}`,
          ...(body !== undefined ? { "content-type": "application/json" } : {}),
          ...(key !== undefined ? { "idempotency-key": key } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, text, body: text === "" ? null : (JSON.parse(text) as any), replayed: res.headers.get("idempotent-replayed") === "true" };
    };
    const storedKey = (principal: string, key: string) => t.c.stores.data.getIdempotency(principal, key);
    /** Audit entries of an action (optionally only allowed ones), from the log itself. */
    const audits = async (action: string, effect?: string) => {
      await t.c.audit.flush();
      let count = 0;
      for await (const page of t.c.stores.audit.iterate(0, 5000)) {
        for (const row of page) if (row.action === action && (effect === undefined || JSON.parse(row.body).effect === effect)) count++;
      }
      return count;
    };

    /**
     * A write sent twice with one key: the same status and body, byte for byte, the second marked
     * replayed; then the key with another body (when given) is 422 IDEMPOTENCY_MISMATCH.
     */
    const twice = async (principal: string, method: string, path: string, body: unknown, key: string, otherBody?: unknown) => {
      const a = await send(principal, method, path, body, key);
      assert.ok(a.status < 300, `${a.status} ${a.text}`);
      const b = await send(principal, method, path, body, key);
      assert.equal(b.status, a.status);
      assert.equal(b.text, a.text, "the same body, byte for byte");
      assert.equal(a.replayed, false);
      assert.equal(b.replayed, true);
      if (otherBody !== undefined) {
        const c = await send(principal, method, path, otherBody, key);
        assert.equal(c.status, 422, c.text);
        assert.equal(c.body.error.code, "IDEMPOTENCY_MISMATCH");
      }
      return a;
    };

    /**
     * The first attempt commits and its answer is lost (503 STORE_UNAVAILABLE); the key holds the
     * answer it recorded, and the retry gets exactly that, replayed.
     */
    const afterLostAnswer = async (principal: string, method: string, path: string, body: unknown, key: string) => {
      const first = await send(principal, method, path, body, key);
      assert.equal(first.status, 503, first.text);
      assert.equal(first.body.error.code, "STORE_UNAVAILABLE");
      const row = await storedKey(principal, key);
      assert.ok(row !== undefined && row.status !== PENDING, "the first attempt committed its answer with its effect");
      const retry = await send(principal, method, path, body, key);
      assert.equal(retry.status, row.status);
      assert.equal(retry.text, row.response, "the first attempt's answer");
      assert.equal(retry.replayed, true);
      return retry;
    };

    let lastPerson = person(0);
    /** The key with another request on the same route: 422 IDEMPOTENCY_MISMATCH, nothing done. */
    const mismatch = async (principal: string, method: string, path: string, body: unknown, key: string) => {
      const r = await send(principal, method, path, body, key);
      assert.equal(r.status, 422, r.text);
      assert.equal(r.body.error.code, "IDEMPOTENCY_MISMATCH");
    };

    const createTalk = async () => {
      lastPerson = person(++n);
      const r = await send("talk-app", "POST", "/v1/subjects", { purpose: "talk_service", fields: lastPerson });
      assert.equal(r.status, 201, r.text);
      return r.body.id as string;
    };

    test("the hot path: a write without a key looks no key up; with one, one lookup", async () => {
      const id = await createTalk();
      const before = lost.calls("getIdempotency");
      assert.equal((await send("talk-app", "PATCH", `/v1/subjects/${id}`, { purpose: "talk_service", fields: { nickname: "plain" } })).status, 200);
      assert.equal(lost.calls("getIdempotency"), before, "no lookup without a key");
      assert.equal((await send("talk-app", "PATCH", `/v1/subjects/${id}`, { purpose: "talk_service", fields: { nickname: "keyed" } }, newKey("hot"))).status, 200);
      assert.equal(lost.calls("getIdempotency"), before + 1);
    });

    test("a key is per principal, bound to its route and request, and must be well-formed", async () => {
      const key = newKey("shared");
      const a = await send("talk-app", "POST", "/v1/subjects", { purpose: "talk_service", fields: person(++n) }, key);
      const b = await send("pay-app", "POST", "/v1/subjects", { purpose: "pay_service", fields: payFields(n) }, key);
      assert.equal(a.status, 201, a.text);
      assert.equal(b.status, 201, b.text);
      assert.notEqual(a.body.id, b.body.id, "two principals, two keys");
      const elsewhere = await send("talk-app", "PATCH", `/v1/subjects/${a.body.id}`, { purpose: "talk_service", fields: { nickname: "x" } }, key);
      assert.equal(elsewhere.status, 422, "a key reused on another route is a mismatch");
      assert.equal(elsewhere.body.error.code, "IDEMPOTENCY_MISMATCH");
      for (const bad of ["short", "has space in it", "x".repeat(129), "semi;colon-key"]) {
        const r = await send("talk-app", "PATCH", `/v1/subjects/${a.body.id}`, { purpose: "talk_service", fields: { nickname: "y" } }, bad);
        assert.equal(r.status, 400, bad);
        assert.equal(r.body.error.code, "VALIDATION_FAILED");
        assert.match(r.body.error.message, /idempotency-key/i);
      }
    });

    test("POST /v1/subjects: a retry after a lost answer gets the first subject back — one subject, one subject.create entry", async () => {
      const body = { purpose: "talk_service", fields: person(++n) };
      await twice("talk-app", "POST", "/v1/subjects", body, newKey("create"), { ...body, fields: person(++n) });
      const creates = await audits("subject.create", "allow");
      const key = newKey("create-lost");
      const other = { purpose: "talk_service", fields: person(++n) };
      lost.loseNext("transaction");
      const retry = await afterLostAnswer("talk-app", "POST", "/v1/subjects", other, key);
      assert.equal(retry.status, 201);
      const found = await send("talk-app", "POST", "/v1/lookup", { purpose: "talk_service", field: "user_id", value: other.fields.user_id });
      assert.deepEqual(found.body.matches, [retry.body.id], "one subject, the first attempt's");
      assert.equal(await audits("subject.create", "allow"), creates + 1, "one decision entry: the retry replayed");
    });

    test("a commit whose acknowledgement was lost while the store is back at once: the same request answers from its key", async () => {
      const body = { purpose: "talk_service", fields: person(++n) };
      const key = newKey("create-brief");
      lost.plan("transaction", "lose-briefly");
      const r = await send("talk-app", "POST", "/v1/subjects", body, key);
      assert.equal(r.status, 201, r.text);
      assert.equal(r.text, (await storedKey("talk-app", key))?.response);
      const found = await send("talk-app", "POST", "/v1/lookup", { purpose: "talk_service", field: "user_id", value: body.fields.user_id });
      assert.deepEqual(found.body.matches, [r.body.id]);
    });

    test("concurrent duplicates with one key: one subject, every answer the same", async () => {
      const body = { purpose: "talk_service", fields: person(++n) };
      const key = newKey("race");
      const creates = await audits("subject.create", "allow");
      const answers = await Promise.all(Array.from({ length: 5 }, () => send("talk-app", "POST", "/v1/subjects", body, key)));
      assert.deepEqual(new Set(answers.map((a) => a.status)), new Set([201]));
      assert.equal(new Set(answers.map((a) => a.text)).size, 1, "the same answer to all five");
      assert.equal(answers.filter((a) => !a.replayed).length, 1);
      const found = await send("talk-app", "POST", "/v1/lookup", { purpose: "talk_service", field: "user_id", value: body.fields.user_id });
      assert.equal(found.body.matches.length, 1);
      assert.equal(await audits("subject.create", "allow"), creates + 1);
    });

    test("PATCH /v1/subjects/{id}: replayed, not applied twice, also after a lost answer", async () => {
      const id = await createTalk();
      const body = { purpose: "talk_service", fields: { nickname: "first" } };
      const updates = await audits("subject.update", "allow");
      await twice("talk-app", "PATCH", `/v1/subjects/${id}`, body, newKey("patch"), { ...body, fields: { nickname: "second" } });
      lost.loseNext("transaction");
      await afterLostAnswer("talk-app", "PATCH", `/v1/subjects/${id}`, { purpose: "talk_service", fields: { nickname: "third" } }, newKey("patch-lost"));
      assert.equal(await audits("subject.update", "allow"), updates + 2, "two updates, each applied and audited once");
      const r = await send("talk-app", "GET", `/v1/subjects/${id}?purpose=talk_service&fields=nickname`);
      assert.equal(r.body.fields.nickname, "third");
    });

    test("POST /v1/subjects/{id}/reactivate: replayed, decided once, also after a lost answer", async () => {
      const id = await createTalk();
      await twice("talk-app", "POST", `/v1/subjects/${id}/reactivate`, { purpose: "talk_service" }, newKey("wake"), { purpose: "security_monitoring" });
      const wakes = await audits("subject.reactivate", "allow");
      lost.loseNext("transaction");
      const retry = await afterLostAnswer("talk-app", "POST", `/v1/subjects/${id}/reactivate`, { purpose: "talk_service" }, newKey("wake-lost"));
      assert.equal(retry.body.reactivated, false, "an active account: nothing to move back");
      assert.equal(await audits("subject.reactivate", "allow"), wakes + 1, "decided once");
    });

    test("PIPA Art. 37: a consent withdrawal retried after a lost answer records one withdrawal and destroys once", async () => {
      const r = await send("pay-app", "POST", "/v1/subjects", {
        purpose: "pay_overseas",
        fields: { user_id: `traveller-${kind}`, name: "오세아", passport_number: "M12345678", card_number: "4000-1111-2222-3333" },
        consents: ["pay_overseas", "passport_unique_id"].map((notice) => ({ notice, action: "grant", channel: "app" })),
      });
      assert.equal(r.status, 201, r.text);
      const sid = internalOf(t, "pay-app", r.body.id);
      const events = (await t.c.stores.data.consentHistory(sid)).length;
      const destroyedBefore = await audits("subject.destroy_fields");
      const withdraw = { consents: [{ notice: "pay_overseas", action: "withdraw", channel: "app" }] };
      lost.loseNext("transaction");
      const withdrawKey = newKey("withdraw");
      const retry = await afterLostAnswer("pay-app", "POST", `/v1/subjects/${r.body.id}/consents`, withdraw, withdrawKey);
      await mismatch("pay-app", "POST", `/v1/subjects/${r.body.id}/consents`, { consents: [{ notice: "passport_unique_id", action: "withdraw", channel: "app" }] }, withdrawKey);
      assert.deepEqual(retry.body.destroyed, ["passport_number"], "what only the withdrawn consent held is destroyed (Art. 37(3), (5))");
      const history = await t.c.stores.data.consentHistory(sid);
      assert.equal(history.length, events + 1, "one withdrawal event, not two");
      assert.equal(history.at(-1)?.action, "withdraw");
      assert.deepEqual(await t.c.stores.data.getFields(sid, ["passport_number"]), []);
      assert.equal(await audits("subject.destroy_fields"), destroyedBefore + 1, "destroyed once");
      // A grant, retried: one event.
      const id = await createTalk();
      const tid = internalOf(t, "talk-app", id);
      await twice("talk-app", "POST", `/v1/subjects/${id}/consents`, { consents: [{ notice: "marketing", action: "grant", channel: "app" }] }, newKey("grant"), {
        consents: [{ notice: "marketing", action: "grant", channel: "web" }],
      });
      assert.equal((await t.c.stores.data.consentHistory(tid)).length, 1);
    });

    test("PIPA Art. 20-2: PUT /v1/subjects/{id}/notice-preferences records one preference, also after a lost answer", async () => {
      const id = await createTalk();
      const prefs = await audits("notice.preference", "allow");
      await twice("talk-app", "PUT", `/v1/subjects/${id}/notice-preferences`, { annualNotice: "opt_out" }, newKey("pref"), { annualNotice: "receive" });
      lost.loseNext("outbox.setPreference");
      const retry = await afterLostAnswer("talk-app", "PUT", `/v1/subjects/${id}/notice-preferences`, { annualNotice: "receive" }, newKey("pref-lost"));
      assert.equal(retry.body.annualNotice, "receive");
      assert.equal(await audits("notice.preference", "allow"), prefs + 2);
      assert.equal((await t.c.stores.data.outbox.getPreference(internalOf(t, "talk-app", id), "annual_notice"))?.optedOut, false);
    });

    test("PIPA Arts. 21, 36: DELETE — a retry after a lost answer is answered, not 404; without a key the repeat is 404", async () => {
      const id = await createTalk();
      const erasures = await audits("subject.erase", "allow");
      const key = newKey("erase");
      lost.plan("transaction", "pass", "lose"); // the claim, then step 4's commit lands and its answer is lost
      const retry = await afterLostAnswer("talk-app", "DELETE", `/v1/subjects/${id}`, undefined, key);
      await mismatch("talk-app", "DELETE", `/v1/subjects/${await createTalk()}`, undefined, key);
      assert.equal(retry.status, 200);
      assert.equal(retry.body.id, id);
      assert.equal(await audits("subject.erase", "allow"), erasures + 1, "erased once");
      assert.equal((await t.c.stores.data.getSubject(internalOf(t, "talk-app", id)))?.status, "erased");
      const plain = await send("talk-app", "DELETE", `/v1/subjects/${id}`);
      assert.equal(plain.status, 404, "without a key there is nothing to tell the retry from a stranger");
    });

    test("PIPA Art. 21(3): a half-done erasure (key destroyed, rows not yet marked) is finished by the retry, which answers as the first would have", async () => {
      const r = await send("pay-app", "POST", "/v1/subjects", { purpose: "pay_service", fields: payFields(++n) });
      assert.equal(r.status, 201, r.text);
      const sid = internalOf(t, "pay-app", r.body.id);
      const key = newKey("erase-half");
      lost.plan("transaction", "pass", "fail"); // the claim; then step 4 fails before it commits
      const first = await send("pay-app", "DELETE", `/v1/subjects/${r.body.id}`, undefined, key);
      assert.equal(first.status, 503, first.text);
      assert.equal(await t.c.stores.keys.get(sid), undefined, "crypto-shredded already");
      assert.equal((await t.c.stores.data.getSubject(sid))?.status, "active", "not yet marked erased");
      const claim = await storedKey("pay-app", key);
      assert.equal(claim?.status, PENDING, "the key is claimed with the answer fixed before anything was destroyed");
      const claimed = JSON.parse(claim!.response).erasure;
      clock.advance(60_000); // the retry comes a minute later: the answer still names the first attempt's time
      const retry = await send("pay-app", "DELETE", `/v1/subjects/${r.body.id}`, undefined, key);
      assert.equal(retry.status, 200, retry.text);
      assert.deepEqual(retry.body, claimed);
      const kept = retry.body.retained.map((k: { field: string }) => k.field).sort();
      assert.ok(kept.includes("transaction_history"), "what the E-Commerce Act keeps is sealed");
      assert.equal((await t.c.stores.data.getSubject(sid))?.status, "erased");
      const sealed = await t.c.stores.data.sealed.get(sid, []);
      assert.deepEqual(sealed.map((s) => s.field).sort(), kept, "sealed by the first attempt, as the answer says");
      const until = new Map(retry.body.retained.map((k: { field: string; until: string }) => [k.field, k.until]));
      for (const s of sealed) assert.equal(s.until.toISOString(), until.get(s.field), "the answer's dates are the sealed records' dates");
      const again = await send("pay-app", "DELETE", `/v1/subjects/${r.body.id}`, undefined, key);
      assert.equal(again.status, 200);
      assert.equal(again.text, retry.text);
      assert.equal(again.replayed, true);
    });

    const file = (principal: string, id: string, body: Record<string, unknown>, key?: string) => send(principal, "POST", `/v1/subjects/${id}/requests`, body, key);
    const requestsOf = async (principal: string, id: string) => (await t.c.stores.data.requests.list({ subjectId: internalOf(t, principal, id), limit: 50 })).length;

    test("PIPA Art. 36: a correction request retried after a lost answer is one request, corrected once", async () => {
      const id = await createTalk();
      const updates = await audits("subject.update", "allow");
      const body = { kind: "correction", channel: "service_api", correction: { purpose: "talk_service", fields: { nickname: "corrected" } } };
      const key = newKey("correct");
      lost.loseNext("requests.update"); // the closing change commits; its answer is lost
      const retry = await afterLostAnswer("talk-app", "POST", `/v1/subjects/${id}/requests`, body, key);
      assert.equal(retry.body.request.status, "completed");
      assert.equal(await requestsOf("talk-app", id), 1, "one request, not two");
      assert.equal(await audits("subject.update", "allow"), updates + 1, "corrected once");
      const mismatch = await file("talk-app", id, { ...body, note: "again" }, key);
      assert.equal(mismatch.status, 422, mismatch.text);
      assert.equal(await requestsOf("talk-app", id), 1);
    });

    test("PIPA Art. 37: a withdrawal request whose consent change committed and whose answer was lost: the retry completes it with one withdrawal event", async () => {
      const id = await createTalk();
      const sid = internalOf(t, "talk-app", id);
      assert.equal((await send("talk-app", "POST", `/v1/subjects/${id}/consents`, { consents: [{ notice: "marketing", action: "grant", channel: "app" }] })).status, 200);
      const key = newKey("withdraw-request");
      const body = { kind: "withdrawal", channel: "service_api", notices: ["marketing"] };
      lost.loseNext("transaction"); // the withdrawal's transaction commits; the filing sees 503
      const first = await file("talk-app", id, body, key);
      assert.equal(first.status, 503, first.text);
      assert.equal((await storedKey("talk-app", key))?.status, PENDING, "the filing is recorded and claims the key");
      const retry = await file("talk-app", id, body, key);
      assert.equal(retry.status, 201, retry.text);
      assert.equal(retry.body.request.status, "completed");
      assert.deepEqual(retry.body.request.outcome.notices, ["marketing"]);
      const history = await t.c.stores.data.consentHistory(sid);
      assert.deepEqual(history.map((e) => e.action), ["grant", "withdraw"], "one withdrawal, not two");
      assert.equal(await requestsOf("talk-app", id), 1);
      const again = await file("talk-app", id, body, key);
      assert.equal(again.text, retry.text);
    });

    test("PIPA Art. 36: a deletion request stopped half way through the erasure is finished by the retry: one request, one erasure", async () => {
      const id = await createTalk();
      const sid = internalOf(t, "talk-app", id);
      const key = newKey("delete-request");
      const body = { kind: "deletion", channel: "portal" };
      const filings = await audits("request.file");
      lost.plan("transaction", "pass", "fail"); // the erasure's claim; its step 4 fails
      const first = await file("talk-app", id, body, key);
      assert.equal(first.status, 503, first.text);
      assert.equal(await t.c.stores.keys.get(sid), undefined, "the key is destroyed already");
      const retry = await file("talk-app", id, body, key);
      assert.equal(retry.status, 201, retry.text);
      assert.equal(retry.body.request.status, "completed");
      assert.equal((await t.c.stores.data.getSubject(sid))?.status, "erased");
      assert.equal(await requestsOf("talk-app", id), 1, "one request, not two");
      assert.equal(await audits("request.file"), filings + 1, "filed once");
      const requests = await t.c.stores.data.requests.list({ subjectId: sid, limit: 5 });
      assert.deepEqual((await t.c.stores.data.requests.events(requests[0]!.id)).map((e) => e.act), ["received", "completed"]);
    });

    test("PIPA Art. 35: an access request retried after a lost answer gets the export again — never stored, produced anew as of the first: the same bytes and the ledger's digests", async () => {
      const id = await createTalk();
      const phone = lastPerson.phone;
      const key = newKey("access");
      const body = { kind: "access", channel: "service_api" };
      const exports = await audits("subject.access_export", "allow");
      lost.loseNext("requests.update");
      const first = await file("talk-app", id, body, key);
      assert.equal(first.status, 503, first.text);
      const row = await storedKey("talk-app", key);
      assert.ok(row && row.status === 201);
      assert.equal(JSON.parse(row.response).export, undefined, "the key keeps no personal data: no export");
      assert.doesNotMatch(row.response, new RegExp(phone), "no value of the person's in the key's answer");
      clock.advance(30_000);
      const retry = await file("talk-app", id, body, key);
      assert.equal(retry.status, 201, retry.text);
      assert.equal(retry.replayed, true);
      assert.deepEqual(retry.body.request, JSON.parse(row.response).request);
      assert.deepEqual(retry.body.export.sha256, retry.body.request.outcome.sha256, "the same bytes as the first export (the digests the ledger keeps)");
      assert.equal(JSON.parse(retry.body.export.json).items.find((i: { field: string }) => i.field === "phone").value, phone);
      assert.equal(await requestsOf("talk-app", id), 1);
      assert.equal(await audits("subject.access_export", "allow"), exports + 2, "releasing the data again is audited like the first time");
    });

    test("POST /v1/requests/{id}/complete, extend, refuse, withdraw: each replayed; one history event each, also after a lost answer", async () => {
      const id = await createTalk();
      const filed = async () => {
        const r = await file("talk-app", id, { kind: "access", channel: "operator", fulfil: false }, newKey("file"));
        assert.equal(r.status, 201, r.text);
        return r.body.request.id as string;
      };
      const actsOf = async (rid: string) => (await t.c.stores.data.requests.events(rid)).map((e) => e.act);
      const a = await filed();
      await twice("privacy-office", "POST", `/v1/requests/${a}/extend`, { until: "2026-12-15T15:00:00Z", reason: "the records are in the archive", notice: { channel: "email" } }, newKey("extend"), {
        until: "2026-12-16T15:00:00Z",
        reason: "the records are in the archive",
        notice: { channel: "email" },
      });
      await twice("privacy-office", "POST", `/v1/requests/${a}/complete`, { result: "answered at the counter" }, newKey("complete"), { result: "answered by letter" });
      assert.deepEqual(await actsOf(a), ["received", "extended", "completed"]);
      const b = await filed();
      const refuse = { ground: "IDENTITY_UNVERIFIED", reason: "not the person", objection: "write to privacy@example.com" };
      const refuseKey = newKey("refuse");
      lost.loseNext("requests.update");
      await afterLostAnswer("privacy-office", "POST", `/v1/requests/${b}/refuse`, refuse, refuseKey);
      await mismatch("privacy-office", "POST", `/v1/requests/${b}/refuse`, { ...refuse, reason: "other" }, refuseKey);
      assert.deepEqual(await actsOf(b), ["received", "refused"]);
      const c = await filed();
      await twice("talk-app", "POST", `/v1/requests/${c}/withdraw`, { note: "the person changed their mind" }, newKey("withdraw"), { note: "other" });
      assert.deepEqual(await actsOf(c), ["received", "withdrawn"]);
      // The same acts after a lost answer: one event each.
      const d = await filed();
      lost.loseNext("requests.update");
      await afterLostAnswer("privacy-office", "POST", `/v1/requests/${d}/extend`, { until: "2026-12-15T15:00:00Z", reason: "archive", notice: { channel: "email" } }, newKey("extend-lost"));
      lost.loseNext("requests.update");
      await afterLostAnswer("privacy-office", "POST", `/v1/requests/${d}/complete`, { result: "answered" }, newKey("complete-lost"));
      assert.deepEqual(await actsOf(d), ["received", "extended", "completed"]);
      const e = await filed();
      lost.loseNext("requests.update");
      await afterLostAnswer("talk-app", "POST", `/v1/requests/${e}/withdraw`, {}, newKey("withdraw-lost"));
      assert.deepEqual(await actsOf(e), ["received", "withdrawn"]);
      const plain = await send("talk-app", "POST", `/v1/requests/${c}/withdraw`, { note: "the person changed their mind" });
      assert.equal(plain.status, 409, "without a key the repeat finds it closed");
    });

    const lawfulPlan = { recipient: "nsf-scoring", purpose: "pay_service", label: "provision", fields: ["user_id", "transaction_history"], population: { purposes: ["pay_overseas"] } };
    const provisionsOf = async () => (await t.c.stores.data.provisions.listProvisions({ principal: "pay-app", limit: 1000 })).length;

    test("POST /v1/provisions: a plan, a run and a schedule are each recorded once; a refusal is replayed, not recorded twice", async () => {
      const before = await provisionsOf();
      await twice("pay-app", "POST", "/v1/provisions", { ...lawfulPlan, mode: "plan" }, newKey("plan"), { ...lawfulPlan, mode: "plan", format: "csv" });
      lost.loseNext("provisions.insertProvision");
      await afterLostAnswer("pay-app", "POST", "/v1/provisions", { ...lawfulPlan, mode: "plan", format: "csv" }, newKey("plan-lost"));
      const run = await twice("pay-app", "POST", "/v1/provisions", { ...lawfulPlan, mode: "run", wait: true }, newKey("run"));
      assert.equal(run.status, 200);
      assert.equal(run.body.status, "completed");
      const schedules = (await t.c.stores.data.provisions.listSchedules()).length;
      await twice("pay-app", "POST", "/v1/provisions", { ...lawfulPlan, mode: "run", every: "P1D" }, newKey("schedule"), { ...lawfulPlan, mode: "run", every: "P7D" });
      lost.loseNext("provisions.putSchedule");
      await afterLostAnswer("pay-app", "POST", "/v1/provisions", { ...lawfulPlan, mode: "run", every: "P2D" }, newKey("schedule-lost"));
      assert.equal((await t.c.stores.data.provisions.listSchedules()).length, schedules + 2, "one schedule per key");
      const refusedKey = newKey("refused");
      const refused = await send("pay-app", "POST", "/v1/provisions", { ...lawfulPlan, fields: ["user_id", "phone"], mode: "plan" }, refusedKey);
      assert.equal(refused.status, 403, refused.text);
      assert.equal(refused.body.error.code, "PROVISION_DENIED");
      const again = await send("pay-app", "POST", "/v1/provisions", { ...lawfulPlan, fields: ["user_id", "phone"], mode: "plan" }, refusedKey);
      assert.equal(again.status, 403);
      assert.equal(again.text, refused.text, "the same refusal, its request id included");
      assert.equal(again.replayed, true);
      assert.equal(await provisionsOf(), before + 4, "two plans, one run, one refusal: nothing twice");
    });

    test("POST /v1/provisions/{id}/resume: replayed; without a key a repeat after the run finished is 409", async () => {
      const run = await send("pay-app", "POST", "/v1/provisions", { ...lawfulPlan, mode: "run", wait: true });
      assert.equal(run.body.status, "completed", run.text);
      await t.c.stores.data.provisions.updateProvision(run.body.id, { status: "failed", updatedAt: clock.now() });
      const key = newKey("resume");
      const a = await twice("pay-app", "POST", `/v1/provisions/${run.body.id}/resume`, undefined, key);
      assert.equal(a.status, 202);
      await t.c.services.provisions.drain();
      assert.equal((await t.c.stores.data.provisions.getProvision(run.body.id))?.status, "completed");
      const replay = await send("pay-app", "POST", `/v1/provisions/${run.body.id}/resume`, undefined, key);
      assert.equal(replay.status, 202);
      assert.equal(replay.text, a.text);
      assert.equal((await send("pay-app", "POST", `/v1/provisions/${run.body.id}/resume`)).status, 409);
      await mismatch("pay-app", "POST", `/v1/provisions/${(await send("pay-app", "POST", "/v1/provisions", { ...lawfulPlan, mode: "plan" })).body.id}/resume`, undefined, key);
      // The resumption recorded and its answer lost: the retry gets it, and the run is resumed once.
      await t.c.stores.data.provisions.updateProvision(run.body.id, { status: "failed", updatedAt: clock.now() });
      lost.loseNext("provisions.updateProvision");
      const lostKey = newKey("resume-lost");
      const first = await send("pay-app", "POST", `/v1/provisions/${run.body.id}/resume`, undefined, lostKey);
      assert.equal(first.status, 503, first.text);
      assert.equal((await t.c.stores.data.provisions.getProvision(run.body.id))?.status, "running", "recorded as resumed");
      const retry = await send("pay-app", "POST", `/v1/provisions/${run.body.id}/resume`, undefined, lostKey);
      assert.equal(retry.status, 202, retry.text);
      assert.equal(retry.text, (await storedKey("pay-app", lostKey))?.response);
      // Not relaunched by the retry: a run left "running" without its process is resumed by a new request.
      await t.c.stores.data.provisions.updateProvision(run.body.id, { status: "failed", updatedAt: clock.now() });
      assert.equal((await send("pay-app", "POST", `/v1/provisions/${run.body.id}/resume`)).status, 202);
      await t.c.services.provisions.drain();
    });

    test("PIPA Art. 28-9: a suspension and its lift, each once; a lift retried after a lost answer is 204, not 404", async () => {
      const count = async () => (await t.c.stores.data.provisions.listSuspensions()).length;
      const before = await count();
      const suspends = await audits("provision.suspend");
      const body = { scope: "recipient", target: "sms-gateway", order: "PIPC 2026-77", reason: "investigation" };
      const suspendKey = newKey("suspend");
      lost.loseNext("provisions.putSuspension");
      const s = await afterLostAnswer("privacy-office", "POST", "/v1/suspensions", body, suspendKey);
      await mismatch("privacy-office", "POST", "/v1/suspensions", { ...body, order: "PIPC 2026-78" }, suspendKey);
      assert.equal(s.status, 201);
      assert.equal(await count(), before + 1, "one suspension");
      const key = newKey("lift");
      lost.loseNext("provisions.liftSuspension");
      const lift = await send("privacy-office", "DELETE", `/v1/suspensions/${s.body.id}`, undefined, key);
      assert.equal(lift.status, 503, lift.text);
      const retry = await send("privacy-office", "DELETE", `/v1/suspensions/${s.body.id}`, undefined, key);
      assert.equal(retry.status, 204);
      assert.equal(retry.replayed, true);
      await mismatch("privacy-office", "DELETE", `/v1/suspensions/sus_other`, undefined, key);
      assert.equal((await send("privacy-office", "DELETE", `/v1/suspensions/${s.body.id}`)).status, 404, "without a key: nothing left to lift");
      assert.equal(await audits("provision.suspend"), suspends + 1, "audited once");
    });

    test("POST /v1/principals/{name}/lift: one principal.lift, also after a lost answer", async () => {
      const principal = "marketing-svc";
      await t.c.stores.data.detection.putHold({ id: `hold_${kind}_1`, principal, kind: "suspend", rule: "denial_storm", alertId: null, reason: "test", at: clock.now(), until: null, liftedAt: null, liftedBy: null, liftReason: null });
      const lifts = await audits("principal.lift");
      lost.loseNext("detection.liftHolds");
      const key = newKey("unhold");
      const retry = await afterLostAnswer("privacy-office", "POST", `/v1/principals/${principal}/lift`, { reason: "false positive" }, key);
      await mismatch("privacy-office", "POST", `/v1/principals/${principal}/lift`, { reason: "another reason" }, key);
      assert.deepEqual(retry.body.lifted.map((h: { id: string }) => h.id), [`hold_${kind}_1`]);
      assert.equal(await audits("principal.lift"), lifts + 1);
      assert.equal((await send("privacy-office", "POST", `/v1/principals/${principal}/lift`, { reason: "false positive" })).status, 404);
    });

    describe("incidents (PIPA Art. 34)", () => {
      const window = { from: "", to: "" };
      const incidentsOf = async () => (await t.c.stores.data.incidents.list({ limit: 1000 })).length;
      before(async () => {
        // Two members read by the support console inside the window: the scope of a breach.
        window.from = clock.now().toISOString();
        for (let i = 0; i < 2; i++) {
          const p = person(++n);
          assert.equal((await send("talk-app", "POST", "/v1/subjects", { purpose: "talk_service", fields: p })).status, 201);
          const found = await send("support-console", "POST", "/v1/lookup", { purpose: "customer_support", field: "phone", value: p.phone });
          assert.equal(found.body.matches.length, 1, found.text);
          assert.equal((await send("support-console", "GET", `/v1/subjects/${found.body.matches[0]}?purpose=customer_support&fields=name,phone`)).status, 200);
        }
        clock.advance(60_000);
        window.to = clock.now().toISOString();
      });
      const open = (over: Record<string, unknown> = {}) => ({
        kind: "leak",
        summary: "member names and phones offered on a forum",
        source: { type: "external", channel: "press" },
        awareAt: window.to,
        ...over,
      });

      test("open: a retry never opens a second incident — after a lost answer, and when the scope was not yet stored", async () => {
        const before = await incidentsOf();
        const opens = await audits("incident.open");
        await twice("privacy-office", "POST", "/v1/incidents", open(), newKey("open"), open({ summary: "another" }));
        lost.loseNext("incidents.insert");
        await afterLostAnswer("privacy-office", "POST", "/v1/incidents", open({ summary: "lost answer" }), newKey("open-lost"));
        const key = newKey("open-scoped");
        const scoped = open({ summary: "scoped", scope: { from: window.from, to: window.to, principals: ["support-console"] } });
        lost.failNext("incidents.putScope");
        const first = await send("privacy-office", "POST", "/v1/incidents", scoped, key);
        assert.equal(first.status, 503, first.text);
        assert.equal((await storedKey("privacy-office", key))?.status, PENDING, "opened, claimed, not yet scoped");
        const retry = await send("privacy-office", "POST", "/v1/incidents", scoped, key);
        assert.equal(retry.status, 201, retry.text);
        assert.equal(retry.body.scope.people.total, 2, "the retry traced the scope of the incident the first attempt opened");
        assert.deepEqual(retry.body.timeline.map((e: { act: string }) => e.act), ["opened", "scoped"]);
        assert.equal(await incidentsOf(), before + 3, "three incidents for three keys");
        assert.equal(await audits("incident.open"), opens + 3);
        assert.equal((await send("privacy-office", "POST", "/v1/incidents", scoped, key)).text, retry.text);
      });

      test("facts, scope, notices and reports: each act recorded once; a round of notices retried after its delivery's record failed is one round, handed over at least once", async () => {
        const o = await send("privacy-office", "POST", "/v1/incidents", open({ summary: "acts" }));
        assert.equal(o.status, 201, o.text);
        const id = o.body.id as string;
        const acts = async () => (await t.c.stores.data.incidents.events(id)).map((e) => e.act);
        const facts = { facts: { intrusion: true, circumstances: { ko: "외부 포럼 게시", en: "posted on a forum" } }, containment: [{ measure: "blocked_access", description: "console key revoked" }] };
        const factsKey = newKey("facts");
        lost.loseNext("incidents.update");
        const recorded = await afterLostAnswer("privacy-office", "POST", `/v1/incidents/${id}/facts`, facts, factsKey);
        await mismatch("privacy-office", "POST", `/v1/incidents/${id}/facts`, { facts: { intrusion: false } }, factsKey);
        assert.deepEqual(recorded.body.timeline.map((e: { act: string }) => e.act), ["opened", "facts", "containment"]);
        assert.deepEqual(await acts(), ["opened", "facts", "containment"], "the acts recorded once, together");
        const scopeKey = newKey("scope");
        lost.loseNext("incidents.putScope");
        const scoped = await afterLostAnswer("privacy-office", "POST", `/v1/incidents/${id}/scope`, { from: window.from, to: window.to, principals: ["support-console"] }, scopeKey);
        await mismatch("privacy-office", "POST", `/v1/incidents/${id}/scope`, { from: window.from, principals: ["support-console"] }, scopeKey);
        assert.equal(scoped.body.scope.people.total, 2);
        assert.deepEqual(await acts(), ["opened", "facts", "containment", "scoped"]);

        const key = newKey("notify");
        lost.failNext("incidents.markOutbox"); // handed over, but the record of it fails
        const first = await send("privacy-office", "POST", `/v1/incidents/${id}/notices`, {}, key);
        assert.equal(first.status, 503, first.text);
        assert.equal((await storedKey("privacy-office", key))?.status, PENDING);
        const retry = await send("privacy-office", "POST", `/v1/incidents/${id}/notices`, {}, key);
        assert.equal(retry.status, 200, retry.text);
        assert.equal(retry.body.round.people, 2);
        assert.equal(retry.body.round.sent, 2);
        assert.equal(retry.body.round.failed, 0);
        const notices = await t.c.stores.data.incidents.notices(id);
        assert.equal(notices.filter((x) => x.audience === "subject").length, 1, "one round of notices, not two");
        const outbox = await t.c.stores.data.incidents.outbox(id, { limit: 100 });
        assert.equal(outbox.filter((m) => m.subjectId !== null).length, 2, "each person queued once");
        for (const m of outbox.filter((x) => x.subjectId !== null)) assert.equal(mail.handed.get(m.id), 2, "handed over again under the same message id (at least once)");
        assert.deepEqual((await acts()).filter((a) => a === "notices_queued").length, 1);
        assert.equal((await send("privacy-office", "POST", `/v1/incidents/${id}/notices`, {}, key)).text, retry.text);
        await mismatch("privacy-office", "POST", "/v1/incidents/inc_other/notices", {}, key);

        const reports = await audits("incident.report");
        lost.loseNext("transaction"); // the answer's own commit lands; its acknowledgement is lost
        const reportKey = newKey("report");
        const reported = await afterLostAnswer("privacy-office", "POST", `/v1/incidents/${id}/reports`, { authority: "pipc_kisa" }, reportKey);
        await mismatch("privacy-office", "POST", `/v1/incidents/${id}/reports`, { authority: "fsc_fss" }, reportKey);
        assert.equal(reported.body.notices.documents.filter((d: { audience: string }) => d.audience === "pipc_kisa").length, 1);
        assert.equal((await t.c.stores.data.incidents.notices(id)).filter((x) => x.audience === "pipc_kisa").length, 1, "one report filed");
        assert.equal(await audits("incident.report"), reports + 1);
      });
    });

    test("OpenAPI: every write route documents the header (one schema, one pattern); the reads sent by POST and the portal link say why they take none", async () => {
      const doc = (await send("talk-app", "GET", "/openapi.json")).body;
      const exempt = new Set(["POST /v1/lookup", "POST /v1/audit/verify", "POST /v1/subjects/{id}/portal-link"]);
      const writes: string[] = [];
      for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
        if (!path.startsWith("/v1/")) continue;
        for (const [method, op] of Object.entries(item)) {
          if (!["post", "put", "patch", "delete"].includes(method)) continue;
          const name = `${method.toUpperCase()} ${path}`;
          const header = (op.parameters ?? []).find((p: { in: string; name: string }) => p.in === "header" && p.name === "idempotency-key");
          if (exempt.has(name)) {
            assert.equal(header, undefined, name);
            assert.match(String(op.description), /no Idempotency-Key/, name);
            continue;
          }
          writes.push(name);
          assert.ok(header, `${name} declares Idempotency-Key`);
          assert.equal(header.schema.pattern, "^[A-Za-z0-9._:-]{8,128}$", name);
          assert.match(String(op.description), /Idempotency-Key/, name);
        }
      }
      assert.ok(writes.length >= 20, `${writes.length} write routes`);
    });

    test("keys are forgotten after 24 hours: pruned on the way of keyed requests, and then free for another request", async () => {
      const id = await createTalk();
      const key = newKey("old");
      assert.equal((await send("talk-app", "PATCH", `/v1/subjects/${id}`, { purpose: "talk_service", fields: { nickname: "old" } }, key)).status, 200);
      clock.advance(25 * 3600_000);
      // Any keyed request prunes on its way (every few minutes at most).
      assert.equal((await send("talk-app", "PATCH", `/v1/subjects/${id}`, { purpose: "talk_service", fields: { nickname: "later" } }, newKey("later"))).status, 200);
      for (let i = 0; i < 50 && (await storedKey("talk-app", key)) !== undefined; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(await storedKey("talk-app", key), undefined, "the day-old key is gone");
      const reuse = await send("talk-app", "PATCH", `/v1/subjects/${id}`, { purpose: "talk_service", fields: { nickname: "new" } }, key);
      assert.equal(reuse.status, 200);
      assert.equal(reuse.replayed, false, "a new request under the old key");
      clock.advance(25 * 3600_000);
      assert.ok((await t.c.services.idempotency.prune()) >= 1);
    });
  });
}
