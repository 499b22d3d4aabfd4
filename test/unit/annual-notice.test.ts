/**
 * The annual usage-and-provision notice (PIPA Art. 20-2; Decree Art. 15-3) and the dormancy
 * notice, as pure functions over the demo catalog: who must send it, who gets it, what it says and
 * what it leaves out; each rule with its article in the test name.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { describe, test } from "node:test";
import YAML from "yaml";
import { DEMO_CATALOG } from "../../src/config/config.js";
import { loadCatalog } from "../../src/container.js";
import { parseCatalog, requireCatalog } from "../../src/core/catalog/catalog-fns.js";
import type { AnnualNoticeDef, Catalog } from "../../src/core/catalog/catalog-schema.js";
import { controllerDuty, eligibility, noticeContent, renderAnnualNotice, yearPeriod, type PersonFacts } from "../../src/core/notices/annual-notice-fns.js";
import { renderDormancyNotice } from "../../src/core/notices/dormancy-notice-fns.js";

const demo = loadCatalog(DEMO_CATALOG);
const Y2026 = yearPeriod(2026);
const inYear = new Date("2026-06-01T00:00:00Z");

/** The demo catalog with changes made to its YAML object (validated like any catalog). */
const variant = (edit: (doc: Record<string, any>) => void): ReturnType<typeof parseCatalog> => {
  const doc = YAML.parse(fs.readFileSync(DEMO_CATALOG, "utf8")) as Record<string, any>;
  edit(doc);
  return parseCatalog(YAML.stringify(doc));
};
/** A law-based third party: disclosures to investigators (Communications Secret Protection Act Art. 13). */
const withInvestigator = (excluded: boolean): Catalog =>
  requireCatalog(
    variant((d) => {
      d.recipients["police-disclosure"] = {
        kind: "third_party",
        legal_name: { ko: "수사기관 (통신사실확인자료 제공)", en: "Investigators (communication confirmation data)" },
        contact: "none@police.example",
        country: "KR",
        public_key: d.recipients["cloud-kr"].public_key,
        purposes: ["security_monitoring"],
        fields: ["user_id", "ip_address", "last_seen"],
        provision_basis: "law",
        statute: "Communications Secret Protection Act Art. 13",
        recipient_purpose: { ko: "범죄 수사", en: "Criminal investigation" },
        retention: { ko: "수사 종료 시까지", en: "Until the investigation ends" },
      };
      if (excluded) d.notifications.annual_notice.excluded_recipients = ["police-disclosure"];
    }),
  );

const person = (over: Partial<PersonFacts> = {}): PersonFacts => ({
  status: "active",
  fields: ["user_id", "phone", "name", "nickname", "email", "ip_address", "last_seen"],
  consents: [],
  provisions: [],
  optedOut: false,
  ...over,
});
const annual = (c: Catalog): AnnualNoticeDef => c.notifications!.annual_notice!;

describe("Art. 20-2 / Decree Art. 15-3: who must send the annual notice", () => {
  const base = annual(demo);
  test("Decree Art. 15-3: required at ≥ 1,000,000 people a day on average (last three months of the previous year)", () => {
    assert.equal(controllerDuty({ ...base, subjects: 1_000_000, sensitive_or_unique_subjects: 0 }).required, true);
    assert.equal(controllerDuty({ ...base, subjects: 999_999, sensitive_or_unique_subjects: 0 }).required, false);
  });
  test("Decree Art. 15-3: required at ≥ 50,000 people with sensitive (Art. 23) or unique-identifying (Art. 24) data", () => {
    const d = controllerDuty({ ...base, subjects: 60_000, sensitive_or_unique_subjects: 50_000 });
    assert.equal(d.required, true);
    assert.match(d.reason, /50000/);
  });
  test("Decree Art. 15-3: below both thresholds the notice is not required; voluntary sending is the controller's choice", () => {
    const d = controllerDuty({ ...base, subjects: 10, sensitive_or_unique_subjects: 1, voluntary: true });
    assert.deepEqual([d.required, !d.required && d.voluntary], [false, true]);
    assert.match(d.reason, /below the thresholds/);
  });
});

