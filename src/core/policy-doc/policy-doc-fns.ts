/**
 * The privacy policy generated from the catalog (PIPA Art. 30(1); Decree Art. 31(1)). Pure.
 *
 * `buildPolicyContent` turns a catalog into facts and sections, every item the law lists with the
 * article that asks for it; when the catalog lacks something the law requires (the officer's
 * telephone, how people exercise their rights, the refusal route of an overseas transfer, …) it
 * throws `CATALOG_INVALID` naming every missing item and the catalog path to fill, rather than
 * print a placeholder. `composePolicy` adds the version, the effective date and the change history;
 * `diffPolicy` is the machine-made change log between two versions' facts.
 */
import { createHash } from "node:crypto";
import { LEGAL_RETENTION_PURPOSE, latestOf } from "../catalog/catalog-checks.js";
import { parsePeriod } from "../catalog/catalog-fns.js";
import {
  LEGAL_BASIS_ARTICLE,
  TRANSFER_BASIS_LETTER,
  type Catalog,
  type FieldDef,
  type LegalBasis,
  type PurposeDef,
  type RecipientDef,
  type Text,
  type TransferBasis,
} from "../catalog/catalog-schema.js";
import { HaechiError } from "../errors.js";
import type {
  Bilingual,
  PolicyBlock,
  PolicyChange,
  PolicyContent,
  PolicyDocument,
  PolicyFacts,
  PolicyGap,
  PolicyHistoryEntry,
  PolicySection,
} from "./policy-doc-types.js";

// ─── small helpers ───────────────────────────────────────────────────────────

/** A catalog text in both languages (a plain string serves both). */
export const bi = (t: Text): Bilingual => (typeof t === "string" ? { ko: t, en: t } : { ko: t.ko, en: t.en });
const same = (s: string): Bilingual => ({ ko: s, en: s });
const join = (parts: Bilingual[], sep: Bilingual = { ko: ", ", en: ", " }): Bilingual => ({
  ko: parts.map((p) => p.ko).join(sep.ko),
  en: parts.map((p) => p.en).join(sep.en),
});
const cat = (...parts: (Bilingual | string)[]): Bilingual => ({
  ko: parts.map((p) => (typeof p === "string" ? p : p.ko)).join(""),
  en: parts.map((p) => (typeof p === "string" ? p : p.en)).join(""),
});
const NONE: Bilingual = { ko: "없음", en: "None" };

/** Canonical JSON (sorted keys) for digests: the same content always hashes the same. */
export const canonicalJson = (value: unknown): string =>
  JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
export const sha256Hex = (text: string): string => createHash("sha256").update(text, "utf8").digest("hex");
/** Digest of the catalog as loaded (defaults applied), independent of YAML layout and comments. */
export const catalogDigest = (catalog: Catalog): string => sha256Hex(canonicalJson(catalog));
/** Digest of a policy's content: equal digests mean an identical policy (the refusal to republish). */
export const contentDigest = (content: PolicyContent): string => sha256Hex(canonicalJson(content));

/** "5년" / "5 years" for P5Y; "1년 6개월" / "1 year 6 months" for P1Y6M. */
export const periodText = (period: string): Bilingual => {
  const p = parsePeriod(period);
  const ko: string[] = [];
  const en: string[] = [];
  const unit = (n: number, k: string, e: string) => {
    if (n === 0) return;
    ko.push(`${n}${k}`);
    en.push(`${n} ${e}${n === 1 ? "" : "s"}`);
  };
  unit(p.years, "년", "year");
  unit(p.months, "개월", "month");
  unit(p.days, "일", "day");
  return ko.length === 0 ? { ko: "0일", en: "0 days" } : { ko: ko.join(" "), en: en.join(" ") };
};

const BASIS_TEXT: Record<LegalBasis, Bilingual> = {
  consent: { ko: "정보주체의 동의", en: "your consent" },
  law: { ko: "법률의 특별한 규정 또는 법령상 의무의 준수", en: "a specific provision of law, or compliance with a legal obligation" },
  public_duty: { ko: "공공기관의 법령상 소관 업무 수행", en: "a public institution's duties under law" },
  contract: { ko: "정보주체와의 계약 체결·이행", en: "concluding or performing our contract with you" },
  vital_interest: { ko: "정보주체 또는 제3자의 급박한 생명·신체·재산상 이익", en: "urgent life, bodily or property interests of you or others" },
  legitimate_interest: {
    ko: "개인정보처리자의 정당한 이익 (정보주체의 권리보다 명백히 우선하는 경우로서 합리적 범위 내)",
    en: "our legitimate interests, where they clearly override your rights, within a reasonable scope",
  },
  public_safety: { ko: "공중위생 등 공공의 안전", en: "urgent public safety, such as public health" },
};
const basisText = (basis: LegalBasis, statute?: string): Bilingual => {
  const article = LEGAL_BASIS_ARTICLE[basis];
  const base = cat(BASIS_TEXT[basis], { ko: ` (${articleFor(article, "ko")})`, en: ` (${article})` });
  return statute === undefined ? base : cat(base, { ko: ` — 근거 법령: ${statute}`, en: ` — statute: ${statute}` });
};

const TRANSFER_TEXT: Record<TransferBasis, Bilingual> = {
  consent: { ko: "정보주체의 별도 동의", en: "your separate consent" },
  law: { ko: "법률, 조약 또는 국제협정의 특별한 규정", en: "a specific provision of a statute, treaty or international agreement" },
  contract_necessity: {
    ko: "정보주체와의 계약 체결·이행에 필요한 처리위탁·보관 (이전 사항을 이 처리방침에 공개)",
    en: "entrustment or storage needed to conclude and perform our contract with you (the transfer items are disclosed in this policy)",
  },
  certification: { ko: "이전받는 자의 개인정보 보호 인증", en: "the recipient's privacy certification designated by the PIPC" },
  equivalence: {
    ko: "이전 대상 국가의 개인정보 보호 수준이 동등하다는 개인정보보호위원회의 인정",
    en: "the PIPC's recognition that the destination's protection is substantially equivalent",
  },
};
const TRANSFER_ARTICLE = (basis: TransferBasis) => `PIPA Art. 28-8(1)${"ABCDE".indexOf(TRANSFER_BASIS_LETTER[basis]) + 1}`;

const CLASS_TEXT: Record<FieldDef["class"], Bilingual> = {
  required: { ko: "필수", en: "required" },
  optional: { ko: "선택", en: "optional" },
  auto: { ko: "서비스 이용 중 자동 생성", en: "generated automatically while you use the service" },
};
const SENSITIVITY_TEXT: Partial<Record<FieldDef["sensitivity"], Bilingual>> = {
  unique_id: { ko: "고유식별정보", en: "unique identifier" },
  rrn: { ko: "주민등록번호", en: "resident registration number" },
  sensitive: { ko: "민감정보", en: "sensitive information" },
  biometric: { ko: "민감정보(생체인식정보)", en: "sensitive information (biometric)" },
  credit: { ko: "개인신용정보", en: "personal credit information" },
  card: { ko: "카드번호", en: "card number" },
  account: { ko: "계좌번호", en: "account number" },
};

