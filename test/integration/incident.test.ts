/**
 * The open-chat drill, incident half (seed 000; PIPA Art. 34; LAW §7, §15 H), on SQLite and
 * PostgreSQL with an injected clock: a compromised support console enumerates members by phone
 * number and reads their names and phones through the real HTTP API; the press reports it; an
 * incident is opened from that outside report naming the principal and the window; its scope is
 * exactly the members the console read in the window; the notices (Korean and English, every
 * item) and the PIPC/KISA report are produced and timestamped before the 72-hour deadline, and
 * members who cannot be reached directly get the website posting. And both halves together: the
 * real detection throttles a scrape and alerts, and the incident opened from that alert's id
 * scopes exactly the members served.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DEMO_CATALOG } from "../../src/config/config.js";
import { loadCatalog } from "../../src/container.js";
import type { Catalog } from "../../src/core/catalog/catalog-schema.js";
import { fixedClock } from "../../src/core/clock.js";
import { asSubjectId, type SubjectId } from "../../src/core/ids.js";
import type { NoticeTransport, OutgoingNotice } from "../../src/core/ports.js";
import { pseudonyms } from "../../src/crypto/pseudonym.js";
import { STORE_KINDS, startApp, type TestApp } from "../helpers/app.js";

const demo = loadCatalog(DEMO_CATALOG);
/** This service delivers breach notices by e-mail only: a member without an e-mail address has no contact. */
const emailOnly: Catalog = { ...demo, incident_response: { ...demo.incident_response!, contact_fields: ["email"] } };
/** Members the console scrapes: enough for the Decree 40(1)1 threshold of 1,000 people. */
const N = 1000;
/** The operator principal (the privacy office). */
const OP_KEY = "privacy-office";

const recorder = () => {
  const sent: OutgoingNotice[] = [];
  const transport: NoticeTransport = {
    name: "test-mail",
    needsAddress: true,
    deliver: async (ms) => {
      sent.push(...ms);
      return ms.map((m) => ({ id: m.id, proof: `test-mail:${m.id}`, error: null }));
    },
  };
  return { sent, transport };
};

const member = (n: number, email = true) => ({
  user_id: `oc-${n}`,
  phone: `010-${String(2000 + Math.floor(n / 10000)).padStart(4, "0")}-${String(n % 10000).padStart(4, "0")}`,
  name: `회원${n}`,
  nickname: `nick${n}`,
  ...(email ? { email: `member${n}@mail.example` } : {}),
});

/** Runs `fn` over `items`, `width` at a time. */
const pool = async <T>(items: readonly T[], width: number, fn: (x: T, i: number) => Promise<void>) => {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
};

