/**
 * The privacy policy generated from the catalog (PIPA Art. 30(1); Decree Art. 31(1); LAW §15 J1):
 * each item the law lists, with its article in the test name, in Korean and English; the render
 * refused, naming the catalog path, when the catalog lacks an item; the machine-made change log;
 * Markdown and accessible, escaped HTML.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { describe, test } from "node:test";
import { parse, stringify } from "yaml";
import { DEMO_CATALOG } from "../../src/config/config.js";
import { loadCatalog } from "../../src/container.js";
import { parseCatalog } from "../../src/core/catalog/catalog-fns.js";
import type { Catalog } from "../../src/core/catalog/catalog-schema.js";
import { isHaechiError } from "../../src/core/errors.js";
import {
  articleFor,
  buildPolicyContent,
  changeText,
  composePolicy,
  contentDigest,
  diffPolicy,
  periodText,
  policyGaps,
} from "../../src/core/policy-doc/policy-doc-fns.js";
import type { PolicyBlock, PolicyContent, PolicyDocument, PolicySection } from "../../src/core/policy-doc/policy-doc-types.js";
import { policyArticleHtml, policyMarkdown, policyPageHtml } from "../../src/core/policy-doc/policy-render-fns.js";

const demo = loadCatalog(DEMO_CATALOG);
const demoRaw = () => parse(fs.readFileSync(DEMO_CATALOG, "utf8")) as Record<string, any>;

/** The demo catalog changed by `mutate`, validated as a catalog file would be. */
const variant = (mutate: (raw: Record<string, any>) => void): Catalog => {
  const raw = demoRaw();
  mutate(raw);
  const r = parseCatalog(stringify(raw));
  if (!r.ok) throw new Error(`variant catalog invalid:\n${r.errors.map((e) => `${e.path}: ${e.message}`).join("\n")}`);
  return r.catalog;
};

const content = buildPolicyContent(demo);
const draft = composePolicy(content, { version: null, effective: null, history: [] });
const section = (doc: { sections: PolicySection[] }, id: PolicySection["id"]) => {
  const s = doc.sections.find((x) => x.id === id);
  assert.ok(s, `section ${id} is present`);
  return s;
};
/** Every text of a section in one language, flattened. */
const textOf = (s: PolicySection, lang: "ko" | "en"): string => {
  const walk = (b: PolicyBlock): string[] => {
    switch (b.kind) {
      case "p":
        return [b.text[lang]];
      case "list":
        return b.items.map((i) => i[lang]);
      case "table":
        return [b.caption[lang], ...b.head.map((h) => h[lang]), ...b.rows.flat().map((c) => c[lang])];
      case "group":
        return [b.title[lang], ...b.blocks.flatMap(walk)];
    }
  };
  return [s.title[lang], ...s.blocks.flatMap(walk)].join("\n");
};
const rowsOf = (s: PolicySection): { ko: string; en: string }[][] => s.blocks.flatMap((b) => (b.kind === "table" ? b.rows : []));

/** Asserts `fn` throws CATALOG_INVALID whose `missing` names exactly these paths. */
const refusesNaming = (catalog: Catalog, paths: string[]) => {
  try {
    buildPolicyContent(catalog);
  } catch (e) {
    assert.ok(isHaechiError(e) && e.code === "CATALOG_INVALID", `expected CATALOG_INVALID, got ${String(e)}`);
    const missing = (e.details as { missing: { path: string; article: string; message: string }[] }).missing;
    assert.deepEqual(missing.map((m) => m.path).sort(), [...paths].sort());
    for (const p of paths) assert.match(e.message, new RegExp(p.replace(/[.[\]]/g, "\\$&")), "the message names the path");
    for (const m of missing) assert.match(m.article, /Art\./, "each gap names its article");
    return missing;
  }
  assert.fail("the render should have been refused");
};