const FROM_TEXT: Record<PurposeDef["retention"]["from"], { until: Bilingual; after: (p: Bilingual) => Bilingual }> = {
  relationship_end: {
    until: { ko: "회원 탈퇴(계약 종료) 시까지", en: "until you close your account (the contract ends)" },
    after: (p) => ({ ko: `회원 탈퇴(계약 종료) 후 ${p.ko}`, en: `${p.en} after you close your account (the contract ends)` }),
  },
  purpose_end: {
    until: { ko: "처리 목적을 달성할 때까지 (서비스 해지 또는 동의 철회 시까지)", en: "until the purpose is achieved (you end the service or withdraw consent)" },
    after: (p) => ({ ko: `처리 목적 달성 후 ${p.ko}`, en: `${p.en} after the purpose is achieved` }),
  },
  collection: {
    until: { ko: "처리 목적을 달성할 때까지", en: "until the purpose is achieved" },
    after: (p) => ({ ko: `수집일로부터 ${p.ko}`, en: `${p.en} from collection` }),
  },
  last_use: {
    until: { ko: "처리 목적을 달성할 때까지", en: "until the purpose is achieved" },
    after: (p) => ({ ko: `마지막 이용일로부터 ${p.ko}`, en: `${p.en} from last use` }),
  },
};

/** The retention period of a purpose as people read it (Art. 30(1)2). */
export const retentionText = (p: PurposeDef, name?: string): Bilingual => {
  const from = FROM_TEXT[p.retention.from];
  if (name === LEGAL_RETENTION_PURPOSE)
    return { ko: "관계 법령이 정한 기간 (아래 파기 항목의 표)", en: "the period the law concerned sets (see the table under destruction)" };
  const base = p.retention.period === undefined ? from.until : from.after(periodText(p.retention.period));
  return p.basis === "consent" ? cat(base, { ko: " (동의를 철회하시면 지체 없이 파기)", en: " (destroyed without delay if you withdraw consent)" }) : base;
};

// ─── gaps: what the law requires and the catalog lacks ───────────────────────

const isOverseas = (catalog: Catalog, r: RecipientDef) => r.country !== catalog.controller.country;

/** The refusal route of an overseas transfer: the consent notice's texts, or the transfer's own (Art. 28-8(2)5). */
const transferRefusal = (catalog: Catalog, r: RecipientDef): { how: Bilingual; effect: Bilingual } | undefined => {
  const t = r.transfer;
  if (t === undefined) return undefined;
  if (t.refusal !== undefined) return { how: bi(t.refusal.how), effect: bi(t.refusal.effect) };
  if (t.basis === "consent" && t.notice !== undefined) {
    const n = catalog.notices[t.notice];
    const v = n === undefined ? undefined : latestOf(n);
    if (v !== undefined) return { how: bi(v.refusal.right), effect: bi(v.refusal.disadvantage) };
  }
  return undefined;
};

/** What the recipient does with the data: a third party's own purpose, or the work entrusted to a trustee. */
const recipientPurpose = (r: RecipientDef): Bilingual | undefined =>
  r.kind === "third_party" ? (r.recipient_purpose === undefined ? undefined : bi(r.recipient_purpose)) : r.contract === undefined ? undefined : bi(r.contract.work);

/**
 * Every item the law requires in the privacy policy that the catalog does not hold, with the
 * path to fill and the article. Empty when the policy can be rendered.
 */
export const policyGaps = (catalog: Catalog): PolicyGap[] => {
  const gaps: PolicyGap[] = [];
  const gap = (path: string, article: string, message: string) => gaps.push({ path, article, message });
  const officer = catalog.controller.privacy_officer;
  if (officer.phone === undefined && officer.department === undefined)
    gap(
      "controller.privacy_officer.phone",
      "PIPA Art. 30(1)6",
      "the privacy officer's telephone number (phone), or the department handling privacy complaints with its telephone number (department: { name, phone })",
    );
  const pp = catalog.privacy_policy;
  if (pp?.rights === undefined)
    gap("privacy_policy.rights.how", "PIPA Art. 30(1)5; Art. 38(4)", "how people exercise their rights: the channels (app settings, e-mail, telephone) where they ask for access, correction, deletion, suspension or withdrawal");
  if (pp?.cookies === undefined)
    gap("privacy_policy.cookies", "PIPA Art. 30(1)7", "whether cookies or similar automatic collection devices are used (used: true with purpose and refuse, or used: false)");
  for (const [name, r] of Object.entries(catalog.recipients)) {
    const at = `recipients.${name}`;
    if (r.kind === "consignee" && r.contract === undefined)
      gap(`${at}.contract.work`, "PIPA Art. 30(1)4; Art. 26(2)", `the work entrusted to trustee ${name} (its contract's work)`);
    if (r.kind === "third_party") {
      if (r.recipient_purpose === undefined) gap(`${at}.recipient_purpose`, "PIPA Art. 30(1)3; Art. 17(2)2", `the purpose third party ${name} uses the data for`);
      if (r.retention === undefined) gap(`${at}.retention`, "PIPA Art. 30(1)3; Art. 17(2)4", `how long third party ${name} keeps the data`);
    }
    if (!isOverseas(catalog, r)) continue;
    if (r.transfer === undefined) {
      gap(`${at}.transfer`, "Decree Art. 31(1)2; PIPA Art. 28-8(1)", `the legal basis, timing and method of the transfer to ${name} (${r.country})`);
      continue;
    }
    if (r.kind === "consignee" && r.retention === undefined)
      gap(`${at}.retention`, "Decree Art. 31(1)2; PIPA Art. 28-8(2)4", `how long ${name} (${r.country}) keeps what it receives`);
    if (transferRefusal(catalog, r) === undefined)
      gap(
        `${at}.transfer.refusal`,
        "Decree Art. 31(1)2; PIPA Art. 28-8(2)5",
        `how to refuse the transfer to ${name} (${r.country}), the procedure and the effect of refusing (refusal: { how, effect }); only basis consent takes it from its notice`,
      );
  }
  return gaps;
};

/** Throws CATALOG_INVALID listing every gap (path, article, what is missing). */
const requireNoGaps = (catalog: Catalog) => {
  const gaps = policyGaps(catalog);
  if (gaps.length === 0) return;
  throw new HaechiError(
    "CATALOG_INVALID",
    `the privacy policy cannot be rendered: the catalog lacks ${gaps.length} item(s) the law requires in it:\n${gaps.map((g) => `  ${g.path}: ${g.message} (${g.article})`).join("\n")}`,
    { missing: gaps },
  );
};

// ─── facts ───────────────────────────────────────────────────────────────────

const fieldLabel = (catalog: Catalog, name: string): Bilingual => {
  const d = catalog.fields[name]?.description;
  return d === undefined ? same(name) : bi(d);
};
const itemsText = (catalog: Catalog, names: readonly string[]): Bilingual =>
  names.length === 0 ? NONE : join(names.map((n) => fieldLabel(catalog, n)));

