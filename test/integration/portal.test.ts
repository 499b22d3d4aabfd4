/**
 * The portal for people (ADR 0012) on SQLite and PostgreSQL, over HTTP: the signed link (who may
 * ask for one, expiry, tampering, reuse, the wrong person, failing closed), the session (cookie
 * flags, idle end, sign out, anti-CSRF), and the person's rights through it (PIPA Arts. 35, 35-2,
 * 36, 37), each audited with the person as the actor.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { parseCanonical } from "../../src/audit/canonical.js";
import { fixedClock } from "../../src/core/clock.js";
import { pseudonyms } from "../../src/crypto/pseudonym.js";
import { PORTAL_ACTOR } from "../../src/services/portal-service.js";
import { payFields } from "../fixtures/people.js";
import { STORE_KINDS, internalOf, startApp, type TestApp } from "../helpers/app.js";

const MIN = 60_000;

const talkPerson = (i: number) => ({
  user_id: `talker-${i}`,
  phone: `010-7${String(100 + i).padStart(3, "0")}-${String(5000 + i)}`,
  name: "한보람",
  nickname: `boram${i}`,
  email: `boram${i}@example.com`,
});

interface Browser {
  cookie: string | undefined;
  get(path: string, headers?: Record<string, string>): Promise<Response>;
  post(path: string, form: Record<string, string>, headers?: Record<string, string>): Promise<Response>;
}

/** A cookie jar of one (the portal's cookie) over fetch, without following redirects. */
const browser = (t: TestApp): Browser => {
  const b: Browser = {
    cookie: undefined,
    async get(path, headers = {}) {
      const res = await fetch(path.startsWith("http") ? path : `${t.url}${path}`, {
        redirect: "manual",
        headers: { ...(b.cookie ? { cookie: `haechi_portal=${b.cookie}` } : {}), ...headers },
      });
      keep(res);
      return res;
    },
    async post(path, form, headers = {}) {
      const res = await fetch(`${t.url}${path}`, {
        method: "POST",
        redirect: "manual",
        headers: { "content-type": "application/x-www-form-urlencoded", ...(b.cookie ? { cookie: `haechi_portal=${b.cookie}` } : {}), ...headers },
        body: new URLSearchParams(form).toString(),
      });
      keep(res);
      return res;
    },
  };
  const keep = (res: Response) => {
    const set = res.headers.get("set-cookie");
    const m = set ? /haechi_portal=([^;]*)/.exec(set) : null;
    if (m) b.cookie = m[1] === "" ? undefined : m[1];
  };
  return b;
};

const csrfOf = (page: string) => /name="csrf" value="([^"]+)"/.exec(page)?.[1] ?? "";