describe("privacy policy contents (PIPA Art. 30(1); Decree Art. 31(1))", () => {
  test("PIPA Art. 30(1)1: every purpose is listed with its items and its Art. 15(1) basis", () => {
    const s = section(draft, "purposes");
    const rows = rowsOf(s);
    assert.equal(rows.length, Object.keys(demo.purposes).length);
    const kyc = rows.find((r) => r[0]!.en.startsWith("Real-name verification"));
    assert.ok(kyc);
    assert.match(kyc[1]!.en, /Resident registration number/);
    assert.match(kyc[2]!.en, /PIPA Art\. 15\(1\)2\) — statute: Act on Real Name Financial Transactions/);
    assert.match(kyc[2]!.ko, /개인정보 보호법 제15조제1항제2호/);
    const marketing = rows.find((r) => r[0]!.en.startsWith("Sending advertising"));
    assert.match(marketing![2]!.en, /your consent \(PIPA Art\. 15\(1\)1\)/);
  });

  test("Decree Art. 31(1)1: every item is listed with required / optional / automatic and the special kinds (Art. 23, 24, 24-2)", () => {
    const s = section(draft, "items");
    const rows = rowsOf(s);
    assert.equal(rows.length, Object.keys(demo.fields).length);
    const kind = (label: RegExp) => rows.find((r) => label.test(r[0]!.en))?.[1]!.en;
    assert.equal(kind(/^Mobile phone number$/), "required");
    assert.equal(kind(/^E-mail address/), "optional");
    assert.equal(kind(/^IP address/), "generated automatically while you use the service");
    assert.equal(kind(/^Resident registration number/), "optional · resident registration number");
    assert.equal(kind(/^Health information/), "optional · sensitive information");
    assert.equal(kind(/^Passport number/), "optional · unique identifier");
    assert.match(textOf(s, "ko"), /민감정보·고유식별정보는 별도의 동의 또는 법령의 근거가 있을 때만/);
  });

  test("PIPA Art. 22(3): items processed without consent are listed apart from consent-based ones, each with its basis", () => {
    const without = rowsOf(section(draft, "without_consent"));
    const withConsent = rowsOf(section(draft, "consent_items"));
    const nonConsent = Object.values(demo.purposes).filter((p) => p.basis !== "consent");
    assert.equal(without.length, nonConsent.length);
    assert.equal(withConsent.length, Object.values(demo.purposes).filter((p) => p.basis === "consent").length);
    for (const r of without) assert.doesNotMatch(r[2]!.en, /your consent/);
    const security = without.find((r) => r[0]!.en.startsWith("Fraud prevention"));
    assert.match(security![2]!.en, /legitimate interests.*PIPA Art\. 15\(1\)6/);
    // consent items carry their notice's title and its retention text (Art. 15(2)3)
    assert.ok(withConsent.some((r) => r[0]!.ko === "[선택] 광고성 정보 수신 동의" && r[3]!.ko === "동의 철회 또는 회원 탈퇴 시까지"));
  });

  test("PIPA Art. 30(1)2: every purpose states how long it keeps data, with the laws that keep it longer", () => {
    const rows = rowsOf(section(draft, "retention"));
    const of = (en: RegExp) => rows.find((r) => en.test(r[0]!.en))!;
    assert.equal(of(/^Fraud prevention/)[1]!.en, "3 months from collection");
    assert.equal(of(/^Fraud prevention/)[1]!.ko, "수집일로부터 3개월");
    assert.match(of(/^Providing payments/)[1]!.en, /until you close your account/);
    assert.match(of(/^Providing payments/)[2]!.en, /Records of payment and supply of goods: 5 years/);
    assert.match(of(/^Sending advertising/)[1]!.en, /destroyed without delay if you withdraw consent/);
    assert.match(textOf(section(draft, "retention"), "en"), /Inactive accounts: 1 year without use.*30 days beforehand/);
  });

  test("PIPA Art. 30(1)3-2, Art. 21(3): destruction gives the procedure, the method, and each law that keeps data with its items and period", () => {
    const s = section(draft, "destruction");
    const en = textOf(s, "en");
    assert.match(en, /destroyed without delay/);
    assert.match(en, /deleting the encryption key kept for each person \(crypto-shredding\)/);
    assert.match(en, /stored apart from other personal data under a separate key/);
    const rows = rowsOf(s);
    assert.equal(rows.length, Object.keys(demo.retention_rules).length);
    const eft = rows.find((r) => /Electronic Financial Transactions Act Art\. 22\(1\)/.test(r[2]!.en))!;
    assert.equal(eft[1]!.en, "Member ID, Linked bank account number, Payment and transfer history");
    assert.equal(eft[3]!.ko, "5년");
  });

  test("PIPA Art. 30(1)3, Art. 17(2): each third party with its contact, its own purpose, the items, its retention and the basis", () => {
    const rows = rowsOf(section(draft, "third_parties"));
    assert.equal(rows.length, 1);
    const [who, purpose, items, retention, basis] = rows[0]!;
    assert.match(who!.en, /ScoreBridge Pte\. Ltd\. \(privacy@scorebridge\.example, Singapore \(SG\)\)/);
    assert.equal(purpose!.en, "Fraud-score modelling for its own client");
    assert.equal(items!.en, "Member ID, Payment and transfer history");
    assert.match(retention!.en, /One year from provision/);
    assert.match(basis!.en, /your consent \(Art\. 17\(1\)1\)/);
  });

  test("PIPA Art. 30(1)4, Art. 26(2): the trustee list names every consignee and sub-trustee and the work entrusted", () => {
    const rows = rowsOf(section(draft, "consignment"));
    const consignees = Object.values(demo.recipients).filter((r) => r.kind === "consignee");
    const subs = consignees.flatMap((r) => r.contract?.sub_entrustments ?? []);
    assert.equal(rows.length, consignees.length + subs.length);
    for (const r of consignees) {
      const row = rows.find((x) => x[0]!.en === (typeof r.legal_name === "string" ? r.legal_name : r.legal_name.en));
      assert.ok(row, "every consignee is listed");
      assert.equal(row[1]!.en, typeof r.contract!.work === "string" ? r.contract!.work : r.contract!.work.en);
    }
    assert.ok(rows.some((x) => /^Sub-trustee: Daon Datacenter Co\., Ltd\./.test(x[0]!.en) && x[1]!.en === "Off-site storage of backup media"));
  });

  test("Decree Art. 31(1)2, PIPA Art. 28-8(2)1-5: each overseas transfer gives items, country, timing and method, recipient and contact, purpose, retention, and how to refuse", () => {
    const s = section(draft, "overseas");
    const groups = s.blocks.filter((b): b is Extract<PolicyBlock, { kind: "group" }> => b.kind === "group");
    const overseas = Object.entries(demo.recipients).filter(([, r]) => r.country !== demo.controller.country);
    assert.equal(groups.length, overseas.length);
    const eu = textOf({ ...s, blocks: groups.filter((g) => /EuroCard/.test(g.title.en)) } as PolicySection, "en");
    for (const item of [
      /Recipient and contact: EuroCard Switch Ltd\. \(dpo@eurocardswitch\.example\)/, // 28-8(2)3
      /Destination country: Ireland \(IE\)/, // 28-8(2)2
      /Items transferred: Member ID, Name, Linked card number/, // 28-8(2)1
      /When and how: daily 03:00 KST settlement file; age-encrypted file over SFTP/, // 28-8(2)2
      /Recipient's purpose: Authorising and settling card payments at overseas merchants \(entrusted work\)/, // 28-8(2)4
      /Retention and use period: Until the contract ends/, // 28-8(2)4
      /How to refuse, and the procedure: Ask the Privacy Office/, // 28-8(2)5
      /Effect of refusing: If you refuse, you cannot pay overseas merchants/, // 28-8(2)5
    ])
      assert.match(eu, item);
  });

  test("PIPA Art. 28-8(1)5 and 28-8(1)1: the basis of each transfer is named (the equivalence decision; separate consent, refusal from its notice)", () => {
    const transfers = content.facts.transfers;
    assert.equal(transfers["card-network-eu"]?.article, "PIPA Art. 28-8(1)5");
    assert.match(transfers["card-network-eu"]!.basisDetail.en, /equivalent.*PIPA Art\. 28-8\(1\)5\) — PIPC equivalence recognition of the EU, 2025-09-16/);
    assert.equal(transfers["nsf-scoring"]?.article, "PIPA Art. 28-8(1)1");
    assert.match(transfers["nsf-scoring"]!.basisDetail.ko, /정보주체의 별도 동의 \(개인정보 보호법 제28조의8제1항제1호\)/);
    assert.match(transfers["nsf-scoring"]!.refusal.how.en, /withdraw at any time under app settings/);
    assert.equal(transfers["cloud-kr"], undefined, "a domestic trustee is no transfer");
  });

  test("PIPA Art. 28-8(2)5: a transfer not on consent without a refusal route is refused, naming recipients.<name>.transfer.refusal", () => {
    const c = variant((raw) => {
      delete raw.recipients["card-network-eu"].transfer.refusal;
    });
    refusesNaming(c, ["recipients.card-network-eu.transfer.refusal"]);
  });

  test("PIPA Art. 28-8(2)4: an overseas trustee without its retention period is refused, naming recipients.<name>.retention", () => {
    const c = variant((raw) => {
      delete raw.recipients["card-network-eu"].retention;
    });
    refusesNaming(c, ["recipients.card-network-eu.retention"]);
  });

  test("PIPA Art. 30(1)6: without the officer's telephone or a department with one, the render is refused naming controller.privacy_officer.phone; no placeholder", () => {
    const c = variant((raw) => {
      delete raw.controller.privacy_officer.phone;
      delete raw.controller.privacy_officer.department;
    });
    const [gap] = refusesNaming(c, ["controller.privacy_officer.phone"]);
    assert.equal(gap!.article, "PIPA Art. 30(1)6");
    // Either one is enough.
    const deptOnly = variant((raw) => {
      delete raw.controller.privacy_officer.phone;
    });
    const officer = textOf(section(buildPolicyContent(deptOnly), "officer"), "en");
    assert.match(officer, /Privacy officer: 김보호 \(Chief Privacy Officer\)/);
    assert.match(officer, /Department for privacy work and complaints: Privacy Office \(1588-0000, privacy@haechitalk\.example\)/);
    assert.doesNotMatch(officer, /undefined|null|TODO|TBD/);
  });

  test("PIPA Art. 30(1)5 and 30(1)7: a catalog without privacy_policy is refused naming every gap at once (rights channel, cookies)", () => {
    const c = variant((raw) => {
      delete raw.privacy_policy;
    });
    const gaps = refusesNaming(c, ["privacy_policy.rights.how", "privacy_policy.cookies"]);
    assert.deepEqual(gaps.map((g) => g.article).sort(), ["PIPA Art. 30(1)5; Art. 38(4)", "PIPA Art. 30(1)7"]);
    assert.deepEqual(policyGaps(demo), [], "the demo catalog has every item");
  });

  test("PIPA Art. 30(1)7: cookies in use need their purpose and how to refuse (catalog error POLICY_COOKIES_INCOMPLETE); used: false says none are installed", () => {
    const raw = demoRaw();
    delete raw.privacy_policy.cookies.refuse;
    const r = parseCatalog(stringify(raw));
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.errors.some((e) => e.code === "POLICY_COOKIES_INCOMPLETE" && e.path === "privacy_policy.cookies.refuse" && /Art\. 30\(1\)7/.test(e.message)));
    const none = variant((raw2) => {
      raw2.privacy_policy.cookies = { used: false };
    });
    const s = textOf(section(buildPolicyContent(none), "automatic_collection"), "en");
    assert.match(s, /We do not install or run cookies/);
    assert.match(s, /IP address \(kept truncated to \/24 or \/48\), Device identifier, Last seen \(to the hour\)/, "the automatically generated items are listed");
    const used = textOf(section(content, "automatic_collection"), "ko");
    assert.match(used, /쿠키: 웹 로그인 상태 유지.*거부 방법: 웹 브라우저 설정에서/);
  });

  test("PIPA Art. 30(1)3-3: whether sensitive information may become public, when the catalog says so; absent otherwise", () => {
    assert.match(textOf(section(draft, "sensitive_public"), "en"), /choose non-disclosure in the open-chat profile settings/);
    const without = variant((raw) => {
      delete raw.privacy_policy.sensitive_public;
    });
    assert.equal(buildPolicyContent(without).sections.find((s) => s.id === "sensitive_public"), undefined);
  });

  test("PIPA Art. 37-2, Decree Art. 44-4: whether automated decisions are made is said only when the catalog declares it; made ones must be described", () => {
    assert.match(textOf(section(draft, "automated_decisions"), "en"), /We make no decision by a fully automated system/);
    const undeclared = variant((raw) => {
      delete raw.privacy_policy.automated_decisions;
    });
    const c = buildPolicyContent(undeclared);
    assert.equal(c.sections.find((s) => s.id === "automated_decisions"), undefined, "no claim either way");
    assert.doesNotMatch(textOf(section(c, "rights"), "en"), /We make no/);
    const raw = demoRaw();
    raw.privacy_policy.automated_decisions = { used: true };
    const r = parseCatalog(stringify(raw));
    assert.ok(!r.ok && r.errors.some((e) => e.code === "POLICY_AUTOMATED_DECISIONS_INCOMPLETE" && /Decree Art\. 44-4/.test(e.message)));
  });

  test("PIPA Art. 30(1)4-2: pseudonymised processing is described when the catalog says it happens", () => {
    assert.equal(draft.sections.find((s) => s.id === "pseudonymised"), undefined);
    const withPseudo = variant((raw) => {
      raw.privacy_policy.pseudonymised = { ko: "통계 작성을 위해 가명처리한 이용 기록을 1년간 처리합니다.", en: "We process pseudonymised usage records for statistics for one year." };
    });
    const s = section(buildPolicyContent(withPseudo), "pseudonymised");
    assert.equal(s.article, "PIPA Art. 30(1)4-2; Art. 28-2–28-7");
    assert.match(textOf(s, "en"), /pseudonymised usage records for statistics/);
  });

  test("PIPA Art. 30(1)5, Art. 35-38: rights with their 10-day deadlines, agents and guardians, objection, and the catalog's channels", () => {
    const en = textOf(section(draft, "rights"), "en");
    assert.match(en, /Access: we let you see your data within 10 days/);
    assert.match(en, /Correction and deletion: .*within 10 days/);
    assert.match(en, /Suspension and withdrawal of consent: .*within 10 days/);
    assert.match(en, /legal guardian acts for a child under 14/);
    assert.match(en, /object to our decision/);
    assert.match(en, /How: In the app under settings > privacy/);
  });

  test("Decree Art. 31(1)3, Decree Art. 30: the safety measures name Haechi's (encryption, access control, access records) and the controller's own", () => {
    const en = textOf(section(draft, "safety"), "en");
    assert.match(en, /AES-256-GCM/);
    assert.match(en, /tamper-evident audit log/);
    assert.match(en, /An internal management plan, and privacy training/);
    assert.match(en, /Controlled access to server rooms/);
  });

  test("PIPA Art. 30(1); Art. 30(2): the change history states the version and effective date; a draft says it is unpublished", () => {
    assert.match(textOf(section(draft, "changes"), "en"), /draft that has not been published/);
    const v2 = composePolicy(content, {
      version: 2,
      effective: "2026-12-01",
      history: [
        { version: 1, effective: "2026-01-01", publishedAt: "2025-12-20T00:00:00.000Z", changes: [] },
        { version: 2, effective: "2026-12-01", publishedAt: "2026-11-20T00:00:00.000Z", changes: [{ subject: "purpose", change: "added", name: "analytics", label: { ko: "통계", en: "Analytics" }, fields: [] }] },
      ],
    });
    const ko = textOf(section(v2, "changes"), "ko");
    assert.match(ko, /2026-12-01부터 적용됩니다 \(제2판\)/);
    assert.match(ko, /제2판 \(2026-12-01 시행\)[\s\S]*처리 목적 추가: 통계[\s\S]*제1판 \(2026-01-01 시행\)[\s\S]*최초 공표/);
  });

  test("Korean and English: every section has both languages, no empty text, no 'undefined'", () => {
    for (const s of draft.sections) {
      for (const lang of ["ko", "en"] as const) {
        const t = textOf(s, lang);
        assert.doesNotMatch(t, /undefined|\[object Object\]|NaN/, `${s.id} ${lang}`);
        assert.ok(s.blocks.length > 0, `${s.id} has content`);
      }
      assert.match(s.title.ko, /[가-힣]/, `${s.id}: a Korean title`);
      assert.doesNotMatch(s.title.en, /[가-힣]/, `${s.id}: an English title`);
    }
    assert.deepEqual(
      draft.sections.map((s) => s.id),
      ["purposes", "items", "consent_items", "without_consent", "retention", "destruction", "third_parties", "consignment", "overseas", "sensitive_public", "automatic_collection", "rights", "automated_decisions", "safety", "officer", "changes"],
    );
  });
});