const transferBasisDetail = (catalog: Catalog, r: RecipientDef): Bilingual => {
  const t = r.transfer!;
  const article = TRANSFER_ARTICLE(t.basis);
  const base = cat(TRANSFER_TEXT[t.basis], { ko: ` (${articleFor(article, "ko")})`, en: ` (${article})` });
  switch (t.basis) {
    case "law":
      return t.statute === undefined ? base : cat(base, { ko: ` — ${t.statute}`, en: ` — ${t.statute}` });
    case "certification":
      return t.certification === undefined
        ? base
        : cat(base, { ko: ` — ${t.certification.scheme} ${t.certification.id}, ${t.certification.valid_until}까지 유효`, en: ` — ${t.certification.scheme} ${t.certification.id}, valid until ${t.certification.valid_until}` });
    case "equivalence": {
      const d = t.decision === undefined ? undefined : catalog.equivalence_decisions[t.decision];
      return d === undefined ? base : cat(base, ` — ${d.citation}`);
    }
    default:
      return base;
  }
};

/** The policy's facts: what the change log compares between versions. */
export const policyFacts = (catalog: Catalog): PolicyFacts => {
  const officer = catalog.controller.privacy_officer;
  const facts: PolicyFacts = {
    controller: { name: bi(catalog.controller.name), country: catalog.controller.country },
    purposes: {},
    items: {},
    thirdParties: {},
    trustees: {},
    transfers: {},
    retentionRules: {},
    officer: {
      name: officer.name,
      title: officer.title === undefined ? null : bi(officer.title),
      phone: officer.phone ?? null,
      email: officer.contact,
      department:
        officer.department === undefined ? null : { name: bi(officer.department.name), phone: officer.department.phone, email: officer.department.email ?? null },
    },
  };
  for (const [name, p] of Object.entries(catalog.purposes)) {
    facts.purposes[name] = {
      label: bi(p.description),
      basis: p.basis,
      article: LEGAL_BASIS_ARTICLE[p.basis],
      statute: p.statute ?? null,
      items: [...p.fields],
      retention: retentionText(p, name),
      rules: [...p.retention.rules],
    };
  }
  for (const [name, f] of Object.entries(catalog.fields)) facts.items[name] = { label: fieldLabel(catalog, name), class: f.class, sensitivity: f.sensitivity };
  for (const [name, r] of Object.entries(catalog.recipients)) {
    if (r.kind === "third_party") {
      facts.thirdParties[name] = {
        name: bi(r.legal_name),
        contact: r.contact,
        country: r.country,
        purpose: recipientPurpose(r) ?? NONE,
        items: [...r.fields],
        retention: r.retention === undefined ? NONE : bi(r.retention),
        basis: r.provision_basis ?? "consent",
      };
    } else {
      facts.trustees[name] = {
        name: bi(r.legal_name),
        country: r.country,
        work: recipientPurpose(r) ?? NONE,
        items: [...r.fields],
        subTrustees: (r.contract?.sub_entrustments ?? []).map((s) => ({ name: s.name, country: s.country, work: bi(s.work) })),
      };
    }
    if (isOverseas(catalog, r) && r.transfer !== undefined) {
      const refusal = transferRefusal(catalog, r) ?? { how: NONE, effect: NONE };
      facts.transfers[name] = {
        recipient: bi(r.legal_name),
        contact: r.contact,
        country: r.country,
        kind: r.kind,
        items: [...r.fields],
        timing: bi(r.transfer.timing),
        method: bi(r.transfer.method),
        purpose: recipientPurpose(r) ?? NONE,
        retention: r.retention === undefined ? NONE : bi(r.retention),
        basis: r.transfer.basis,
        article: TRANSFER_ARTICLE(r.transfer.basis),
        basisDetail: transferBasisDetail(catalog, r),
        refusal,
      };
    }
  }
  for (const [name, rule] of Object.entries(catalog.retention_rules)) {
    facts.retentionRules[name] = {
      label: rule.description === undefined ? same(name) : bi(rule.description),
      citation: rule.citation,
      period: rule.period,
      items: [...rule.fields],
    };
  }
  return facts;
};

// ─── sections ────────────────────────────────────────────────────────────────

const p = (ko: string, en: string): PolicyBlock => ({ kind: "p", text: { ko, en } });
const pb = (text: Bilingual): PolicyBlock => ({ kind: "p", text });
const list = (items: Bilingual[]): PolicyBlock => ({ kind: "list", items });
const table = (caption: Bilingual, head: Bilingual[], rows: Bilingual[][]): PolicyBlock => ({ kind: "table", caption, head, rows });
const section = (id: PolicySection["id"], article: string, title: Bilingual, blocks: PolicyBlock[]): PolicySection => ({ id, article, title, blocks });
const H = (ko: string, en: string): Bilingual => ({ ko, en });

const COUNTRY: Record<string, Bilingual> = {
  KR: H("대한민국", "Republic of Korea"),
  SG: H("싱가포르", "Singapore"),
  IE: H("아일랜드", "Ireland"),
  US: H("미국", "United States"),
  JP: H("일본", "Japan"),
  DE: H("독일", "Germany"),
  FR: H("프랑스", "France"),
  GB: H("영국", "United Kingdom"),
  CN: H("중국", "China"),
};
const countryText = (code: string): Bilingual => {
  const c = COUNTRY[code];
  return c === undefined ? same(code) : cat(c, ` (${code})`);
};

/**
 * The policy's content from a catalog: every item of PIPA Art. 30(1) and Decree Art. 31(1), in
 * both languages. Throws CATALOG_INVALID naming each item the catalog lacks.
 */