for (const kind of STORE_KINDS) {
  describe(`portal on ${kind}`, () => {
    let t: TestApp;
    const clock = fixedClock(new Date());
    before(async () => {
      t = await startApp(kind, { clock });
    });
    after(async () => {
      await t?.close();
    });

    const createTalker = async (i: number, consents = true) => {
      const r = await t.call("talk-app", "POST", "/v1/subjects", {
        purpose: "talk_service",
        fields: talkPerson(i),
        consents: consents ? [{ notice: "marketing", action: "grant", channel: "app" }] : [],
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.id as string;
    };
    const linkFor = async (principal: string, id: string) => {
      const r = await t.call(principal, "POST", `/v1/subjects/${id}/portal-link`);
      return r;
    };
    const open = async (id: string) => {
      const l = await linkFor("talk-app", id);
      assert.equal(l.status, 201, JSON.stringify(l.body));
      const b = browser(t);
      const res = await b.get(l.body.url);
      assert.equal(res.status, 303);
      return { b, url: l.body.url as string };
    };
    /** The id another principal (its own identifier context) knows the same person by. */
    const idAs = (principal: string, talkId: string) =>
      pseudonyms(t.c.keyring.secrets.pseudonymKey).externalId(principal, internalOf(t, "talk-app", talkId));
    const auditOf = async (id: string) => {
      await t.c.audit.flush();
      const row = await t.c.stores.keys.get(internalOf(t, "talk-app", id));
      return (await t.c.stores.audit.bySubjectRef(row!.auditRef, 1000)).map((r) => parseCanonical(r.body));
    };

    test("a service gets a short-lived link for its logged-in user; opening it gives an HttpOnly, SameSite=Strict cookie and a URL without the token", async () => {
      const id = await createTalker(1);
      const l = await linkFor("talk-app", id);
      assert.equal(l.status, 201, JSON.stringify(l.body));
      assert.match(l.body.url, /^http:\/\/127\.0\.0\.1:\d+\/portal\/enter\?t=pl1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
      assert.equal(Date.parse(l.body.expiresAt) - clock.now().getTime(), 5 * MIN);
      assert.ok(!l.body.url.includes(id), "the service's id for the person is not in the link");
      const res = await fetch(l.body.url, { redirect: "manual" });
      assert.equal(res.status, 303);
      assert.equal(res.headers.get("location"), "/portal");
      const cookie = res.headers.get("set-cookie") ?? "";
      assert.match(cookie, /^haechi_portal=ps1\./);
      assert.match(cookie, /; HttpOnly/);
      assert.match(cookie, /; SameSite=Strict/);
      assert.match(cookie, /; Path=\/portal/);
      assert.doesNotMatch(cookie, /Secure/, "plain HTTP here; Secure is set behind TLS");
      const entries = await auditOf(id);
      const link = entries.find((e) => e.action === "portal.link");
      assert.equal(link?.principal, "talk-app");
      assert.equal(link?.effect, "allow");
      const enter = entries.find((e) => e.action === "portal.enter");
      assert.equal(enter?.principal, PORTAL_ACTOR);
      assert.equal(enter?.effect, "allow");
    });

    test("PIPA Art. 35: the page shows the items held, purposes and bases, consents, recipients and access history, with values hidden until asked", async () => {
      const id = await createTalker(2);
      await t.call("talk-app", "GET", `/v1/subjects/${id}?purpose=talk_service`);
      const { b } = await open(id);
      const res = await b.get("/portal");
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("cache-control"), "no-store");
      assert.match(res.headers.get("content-security-policy") ?? "", /script-src 'self'/);
      const page = await res.text();
      assert.match(page, /<html lang="ko">/);
      assert.match(page, /보유 중인 개인정보/);
      assert.match(page, /휴대전화번호/);
      assert.ok(!page.includes(talkPerson(2).phone), "values are hidden by default");
      assert.match(page, /계약의 체결·이행/);
      assert.match(page, /광고성 정보 수신 동의/);
      assert.match(page, /누리문자 주식회사/, "the marketing SMS processor");
      assert.match(page, /메신저 앱 서버/, "the talk service's read is in the access history");
      const en = await (await b.get("/portal?lang=en")).text();
      assert.match(en, /<html lang="en">/);
      assert.match(en, /Personal data we hold/);

      const shown = await b.post("/portal/reveal", { csrf: csrfOf(page) });
      assert.equal(shown.status, 200);
      const withValues = await shown.text();
      assert.ok(withValues.includes(talkPerson(2).phone), "values after a fresh confirmation");
      const read = (await auditOf(id)).find((e) => e.action === "subject.read" && e.principal === PORTAL_ACTOR);
      assert.equal(read?.purpose, "data_subject_access");
      assert.ok(read?.fields.includes("phone"));
    });

    test("a link works once: opening it again is refused and audited", async () => {
      const id = await createTalker(3);
      const { url } = await open(id);
      const again = await fetch(url, { redirect: "manual" });
      assert.equal(again.status, 401);
      assert.match(await again.text(), /이미 사용한 링크/);
      const denied = (await auditOf(id)).filter((e) => e.action === "portal.enter" && e.effect === "deny");
      assert.deepEqual(denied.map((e) => e.reasons), [["LINK_USED"]]);
    });

    test("a tampered link or cookie is refused (the MAC is checked in constant time before anything is read)", async () => {
      const id = await createTalker(4);
      const l = await linkFor("talk-app", id);
      const [prefix, payload, mac] = (new URL(l.body.url).searchParams.get("t") ?? "").split(".");
      const other = await createTalker(5);
      const l2 = await linkFor("talk-app", other);
      const payload2 = (new URL(l2.body.url).searchParams.get("t") ?? "").split(".")[1];
      const flip = (s: string) => (s[0] === "A" ? "B" : "A") + s.slice(1);
      for (const bad of [`${prefix}.${payload2}.${mac}`, `${prefix}.${payload}.${flip(mac!)}`, `${prefix}.${flip(payload!)}.${mac}`, "pl1.x", "", `ps1.${payload}.${mac}`]) {
        const res = await fetch(`${t.url}/portal/enter?t=${encodeURIComponent(bad)}`, { redirect: "manual" });
        assert.equal(res.status, 401, bad);
        assert.match(await res.text(), /링크가 올바르지 않습니다/);
      }
      const forged = await fetch(`${t.url}/portal`, { headers: { cookie: `haechi_portal=ps1.${payload}.${mac}` } });
      assert.equal(forged.status, 401);
      // The genuine link still works (the failed attempts did not use it up).
      assert.equal((await fetch(l.body.url, { redirect: "manual" })).status, 303);
    });

    test("a link expires after 5 minutes; a session ends after 10 idle minutes; values need a confirmation under 5 minutes old", async () => {
      const id = await createTalker(6);
      const l = await linkFor("talk-app", id);
      clock.advance(5 * MIN);
      const late = await fetch(l.body.url, { redirect: "manual" });
      assert.equal(late.status, 401);
      assert.match(await late.text(), /유효 시간/);

      const { b } = await open(id);
      clock.advance(4 * MIN);
      const page = await (await b.get("/portal")).text();
      clock.advance(2 * MIN); // 6 minutes after the link was opened, 2 after the last request
      const stale = await b.post("/portal/reveal", { csrf: csrfOf(page) });
      assert.equal(stale.status, 403);
      assert.ok(!(await stale.text()).includes(talkPerson(6).phone));
      const refused = await b.post("/portal/download", { csrf: csrfOf(page), format: "json" });
      assert.equal(refused.status, 403);
      assert.ok((await auditOf(id)).some((e) => e.principal === PORTAL_ACTOR && e.reasons.includes("CONFIRMATION_REQUIRED")));
      assert.equal((await b.get("/portal")).status, 200, "the session itself is still alive");
      clock.advance(10 * MIN + 1000);
      const idle = await b.get("/portal");
      assert.equal(idle.status, 401);
      assert.match(await idle.text(), /활동이 없어/);
    });

    test("only a service allowed for that person gets a link (fail closed; every refusal audited)", async () => {
      const id = await createTalker(7);
      assert.equal((await t.call(null, "POST", `/v1/subjects/${id}/portal-link`)).status, 401);
      // Another context's id for the same person means nothing to talk-app: not found.
      const oc = await t.call("openchat-app", "POST", "/v1/subjects", { purpose: "openchat_service", fields: { user_id: "talker-7", openchat_nickname: "anon7" } });
      assert.equal(oc.status, 201);
      assert.equal((await linkFor("talk-app", oc.body.id)).status, 404);
      assert.equal((await linkFor("talk-app", "sub_AAAAAAAAAAAAAAAAAAAAAA")).status, 404);
      // The privacy office (an operator) and the legal archive hold no user's session.
      assert.equal((await linkFor("privacy-office", id)).status, 403);
      assert.equal((await linkFor("legal-archive", id)).status, 403);
      // A marketing service collects nothing: it is not where the person is logged in.
      const mk = await t.call("marketing-svc", "GET", `/v1/subjects/${idAs("marketing-svc", id)}?purpose=marketing`);
      assert.equal(mk.status, 200);
      const mkLink = await linkFor("marketing-svc", idAs("marketing-svc", id));
      assert.equal(mkLink.status, 403, JSON.stringify(mkLink.body));
      await t.c.audit.flush();
      const refusals: string[][] = [];
      for await (const page of t.c.stores.audit.iterate(0, 10_000)) {
        for (const r of page) {
          const e = parseCanonical(r.body);
          if (e.action === "portal.link" && e.effect === "deny") refusals.push(e.reasons);
        }
      }
      assert.ok(refusals.some((r) => r.includes("ROLE_NOT_PERMITTED")));
      assert.ok(refusals.some((r) => r.includes("PURPOSE_NOT_COLLECTING")));
      assert.ok(refusals.some((r) => r.includes("NOT_FOUND")));
    });

    test("a person's session shows that person only; another person's link opens another session", async () => {
      const a = await createTalker(8);
      const bId = await createTalker(9);
      const { b: ba } = await open(a);
      const { b: bb } = await open(bId);
      const pa = await (await ba.post("/portal/reveal", { csrf: csrfOf(await (await ba.get("/portal")).text()) })).text();
      const pb = await (await bb.post("/portal/reveal", { csrf: csrfOf(await (await bb.get("/portal")).text()) })).text();
      assert.ok(pa.includes(talkPerson(8).phone) && !pa.includes(talkPerson(9).phone));
      assert.ok(pb.includes(talkPerson(9).phone) && !pb.includes(talkPerson(8).phone));
      // One session's anti-CSRF token is worthless in another.
      const cross = await ba.post("/portal/consents", { csrf: csrfOf(pb), notice: "marketing", action: "withdraw", version: "2" });
      assert.equal(cross.status, 403);
    });

    test("state changes need the session's anti-CSRF token and this origin; forms are accepted on /portal only", async () => {
      const id = await createTalker(10);
      const { b } = await open(id);
      const page = await (await b.get("/portal")).text();
      const form = { notice: "marketing", action: "withdraw", version: "2" };
      assert.equal((await b.post("/portal/consents", form)).status, 403);
      assert.equal((await b.post("/portal/consents", { ...form, csrf: "x" + csrfOf(page) })).status, 403);
      assert.equal((await b.post("/portal/consents", { ...form, csrf: csrfOf(page) }, { origin: "https://evil.example" })).status, 403);
      assert.equal((await b.post("/portal/consents", { ...form, csrf: csrfOf(page) }, { "sec-fetch-site": "cross-site" })).status, 403);
      // `Origin: null` (what a browser sends under Referrer-Policy no-referrer) only with Sec-Fetch-Site same-origin.
      assert.equal((await b.post("/portal/consents", { ...form, csrf: csrfOf(page) }, { origin: "null" })).status, 403);
      assert.equal((await b.post("/portal/consents", { ...form, csrf: csrfOf(page) }, { origin: "null", "sec-fetch-site": "cross-site" })).status, 403);
      const consents = await t.c.stores.data.currentConsents(internalOf(t, "talk-app", id));
      assert.equal(consents.find((c) => c.notice === "marketing")?.status, "granted", "nothing changed");
      // The JSON API still refuses forms.
      const api = await fetch(`${t.url}/v1/subjects`, {
        method: "POST",
        headers: { authorization: `Bearer ${t.keys["talk-app"]}`, "content-type": "application/x-www-form-urlencoded" },
        body: "purpose=talk_service",
      });
      assert.equal(api.status, 415);
    });

    test("PIPA Art. 37: the person withdraws marketing consent (notice text shown first); a marketing read is then denied; granting again needs the version in force", async () => {
      const id = await createTalker(11);
      const mkId = idAs("marketing-svc", id);
      assert.equal((await t.call("marketing-svc", "GET", `/v1/subjects/${mkId}?purpose=marketing`)).status, 200);
      const { b } = await open(id);
      const page = await (await b.get("/portal")).text();
      assert.match(page, /이벤트·혜택 등 광고성 정보를 문자 메시지와 앱 푸시로 보내 드립니다/, "the notice text of the version given");
      const res = await b.post("/portal/consents", { csrf: csrfOf(page), notice: "marketing", action: "withdraw", version: "2" });
      assert.equal(res.status, 303);
      assert.equal(res.headers.get("location"), "/portal?done=withdrawn#consent-marketing");
      const denied = await t.call("marketing-svc", "GET", `/v1/subjects/${mkId}?purpose=marketing`);
      assert.equal(denied.status, 403);
      assert.equal(denied.body.error.details.reasons[0].code, "CONSENT_WITHDRAWN");
      const entry = (await auditOf(id)).find((e) => e.action === "consent.withdraw");
      assert.equal(entry?.principal, PORTAL_ACTOR);
      assert.equal(entry?.meta?.channel, "web");
      assert.match(await (await b.get("/portal?done=withdrawn")).text(), /동의를 철회했습니다/);
      // A superseded version cannot be agreed to.
      const old = await b.post("/portal/consents", { csrf: csrfOf(page), notice: "marketing", action: "grant", version: "1" });
      assert.equal(old.status, 409);
      const again = await b.post("/portal/consents", { csrf: csrfOf(page), notice: "marketing", action: "grant", version: "2" });
      assert.equal(again.status, 303);
      assert.equal((await t.call("marketing-svc", "GET", `/v1/subjects/${mkId}?purpose=marketing`)).status, 200);
    });

    test("PIPA Art. 22(1), 22(5): one toggle records one consent of one category, and refusing an optional one leaves the service working", async () => {
      const r = await t.call("talk-app", "POST", "/v1/subjects", {
        purpose: "talk_service",
        fields: talkPerson(16),
        consents: [
          { notice: "marketing", action: "grant", channel: "app" },
          { notice: "analytics", action: "grant", channel: "app" },
        ],
      });
      assert.equal(r.status, 201);
      const id = r.body.id as string;
      const internal = internalOf(t, "talk-app", id);
      const before = (await t.c.stores.data.consentHistory(internal)).length;
      const { b } = await open(id);
      const page = await (await b.get("/portal")).text();
      assert.equal((await b.post("/portal/consents", { csrf: csrfOf(page), notice: "analytics", action: "withdraw", version: "1" })).status, 303);
      const history = await t.c.stores.data.consentHistory(internal);
      assert.equal(history.length, before + 1, "exactly one event");
      assert.deepEqual([history.at(-1)!.notice, history.at(-1)!.category, history.at(-1)!.action], ["analytics", "collection_use", "withdraw"]);
      const current = await t.c.stores.data.currentConsents(internal);
      assert.equal(current.find((c) => c.notice === "marketing")?.status, "granted", "the other consent is untouched");
      assert.equal((await t.call("talk-app", "GET", `/v1/subjects/${id}?purpose=talk_service`)).status, 200, "the service still works");
    });

    test("PIPA Arts. 35, 35-2: the download (JSON and CSV) holds the values, consents with history, provisions and access history, is audited and recorded in the request ledger", async () => {
      const id = await createTalker(12);
      const { b } = await open(id);
      const page = await (await b.get("/portal")).text();
      const json = await b.post("/portal/download", { csrf: csrfOf(page), format: "json" });
      assert.equal(json.status, 200);
      assert.match(json.headers.get("content-disposition") ?? "", /^attachment; filename="my-data-\d{8}\.json"$/);
      assert.equal(json.headers.get("cache-control"), "no-store");
      const body = (await json.json()) as any;
      assert.equal(body.format, "haechi-portal-export/1");
      assert.equal(body.data.phone, talkPerson(12).phone);
      assert.equal(body.data.email, talkPerson(12).email);
      assert.equal(body.consents.current.find((c: { notice: string }) => c.notice === "marketing").status, "granted");
      assert.equal(body.consents.history[0].action, "grant");
      assert.ok(Array.isArray(body.provisions));
      assert.ok(body.accessHistory.some((a: { action: string }) => a.action === "subject.create"));
      const csv = await b.post("/portal/download", { csrf: csrfOf(page), format: "csv" });
      assert.equal(csv.status, 200);
      assert.match(csv.headers.get("content-type") ?? "", /^text\/csv/);
      const bytes = Buffer.from(await csv.arrayBuffer());
      assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], "a UTF-8 byte-order mark for spreadsheets");
      const text = bytes.subarray(3).toString("utf8");
      assert.ok(text.startsWith("section,item,value,purpose,party,country,at,status,detail\r\n"));
      assert.ok(text.includes(`data,phone,${talkPerson(12).phone}`));
      const exports = (await auditOf(id)).filter((e) => e.action === "subject.export" && e.principal === PORTAL_ACTOR);
      assert.equal(exports.length, 2);
      // Each download is a portability request answered there and then, in the privacy office's ledger.
      const ledger = (await t.c.stores.data.requests.list({ limit: 1000 })).filter((r) => r.subjectId === internalOf(t, "talk-app", id));
      assert.deepEqual(ledger.map((r) => [r.kind, r.channel, r.status, r.filedBy]), [["portability", "portal", "completed", PORTAL_ACTOR], ["portability", "portal", "completed", PORTAL_ACTOR]]);
      assert.ok(ledger.every((r) => (r.outcome as { fields: string[] }).fields.includes("phone") && !JSON.stringify(r.outcome).includes(talkPerson(12).phone)), "the ledger names the items, never their values");
    });

    test("PIPA Art. 36: deleting the account shows what a law keeps, under which law and until when, then erases through the erase service, records the answered request and ends the session", async () => {
      const pay = await t.call("pay-app", "POST", "/v1/subjects", { purpose: "pay_service", fields: payFields(13) });
      assert.equal(pay.status, 201);
      const l = await linkFor("pay-app", pay.body.id);
      assert.equal(l.status, 201);
      const b = browser(t);
      assert.equal((await b.get(l.body.url)).status, 303);
      const confirm = await b.get("/portal/delete");
      assert.equal(confirm.status, 200);
      const page = await confirm.text();
      assert.match(page, /법령에 따라 분리 보관되는 항목/);
      assert.match(page, /E-Commerce Consumer Protection Act/);
      assert.match(page, /결제·송금 내역/);
      // Unconfirmed: nothing happens.
      assert.equal((await b.post("/portal/delete", { csrf: csrfOf(page) })).status, 400);
      const done = await b.post("/portal/delete", { csrf: csrfOf(page), confirm: "yes" });
      assert.equal(done.status, 200);
      assert.match(await done.text(), /탈퇴가 완료되었습니다/);
      assert.equal((await t.call("pay-app", "GET", `/v1/subjects/${pay.body.id}?purpose=pay_service`)).status, 404);
      const subject = await t.c.stores.data.getSubject(internalOf(t, "pay-app", pay.body.id));
      assert.equal(subject?.status, "erased");
      assert.equal((await b.get("/portal")).status, 401, "the session ended with the account");
      await t.c.audit.flush();
      let erased = false;
      for await (const rows of t.c.stores.audit.iterate(0, 10_000)) {
        for (const r of rows) {
          const e = parseCanonical(r.body);
          if (e.action === "subject.erase" && e.principal === PORTAL_ACTOR && e.reasons.includes("DATA_SUBJECT_REQUEST")) erased = true;
        }
      }
      assert.ok(erased, "audited with the person as the actor");
      const ledger = (await t.c.stores.data.requests.list({ limit: 1000 })).filter((r) => r.subjectId === subject!.id);
      assert.deepEqual(ledger.map((r) => [r.kind, r.channel, r.status]), [["deletion", "portal", "completed"]], "the deletion is in the request ledger, answered at once");
      assert.ok((ledger[0]!.outcome as { retained: unknown[] }).retained.length > 0, "with what a law keeps");
    });

    test("PIPA Art. 35: the transparency report over the API (for the service's own app) has everything but the values, allowed as a link is, audited", async () => {
      const id = await createTalker(15);
      await t.call("talk-app", "GET", `/v1/subjects/${id}?purpose=talk_service`);
      const r = await t.call("talk-app", "GET", `/v1/subjects/${id}/report`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body.held.map((h: { field: string }) => h.field).sort(), Object.keys(talkPerson(15)).sort());
      assert.ok(!JSON.stringify(r.body).includes(talkPerson(15).phone), "no values");
      assert.equal(r.body.consents.find((c: { notice: string }) => c.notice === "marketing").status, "granted");
      assert.ok(r.body.purposes.some((p: { purpose: string; basis: string }) => p.purpose === "talk_service" && p.basis === "contract"));
      assert.ok(r.body.recipients.some((x: { recipient: string }) => x.recipient === "sms-gateway"));
      assert.ok(r.body.access.some((a: { actor: string; action: string }) => a.actor === "talk-app" && a.action === "subject.read"));
      assert.equal(r.body.access[0].action, "subject.report", "newest first: this very request");
      assert.equal(r.body.access.at(-1).action, "subject.create");
      assert.deepEqual(r.body.incidents, []);
      assert.equal((await t.call("privacy-office", "GET", `/v1/subjects/${id}/report`)).status, 403);
      assert.equal((await t.call("talk-app", "GET", "/v1/subjects/sub_AAAAAAAAAAAAAAAAAAAAAA/report")).status, 404);
      const entries = await auditOf(id);
      assert.ok(entries.some((e) => e.action === "subject.report" && e.principal === "talk-app" && e.effect === "allow"));
    });

    test("signing out ends the session for every process", async () => {
      const id = await createTalker(14);
      const { b } = await open(id);
      const page = await (await b.get("/portal")).text();
      const cookie = b.cookie;
      assert.equal((await b.post("/portal/leave", { csrf: csrfOf(page) })).status, 200);
      const replay = await fetch(`${t.url}/portal`, { headers: { cookie: `haechi_portal=${cookie}` } });
      assert.equal(replay.status, 401, "the old cookie is refused");
      assert.equal((await fetch(`${t.url}/portal`)).status, 401, "no cookie: told to open the portal from the app");
    });
  });
}