describe("Decree Art. 15-3(3): what the notice lists", () => {
  test("Decree Art. 15-3(3)1: the purposes whose basis stands for the person, with the items they hold; a consent purpose only while consented", () => {
    const withConsent = noticeContent(demo, annual(demo), person({ consents: [{ notice: "marketing", status: "granted" }] }), Y2026);
    const names = withConsent.purposes.map((p) => p.purpose);
    assert.ok(names.includes("talk_service"));
    assert.ok(names.includes("marketing"));
    assert.deepEqual(withConsent.purposes.find((p) => p.purpose === "marketing")?.items, ["phone", "email", "nickname"]);
    assert.deepEqual(withConsent.purposes.find((p) => p.purpose === "security_monitoring")?.article, "PIPA Art. 15(1)6");
    // Items the person does not hold are not listed; the sealed legal-retention store is no use of live data.
    assert.ok(!names.includes("legal_retention"));
    assert.ok(!withConsent.purposes.some((p) => p.items.includes("transaction_history")));
    const withdrawn = noticeContent(demo, annual(demo), person({ consents: [{ notice: "marketing", status: "withdrawn" }] }), Y2026);
    assert.ok(!withdrawn.purposes.some((p) => p.purpose === "marketing"));
  });

  test("Decree Art. 15-3(3)2: the third parties of the year's provisions, with their own purposes and the items provided; consignees apart; other years ignored", () => {
    const c = noticeContent(
      demo,
      annual(demo),
      person({
        fields: ["user_id", "name", "phone", "transaction_history"],
        provisions: [
          { recipient: "nsf-scoring", fields: ["user_id"], basis: "consent:nsf_provision", at: inYear },
          { recipient: "nsf-scoring", fields: ["user_id", "transaction_history"], basis: "consent:nsf_provision", at: new Date("2026-12-31T14:59:59Z") },
          { recipient: "cloud-kr", fields: ["user_id", "name"], basis: "consignment:CT-2024-001", at: inYear },
          { recipient: "sms-gateway", fields: ["phone"], basis: "consignment:CT-2024-007", at: new Date("2025-12-31T14:59:59Z") },
        ],
      }),
      Y2026,
    );
    assert.deepEqual(c.thirdParties.map((t) => [t.recipient, t.country, t.items]), [["nsf-scoring", "SG", ["transaction_history", "user_id"]]]);
    assert.deepEqual(c.thirdParties[0]?.purpose, { ko: "자사 고객을 위한 부정거래 점수 모형 개발", en: "Fraud-score modelling for its own client" });
    assert.deepEqual(c.consignees.map((t) => t.recipient), ["cloud-kr"], "a 2025 provision (KST) is not in the 2026 notice");
  });

  test("Decree Art. 15-3(3): disclosures to investigators (Communications Secret Protection Act Arts. 13, 13-2, 13-4) are left out of the content", () => {
    const provisions = [{ recipient: "police-disclosure", fields: ["ip_address"], basis: "law:Communications Secret Protection Act Art. 13", at: inYear }];
    const shown = noticeContent(withInvestigator(false), annual(withInvestigator(false)), person({ provisions }), Y2026);
    assert.deepEqual(shown.thirdParties.map((t) => t.recipient), ["police-disclosure"]);
    const cat = withInvestigator(true);
    const hidden = noticeContent(cat, annual(cat), person({ provisions }), Y2026);
    assert.deepEqual(hidden.thirdParties, []);
    assert.equal(hidden.leftOut, 1);
    const text = renderAnnualNotice(cat, 2026, "email", hidden).body;
    assert.ok(!text.includes("수사기관") && !text.includes("Investigators"));
  });

  test("Decree Art. 15-3(3): only a law-based third party may be left out (the catalog refuses excluding a consented provision)", () => {
    const r = variant((d) => (d.notifications.annual_notice.excluded_recipients = ["nsf-scoring"]));
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.errors.some((e) => e.code === "ANNUAL_NOTICE_EXCLUDES_CONSENT_RECIPIENT"));
  });
});

describe("Art. 20-2 / Decree Art. 15-3: who gets it", () => {
  test("Art. 20-2: an active person with a contact field gets it, at the first contact of the catalog's order (e-mail before SMS)", () => {
    const e = eligibility(demo, person(), Y2026);
    assert.equal(e.eligible, true);
    assert.deepEqual(e.eligible && e.contact, { field: "email", channel: "email" });
    const sms = eligibility(demo, person({ fields: ["user_id", "phone", "name", "nickname"] }), Y2026);
    assert.deepEqual(sms.eligible && sms.contact, { field: "phone", channel: "sms" });
  });
  test("Art. 20-2 / Decree Art. 15-3: a person who refused the notice gets none (opt-out honoured)", () => {
    assert.deepEqual(eligibility(demo, person({ optedOut: true }), Y2026), { eligible: false, reason: "OPTED_OUT" });
  });
  test("Decree Art. 15-3: the company's employees and business contacts (held only for excluded purposes) get none", () => {
    // Excluding one purpose does not exclude a person another purpose also serves.
    const cat = requireCatalog(variant((d) => (d.notifications.annual_notice.excluded_purposes = ["customer_support"])));
    assert.equal(eligibility(cat, person({ fields: ["user_id", "phone", "name"] }), Y2026).eligible, true);
    const staff = requireCatalog(
      variant((d) => {
        d.notifications.annual_notice.excluded_purposes = ["talk_service", "customer_support", "security_monitoring", "pay_service", "pay_kyc", "openchat_service", "analytics", "marketing"];
      }),
    );
    assert.deepEqual(eligibility(staff, person(), Y2026), { eligible: false, reason: "EXCLUDED_PURPOSES_ONLY" });
  });
  test("Decree Art. 15-3: a person whose data was used or provided only under a law gets none", () => {
    const cat = withInvestigator(false);
    const onlyKyc = person({ fields: ["rrn"], provisions: [{ recipient: "police-disclosure", fields: ["user_id"], basis: "law:x", at: inYear }] });
    // rrn belongs to pay_kyc only (basis law); no contact field either, but the law ground comes first.
    assert.deepEqual(eligibility(cat, onlyKyc, Y2026), { eligible: false, reason: "LEGAL_OBLIGATION_ONLY" });
  });
  test("Art. 20-2: dormant and erased accounts get none; without a contact field the person is counted, not sent", () => {
    assert.deepEqual(eligibility(demo, person({ status: "dormant" }), Y2026), { eligible: false, reason: "NOT_ACTIVE" });
    assert.deepEqual(eligibility(demo, person({ status: "erased" }), Y2026), { eligible: false, reason: "NOT_ACTIVE" });
    assert.deepEqual(eligibility(demo, person({ fields: ["user_id", "nickname", "name"] }), Y2026), { eligible: false, reason: "NO_CONTACT" });
    assert.deepEqual(eligibility(demo, person({ fields: [] }), Y2026), { eligible: false, reason: "NOTHING_PROCESSED" });
  });
});