export const buildPolicyContent = (catalog: Catalog): PolicyContent => {
  requireNoGaps(catalog);
  const facts = policyFacts(catalog);
  const items = (names: readonly string[]) => itemsText(catalog, names);
  const sections: PolicySection[] = [];
  const purposes = Object.entries(catalog.purposes);
  const controller = bi(catalog.controller.name);

  // 1. Purposes (Art. 30(1)1), with their items and bases.
  sections.push(
    section("purposes", "PIPA Art. 30(1)1; Art. 15(1)", H("개인정보의 처리 목적", "Purposes of processing"), [
      pb(
        cat(controller, {
          ko: "은(는) 다음 목적으로 개인정보를 처리하며, 이 목적 외의 용도로는 이용하지 않습니다. 목적이 바뀌면 법에 따라 별도의 동의를 받는 등 필요한 조치를 합니다.",
          en: " processes personal data for the following purposes only. If a purpose changes, we take the steps the law requires, such as asking for your separate consent.",
        }),
      ),
      table(
        H("처리 목적별 항목과 법적 근거", "Items and legal basis per purpose"),
        [H("처리 목적", "Purpose"), H("처리 항목", "Items"), H("법적 근거", "Legal basis")],
        purposes.map(([, pu]) => [bi(pu.description), items(pu.fields), basisText(pu.basis, pu.statute)]),
      ),
    ]),
  );

  // 2. Items (Decree 31(1)1): class, and the special kinds (Art. 23, 24, 24-2).
  const fieldRows = Object.entries(catalog.fields).map(([name, f]) => {
    const kind = SENSITIVITY_TEXT[f.sensitivity];
    const usedBy = purposes.filter(([, pu]) => pu.fields.includes(name)).map(([, pu]) => bi(pu.description));
    return [fieldLabel(catalog, name), kind === undefined ? CLASS_TEXT[f.class] : cat(CLASS_TEXT[f.class], " · ", kind), usedBy.length === 0 ? NONE : join(usedBy, { ko: "; ", en: "; " })];
  });
  const special = Object.entries(catalog.fields).filter(([, f]) => f.sensitivity === "sensitive" || f.sensitivity === "biometric" || f.sensitivity === "unique_id" || f.sensitivity === "rrn");
  sections.push(
    section("items", "Decree Art. 31(1)1; PIPA Art. 16, 23, 24, 24-2", H("처리하는 개인정보의 항목", "Personal data we process"), [
      table(H("처리 항목", "Items processed"), [H("항목", "Item"), H("구분", "Kind"), H("이용 목적", "Used for")], fieldRows),
      p(
        "선택 항목은 동의하지 않으셔도 서비스의 기본 기능을 이용하실 수 있습니다 (개인정보 보호법 제16조제3항).",
        "You may decline the optional items and still use the service's basic functions (PIPA Art. 16(3)).",
      ),
      ...(special.length === 0
        ? []
        : [
            pb(
              cat(
                {
                  ko: "민감정보·고유식별정보는 별도의 동의 또는 법령의 근거가 있을 때만 처리하며, 주민등록번호는 법령의 구체적 근거가 있을 때만 처리합니다 (개인정보 보호법 제23조, 제24조, 제24조의2): ",
                  en: "We process sensitive information and unique identifiers only with your separate consent or a statutory basis, and resident registration numbers only where a statute specifically provides for it (PIPA Art. 23, 24, 24-2): ",
                },
                join(special.map(([n]) => fieldLabel(catalog, n))),
                ".",
              ),
            ),
          ]),
    ]),
  );

  // 3. Items processed on consent, per notice (what you agreed to, separately from the rest).
  const consentPurposes = purposes.filter(([, pu]) => pu.basis === "consent");
  sections.push(
    section("consent_items", "PIPA Art. 15(1)1, 22(1), 22(3)", H("동의를 받아 처리하는 개인정보", "Personal data processed on your consent"), [
      consentPurposes.length === 0
        ? p("동의를 근거로 처리하는 개인정보는 없습니다.", "We process no personal data on the basis of consent.")
        : table(
            H("동의 항목", "Consent items"),
            [H("동의", "Consent"), H("처리 목적", "Purpose"), H("항목", "Items"), H("보유 기간", "Retention")],
            consentPurposes.map(([, pu]) => {
              const n = pu.notice === undefined ? undefined : catalog.notices[pu.notice];
              const v = n === undefined ? undefined : latestOf(n);
              return [n === undefined ? NONE : bi(n.title), bi(pu.description), items(pu.fields), v === undefined ? retentionText(pu) : bi(v.retention)];
            }),
          ),
      p(
        "동의는 언제든지 철회하실 수 있으며, 선택 동의를 거부하셔도 서비스 가입과 기본 기능 이용은 제한되지 않습니다 (제22조제5항, 제37조).",
        "You may withdraw consent at any time; declining an optional consent never blocks sign-up or the basic service (Art. 22(5), 37).",
      ),
    ]),
  );

  // 4. Items processed without consent and their bases (Art. 22(3)), listed apart.
  const withoutConsent = purposes.filter(([, pu]) => pu.basis !== "consent");
  sections.push(
    section("without_consent", "PIPA Art. 22(3); Art. 15(1)2–7", H("동의 없이 처리하는 개인정보와 그 근거", "Personal data processed without consent, and the legal basis"), [
      p(
        "다음 개인정보는 동의가 아닌 법률의 규정, 계약의 이행, 정당한 이익 등 개인정보 보호법 제15조제1항제2호부터 제7호까지의 근거로 처리하며, 동의를 받아 처리하는 개인정보와 구분하여 알려 드립니다.",
        "We process the following without asking for consent, on the grounds of PIPA Art. 15(1)2 to 7 (a law, the contract, legitimate interests and so on), and list them apart from what we process on consent.",
      ),
      withoutConsent.length === 0
        ? p("동의 없이 처리하는 개인정보는 없습니다.", "None.")
        : table(
            H("동의 없이 처리하는 항목", "Items processed without consent"),
            [H("처리 목적", "Purpose"), H("항목", "Items"), H("법적 근거", "Legal basis")],
            withoutConsent.map(([, pu]) => [bi(pu.description), items(pu.fields), basisText(pu.basis, pu.statute)]),
          ),
    ]),
  );

  // 5. Processing and retention periods (Art. 30(1)2).
  const dormancy = catalog.dormancy;
  sections.push(
    section("retention", "PIPA Art. 30(1)2; Art. 21(1)", H("개인정보의 처리 및 보유 기간", "How long we process and keep personal data"), [
      table(
        H("처리 목적별 보유 기간", "Retention per purpose"),
        [H("처리 목적", "Purpose"), H("보유 기간", "Retention period"), H("관계 법령에 따른 보존", "Kept longer under law")],
        purposes.map(([pname, pu]) => [
          bi(pu.description),
          retentionText(pu, pname),
          pu.retention.rules.length === 0
            ? NONE
            : join(
                pu.retention.rules.map((r) => {
                  const rule = catalog.retention_rules[r];
                  return rule === undefined ? same(r) : cat(rule.description === undefined ? same(r) : bi(rule.description), ": ", periodText(rule.period));
                }),
                { ko: "; ", en: "; " },
              ),
        ]),
      ),
      ...(dormancy === undefined
        ? []
        : [
            pb(
              cat(
                { ko: "장기 미이용: ", en: "Inactive accounts: " },
                periodText(dormancy.after),
                dormancy.action === "destroy"
                  ? { ko: " 동안 이용하지 않은 계정의 개인정보는 회원 탈퇴와 같이 파기합니다 (법령에 따라 보존할 정보는 분리 보관)", en: " without use, an account's personal data is destroyed as on account deletion (what a law requires keeping is kept apart)" }
                  : {
                      ko: ` 동안 이용하지 않은 계정의 개인정보는 다른 개인정보와 분리하여 보관하고, 다시 이용하시면 복원합니다${dormancy.destroy_after === undefined ? "" : `. 분리 후 ${periodText(dormancy.destroy_after).ko}이 지나도록 이용하지 않으시면 파기합니다`}`,
                      en: ` without use, an account's personal data is stored apart from other data and restored when you return${dormancy.destroy_after === undefined ? "" : `; it is destroyed if still unused ${periodText(dormancy.destroy_after).en} after that`}`,
                    },
                dormancy.notice_before === undefined
                  ? "."
                  : { ko: `. 조치 ${periodText(dormancy.notice_before).ko} 전에 미리 알려 드립니다.`, en: `. We tell you ${periodText(dormancy.notice_before).en} beforehand.` },
              ),
            ),
          ]),
    ]),
  );

  // 6. Destruction procedure and method, and what other laws make us keep (Art. 30(1)3-2, 21).
  const rules = Object.entries(catalog.retention_rules);
  sections.push(
    section("destruction", "PIPA Art. 30(1)3-2; Art. 21; Decree Art. 16", H("개인정보의 파기 절차 및 방법", "How we destroy personal data"), [
      p(
        "파기 절차: 보유 기간이 끝나거나 처리 목적을 달성한 개인정보(회원 탈퇴, 동의 철회, 장기 미이용 포함)는 지체 없이 파기합니다. 파기 작업은 매일 실행되며, 기한을 넘긴 파기는 개인정보 보호책임자에게 경보로 알려지고, 파기할 때마다 파기 증명(무엇을, 언제, 어떤 방법으로, 누가)이 위·변조 방지 감사 기록에 남습니다.",
        "Procedure: personal data whose retention period has ended or whose purpose is achieved (account deletion, withdrawn consent and inactivity included) is destroyed without delay. The destruction job runs daily; anything overdue is flagged to the privacy officer, and every act of destruction leaves a certificate (what, when, how, by whom) in the tamper-evident audit log.",
      ),
      p(
        "파기 방법: 전자적 파일 형태의 개인정보는 사람마다 따로 둔 암호화 키를 삭제하여 복구·재생할 수 없게 파기하고(암호학적 삭제), 남은 암호문도 삭제합니다. 백업에 남은 암호문은 키가 없어 복구할 수 없으며, 백업에서 복원하더라도 그 사이의 파기를 다시 적용합니다. 종이 문서는 분쇄하거나 소각합니다.",
        "Method: electronic personal data is destroyed beyond recovery by deleting the encryption key kept for each person (crypto-shredding), and the remaining ciphertext is deleted too. Ciphertext left in backups cannot be recovered without the key, and a restore from backup re-applies every destruction since. Paper is shredded or incinerated.",
      ),
      p(
        "관계 법령에 따라 보존해야 하는 개인정보는 다른 개인정보와 분리된 저장소에 별도의 키로 보관하여 그 법령이 정한 목적으로만 열람하고, 보존 기간이 끝나면 지체 없이 파기합니다 (제21조제3항).",
        "Personal data another law requires us to keep is stored apart from other personal data under a separate key, read only for that law's purpose, and destroyed without delay when its period ends (Art. 21(3)).",
      ),
      rules.length === 0
        ? p("관계 법령에 따라 보존하는 개인정보는 없습니다.", "We keep no personal data under other laws.")
        : table(
            H("관계 법령에 따라 보존하는 개인정보", "Personal data kept under other laws"),
            [H("보존 기록", "Records kept"), H("보존 항목", "Items"), H("근거 법령", "Legal basis"), H("보존 기간", "Period")],
            rules.map(([name, r]) => [
              r.description === undefined ? same(name) : bi(r.description),
              r.fields.length === 0 ? H("해당 기록", "the records concerned") : items(r.fields),
              same(r.citation),
              periodText(r.period),
            ]),
          ),
    ]),
  );

  // 7. Provision to third parties (Art. 30(1)3; 17(2)).
  const thirdParties = Object.entries(catalog.recipients).filter(([, r]) => r.kind === "third_party");
  sections.push(
    section("third_parties", "PIPA Art. 30(1)3; Art. 17", H("개인정보의 제3자 제공", "Provision to third parties"), [
      p(
        "개인정보는 처리 목적의 범위에서만 처리하며, 다음의 경우 외에는 제3자에게 제공하지 않습니다. 제공은 동의하신 분, 해당 기능을 이용하시는 분의 정보와 필요한 항목에 한하며, 제공할 때마다 제공 내역을 기록합니다.",
        "We process personal data only within the purposes above and provide it to third parties only as listed here: only the people who consented or use the feature concerned and only the items needed, and every provision is recorded.",
      ),
      thirdParties.length === 0
        ? p("제3자에게 제공하는 개인정보는 없습니다.", "We provide personal data to no third party.")
        : table(
            H("제3자 제공 현황", "Third parties"),
            [H("제공받는 자", "Recipient"), H("이용 목적", "Recipient's purpose"), H("제공 항목", "Items"), H("보유·이용 기간", "Retention"), H("근거", "Basis")],
            thirdParties.map(([name, r]) => {
              const f = facts.thirdParties[name]!;
              const basis = r.provision_basis === undefined || r.provision_basis === "consent" ? H("정보주체의 동의 (제17조제1항제1호)", "your consent (Art. 17(1)1)") : cat(BASIS_TEXT[r.provision_basis], r.statute === undefined ? "" : ` — ${r.statute}`);
              return [cat(f.name, ` (${r.contact}, `, countryText(r.country), ")"), f.purpose, items(r.fields), f.retention, basis];
            }),
          ),
    ]),
  );

  // 8. Consignment: every trustee and sub-trustee with the work entrusted (Art. 30(1)4, 26(2)).
  const trustees = Object.entries(catalog.recipients).filter(([, r]) => r.kind === "consignee");
  sections.push(
    section("consignment", "PIPA Art. 30(1)4; Art. 26(2)", H("개인정보 처리업무의 위탁", "Entrusting the processing of personal data"), [
      p(
        "원활한 서비스 제공을 위해 다음과 같이 개인정보 처리업무를 위탁합니다. 위탁계약에 위탁업무 목적 외 처리 금지, 기술적·관리적 보호조치, 재위탁 제한, 관리·감독, 손해배상 책임을 정하고, 수탁자가 개인정보를 안전하게 처리하는지 감독합니다. 위탁업무의 내용이나 수탁자가 바뀌면 이 처리방침으로 지체 없이 알려 드립니다.",
        "We entrust the following work to trustees. Each contract forbids processing beyond the entrusted work and sets technical and managerial safeguards, limits on sub-entrustment, supervision and liability, and we supervise how each trustee handles the data. If the work or a trustee changes, we update this policy without delay.",
      ),
      trustees.length === 0
        ? p("위탁하는 개인정보 처리업무는 없습니다.", "We entrust no processing of personal data.")
        : table(
            H("수탁자와 위탁업무", "Trustees and the work entrusted"),
            [H("수탁자", "Trustee"), H("위탁업무", "Work entrusted"), H("처리 항목", "Items"), H("처리 국가", "Country")],
            trustees.flatMap(([name, r]) => {
              const f = facts.trustees[name]!;
              const row = [f.name, f.work, items(r.fields), countryText(r.country)];
              const subs = f.subTrustees.map((s) => [cat({ ko: "재수탁자: ", en: "Sub-trustee: " }, s.name, { ko: ` (${f.name.ko}로부터)`, en: ` (from ${f.name.en})` }), s.work, items(r.fields), countryText(s.country)]);
              return [row, ...subs];
            }),
          ),
    ]),
  );

  // Pseudonymised information (Art. 30(1)4-2), when the catalog says it is processed.
  const pp = catalog.privacy_policy!;
  if (pp.pseudonymised !== undefined)
    sections.push(section("pseudonymised", "PIPA Art. 30(1)4-2; Art. 28-2–28-7", H("가명정보의 처리", "Processing of pseudonymised information"), [pb(bi(pp.pseudonymised))]));

  // 9. Overseas transfers: the basis and every Art. 28-8(2) item (Decree 31(1)2).
  const transfers = Object.entries(facts.transfers);
  sections.push(
    section("overseas", "Decree Art. 31(1)2; PIPA Art. 28-8", H("개인정보의 국외 이전", "Transfers of personal data abroad"), [
      transfers.length === 0
        ? p("개인정보를 국외로 이전하지 않습니다.", "We transfer no personal data abroad.")
        : p(
            "다음과 같이 개인정보를 국외로 이전(제공, 처리위탁, 보관)합니다. 이전받는 자와 안전성 확보조치, 고충처리 및 분쟁해결에 관한 사항을 미리 계약에 정하였습니다 (제28조의8제4항).",
            "We transfer personal data abroad (provision, entrustment or storage) as follows. Safety measures, grievance handling and dispute resolution were agreed with each recipient in its contract beforehand (Art. 28-8(4)).",
          ),
      ...transfers.map(([, t]): PolicyBlock => ({
        kind: "group",
        title: cat(t.recipient, " — ", countryText(t.country)),
        blocks: [
          list([
            cat({ ko: "이전받는 자와 연락처: ", en: "Recipient and contact: " }, t.recipient, ` (${t.contact})`),
            cat({ ko: "이전되는 국가: ", en: "Destination country: " }, countryText(t.country)),
            cat({ ko: "이전 항목: ", en: "Items transferred: " }, items(t.items)),
            cat({ ko: "이전 시기 및 방법: ", en: "When and how: " }, t.timing, "; ", t.method),
            cat({ ko: "이전받는 자의 이용 목적: ", en: "Recipient's purpose: " }, t.purpose, t.kind === "consignee" ? H(" (처리위탁)", " (entrusted work)") : H(" (제3자 제공)", " (provision)")),
            cat({ ko: "보유·이용 기간: ", en: "Retention and use period: " }, t.retention),
            cat({ ko: "이전의 법적 근거: ", en: "Legal basis of the transfer: " }, t.basisDetail),
            cat({ ko: "거부 방법·절차: ", en: "How to refuse, and the procedure: " }, t.refusal.how),
            cat({ ko: "거부의 효과: ", en: "Effect of refusing: " }, t.refusal.effect),
          ]),
        ],
      })),
    ]),
  );

  // 10. Sensitive data that may become public (Art. 30(1)3-3), when the catalog says so.
  if (pp.sensitive_public !== undefined)
    sections.push(section("sensitive_public", "PIPA Art. 30(1)3-3; Art. 23(3)", H("민감정보의 공개 가능성 및 비공개 선택 방법", "Sensitive information that may become public, and how to keep it private"), [pb(bi(pp.sensitive_public))]));

  // 11. Automatic collection: auto items and cookies (Art. 30(1)7).
  const auto = Object.entries(catalog.fields).filter(([, f]) => f.class === "auto");
  const cookies = pp.cookies!;
  sections.push(
    section("automatic_collection", "PIPA Art. 30(1)7", H("개인정보 자동 수집 장치의 설치·운영 및 거부", "Automatic collection (cookies) and how to refuse it"), [
      auto.length === 0
        ? p("서비스 이용 중 자동으로 생성·수집하는 개인정보는 없습니다.", "We collect no personal data automatically while you use the service.")
        : pb(
            cat(
              { ko: "서비스 이용 중 다음 정보가 자동으로 생성·수집됩니다 (수집 시 최소화하여 저장): ", en: "These items are generated and collected automatically while you use the service (minimised when collected): " },
              items(auto.map(([n]) => n)),
              ".",
            ),
          ),
      cookies.used
        ? pb(cat({ ko: "쿠키: ", en: "Cookies: " }, bi(cookies.purpose!), " ", { ko: "거부 방법: ", en: "How to refuse: " }, bi(cookies.refuse!)))
        : p("쿠키 등 자동 수집 장치를 설치·운영하지 않습니다.", "We do not install or run cookies or similar automatic collection devices."),
    ]),
  );

  // 12. Rights and how to exercise them (Art. 30(1)5; Art. 35-38).
  sections.push(
    section("rights", "PIPA Art. 30(1)5; Art. 35–38; Decree Art. 41–48", H("정보주체와 법정대리인의 권리·의무 및 행사 방법", "Your rights and how to exercise them"), [
      list([
        H("개인정보 열람: 요청일로부터 10일 이내에 열람하실 수 있게 합니다. 제한하거나 거절할 때는 그 사유와 이의제기 방법을 알려 드립니다 (제35조; 시행령 제41조·제42조).", "Access: we let you see your data within 10 days of your request; if we limit or refuse it, we tell you why and how to object (Art. 35; Decree 41, 42)."),
        H("정정·삭제: 지체 없이 조사·조치하고 10일 이내에 결과를 알려 드립니다. 다른 법령에서 수집 대상으로 정한 개인정보는 삭제를 요구할 수 없습니다 (제36조; 시행령 제43조).", "Correction and deletion: we act without delay and tell you the result within 10 days; data another law requires us to collect cannot be deleted on request (Art. 36; Decree 43)."),
        H("처리정지와 동의 철회: 지체 없이 처리를 정지하고 10일 이내에 결과를 알려 드리며, 철회하신 동의에 따라 처리하던 개인정보는 지체 없이 파기합니다 (제37조; 시행령 제44조).", "Suspension and withdrawal of consent: we stop without delay and tell you the result within 10 days; data processed on a withdrawn consent is destroyed without delay (Art. 37; Decree 44)."),
        H("자동화된 결정: 완전히 자동화된 시스템으로 권리·의무에 중대한 영향을 미치는 결정을 하는 경우 거부하거나 설명을 요구하실 수 있습니다 (제37조의2).", "Automated decisions: you may refuse, or ask for an explanation of, a decision made by a fully automated system that significantly affects your rights (Art. 37-2)."),
        H("대리인·법정대리인: 대리인(위임장 제출)을 통해 권리를 행사하실 수 있고, 만 14세 미만 아동은 법정대리인이 행사합니다. 본인 또는 정당한 대리인인지 확인합니다 (제38조; 시행령 제46조).", "Agents and guardians: you may act through an agent (with a power of attorney); a legal guardian acts for a child under 14. We verify that the request comes from you or your authorised agent (Art. 38; Decree 46)."),
        H("수수료: 실비 외에는 받지 않으며, 저희 때문에 요청하시게 된 경우에는 받지 않습니다 (시행령 제47조).", "Fees: none beyond actual costs, and none where we caused the request (Decree 47)."),
        H("이의제기: 열람·정정·삭제·처리정지 요구에 대한 결정에 이의를 제기하실 수 있습니다 (제38조제5항).", "Objection: you may object to our decision on an access, correction, deletion or suspension request (Art. 38(5))."),
      ]),
      pb(cat({ ko: "행사 방법: ", en: "How: " }, bi(pp.rights!.how))),
    ]),
  );

  // Automated decisions (Art. 37-2; Decree 44-4), when the catalog declares whether any are made.
  const automated = pp.automated_decisions;
  if (automated !== undefined)
    sections.push(
      section("automated_decisions", "PIPA Art. 37-2; Decree Art. 44-4", H("자동화된 결정", "Automated decisions"), [
        automated.used
          ? pb(bi(automated.description!))
          : p(
              "완전히 자동화된 시스템(인공지능 포함)으로 정보주체의 권리 또는 의무에 중대한 영향을 미치는 결정을 하지 않습니다.",
              "We make no decision by a fully automated system (AI included) that significantly affects your rights or duties.",
            ),
      ]),
    );

  // 13. Safety measures (Decree 31(1)3; Decree 30): Haechi's own, then the controller's.
  sections.push(
    section("safety", "Decree Art. 31(1)3; Decree Art. 30", H("개인정보의 안전성 확보조치", "How we keep personal data safe"), [
      list([
        H("암호화: 모든 개인정보를 사람마다 다른 데이터 키로 AES-256-GCM 암호화하여 저장하고, 데이터 키는 별도로 보관하는 키 암호화 키로 다시 암호화합니다. 키는 서비스 중단 없이 교체할 수 있습니다.", "Encryption: all personal data is stored encrypted (AES-256-GCM) under a data key of each person's own, itself encrypted by a key-encryption key kept apart; keys can be rotated without downtime."),
        H("접근 통제: 업무 시스템은 허용된 처리 목적과 그 목적에 필요한 항목에 대해서만 개인정보를 조회할 수 있으며, 시스템마다 서로 연결할 수 없는 별도의 식별자를 사용합니다. 인증키는 해시로 보관하고 인증 실패가 반복되면 접근을 잠급니다.", "Access control: each system reads personal data only for the purposes it is allowed and only the items those purposes need, under identifiers it cannot link to another system's; API keys are stored hashed and repeated failed logins lock access."),
        H("접속기록: 모든 조회·변경·거부를 위·변조를 방지하는 감사 기록에 남기고, 서명된 검증점을 외부에 보관하며, 매월 접속기록을 점검합니다.", "Access records: every read, change and refusal is written to a tamper-evident audit log with signed checkpoints kept outside, and access records are reviewed every month."),
        H("이상 탐지: 대량 조회, 순차 조회, 미끼 계정 접근, 업무 시간 외 접근 등을 실시간으로 탐지하여 경고·제한·차단합니다.", "Detection: bulk or sequential reads, access to decoy accounts, off-hours access and the like are detected as they happen, and the caller is flagged, throttled or suspended."),
        H("분리 보관: 관계 법령에 따라 보존하는 개인정보는 별도 저장소에 별도 키로 보관하고, 허용된 담당자만 법령이 정한 목적으로 열람합니다.", "Separation: data kept under other laws sits in a separate store under separate keys, readable only by designated staff for the law's purpose."),
        ...pp.measures.map(bi),
      ]),
    ]),
  );

  // 14. The privacy officer and the department (Art. 30(1)6, 31).
  const o = facts.officer;
  const officerLines: Bilingual[] = [cat({ ko: "개인정보 보호책임자: ", en: "Privacy officer: " }, o.name, o.title === null ? "" : cat(" (", o.title, ")"))];
  officerLines.push(cat({ ko: "연락처: ", en: "Contact: " }, o.phone === null ? "" : `${o.phone}, `, o.email));
  if (o.department !== null)
    officerLines.push(cat({ ko: "개인정보 보호 업무 및 고충 처리 부서: ", en: "Department for privacy work and complaints: " }, o.department.name, ` (${o.department.phone}${o.department.email === null ? "" : `, ${o.department.email}`})`));
  sections.push(
    section("officer", "PIPA Art. 30(1)6; Art. 31", H("개인정보 보호책임자", "Privacy officer"), [
      p(
        "개인정보 처리에 관한 업무를 총괄하고 관련 불만 처리와 피해 구제를 위해 개인정보 보호책임자를 지정하고 있습니다. 개인정보 보호에 관한 문의, 불만, 피해 구제는 아래로 연락해 주시면 지체 없이 답변드립니다.",
        "We have appointed a privacy officer responsible for our processing of personal data, complaints and redress. Please contact the officer or the department below with any question, complaint or claim; we answer without delay.",
      ),
      list(officerLines),
    ]),
  );

  return { format: 1, facts, sections };
};

