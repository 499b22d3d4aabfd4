/**
 * The annual usage-and-provision notice (개인정보 이용·제공 내역 통지; PIPA Art. 20-2, Decree Art.
 * 15-3). Pure: from the catalog and one person's facts (the fields held, current consents, the
 * provision ledger of the year, their preference), whether the person gets the notice, and its
 * text in Korean and English.
 *
 * The law, as LAW.md §9.2 reads it:
 *  - the duty is the controller's above a threshold (Decree 15-3): sensitive or unique data of
 *    ≥ 50,000 people, or personal data of ≥ 1,000,000, daily average over the last three months of
 *    the previous year (declared in the catalog: `notifications.annual_notice`);
 *  - to everyone except those who refused it, the company's employees and business contacts of
 *    other organisations (here: people held only for `excluded_purposes`), and people whose data
 *    was used or provided only under a law or legal obligation;
 *  - content (Decree 15-3(3)): 1. the purposes of collection and use and the items collected;
 *    2. the third parties that received data, their purposes and the items provided, leaving out
 *    disclosures to investigators under the Communications Secret Protection Act Arts. 13, 13-2,
 *    13-4 and the Telecommunications Business Act Art. 83(3) (`excluded_recipients`);
 *  - at least once a year, in writing, by e-mail, telephone, text message or similar, or by an
 *    in-app alert only to say where the history can be seen (Decree 15-3(4)).
 * Consignees (entrusted processing, Art. 26) are no provision and not an item the Decree lists;
 * they are shown apart, for the person's "shared with whom", and marked as such.
 *
 * A notice holds no value of the person's: only the names of purposes, items and recipients.
 * People not active (dormant: their data is separated and neither used nor provided; erased:
 * nothing is held) get none.
 */
import { LEGAL_BASIS_ARTICLE, type AnnualNoticeDef, type Catalog, type LegalBasis, type NotificationChannel, type Text } from "../catalog/catalog-schema.js";

/** The thresholds of Decree Art. 15-3 (LAW §9.2). */
export const ANNUAL_NOTICE_THRESHOLDS = { subjects: 1_000_000, sensitiveOrUnique: 50_000 } as const;

export type ControllerDuty =
  | { required: true; reason: string }
  | { required: false; voluntary: boolean; reason: string };

/** Whether the controller must send the notice at all (Art. 20-2; Decree 15-3), from its declared averages. */
export const controllerDuty = (a: AnnualNoticeDef): ControllerDuty => {
  const t = ANNUAL_NOTICE_THRESHOLDS;
  if (a.sensitive_or_unique_subjects >= t.sensitiveOrUnique)
    return { required: true, reason: `sensitive or unique-identifying data of ${a.sensitive_or_unique_subjects} people a day on average (${a.measured}) ≥ ${t.sensitiveOrUnique}` };
  if (a.subjects >= t.subjects) return { required: true, reason: `personal data of ${a.subjects} people a day on average (${a.measured}) ≥ ${t.subjects}` };
  return {
    required: false,
    voluntary: a.voluntary,
    reason: `below the thresholds of Decree Art. 15-3 (${a.subjects} < ${t.subjects} people; ${a.sensitive_or_unique_subjects} < ${t.sensitiveOrUnique} with sensitive or unique data; ${a.measured})`,
  };
};

/** The notice period: a calendar year in Korean time. */
export const yearPeriod = (year: number): { period: string; from: Date; to: Date } => ({
  period: String(year),
  from: new Date(`${year}-01-01T00:00:00+09:00`),
  to: new Date(`${year + 1}-01-01T00:00:00+09:00`),
});

/** One person's facts, as the stores hold them. */
export interface PersonFacts {
  status: "active" | "dormant" | "erased";
  /** Names of the fields the person holds. */
  fields: readonly string[];
  /** Current consent per notice. */
  consents: readonly { notice: string; status: "granted" | "withdrawn" }[];
  /** Provisions of the person's data (ledger entries); those outside the period are ignored. */
  provisions: readonly { recipient: string; fields: readonly string[]; basis: string; at: Date }[];
  optedOut: boolean;
}