describe("the change log between versions (LAW §15 J1)", () => {
  const next = (mutate: (raw: Record<string, any>) => void): PolicyContent => buildPolicyContent(variant(mutate));

  test("identical content has the same digest and no changes", () => {
    assert.equal(contentDigest(buildPolicyContent(demo)), contentDigest(content));
    assert.deepEqual(diffPolicy(content, buildPolicyContent(demo)), []);
    // Catalog parts the policy does not show (detection rules) do not change it.
    const other = next((raw) => {
      raw.detection.rules.scrape_burst.distinct = 31;
    });
    assert.equal(contentDigest(other), contentDigest(content));
  });

  test("purposes, items, recipients, transfers and retention added, removed or changed are reported, with what changed", () => {
    const after = next((raw) => {
      // a purpose removed, an item (field) removed with it
      delete raw.purposes.analytics;
      delete raw.notices.analytics;
      raw.principals["marketing-svc"].purposes = ["marketing"];
      raw.detection.rules.read_volume.baselines["marketing-svc"] = { marketing: 60 };
      // a transfer's items changed (and so the trustee's)
      raw.recipients["card-network-eu"].fields = ["user_id", "name"];
      // an item renamed and an item made required
      raw.fields.email.description = { ko: "이메일", en: "E-mail" };
      raw.fields.profile_photo.class = "required";
      // a statutory period changed
      raw.retention_rules.comms_confirmation_data.period = "P6M";
      // a new third party would need much more; a trustee added is enough here
      raw.recipients["mail-kr"] = {
        ...raw.recipients["sms-gateway"],
        legal_name: { ko: "메일 주식회사", en: "Mail Co." },
        public_key: raw.recipients["sms-gateway"].public_key,
      };
      raw.detection.rules.export_spike.baselines["mail-kr"] = 10;
    });
    const changes = diffPolicy(content, after);
    const line = (c: (typeof changes)[number]) => `${c.subject} ${c.change} ${c.name}${c.fields.length ? ` [${c.fields.join(",")}]` : ""}`;
    const lines = changes.map(line);
    assert.ok(lines.includes("purpose removed analytics"), lines.join("\n"));
    assert.ok(lines.includes("trustee added mail-kr"), lines.join("\n"));
    assert.ok(lines.includes("transfer changed card-network-eu [items]"), lines.join("\n"));
    assert.ok(lines.includes("trustee changed card-network-eu [items]"), lines.join("\n"));
    assert.ok(lines.includes("retention_rule changed comms_confirmation_data [period]"), lines.join("\n"));
    assert.ok(lines.includes("item changed email [label]"), lines.join("\n"));
    assert.ok(lines.includes("item changed profile_photo [class]"), lines.join("\n"));
    const t = changes.find((c) => c.subject === "transfer")!;
    assert.equal(changeText(t).en, "Overseas transfer changed: EuroCard Switch Ltd. (items)");
    assert.equal(changeText(t).ko, "국외 이전 변경: 유로카드 스위치 (EuroCard Switch Ltd.) (항목)");
  });

  test("PIPA Art. 30(1)6: a new telephone for the officer shows as a change of the officer section", () => {
    const after = next((raw) => {
      raw.controller.privacy_officer.phone = "02-0000-9999";
    });
    assert.deepEqual(diffPolicy(content, after).map((c) => `${c.subject} ${c.change} ${c.name}`), ["section changed officer"]);
  });
});