// ─── the document: content + version + history ───────────────────────────────

export interface ComposeOptions {
  /** null: an unpublished draft. */
  version: number | null;
  /** YYYY-MM-DD, or null for a draft. */
  effective: string | null;
  /** Published versions, oldest first (for a version being published: itself included). */
  history: readonly PolicyHistoryEntry[];
  website?: string | null;
}

/** The policy's title: "<controller> 개인정보 처리방침" / "<controller> Privacy Policy". */
export const policyTitle = (content: Pick<PolicyContent, "facts">): Bilingual =>
  cat(content.facts.controller.name, { ko: " 개인정보 처리방침", en: " Privacy Policy" });

/** The whole document: title, content, and the change history section (Art. 30; J1). */
export const composePolicy = (content: PolicyContent, opts: ComposeOptions): PolicyDocument => {
  const controller = content.facts.controller.name;
  const changes: PolicyBlock[] = [];
  if (opts.version === null)
    changes.push(p("이 문서는 아직 공표되지 않은 초안입니다.", "This is a draft that has not been published."));
  else
    changes.push(
      pb(
        cat({ ko: `이 개인정보 처리방침은 ${opts.effective}부터 적용됩니다 (제${opts.version}판).`, en: `This privacy policy takes effect on ${opts.effective} (version ${opts.version}).` }),
      ),
    );
  const history = [...opts.history].sort((a, b) => b.version - a.version);
  if (history.length > 0)
    changes.push(
      ...history.map((h): PolicyBlock => ({
        kind: "group",
        title: { ko: `제${h.version}판 (${h.effective} 시행)`, en: `Version ${h.version} (effective ${h.effective})` },
        blocks: [list(h.changes.length === 0 ? [H("최초 공표", "First publication")] : h.changes.map(changeText))],
      })),
    );
  return {
    format: 1,
    controller,
    title: policyTitle(content),
    version: opts.version,
    effective: opts.effective,
    website: opts.website ?? null,
    facts: content.facts,
    sections: [...content.sections, section("changes", "PIPA Art. 30(1), 30(2); Decree Art. 31(2)", H("개인정보 처리방침의 변경", "Changes to this policy"), changes)],
    history,
  };
};