export const INELIGIBLE_REASONS = ["NOT_ACTIVE", "OPTED_OUT", "EXCLUDED_PURPOSES_ONLY", "LEGAL_OBLIGATION_ONLY", "NOTHING_PROCESSED", "NO_CONTACT"] as const;
export type IneligibleReason = (typeof INELIGIBLE_REASONS)[number];

export interface PurposeLine {
  purpose: string;
  description: Text;
  basis: LegalBasis;
  article: string;
  items: string[];
}
export interface RecipientLine {
  recipient: string;
  name: Text;
  country: string;
  purpose: Text | null;
  items: string[];
}
export interface AnnualNoticeContent {
  purposes: PurposeLine[];
  /** Third parties (Decree 15-3(3)2). */
  thirdParties: RecipientLine[];
  /** Consignees, shown apart (Art. 26; not a provision). */
  consignees: RecipientLine[];
  /** Provisions left out under Decree 15-3(3) (investigators): counted, never shown. */
  leftOut: number;
}

export type Eligibility =
  | { eligible: true; contact: { field: string; channel: NotificationChannel }; content: AnnualNoticeContent }
  | { eligible: false; reason: IneligibleReason };

/** Purposes served only by the sealed legal-retention store: no live use of a person's data. */
const sealedOnlyPurposes = (catalog: Catalog): Set<string> => {
  const users = new Map<string, Set<string>>();
  for (const p of Object.values(catalog.principals)) for (const u of p.purposes) (users.get(u) ?? users.set(u, new Set()).get(u)!).add(p.role);
  return new Set([...users].filter(([, roles]) => roles.size > 0 && [...roles].every((r) => r === "legal_retention")).map(([u]) => u));
};

const LEGAL_BASES_ONLY: ReadonlySet<string> = new Set(["law", "public_duty"]);

/**
 * What the notice says for this person: the purposes whose basis stands for them (a consent
 * purpose only while the consent is granted) with the items they hold, and the recipients of the
 * period's provisions.
 */
export const noticeContent = (catalog: Catalog, a: AnnualNoticeDef, person: PersonFacts, period: { from: Date; to: Date }): AnnualNoticeContent => {
  const held = new Set(person.fields);
  const granted = new Set(person.consents.filter((c) => c.status === "granted").map((c) => c.notice));
  const sealed = sealedOnlyPurposes(catalog);
  const purposes: PurposeLine[] = [];
  for (const [name, p] of Object.entries(catalog.purposes).sort(([x], [y]) => (x < y ? -1 : 1))) {
    if (sealed.has(name)) continue;
    if (p.basis === "consent" && (p.notice === undefined || !granted.has(p.notice))) continue;
    const items = p.fields.filter((f) => held.has(f));
    if (items.length === 0) continue;
    purposes.push({ purpose: name, description: p.description, basis: p.basis, article: LEGAL_BASIS_ARTICLE[p.basis], items });
  }
  const excluded = new Set(a.excluded_recipients);
  const byRecipient = new Map<string, Set<string>>();
  let leftOut = 0;
  for (const e of person.provisions) {
    if (e.at < period.from || e.at >= period.to) continue;
    if (excluded.has(e.recipient)) {
      leftOut += 1;
      continue;
    }
    const s = byRecipient.get(e.recipient) ?? byRecipient.set(e.recipient, new Set()).get(e.recipient)!;
    for (const f of e.fields) s.add(f);
  }
  const thirdParties: RecipientLine[] = [];
  const consignees: RecipientLine[] = [];
  for (const [name, items] of [...byRecipient].sort(([x], [y]) => (x < y ? -1 : 1))) {
    const r = catalog.recipients[name];
    const line: RecipientLine = {
      recipient: name,
      name: r?.legal_name ?? name,
      country: r?.country ?? "",
      purpose: r === undefined ? null : r.kind === "third_party" ? (r.recipient_purpose ?? null) : (r.contract?.work ?? null),
      items: [...items].sort(),
    };
    // The ledger's basis says what the gate decided at the time (a failed consignment is a provision).
    const consigned = person.provisions.some((e) => e.recipient === name && e.basis.startsWith("consignment:"));
    (consigned ? consignees : thirdParties).push(line);
  }
  return { purposes, thirdParties, consignees, leftOut };
};