for (const kind of STORE_KINDS) {
  describe(`portal fails closed on ${kind}`, () => {
    let t: TestApp;
    let broken = false;
    before(async () => {
      t = await startApp(kind, {
        // The audit store refuses appends while `broken` (a full disk, a lost connection).
        wrapAuditStore: (s) =>
          new Proxy(s, {
            get(target, prop, receiver) {
              if (prop === "appendBatch") return (build: Parameters<typeof s.appendBatch>[0]) => (broken ? Promise.reject(new Error("disk full")) : target.appendBatch(build));
              const v = Reflect.get(target, prop, receiver);
              return typeof v === "function" ? v.bind(target) : v;
            },
          }),
      });
    });
    after(async () => {
      broken = false;
      await t?.close();
    });

    test("if the audit entry cannot be written: no link is issued, no session opened, no value shown", async () => {
      const c = await t.call("talk-app", "POST", "/v1/subjects", { purpose: "talk_service", fields: talkPerson(50) });
      assert.equal(c.status, 201);
      const id = c.body.id as string;
      const ok = await t.call("talk-app", "POST", `/v1/subjects/${id}/portal-link`);
      assert.equal(ok.status, 201);

      broken = true;
      const refused = await t.call("talk-app", "POST", `/v1/subjects/${id}/portal-link`);
      assert.equal(refused.status, 503, JSON.stringify(refused.body));
      assert.equal(refused.body.error.code, "AUDIT_UNAVAILABLE");
      assert.equal(refused.body.url, undefined);
      const enter = await fetch(ok.body.url, { redirect: "manual" });
      assert.ok(enter.status >= 500, `opening is refused (${enter.status})`);
      assert.equal(enter.headers.get("set-cookie"), null, "no session cookie");
      broken = false;

      const l = await t.call("talk-app", "POST", `/v1/subjects/${id}/portal-link`);
      const b = browser(t);
      assert.equal((await b.get(l.body.url)).status, 303);
      const page = await (await b.get("/portal")).text();
      broken = true;
      const reveal = await b.post("/portal/reveal", { csrf: csrfOf(page) });
      assert.ok(reveal.status >= 500);
      assert.ok(!(await reveal.text()).includes(talkPerson(50).phone));
      const download = await b.post("/portal/download", { csrf: csrfOf(page), format: "json" });
      assert.ok(download.status >= 500);
      assert.ok(!(await download.text()).includes(talkPerson(50).phone));
      broken = false;
    });
  });
}