// ─── change log ──────────────────────────────────────────────────────────────

const SUBJECT_TEXT: Record<PolicyChange["subject"], Bilingual> = {
  purpose: H("처리 목적", "Purpose"),
  item: H("처리 항목", "Item"),
  third_party: H("제3자 제공", "Third party"),
  trustee: H("수탁자", "Trustee"),
  transfer: H("국외 이전", "Overseas transfer"),
  retention_rule: H("법령에 따른 보존", "Retention under law"),
  section: H("처리방침 항목", "Section"),
};
const CHANGE_TEXT: Record<PolicyChange["change"], Bilingual> = { added: H("추가", "added"), removed: H("삭제", "removed"), changed: H("변경", "changed") };

/** What a changed key means to a reader (the facts' keys). */
const FIELD_TEXT: Record<string, Bilingual> = {
  label: H("명칭", "description"),
  name: H("명칭", "name"),
  recipient: H("이전받는 자", "recipient"),
  basis: H("법적 근거", "legal basis"),
  article: H("근거 조항", "article"),
  basisDetail: H("이전 근거", "transfer basis"),
  statute: H("근거 법령", "statute"),
  items: H("항목", "items"),
  retention: H("보유 기간", "retention period"),
  rules: H("법령에 따른 보존", "retention under law"),
  contact: H("연락처", "contact"),
  country: H("국가", "country"),
  purpose: H("이용 목적", "purpose"),
  work: H("위탁업무", "work entrusted"),
  subTrustees: H("재수탁자", "sub-trustees"),
  kind: H("제공·위탁 구분", "provision or entrustment"),
  timing: H("이전 시기", "timing"),
  method: H("이전 방법", "method"),
  refusal: H("거부 방법", "how to refuse"),
  citation: H("근거 법령", "legal basis"),
  period: H("보존 기간", "period"),
  class: H("필수·선택 구분", "required or optional"),
  sensitivity: H("민감도 구분", "kind of data"),
};

