/**
 * Breach notices and reports (PIPA Art. 34(1); Decree Arts. 39, 39-3, 40), each item with its
 * article in the test name, in Korean and English; and the scope accumulator (which entries count,
 * erased people counted as unlinkable).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DEMO_CATALOG } from "../../src/config/config.js";
import { loadCatalog } from "../../src/container.js";
import type { Catalog } from "../../src/core/catalog/catalog-schema.js";
import { emptyFacts, type IncidentFacts, type IncidentKind, type IncidentScope } from "../../src/core/incident/incident-types.js";
import {
  firstNoticeKind,
  kst,
  noticeContextOf,
  renderReport,
  renderSubjectNotice,
  type NoticeItemCode,
  type RenderedNotice,
} from "../../src/core/incident/notice-fns.js";
import { scopeAccumulator } from "../../src/core/incident/scope-fns.js";
import { asSubjectId } from "../../src/core/ids.js";

const demo = loadCatalog(DEMO_CATALOG);
const AWARE = new Date("2026-11-20T01:00:00.000Z");
const AWARE_2025 = new Date("2025-06-01T01:00:00.000Z");

const known: Partial<IncidentFacts> = {
  circumstances: { ko: "고객센터 상담 콘솔 계정이 도용되어 회원 정보가 조회됨", en: "a customer-support console account was misused to read member records" },
  containment: [{ measure: "suspended_principal", description: "support-console key revoked", at: "2026-11-20T02:00:00.000Z" }],
};
const scope: IncidentScope = {
  window: { from: "2026-11-19T00:00:00.000Z", to: "2026-11-20T00:00:00.000Z" },
  principals: ["support-console"],
  recipients: [],
  computedAt: "2026-11-20T02:00:00.000Z",
  auditHead: 1,
  people: { total: 3, linked: 2, unlinkable: 1, credit: 0 },
  fields: [
    { field: "name", people: 3, sensitivity: "general" },
    { field: "phone", people: 3, sensitivity: "general" },
  ],
  through: [],
  first: "2026-11-19T03:00:00.000Z",
  last: "2026-11-19T05:00:00.000Z",
};
const ctxOf = (over: { kind?: IncidentKind; awareAt?: Date; facts?: Partial<IncidentFacts>; scope?: IncidentScope | null; catalog?: Catalog } = {}) =>
  noticeContextOf(over.catalog ?? demo, {
    id: "inc_test",
    kind: over.kind ?? "leak",
    awareAt: over.awareAt ?? AWARE,
    facts: { ...emptyFacts(), ...known, ...over.facts },
    scope: over.scope === undefined ? scope : over.scope,
  });
const codes = (n: RenderedNotice) => n.items.map((i) => i.code);
const itemOf = (n: RenderedNotice, code: NoticeItemCode) => {
  const i = n.items.find((x) => x.code === code);
  assert.ok(i, `no item ${code} in ${codes(n).join(", ")}`);
  return i;
};
const full = (over: Parameters<typeof ctxOf>[0] = {}, fields = ["name", "phone"]) =>
  renderSubjectNotice(ctxOf(over), { kind: "full", audience: "subject", fields });

describe("a full breach notice, item by item, in Korean and English (PIPA Art. 34(1))", () => {
  test("PIPA Art. 34(1)1: the items leaked, by the catalog's labels, and only the person's", () => {
    const i = itemOf(full({}, ["phone"]), "ITEMS_LEAKED");
    assert.equal(i.article, "PIPA Art. 34(1)1");
    assert.equal(i.ko.text, "휴대전화번호");
    assert.equal(i.en.text, "Mobile phone number");
    assert.match(i.ko.heading, /유출된 개인정보 항목/);
  });

  test("PIPA Art. 34(1)2: when and how, in Korean time, with the time the company became aware", () => {
    const i = itemOf(full(), "WHEN_AND_HOW");
    assert.equal(i.article, "PIPA Art. 34(1)2");
    assert.match(i.ko.text, /2026-11-19 12:00 KST ~ 2026-11-19 14:00 KST/);
    assert.match(i.ko.text, /상담 콘솔 계정이 도용/);
    assert.match(i.en.text, /a customer-support console account was misused/);
    assert.match(i.en.text, /became aware at 2026-11-20 10:00 KST/);
    assert.equal(kst("2026-11-19T15:30:00.000Z"), "2026-11-20 00:30 KST");
  });

  test("PIPA Art. 34(1)3: what the person can do, for what leaked (a phone: smishing; a card: the card company)", () => {
    const phone = itemOf(full({}, ["phone"]), "WHAT_YOU_CAN_DO");
    assert.equal(phone.article, "PIPA Art. 34(1)3");
    assert.match(phone.ko.text, /스미싱/);
    assert.match(phone.en.text, /smishing/);
    assert.match(phone.en.text, /118/);
    const card = itemOf(full({}, ["card_number"]), "WHAT_YOU_CAN_DO");
    assert.match(card.en.text, /card company or bank/);
    assert.doesNotMatch(card.en.text, /smishing/);
    const advised = itemOf(full({ facts: { advice: { ko: "앱을 최신 버전으로 업데이트하십시오.", en: "Update the app." } } }, ["name"]), "WHAT_YOU_CAN_DO");
    assert.match(advised.en.text, /^- Update the app\./);
  });

  test("PIPA Art. 34(1)4: what the company did, and the remedy procedure", () => {
    const i = itemOf(full(), "OUR_MEASURES_AND_REMEDY");
    assert.equal(i.article, "PIPA Art. 34(1)4");
    assert.match(i.ko.text, /해당 시스템 계정 정지: support-console key revoked/);
    assert.match(i.en.text, /the system account involved suspended/);
    assert.match(i.en.text, /remedy procedure/);
    const nothingYet = itemOf(full({ facts: { containment: [] } }), "OUR_MEASURES_AND_REMEDY");
    assert.match(nothingYet.en.text, /investigating/);
  });

  test("PIPA Art. 34(1)5: the department and contact from the catalog's incident_response", () => {
    const i = itemOf(full(), "CONTACT");
    assert.equal(i.article, "PIPA Art. 34(1)5");
    assert.match(i.ko.text, /^개인정보보호팀 .*privacy-incident@haechitalk\.example \/ 1588-0000 \/ https:\/\/haechitalk\.example\/notice\/privacy/);
    assert.match(i.en.text, /^Privacy Office/);
  });

  test("PIPA Art. 34(1)5: without incident_response, the privacy officer is the contact", () => {
    const { incident_response: _, ...rest } = demo;
    const i = itemOf(full({ catalog: rest as Catalog }), "CONTACT");
    assert.match(i.en.text, /Privacy officer 김보호.*cpo@haechitalk\.example/);
  });

  test("PIPA Art. 34(1)6–7 (from 2026-09-11): damages (Arts. 39, 39-2) and dispute mediation (Art. 43); not before", () => {
    const n = full();
    assert.deepEqual(codes(n), ["ITEMS_LEAKED", "WHEN_AND_HOW", "WHAT_YOU_CAN_DO", "OUR_MEASURES_AND_REMEDY", "CONTACT", "REMEDY_DAMAGES", "REMEDY_MEDIATION"]);
    assert.match(itemOf(n, "REMEDY_DAMAGES").en.text, /Art\. 39\).*KRW 3 million.*Art\. 39-2/);
    assert.match(itemOf(n, "REMEDY_MEDIATION").ko.text, /제43조.*분쟁조정위원회/);
    assert.deepEqual(codes(full({ awareAt: AWARE_2025 })), ["ITEMS_LEAKED", "WHEN_AND_HOW", "WHAT_YOU_CAN_DO", "OUR_MEASURES_AND_REMEDY", "CONTACT"]);
  });

  test("the body has both languages, every item numbered with its article, and the same text for the same items", () => {
    const a = full();
    assert.match(a.title, /^\[해치톡 주식회사\] 개인정보 유출 통지 \/ \[HaechiTalk Corp\.\] Notice of a personal data leak$/);
    const [ko, en] = a.body.split("────────────────────────────────────────");
    assert.match(ko!, /1\. 유출된 개인정보 항목 \[PIPA Art\. 34\(1\)1\]/);
    assert.match(ko!, /7\. 분쟁조정 신청 \[PIPA Art\. 34\(1\)7/);
    assert.match(en!, /5\. Where to report damage and ask questions \[PIPA Art\. 34\(1\)5\]/);
    assert.equal(full().body, a.body, "nothing per person: people with the same items share one text");
  });

  test("PIPA Art. 23(2) (2026): an alteration is named as one", () => {
    assert.match(full({ kind: "alteration" }).title, /개인정보 변조 통지 .*personal data alteration/);
  });
});

describe("partial, follow-up, possible-breach and no-breach notices, and the website posting", () => {
  test("Decree Art. 39(2): items 1–2 unknown: the fact, what is known so far, items 3–5 and a promise to follow up", () => {
    const ctx = ctxOf({ facts: { circumstances: null } });
    assert.equal(firstNoticeKind(ctx), "partial");
    const n = renderSubjectNotice(ctx, { kind: "partial", audience: "subject", fields: ["phone"] });
    assert.deepEqual(codes(n), ["FACT_OF_BREACH", "KNOWN_SO_FAR", "WHAT_YOU_CAN_DO", "OUR_MEASURES_AND_REMEDY", "CONTACT", "REMEDY_DAMAGES", "REMEDY_MEDIATION", "FOLLOW_UP_PROMISE"]);
    assert.match(itemOf(n, "KNOWN_SO_FAR").en.text, /How: still being established/);
    assert.equal(firstNoticeKind(ctxOf({ scope: null })), "partial", "no scope: the items are not known");
    assert.equal(firstNoticeKind(ctxOf()), "full");
  });

  test("Decree Art. 39(2): the follow-up completes the partial notice with every item", () => {
    const n = renderSubjectNotice(ctxOf(), { kind: "followup", audience: "subject", fields: ["phone"] });
    assert.deepEqual(codes(n).slice(0, 3), ["PREVIOUS_NOTICE", "ITEMS_LEAKED", "WHEN_AND_HOW"]);
    assert.match(n.title, /추가 통지.*follow-up/);
  });

  test("Decree Art. 39-3: a possible breach: items possibly affected, suspected time and circumstances, items 3–5, a promise to notify again", () => {
    const ctx = ctxOf({ kind: "possible", facts: { possibleGround: "unidentified_intrusion" } });
    assert.equal(firstNoticeKind(ctx), "possible");
    const n = renderSubjectNotice(ctx, { kind: "possible", audience: "subject", fields: ["phone"] });
    assert.deepEqual(codes(n), ["POSSIBLY_AFFECTED_ITEMS", "SUSPECTED_TIME_AND_CIRCUMSTANCES", "WHAT_YOU_CAN_DO", "OUR_MEASURES_AND_REMEDY", "CONTACT", "WILL_NOTIFY_AGAIN"]);
    assert.match(n.title, /유출등 가능성 통지/);
  });

  test("Decree Art. 39-3: no breach after all is told with a contact", () => {
    const n = renderSubjectNotice(ctxOf({ kind: "possible", facts: { noBreachAt: "2026-11-21T00:00:00.000Z" } }), { kind: "no_breach", audience: "subject", fields: [] });
    assert.deepEqual(codes(n), ["NO_BREACH", "CONTACT"]);
    assert.match(itemOf(n, "NO_BREACH").ko.text, /없었던 것으로 확인/);
  });

  test("Decree Art. 39(3): the website posting says it stays up at least 30 days", () => {
    const until = new Date("2026-12-20T01:00:00.000Z");
    const n = renderSubjectNotice(ctxOf(), { kind: "full", audience: "public", fields: ["name", "phone"], postUntil: until });
    assert.equal(n.audience, "public");
    assert.match(itemOf(n, "POSTING_PERIOD").en.text, /until 2026-12-20 10:00 KST \(at least 30 days\)/);
  });
});

describe("reports to the authorities (Decree Art. 40; Credit Information Act Art. 39-4)", () => {
  const counts = [
    { kind: "full" as const, audience: "subject" as const, channel: "email", status: "sent" as const, count: 2 },
    { kind: "full" as const, audience: "public" as const, channel: "website", status: "sent" as const, count: 1 },
  ];
  test("Decree Art. 40(1): the PIPC/KISA report has the counts, the grounds and where the notices stand", () => {
    const big = { ...scope, people: { total: 1200, linked: 1190, unlinkable: 10, credit: 0 } };
    const r = renderReport(ctxOf({ scope: big, facts: { intrusion: true } }), { authority: "pipc_kisa", notices: counts });
    assert.equal(r.kind, "report");
    assert.match(itemOf(r, "PEOPLE_AFFECTED").en.text, /^1200 \(1190 identified, 10 erased since/);
    assert.match(itemOf(r, "REPORT_GROUNDS").en.text, /PEOPLE_1200_AT_LEAST_1000\n- UNLAWFUL_EXTERNAL_ACCESS/);
    assert.match(itemOf(r, "NOTIFICATION_STATUS").en.text, /^2 sent, 0 queued, 0 failed, 1 website posting/);
    assert.match(r.title, /개인정보 유출 신고/);
  });

  test("Decree Art. 40(2): a partial report first while items 1–2 are not known", () => {
    const r = renderReport(ctxOf({ facts: { circumstances: null } }), { authority: "pipc_kisa", notices: [] });
    assert.equal(r.kind, "partial_report");
    assert.equal(codes(r).at(-1), "PARTIAL_REPORT");
  });

  test("Credit Information Act Art. 39-4(2): the FSC/FSS report counts the people with credit information", () => {
    const credit = { ...scope, people: { total: 12_000, linked: 12_000, unlinkable: 0, credit: 10_500 } };
    const r = renderReport(ctxOf({ scope: credit }), { authority: "fsc_fss", notices: [] });
    assert.equal(r.audience, "fsc_fss");
    assert.match(itemOf(r, "PEOPLE_AFFECTED").en.text, /10500 with credit information/);
    assert.match(r.title, /개인신용정보/);
  });
});

describe("the scope accumulator", () => {
  const at = (m: number) => new Date(Date.parse("2026-11-19T00:00:00.000Z") + m * 60_000);
  const entry = (ref: string | null, over: Partial<{ action: string; effect: string; fields: string[]; principal: string; m: number }> = {}) => ({
    at: at(over.m ?? 0),
    principal: over.principal ?? "support-console",
    subjectRef: ref,
    action: over.action ?? "subject.read",
    effect: over.effect ?? "allow",
    fields: over.fields ?? ["name", "phone"],
  });
  const sensitivityOf = (f: string) => demo.fields[f]?.sensitivity;

  test("counts allowed reads naming a person; denials, entries without a person and writes (for a leak) do not count", () => {
    const acc = scopeAccumulator({ writes: false });
    assert.equal(acc.addEntry(entry("ar_a")), true);
    assert.equal(acc.addEntry(entry("ar_b", { effect: "deny" })), false);
    assert.equal(acc.addEntry(entry(null)), false);
    assert.equal(acc.addEntry(entry("ar_c", { action: "subject.update" })), false);
    assert.equal(acc.addEntry(entry("ar_a", { fields: ["user_id"], m: 5 })), true);
    assert.equal(acc.addEntry(entry("ar_d", { action: "subject.lookup", fields: ["phone"], m: 9 })), true);
    assert.deepEqual(acc.refs().sort(), ["ar_a", "ar_d"]);
    const writes = scopeAccumulator({ writes: true });
    assert.equal(writes.addEntry(entry("ar_c", { action: "subject.update" })), true, "an alteration counts the writes");
  });

  test("resolves references; those without a key are erased and unlinkable; the ledger's people merge with them", () => {
    const acc = scopeAccumulator({ writes: false });
    acc.addEntry(entry("ar_a", { m: 1 }));
    acc.addEntry(entry("ar_gone", { m: 2, fields: ["phone"] }));
    acc.addEntry(entry("ar_b", { m: 3, principal: "talk-app", fields: ["nickname"] }));
    const [sa, sb, sc] = [asSubjectId("sa"), asSubjectId("sb"), asSubjectId("sc")];
    acc.addProvision({ at: at(4), recipient: "nsf-scoring", subjectId: sa, fields: ["transaction_history"] });
    acc.addProvision({ at: at(6), recipient: "nsf-scoring", subjectId: sc, fields: ["transaction_history", "user_id"] });
    const { scope: s, subjects } = acc.finish({
      resolved: new Map([
        ["ar_a", sa],
        ["ar_b", sb],
      ]),
      window: { from: at(0).toISOString(), to: at(60).toISOString() },
      principals: ["talk-app", "support-console"],
      recipients: ["nsf-scoring"],
      computedAt: at(61),
      auditHead: 99,
      sensitivityOf,
    });
    assert.deepEqual(s.people, { total: 4, linked: 3, unlinkable: 1, credit: 2 });
    assert.deepEqual(subjects, [
      { subjectId: sa, fields: ["name", "phone", "transaction_history"], via: ["nsf-scoring", "support-console"] },
      { subjectId: sb, fields: ["nickname"], via: ["talk-app"] },
      { subjectId: sc, fields: ["transaction_history", "user_id"], via: ["nsf-scoring"] },
    ]);
    assert.deepEqual(s.fields, [
      { field: "name", people: 1, sensitivity: "general" },
      { field: "nickname", people: 1, sensitivity: "general" },
      { field: "phone", people: 2, sensitivity: "general" },
      { field: "transaction_history", people: 2, sensitivity: "credit" },
      { field: "user_id", people: 1, sensitivity: "general" },
    ]);
    assert.deepEqual(
      s.through.map((c) => [c.kind, c.name, c.entries, c.people]),
      [
        ["principal", "support-console", 2, 2],
        ["principal", "talk-app", 1, 1],
        ["recipient", "nsf-scoring", 2, 2],
      ],
    );
    assert.deepEqual([s.first, s.last], [at(1).toISOString(), at(6).toISOString()]);
    assert.deepEqual(s.principals, ["support-console", "talk-app"]);
  });
});