/** Whether this person gets the notice (Art. 20-2; Decree 15-3), and through which contact. */
export const eligibility = (catalog: Catalog, person: PersonFacts, period: { from: Date; to: Date }): Eligibility => {
  const a = catalog.notifications?.annual_notice;
  const contacts = catalog.notifications?.contacts ?? [];
  if (a === undefined) return { eligible: false, reason: "NOTHING_PROCESSED" };
  if (person.status !== "active") return { eligible: false, reason: "NOT_ACTIVE" };
  if (person.optedOut) return { eligible: false, reason: "OPTED_OUT" };
  const content = noticeContent(catalog, a, person, period);
  if (content.purposes.length === 0 && content.thirdParties.length === 0 && content.consignees.length === 0 && content.leftOut === 0)
    return { eligible: false, reason: "NOTHING_PROCESSED" };
  const excludedPurposes = new Set(a.excluded_purposes);
  if (content.purposes.length > 0 && content.purposes.every((p) => excludedPurposes.has(p.purpose))) return { eligible: false, reason: "EXCLUDED_PURPOSES_ONLY" };
  const legalProvision = (recipient: string) => {
    const r = catalog.recipients[recipient];
    return r !== undefined && r.kind === "third_party" && r.provision_basis !== undefined && LEGAL_BASES_ONLY.has(r.provision_basis);
  };
  const onlyLegal =
    content.purposes.every((p) => LEGAL_BASES_ONLY.has(p.basis)) &&
    content.consignees.length === 0 &&
    content.thirdParties.every((t) => legalProvision(t.recipient));
  if (onlyLegal) return { eligible: false, reason: "LEGAL_OBLIGATION_ONLY" };
  const held = new Set(person.fields);
  const contact = contacts.find((c) => held.has(c.field));
  if (contact === undefined) return { eligible: false, reason: "NO_CONTACT" };
  return { eligible: true, contact: { field: contact.field, channel: contact.channel }, content };
};

// ---------------------------------------------------------------- rendering

const ko = (t: Text): string => (typeof t === "string" ? t : t.ko);
const en = (t: Text): string => (typeof t === "string" ? t : t.en);

const BASIS_TEXT: Record<LegalBasis, { ko: string; en: string }> = {
  consent: { ko: "동의", en: "your consent" },
  law: { ko: "법령상 의무", en: "a legal obligation" },
  public_duty: { ko: "공공기관의 법령상 업무", en: "a public institution's statutory duty" },
  contract: { ko: "계약의 이행", en: "performing our contract with you" },
  vital_interest: { ko: "생명·신체·재산의 이익", en: "vital interests" },
  legitimate_interest: { ko: "정당한 이익", en: "our legitimate interest" },
  public_safety: { ko: "공공의 안전", en: "public safety" },
};

export interface RenderedAnnualNotice {
  title: string;
  body: string;
}

/**
 * The notice in Korean, then English. On an app_alert channel only the pointer to the history is
 * allowed (Decree 15-3(4)); everywhere else the full content of Decree 15-3(3).
 */