/** One change-log line in both languages: "처리 목적 추가: …" / "Purpose added: …"; changed keys in brackets. */
export const changeText = (c: PolicyChange): Bilingual =>
  cat(
    SUBJECT_TEXT[c.subject],
    " ",
    CHANGE_TEXT[c.change],
    ": ",
    c.label,
    c.fields.length === 0 ? "" : cat(" (", join(c.fields.map((f) => FIELD_TEXT[f] ?? same(f))), ")"),
  );

type FactMap = Record<string, { [k: string]: unknown }>;
const labelOf = (v: { [k: string]: unknown }): Bilingual => (v.label ?? v.name ?? v.recipient) as Bilingual;

const diffMap = (subject: PolicyChange["subject"], before: FactMap, after: FactMap): PolicyChange[] => {
  const out: PolicyChange[] = [];
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  for (const name of names) {
    const a = before[name];
    const b = after[name];
    if (a === undefined && b !== undefined) out.push({ subject, change: "added", name, label: labelOf(b), fields: [] });
    else if (a !== undefined && b === undefined) out.push({ subject, change: "removed", name, label: labelOf(a), fields: [] });
    else if (a !== undefined && b !== undefined) {
      const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort().filter((k) => canonicalJson(a[k]) !== canonicalJson(b[k]));
      if (keys.length > 0) out.push({ subject, change: "changed", name, label: labelOf(b), fields: keys });
    }
  }
  return out;
};