describe("rendering: Markdown and accessible HTML", () => {
  const v1: PolicyDocument = composePolicy(content, { version: 1, effective: "2026-11-21", history: [{ version: 1, effective: "2026-11-21", publishedAt: "2026-11-21T00:00:00.000Z", changes: [] }] });

  test("Markdown: a title, one numbered heading per section with its article, tables with escaped pipes", () => {
    const md = policyMarkdown(v1, "ko");
    assert.match(md, /^# 해치톡 주식회사 개인정보 처리방침\n\n버전: 1 · 시행일: 2026-11-21/);
    assert.equal((md.match(/^## \d+\. /gm) ?? []).length, v1.sections.length);
    assert.match(md, /^## 9\. 개인정보의 국외 이전\n\n_근거: 개인정보 보호법 시행령 제31조제1항제2호; 개인정보 보호법 제28조의8_/m);
    const piped = composePolicy(buildPolicyContent(variant((raw) => {
      raw.purposes.marketing.description = { ko: "광고 | 혜택", en: "ads | offers" };
    })), { version: null, effective: null, history: [] });
    assert.match(policyMarkdown(piped, "en"), /\| ads \\\| offers \|/);
  });

  test("HTML: the page has lang, one h1, an h2 per section, captions and header scopes, and escapes every catalog text", () => {
    const hostile = buildPolicyContent(variant((raw) => {
      raw.purposes.marketing.description = { ko: "<script>alert(1)</script>", en: "<img src=x onerror=alert(1)> & \"q\"" };
    }));
    const doc = composePolicy(hostile, { version: null, effective: null, history: [] });
    const article = policyArticleHtml(doc, "en");
    assert.doesNotMatch(article, /<script>|<img /);
    assert.match(article, /&lt;img src=x onerror=alert\(1\)&gt; &amp; &quot;q&quot;/);
    const page = policyPageHtml({ lang: "ko", article: policyArticleHtml(v1, "ko"), title: v1.title.ko, history: v1.history, shown: 1, inForce: 1, path: "/policy" });
    assert.match(page, /^<!doctype html>\n<html lang="ko">/);
    assert.match(page, /<meta name="viewport" content="width=device-width, initial-scale=1">/);
    assert.equal((page.match(/<h1>/g) ?? []).length, 1);
    assert.equal((page.match(/<h2 id="[a-z_]+-h">/g) ?? []).length, v1.sections.length + 2, "a heading per section, the contents and the versions");
    assert.equal((page.match(/<table>/g) ?? []).length, (page.match(/<caption>/g) ?? []).length);
    assert.match(page, /<th scope="col">/);
    assert.match(page, /<a class="skip" href="#main">본문 바로가기<\/a>/);
    assert.match(page, /<a href="\/policy\?lang=en&amp;version=1" hreflang="en" lang="en">English<\/a>/);
    assert.match(page, /<strong aria-current="page">제1판 \(2026-11-21 시행\)<\/strong>/);
    assert.match(page, /color:#1a1a1a;background:#fff/, "body text far above the 4.5:1 contrast of WCAG AA");
  });

  test("HTML page notices: a draft, an earlier version, and a version still to come", () => {
    const base = { lang: "en" as const, article: "<article></article>", title: "t", path: "/policy" };
    const history = [
      { version: 2, effective: "2099-01-01", publishedAt: "2026-11-21T00:00:00.000Z", changes: [] },
      { version: 1, effective: "2026-01-01", publishedAt: "2026-01-01T00:00:00.000Z", changes: [] },
    ];
    assert.match(policyPageHtml({ ...base, history: [], shown: null, inForce: null }), /a draft that has not been published/);
    const earlier = policyPageHtml({ ...base, history, shown: 1, inForce: 1, upcoming: { version: 2, effective: "2099-01-01" } });
    assert.match(earlier, /A revised policy \(version 2\) takes effect on 2099-01-01/);
    const upcoming = policyPageHtml({ ...base, history, shown: 2, inForce: 1, upcoming: { version: 2, effective: "2099-01-01" } });
    assert.match(upcoming, /You are reading version 2, which takes effect on 2099-01-01/);
    assert.doesNotMatch(upcoming, /earlier version/);
  });

  test("article references read as Korean law cites them", () => {
    assert.equal(articleFor("PIPA Art. 28-8(2)5", "ko"), "개인정보 보호법 제28조의8제2항제5호");
    assert.equal(articleFor("PIPA Art. 30(1)3-2; Art. 21; Decree Art. 16", "ko"), "개인정보 보호법 제30조제1항제3호의2; 제21조; 개인정보 보호법 시행령 제16조");
    assert.equal(articleFor("PIPA Art. 16, 23, 24-2", "ko"), "개인정보 보호법 제16조, 제23조, 제24조의2");
    assert.equal(articleFor("PIPA Art. 28-8(2)5", "en"), "PIPA Art. 28-8(2)5");
    assert.deepEqual(periodText("P1Y6M"), { ko: "1년 6개월", en: "1 year 6 months" });
    assert.deepEqual(periodText("P30D"), { ko: "30일", en: "30 days" });
  });
});