for (const kind of STORE_KINDS) {
  describe(`open-chat drill, incident half, on ${kind}`, () => {
    let t: TestApp;
    const clock = fixedClock("2026-11-19T00:00:00.000Z");
    const mail = recorder();
    /** Members by index: the talk app's id and the internal id. */
    const ids: { ext: string; internal: SubjectId }[] = [];
    const total = N + 12;
    const scraped = Array.from({ length: N }, (_, i) => i); // 0..N-1, read by the console in the window
    const early = [N, N + 1, N + 2]; // read by the console before the window (ordinary support work)
    const talkOnly = [N + 3, N + 4, N + 5, N + 6]; // read by the talk app in the window
    const untouched = [N + 7, N + 8, N + 9, N + 10, N + 11];
    const noEmail = 7; // a scraped member without an e-mail address
    const erasedLater = 11; // a scraped member who deletes the account before the incident is opened
    let incidentId = "";

    before(async () => {
      t = await startApp(kind, { clock, catalog: emailOnly, transport: mail.transport });
      const p = pseudonyms(t.c.keyring.secrets.pseudonymKey);
      const created: { ext: string; internal: SubjectId }[] = new Array(total);
      await pool(Array.from({ length: total }, (_, i) => i), 16, async (i) => {
        const r = await t.call("talk-app", "POST", "/v1/subjects", { purpose: "talk_service", fields: member(i, i !== noEmail) });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        created[i] = { ext: r.body.id, internal: asSubjectId(p.resolve("talk-app", r.body.id)!) };
      });
      ids.push(...created);
    });
    after(async () => {
      await t?.close();
    });

    /** The console finds a member by phone (its own id context) and reads name and phone. */
    const consoleRead = async (i: number) => {
      const found = await t.call("support-console", "POST", "/v1/lookup", { purpose: "customer_support", field: "phone", value: member(i).phone });
      assert.equal(found.status, 200, JSON.stringify(found.body));
      assert.equal(found.body.matches.length, 1);
      const read = await t.call("support-console", "GET", `/v1/subjects/${found.body.matches[0]}?purpose=customer_support&fields=name,phone`);
      assert.equal(read.status, 200, JSON.stringify(read.body));
    };

    test("the console reads names and phones through the HTTP API; others read too, outside the window or by another principal", async () => {
      clock.set("2026-11-19T00:30:00.000Z");
      for (const i of early) await consoleRead(i);
      clock.set("2026-11-19T01:00:00.000Z"); // the scrape begins
      await pool(scraped, 8, async (i) => consoleRead(i));
      clock.set("2026-11-19T01:40:00.000Z");
      for (const i of [...talkOnly, 3]) {
        const r = await t.call("talk-app", "GET", `/v1/subjects/${ids[i]!.ext}?purpose=talk_service&fields=name,phone`);
        assert.equal(r.status, 200);
      }
      // A denied read releases nothing and is not in the scope.
      const denied = await t.call("support-console", "GET", `/v1/subjects/${ids[untouched[0]!]!.ext}?purpose=talk_service`);
      assert.equal(denied.status, 403);
      clock.set("2026-11-19T06:00:00.000Z");
      const gone = await t.call("talk-app", "DELETE", `/v1/subjects/${ids[erasedLater]!.ext}`);
      assert.equal(gone.status, 200, JSON.stringify(gone.body));
    });

    test("PIPA Art. 34 / LAW §15 H1: opened from the press report, the scope is exactly the members the console read in the window", async () => {
      clock.set("2026-11-20T09:30:00.000Z");
      const r = await t.call("privacy-office", "POST", "/v1/incidents", {
        kind: "leak",
        summary: "member names and phone numbers offered for sale on a forum",
        source: { type: "external", channel: "press", reporter: "Daily Example", reference: "article of 2026-11-20 09:00" },
        awareAt: "2026-11-20T09:00:00.000Z",
        facts: { intrusion: true },
        scope: { from: "2026-11-19T01:00:00.000Z", to: "2026-11-19T02:00:00.000Z", principals: ["support-console"] },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const v = r.body;
      incidentId = v.id;
      assert.match(v.id, /^inc_/);
      assert.equal(v.law, "2026");
      assert.equal(v.deadline, "2026-11-23T09:00:00.000Z");
      assert.deepEqual(v.timeLeft, { ms: 71.5 * 3600_000, text: "71h 30m left", overdue: false });
      assert.deepEqual(v.source, { type: "external", channel: "press", reporter: "Daily Example", reference: "article of 2026-11-20 09:00" });
      assert.deepEqual(v.scope.people, { total: N, linked: N - 1, unlinkable: 1, credit: 0 });
      assert.deepEqual(v.scope.fields, [
        { field: "name", people: N, sensitivity: "general" },
        { field: "phone", people: N, sensitivity: "general" },
      ]);
      assert.deepEqual(
        v.scope.through.map((c: any) => [c.kind, c.name, c.entries, c.people]),
        [["principal", "support-console", 2 * N, N]],
        "a lookup and a read per member",
      );
      const inScope = new Set<string>();
      for (let after: SubjectId | null = null; ; ) {
        const page = await t.c.stores.data.incidents.subjects(v.id, after, 500);
        for (const s of page) {
          inScope.add(s.subjectId);
          assert.deepEqual(s.via, ["support-console"]);
        }
        if (page.length < 500) break;
        after = page[page.length - 1]!.subjectId;
      }
      const expected = new Set(scraped.filter((i) => i !== erasedLater).map((i) => ids[i]!.internal));
      assert.deepEqual([...inScope].sort(), [...expected].sort(), "exactly the members read by the console in the window");
      for (const i of [...early, ...talkOnly, ...untouched, erasedLater]) assert.equal(inScope.has(ids[i]!.internal), false, `member ${i} is not in scope`);

      // Findable per person (the transparency report, issue 6).
      assert.deepEqual((await t.c.services.incidents.forSubject(ids[3]!.internal)).map((i) => i.id), [v.id]);
      assert.deepEqual(await t.c.services.incidents.forSubject(ids[talkOnly[0]!]!.internal), []);

      const duty = (code: string) => v.duties.find((d: any) => d.code === code);
      assert.equal(duty("NOTIFY_SUBJECTS").required, true);
      assert.equal(duty("NOTIFY_SUBJECTS").due, "2026-11-23T09:00:00.000Z");
      assert.equal(duty("REPORT_PIPC_KISA").required, true);
      assert.deepEqual(duty("REPORT_PIPC_KISA").grounds, [`PEOPLE_${N}_AT_LEAST_1000`, "UNLAWFUL_EXTERNAL_ACCESS"]);
      assert.equal(duty("WEBSITE_POSTING").required, true, "the erased member can only be told by the posting");
      assert.equal(duty("REPORT_FSC_FSS").required, false);
    });

    test("Decree Art. 39; PIPA Art. 34(1): notices in Korean and English with every item, by e-mail, and the website posting for those without an address", async () => {
      clock.set("2026-11-20T11:00:00.000Z");
      const f = await t.call("privacy-office", "POST", `/v1/incidents/${incidentId}/facts`, {
        facts: {
          circumstances: { ko: "고객센터 상담 콘솔의 인증키가 유출되어 회원 정보가 조회됨", en: "the customer-support console's API key leaked and was used to read member records" },
          occurredFrom: "2026-11-19T01:00:00.000Z",
          occurredTo: "2026-11-19T02:00:00.000Z",
        },
        containment: [
          { measure: "revoked_keys", description: "the console's API key revoked", at: "2026-11-20T09:20:00.000Z" },
          { measure: "blocked_access", description: "console access limited to the office network" },
        ],
      });
      assert.equal(f.status, 200, JSON.stringify(f.body));
      clock.set("2026-11-20T12:00:00.000Z");
      const n = await t.call("privacy-office", "POST", `/v1/incidents/${incidentId}/notices`);
      assert.equal(n.status, 200, JSON.stringify(n.body));
      assert.deepEqual(n.body.round, { kind: "full", people: N - 1, byChannel: { email: N - 2 }, withoutContact: 1, posting: true, sent: N - 1, failed: 0 });

      // What the transport got: one message per reachable member, to their own address, and the posting.
      const toMembers = mail.sent.filter((m) => m.channel === "email");
      assert.equal(toMembers.length, N - 2);
      const addresses = new Set(toMembers.map((m) => m.to));
      for (const i of scraped.filter((x) => x !== noEmail && x !== erasedLater)) assert.ok(addresses.has(`member${i}@mail.example`), `member ${i}`);
      const posting = mail.sent.find((m) => m.channel === "website")!;
      assert.equal(posting.to, "https://haechitalk.example/notice/privacy");
      const body = toMembers[0]!.body;
      for (const heading of [
        "1. 유출된 개인정보 항목 [PIPA Art. 34(1)1]",
        "2. 유출 시점과 경위 [PIPA Art. 34(1)2]",
        "3. 피해를 최소화하기 위해 하실 수 있는 일 [PIPA Art. 34(1)3]",
        "4. 회사의 대응 조치 및 피해 구제 절차 [PIPA Art. 34(1)4]",
        "5. 피해 신고·상담 부서 및 연락처 [PIPA Art. 34(1)5]",
        "6. 손해배상 청구 [PIPA Art. 34(1)6",
        "7. 분쟁조정 신청 [PIPA Art. 34(1)7",
        "1. Personal data items affected (leak) [PIPA Art. 34(1)1]",
        "2. When and how it happened [PIPA Art. 34(1)2]",
        "3. What you can do to limit the harm [PIPA Art. 34(1)3]",
        "4. What we have done, and how to seek redress [PIPA Art. 34(1)4]",
        "5. Where to report damage and ask questions [PIPA Art. 34(1)5]",
        "6. Claiming damages [PIPA Art. 34(1)6",
        "7. Dispute mediation [PIPA Art. 34(1)7",
      ])
        assert.ok(body.includes(heading), `notice lacks "${heading}"`);
      assert.match(body, /이름, 휴대전화번호/);
      assert.match(body, /the customer-support console's API key leaked/);
      assert.match(body, /credentials revoked: the console's API key revoked/);
      assert.match(posting.body, /at least 30 days/);
      // Only what the person needs: no member's values anywhere in the notices.
      for (const m of mail.sent) {
        for (const i of [3, noEmail, erasedLater]) {
          const v = member(i);
          for (const value of [v.name, v.phone, v.email ?? v.phone]) assert.equal(m.body.includes(value) || m.title.includes(value), false, `a notice holds ${value}`);
        }
      }

      // Every address read was audited, with the person's reference and the field.
      await t.c.audit.flush();
      let reads = 0;
      for await (const page of t.c.stores.audit.iterate(0, 5000)) for (const row of page) if (row.action === "incident.notice.deliver") reads += 1;
      assert.equal(reads, N - 2);
    });

    test("Decree Art. 40: the PIPC/KISA report, and every duty done and timestamped before the 72-hour deadline", async () => {
      clock.set("2026-11-20T13:00:00.000Z");
      const rep = await t.call("privacy-office", "POST", `/v1/incidents/${incidentId}/reports`);
      assert.equal(rep.status, 200, JSON.stringify(rep.body));
      const report = mail.sent.find((m) => m.channel === "regulator")!;
      assert.match(report.title, /개인정보 유출 신고 \/ .*Report of a personal data leak/);
      assert.match(report.body, new RegExp(`People affected \\[Decree Art\\. 40\\(1\\)1\\]\\n${N} \\(${N - 1} identified, 1 erased since`));
      assert.match(report.body, new RegExp(`${N - 2} sent, 0 queued, 0 failed, 1 website posting`));

      clock.set("2026-11-21T09:00:00.000Z");
      const v = (await t.call("privacy-office", "GET", `/v1/incidents/${incidentId}`)).body;
      assert.equal(v.timeLeft.text, "48h 00m left");
      const byCode = Object.fromEntries(v.duties.map((d: any) => [d.code, d]));
      for (const code of ["NOTIFY_SUBJECTS", "WEBSITE_POSTING", "REPORT_PIPC_KISA"]) {
        assert.equal(byCode[code].status, "done", code);
        assert.equal(byCode[code].onTime, true, code);
        assert.ok(byCode[code].doneAt < v.deadline, code);
      }
      assert.equal(byCode.NOTIFY_SUBJECTS.doneAt, "2026-11-20T12:00:00.000Z");
      assert.equal(byCode.REPORT_PIPC_KISA.doneAt, "2026-11-20T13:00:00.000Z");
      assert.equal(byCode.REPORT_FSC_FSS.status, "not_required");

      // The timeline is the 72-hour proof: every act timestamped and in the audit log at its seq.
      assert.deepEqual(
        v.timeline.map((e: any) => e.act),
        ["opened", "scoped", "facts", "containment", "notices_queued", "notices_sent", "notices_queued", "report_filed"],
      );
      const bySeq = new Map<number, any>();
      await t.c.audit.flush();
      for await (const page of t.c.stores.audit.iterate(0, 5000)) for (const row of page) bySeq.set(row.seq, JSON.parse(row.body));
      for (const e of v.timeline) {
        const entry = bySeq.get(e.auditSeq);
        assert.ok(entry, `audit #${e.auditSeq}`);
        assert.match(entry.action, /^incident\./);
        assert.equal(entry.meta.incident, incidentId);
        assert.equal(entry.principal, "privacy-office");
        assert.ok(entry.at <= e.at, "audited before the act took effect");
      }
      assert.ok(v.timeline.every((e: any) => e.at < v.deadline));
      assert.deepEqual(
        v.notices.counts.map((c: any) => [c.kind, c.audience, c.channel, c.status, c.count]),
        [
          ["full", "public", "website", "sent", 1],
          ["full", "subject", "email", "sent", N - 2],
          ["report", "pipc_kisa", "regulator", "sent", 1],
        ],
      );
    });

    test("the operator's pickup returns the messages with addresses, each read audited", async () => {
      const page = await t.call("privacy-office", "GET", `/v1/incidents/${incidentId}/outbox?limit=3`);
      assert.equal(page.status, 200, JSON.stringify(page.body));
      assert.equal(page.body.messages.length, 3);
      assert.ok(page.body.next);
      const emails = page.body.messages.filter((m: any) => m.channel === "email");
      for (const m of emails) assert.match(m.to, /^member\d+@mail\.example$/);
      assert.ok(page.body.messages.every((m: any) => m.status === "sent" && m.proof?.startsWith("test-mail:")));
      await t.c.audit.flush();
      let fetches = 0;
      for await (const rows of t.c.stores.audit.iterate(0, 5000)) for (const row of rows) if (row.action === "incident.notice.fetch") fetches += 1;
      assert.equal(fetches, emails.length);
      const denied = await t.call("support-console", "GET", `/v1/incidents/${incidentId}/outbox`);
      assert.equal(denied.status, 403);
      assert.equal(denied.body.error.code, "ACCESS_DENIED");
    });

    test("nothing more to send: a second notify is refused and says why", async () => {
      const again = await t.call("privacy-office", "POST", `/v1/incidents/${incidentId}/notices`);
      assert.equal(again.status, 409);
      assert.match(again.body.error.message, /nothing to send/);
    });
  });
}

for (const kind of STORE_KINDS) {
  describe(`open-chat drill, both halves, on ${kind}: detected, then opened from the alert`, () => {
    let t: TestApp;
    // Tuesday 14:00 in Seoul: office hours, so only the scrape is unusual.
    const clock = fixedClock("2026-11-17T05:00:00.000Z");
    const members: string[] = [];
    before(async () => {
      t = await startApp(kind, { clock, detection: true, detectionRefreshMs: 100 });
      for (let i = 0; i < 60; i++) {
        const r = await t.call("talk-app", "POST", "/v1/subjects", { purpose: "talk_service", fields: member(i) });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        members.push(r.body.id);
      }
    });
    after(async () => {
      await t?.close();
    });

    test("LAW §15 H1: the scrape is throttled and alerted; the incident opened from the alert's id scopes exactly the members served", async () => {
      clock.set("2026-11-17T05:10:00.000Z");
      const served: string[] = [];
      for (const id of members) {
        const r = await t.call("talk-app", "GET", `/v1/subjects/${id}?purpose=talk_service&fields=name,phone`);
        if (r.status === 200) served.push(id);
      }
      assert.ok(served.length > 0 && served.length < members.length, `served ${served.length} of ${members.length}`);
      await t.c.services.detection.settle();
      const alerts = (await t.call(OP_KEY, "GET", "/v1/alerts?rule=scrape_burst")).body.alerts;
      assert.equal(alerts.length, 1, JSON.stringify(alerts));
      clock.set("2026-11-17T05:20:00.000Z");
      const r = await t.call(OP_KEY, "POST", "/v1/incidents", { kind: "leak", summary: "talk-app key used to scrape members", source: { type: "alert", alertId: alerts[0].id } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const v = r.body;
      assert.equal(v.source.alertId, alerts[0].id);
      assert.equal(v.source.rule, "scrape_burst");
      assert.equal(v.awareAt, alerts[0].at, "awareness is the alert's time");
      assert.deepEqual(v.scope.principals, ["talk-app"]);
      assert.equal(v.scope.people.total, served.length);
      const p = pseudonyms(t.c.keyring.secrets.pseudonymKey);
      const expected = served.map((id) => p.resolve("talk-app", id)!).sort();
      const got = (await t.c.stores.data.incidents.subjects(v.id, null, 1000)).map((s) => s.subjectId as string);
      assert.deepEqual(got, expected, "exactly the members the scraper was served");
    });
  });
}