/**
 * The machine-made change log between two versions: purposes, items, third parties, trustees,
 * overseas transfers and statutory retention added, removed or changed (with the keys that
 * changed), then any other section whose text changed (the officer, the rights channel, …).
 */
export const diffPolicy = (before: PolicyContent, after: PolicyContent): PolicyChange[] => {
  const f0 = before.facts;
  const f1 = after.facts;
  const changes = [
    ...diffMap("purpose", f0.purposes, f1.purposes),
    ...diffMap("item", f0.items, f1.items),
    ...diffMap("third_party", f0.thirdParties, f1.thirdParties),
    ...diffMap("trustee", f0.trustees, f1.trustees),
    ...diffMap("transfer", f0.transfers, f1.transfers),
    ...diffMap("retention_rule", f0.retentionRules, f1.retentionRules),
  ];
  // Sections whose text changed for reasons the facts above do not show.
  const byFacts: Partial<Record<PolicyChange["subject"], PolicySection["id"][]>> = {
    purpose: ["purposes", "consent_items", "without_consent", "retention", "items"],
    item: ["items", "purposes", "consent_items", "without_consent", "automatic_collection", "destruction", "third_parties", "consignment", "overseas"],
    third_party: ["third_parties", "overseas"],
    trustee: ["consignment", "overseas"],
    transfer: ["overseas"],
    retention_rule: ["destruction", "retention"],
  };
  const explained = new Set(changes.flatMap((c) => byFacts[c.subject] ?? []));
  const sectionsBefore = new Map(before.sections.map((s) => [s.id, canonicalJson(s)]));
  const sectionsAfter = new Map(after.sections.map((s) => [s.id, { json: canonicalJson(s), title: s.title }]));
  for (const [id, s] of sectionsAfter) {
    if (explained.has(id)) continue;
    const old = sectionsBefore.get(id);
    if (old === undefined) changes.push({ subject: "section", change: "added", name: id, label: s.title, fields: [] });
    else if (old !== s.json) changes.push({ subject: "section", change: "changed", name: id, label: s.title, fields: [] });
  }
  for (const s of before.sections) {
    if (!sectionsAfter.has(s.id) && !explained.has(s.id)) changes.push({ subject: "section", change: "removed", name: s.id, label: s.title, fields: [] });
  }
  return changes;
};

const LAW_KO: Record<string, string> = { PIPA: "개인정보 보호법", Decree: "개인정보 보호법 시행령" };
/** "28-8" → "제28조의8"; "30" → "제30조". */
const articleKo = (a: string) => {
  const [n, sub] = a.split("-");
  return `제${n}조${sub === undefined ? "" : `의${sub}`}`;
};

const koArticle = (art: string, para?: string, item?: string, to?: string): string => {
  let out = articleKo(art);
  if (para !== undefined) out += `제${para}항`;
  if (item !== undefined) {
    const [from, upto] = item.split("–");
    const ho = (i: string) => {
      const [h, sub] = i.split("-");
      return `제${h}호${sub === undefined ? "" : `의${sub}`}`;
    };
    out += upto === undefined ? ho(from!) : `${ho(from!)}–${ho(upto)}`;
  }
  if (to !== undefined) out += `–${articleKo(to)}`;
  return out;
};

/**
 * An article reference as a language's readers write it: "PIPA Art. 28-8(2)5" stays in English and
 * becomes "개인정보 보호법 제28조의8제2항제5호" in Korean; "Art. 30(1)3-2" → "제30조제1항제3호의2";
 * "Art. 35–38" → "제35조–제38조". Anything else is left as written.
 */
export const articleFor = (article: string, lang: "ko" | "en"): string => {
  if (lang === "en") return article;
  return article
    .split("; ")
    .map((part) =>
      part
        .replace(/^(PIPA|Decree) /, (_m, law: string) => `${LAW_KO[law]} `)
        .replace(/Art\. (\d+(?:-\d+)?)(?:\((\d+)\))?(\d+(?:-\d+)?(?:–\d+)?)?(?:–(\d+(?:-\d+)?))?/g, (_m, art: string, para?: string, item?: string, to?: string) =>
          koArticle(art, para, item, to),
        )
        // "Art. 23, 24, 24-2" and "Art. 15(1)1, 22(1)": the numbers after a comma are articles too.
        .replace(/, (\d+(?:-\d+)?)(?:\((\d+)\))?(\d+(?:-\d+)?)?(?=,|$|\s)/g, (_m, art: string, para?: string, item?: string) => `, ${koArticle(art, para, item)}`),
    )
    .join("; ");
};