describe("portal behind a proxy (HAECHI_PUBLIC_URL)", () => {
  let t: TestApp;
  before(async () => {
    t = await startApp("sqlite", { env: { HAECHI_PUBLIC_URL: "https://privacy.example.com" } });
  });
  after(async () => {
    await t?.close();
  });

  test("links are made absolute with the public origin, and forms from it are accepted", async () => {
    const c = await t.call("talk-app", "POST", "/v1/subjects", { purpose: "talk_service", fields: talkPerson(60) });
    const l = await t.call("talk-app", "POST", `/v1/subjects/${c.body.id}/portal-link`);
    assert.equal(l.status, 201);
    assert.ok(l.body.url.startsWith("https://privacy.example.com/portal/enter?t=pl1."));
    const b = browser(t);
    const opened = await b.get(l.body.url.replace("https://privacy.example.com", t.url));
    assert.equal(opened.status, 303);
    assert.match(opened.headers.get("set-cookie") ?? "", /; Secure/, "people reach it over https: the cookie is Secure");
    const page = await (await b.get("/portal")).text();
    const form = { csrf: csrfOf(page), notice: "marketing", action: "grant", version: "2" };
    assert.equal((await b.post("/portal/consents", form, { origin: "https://privacy.example.com", "sec-fetch-site": "same-origin" })).status, 303);
    assert.equal((await b.post("/portal/consents", form, { origin: "https://privacy.example.org" })).status, 403);
  });
});