export const renderAnnualNotice = (catalog: Catalog, year: number, channel: NotificationChannel, c: AnnualNoticeContent): RenderedAnnualNotice => {
  const controller = catalog.controller.name;
  const a = catalog.notifications?.annual_notice;
  const label = (f: string) => catalog.fields[f]?.description;
  const itemsKo = (items: string[]) => items.map((f) => { const d = label(f); return d === undefined ? f : ko(d); }).join(", ");
  const itemsEn = (items: string[]) => items.map((f) => { const d = label(f); return d === undefined ? f : en(d); }).join(", ");
  const officer = catalog.controller.privacy_officer;
  const title = `[${ko(controller)}] ${year}년 개인정보 이용·제공 내역 통지 / ${en(controller)}: how your personal data was used and provided in ${year}`;
  if (channel === "app_alert") {
    const url = a?.history_url ?? "";
    return {
      title,
      body: [
        `${ko(controller)}가 ${year}년에 귀하의 개인정보를 이용·제공한 내역은 ${url} 에서 확인하실 수 있습니다. (개인정보 보호법 제20조의2, 시행령 제15조의3제4항)`,
        "",
        `How ${en(controller)} used and provided your personal data in ${year} is shown at ${url} (PIPA Art. 20-2; Decree Art. 15-3(4)).`,
      ].join("\n"),
    };
  }
  const lines: string[] = [];
  lines.push(`${ko(controller)}는 「개인정보 보호법」 제20조의2에 따라 ${year}년 1월 1일부터 12월 31일까지 귀하의 개인정보를 이용하고 제공한 내역을 알려 드립니다.`);
  lines.push("");
  lines.push("1. 개인정보의 수집·이용 목적과 수집한 개인정보의 항목 (시행령 제15조의3제3항제1호)");
  for (const p of c.purposes) lines.push(`  - ${ko(p.description)}: ${itemsKo(p.items)} (근거: ${BASIS_TEXT[p.basis].ko}, ${p.article.replace("PIPA Art. ", "법 제").replace(/\((\d)\)(\d)$/, "조제$1항제$2호")})`);
  if (c.purposes.length === 0) lines.push("  - 이 기간에 수집·이용한 개인정보가 없습니다.");
  lines.push("2. 개인정보를 제공받은 제3자, 그 이용 목적과 제공한 개인정보의 항목 (시행령 제15조의3제3항제2호)");
  for (const t of c.thirdParties) lines.push(`  - ${ko(t.name)} (${t.country}): ${t.purpose === null ? "목적 미기재" : ko(t.purpose)} / 제공 항목: ${itemsKo(t.items)}`);
  if (c.thirdParties.length === 0) lines.push("  - 이 기간에 제3자에게 제공한 개인정보가 없습니다.");
  if (c.consignees.length > 0) {
    lines.push("참고: 개인정보 처리를 위탁받은 자 (법 제26조; 제3자 제공이 아닙니다)");
    for (const t of c.consignees) lines.push(`  - ${ko(t.name)} (${t.country}): ${t.purpose === null ? "위탁 업무 미기재" : ko(t.purpose)} / 항목: ${itemsKo(t.items)}`);
  }
  lines.push(`이 통지를 더 받지 않으시려면 수신 거부를 요청하실 수 있습니다. 문의: 개인정보 보호책임자 ${officer.name}, ${officer.contact}`);
  lines.push("");
  lines.push(`Under PIPA Art. 20-2, ${en(controller)} tells you how it used and provided your personal data from 1 January to 31 December ${year}.`);
  lines.push("");
  lines.push("1. Purposes of collection and use, and the items collected (Decree Art. 15-3(3)1)");
  for (const p of c.purposes) lines.push(`  - ${en(p.description)}: ${itemsEn(p.items)} (basis: ${BASIS_TEXT[p.basis].en}, ${p.article})`);
  if (c.purposes.length === 0) lines.push("  - No personal data of yours was collected or used in this period.");
  lines.push("2. Third parties that received your data, their purposes and the items provided (Decree Art. 15-3(3)2)");
  for (const t of c.thirdParties) lines.push(`  - ${en(t.name)} (${t.country}): ${t.purpose === null ? "purpose not stated" : en(t.purpose)} / items: ${itemsEn(t.items)}`);
  if (c.thirdParties.length === 0) lines.push("  - None of your personal data was provided to a third party in this period.");
  if (c.consignees.length > 0) {
    lines.push("For information: processors entrusted with your data (PIPA Art. 26; not a provision)");
    for (const t of c.consignees) lines.push(`  - ${en(t.name)} (${t.country}): ${t.purpose === null ? "work not stated" : en(t.purpose)} / items: ${itemsEn(t.items)}`);
  }
  lines.push(`You may ask not to receive this notice any more. Contact: privacy officer ${officer.name}, ${officer.contact}`);
  return { title, body: lines.join("\n") };
};