describe("Art. 20-2 / Decree Art. 15-3(4): the text and the channel", () => {
  test("Art. 20-2: Korean then English, each item with its Decree article, no value of the person's", () => {
    const c = noticeContent(demo, annual(demo), person({ provisions: [{ recipient: "nsf-scoring", fields: ["user_id"], basis: "consent:nsf_provision", at: inYear }] }), Y2026);
    const r = renderAnnualNotice(demo, 2026, "email", c);
    assert.match(r.title, /2026년 개인정보 이용·제공 내역 통지/);
    assert.match(r.title, /in 2026/);
    const [koPart, enPart] = r.body.split("\n\nUnder PIPA Art. 20-2");
    assert.match(koPart!, /시행령 제15조의3제3항제1호/);
    assert.match(koPart!, /시행령 제15조의3제3항제2호/);
    assert.match(koPart!, /메신저 서비스 제공.*회원 아이디, 휴대전화번호/);
    assert.match(koPart!, /법 제15조제1항제4호/);
    assert.match(koPart!, /스코어브릿지.*\(SG\): 자사 고객을 위한 부정거래 점수 모형 개발 \/ 제공 항목: 회원 아이디/);
    assert.match(enPart!, /Decree Art\. 15-3\(3\)1/);
    assert.match(enPart!, /Decree Art\. 15-3\(3\)2/);
    assert.match(enPart!, /ScoreBridge Pte\. Ltd\. \(SG\): Fraud-score modelling for its own client \/ items: Member ID/);
    assert.match(r.body, /수신 거부/);
    assert.match(r.body, /may ask not to receive this notice/);
    assert.ok(!/010-|@example\.test/.test(r.body));
  });
  test("Art. 20-2: without provisions in the year, the notice says none was provided to a third party", () => {
    const r = renderAnnualNotice(demo, 2026, "sms", noticeContent(demo, annual(demo), person(), Y2026));
    assert.match(r.body, /제3자에게 제공한 개인정보가 없습니다/);
    assert.match(r.body, /None of your personal data was provided to a third party/);
  });
  test("Decree Art. 15-3(4): an in-app alert only points to where the history can be seen", () => {
    const r = renderAnnualNotice(demo, 2026, "app_alert", noticeContent(demo, annual(demo), person(), Y2026));
    assert.match(r.body, /https:\/\/haechitalk\.example\/privacy\/my-history/);
    assert.ok(!r.body.includes("회원 아이디"), "no content beyond the pointer");
  });
  test("Decree Art. 15-3(4): the catalog refuses an app_alert contact without a history_url", () => {
    const r = variant((d) => {
      d.notifications.contacts.push({ field: "device_id", channel: "app_alert" });
      delete d.notifications.annual_notice.history_url;
    });
    assert.ok(!r.ok && r.errors.some((e) => e.code === "ANNUAL_NOTICE_ALERT_WITHOUT_HISTORY"));
  });
  test("the catalog refuses a contact field that cannot hold an address", () => {
    const r = variant((d) => d.notifications.contacts.push({ field: "transaction_history", channel: "email" }));
    assert.ok(!r.ok && r.errors.some((e) => e.code === "NOTIFICATION_CONTACT_UNSUITED"));
  });
});

describe("dormancy notice (PIPC guidance 2023-12; LAW §11.1)", () => {
  test("PIPC guidance 2023 (former Decree Art. 48-5): names the action, its date and the items, in Korean and English", () => {
    const r = renderDormancyNotice(demo, { action: "destroy", stage: "inactive", actionAt: new Date("2027-02-01T00:00:00Z"), fields: ["phone", "user_id"] });
    assert.match(r.title, /2027-02-01/);
    assert.match(r.body, /2027-02-01에 개인정보가 파기됩니다/);
    assert.match(r.body, /대상 항목: 휴대전화번호, 회원 아이디/);
    assert.match(r.body, /Items concerned: Mobile phone number, Member ID/);
    assert.match(r.body, /P1Y/);
    const s = renderDormancyNotice(demo, { action: "separate", stage: "inactive", actionAt: new Date("2027-02-01T00:00:00Z"), fields: ["phone"] });
    assert.match(s.body, /분리하여 보관됩니다/);
    assert.match(s.body, /restored/);
  });
});
