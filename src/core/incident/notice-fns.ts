/**
 * Breach notices and reports, rendered in Korean and English (PIPA Art. 34(1); Decree Arts. 39,
 * 39-3, 40). Pure. A notice carries only what the person needs: which of their items leaked,
 * when and how, what they can do, what the company did, whom to contact and (from 2026-09-11)
 * their remedies. It never holds a value of theirs, not even their name: people with the same
 * items receive the same text.
 */
import type { Catalog, FieldDef, Text } from "../catalog/catalog-schema.js";
import { computeDuties, itemsKnown, lawVersionAt, regulatorReportGrounds, type LawVersion } from "./duty-fns.js";
import type {
  Bilingual,
  ContainmentMeasure,
  IncidentFacts,
  IncidentKind,
  IncidentScope,
  NoticeAudience,
  NoticeKind,
  OutboxCount,
} from "./incident-types.js";

export const NOTICE_ITEM_CODES = [
  "ITEMS_LEAKED",
  "WHEN_AND_HOW",
  "WHAT_YOU_CAN_DO",
  "OUR_MEASURES_AND_REMEDY",
  "CONTACT",
  "REMEDY_DAMAGES",
  "REMEDY_MEDIATION",
  "FACT_OF_BREACH",
  "KNOWN_SO_FAR",
  "FOLLOW_UP_PROMISE",
  "POSSIBLY_AFFECTED_ITEMS",
  "SUSPECTED_TIME_AND_CIRCUMSTANCES",
  "WILL_NOTIFY_AGAIN",
  "NO_BREACH",
  "POSTING_PERIOD",
  "PREVIOUS_NOTICE",
  "REPORTER",
  "PEOPLE_AFFECTED",
  "REPORT_GROUNDS",
  "NOTIFICATION_STATUS",
  "PARTIAL_REPORT",
] as const;
export type NoticeItemCode = (typeof NOTICE_ITEM_CODES)[number];

export interface NoticeItem {
  code: NoticeItemCode;
  article: string;
  ko: { heading: string; text: string };
  en: { heading: string; text: string };
}

export interface RenderedNotice {
  kind: NoticeKind;
  audience: NoticeAudience;
  title: string;
  body: string;
  items: NoticeItem[];
}

/** What every notice of one incident shares. */
export interface NoticeContext {
  incidentId: string;
  kind: IncidentKind;
  awareAt: Date;
  version: LawVersion;
  facts: IncidentFacts;
  scope: IncidentScope | null;
  controller: Bilingual;
  contact: { department: Bilingual; contact: string; phone: string | null; website: string | null };
  /** The catalog's label and sensitivity of a field. */
  field: (name: string) => { label: Bilingual; def: FieldDef | undefined };
}

const both = (t: Text | undefined, fallback: string): Bilingual =>
  t === undefined ? { ko: fallback, en: fallback } : typeof t === "string" ? { ko: t, en: t } : t;

/** The notice context of an incident under a catalog: contact from `incident_response`, else the privacy officer. */
export const noticeContextOf = (
  catalog: Catalog,
  incident: { id: string; kind: IncidentKind; awareAt: Date; facts: IncidentFacts; scope: IncidentScope | null },
): NoticeContext => {
  const ir = catalog.incident_response;
  const officer = catalog.controller.privacy_officer;
  return {
    incidentId: incident.id,
    kind: incident.kind,
    awareAt: incident.awareAt,
    version: lawVersionAt(incident.awareAt),
    facts: incident.facts,
    scope: incident.scope,
    controller: both(catalog.controller.name, "the controller"),
    contact: ir
      ? { department: both(ir.department, ""), contact: ir.contact, phone: ir.phone ?? null, website: ir.website }
      : { department: { ko: `개인정보 보호책임자 ${officer.name}`, en: `Privacy officer ${officer.name}` }, contact: officer.contact, phone: null, website: null },
    field: (name) => {
      const def = catalog.fields[name];
      return { label: both(def?.description, name), def };
    },
  };
};

/** Korean time, as people in Korea read it, with UTC for the record. */
export const kst = (d: Date | string): string => {
  const t = new Date(typeof d === "string" ? d : d.getTime());
  const k = new Date(t.getTime() + 9 * 3600_000).toISOString();
  return `${k.slice(0, 10)} ${k.slice(11, 16)} KST`;
};

const KIND_WORD: Record<IncidentKind, Bilingual> = {
  leak: { ko: "유출", en: "leak" },
  loss: { ko: "분실", en: "loss" },
  theft: { ko: "도난", en: "theft" },
  forgery: { ko: "위조", en: "forgery" },
  alteration: { ko: "변조", en: "alteration" },
  damage: { ko: "훼손", en: "damage" },
  possible: { ko: "유출등 가능성", en: "possible breach" },
};

const MEASURE_WORD: Record<ContainmentMeasure, Bilingual> = {
  blocked_access: { ko: "접근 경로 차단", en: "access route blocked" },
  suspended_principal: { ko: "해당 시스템 계정 정지", en: "the system account involved suspended" },
  revoked_keys: { ko: "인증키 폐기", en: "credentials revoked" },
  fixed_vulnerability: { ko: "취약점 보완", en: "vulnerability fixed" },
  retrieved: { ko: "유출된 정보 회수", en: "leaked data retrieved" },
  deleted: { ko: "유출된 정보 삭제", en: "leaked data deleted" },
  other: { ko: "기타 조치", en: "other measure" },
};

/** Advice for the person (item 3), by what leaked. Fixed texts: they are reviewed once, not per incident. */
const adviceFor = (defs: readonly (FieldDef | undefined)[], names: readonly string[]): Bilingual[] => {
  const out: Bilingual[] = [];
  const has = (p: (d: FieldDef, name: string) => boolean) => defs.some((d, i) => d !== undefined && p(d, names[i]!));
  if (has((d, n) => d.masking === "phone" || n.includes("phone")))
    out.push({
      ko: "금전이나 개인정보를 요구하거나 링크가 포함된 전화·문자(보이스피싱, 스미싱)에 주의하시고, 의심되면 응답하지 마십시오.",
      en: "Be wary of calls and text messages that ask for money or personal data or contain links (voice phishing, smishing); do not answer them if in doubt.",
    });
  if (has((d, n) => d.masking === "email" || n.includes("email")))
    out.push({
      ko: "로그인이나 결제를 요구하는 이메일, 예상하지 못한 첨부파일을 열지 마십시오.",
      en: "Do not act on e-mails asking you to log in or pay, and do not open unexpected attachments.",
    });
  if (has((d) => d.sensitivity === "card" || d.sensitivity === "account" || d.sensitivity === "credit"))
    out.push({
      ko: "카드·계좌 거래내역을 확인하시고, 카드사·은행에 이상거래 감시 또는 재발급을 요청하십시오.",
      en: "Check your card and account statements, and ask your card company or bank to watch for fraud or to reissue.",
    });
  if (has((d) => d.sensitivity === "rrn" || d.sensitivity === "unique_id"))
    out.push({
      ko: "신분증 번호가 도용되지 않도록 명의도용 방지 서비스(예: 엠세이퍼)를 이용하실 수 있습니다.",
      en: "You can use an identity-theft prevention service (such as M-Safer) so your identification number is not misused.",
    });
  out.push({
    ko: "다른 서비스에서 같은 비밀번호를 쓰신다면 변경하십시오. 피해가 의심되면 아래 연락처나 한국인터넷진흥원 개인정보침해 신고센터(국번 없이 118)로 신고하십시오.",
    en: "If you use the same password elsewhere, change it. Report suspected damage to the contact below or to KISA's privacy infringement centre (118, no area code).",
  });
  return out;
};

const lines = (xs: readonly string[]) => xs.map((x) => `- ${x}`).join("\n");

const item = (code: NoticeItemCode, article: string, ko: [string, string], en: [string, string]): NoticeItem => ({
  code,
  article,
  ko: { heading: ko[0], text: ko[1] },
  en: { heading: en[0], text: en[1] },
});

const fieldsText = (ctx: NoticeContext, fields: readonly string[]): Bilingual => {
  const labels = fields.map((f) => ctx.field(f).label);
  return { ko: labels.map((l) => l.ko).join(", "), en: labels.map((l) => l.en).join(", ") };
};

/** Item 2, as far as it is known. */
const whenAndHow = (ctx: NoticeContext): Bilingual => {
  const from = ctx.facts.occurredFrom ?? ctx.scope?.first ?? null;
  const to = ctx.facts.occurredTo ?? ctx.scope?.last ?? null;
  const when =
    from === null
      ? { ko: "발생 시점: 확인 중", en: "When: still being established" }
      : { ko: `발생 시점: ${kst(from)}${to !== null && to !== from ? ` ~ ${kst(to)}` : ""}`, en: `When: ${kst(from)}${to !== null && to !== from ? ` to ${kst(to)}` : ""}` };
  const how = ctx.facts.circumstances ?? { ko: "확인 중", en: "still being established" };
  return {
    ko: `${when.ko}\n경위: ${how.ko}\n(회사가 알게 된 시점: ${kst(ctx.awareAt)})`,
    en: `${when.en}\nHow: ${how.en}\n(The company became aware at ${kst(ctx.awareAt)})`,
  };
};

const measures = (ctx: NoticeContext): Bilingual => {
  const done = ctx.facts.containment.map((c) => ({ ko: `${kst(c.at)} ${MEASURE_WORD[c.measure].ko}: ${c.description}`, en: `${kst(c.at)} ${MEASURE_WORD[c.measure].en}: ${c.description}` }));
  const remedy = {
    ko: "피해를 입었거나 우려되는 경우 아래 담당부서로 신고해 주시면 사실을 확인하여 피해 구제 절차를 안내해 드립니다.",
    en: "If you have suffered or fear damage, report it to the department below: we will look into it and take you through the remedy procedure.",
  };
  return {
    ko: `${done.length > 0 ? lines(done.map((d) => d.ko)) : "- 원인을 조사하고 있으며, 조치 내용을 알려드리겠습니다."}\n${remedy.ko}`,
    en: `${done.length > 0 ? lines(done.map((d) => d.en)) : "- We are investigating the cause and will tell you what we did."}\n${remedy.en}`,
  };
};

const contactText = (ctx: NoticeContext): Bilingual => {
  const c = ctx.contact;
  const tail = [c.contact, ...(c.phone ? [c.phone] : []), ...(c.website ? [c.website] : [])].join(" / ");
  return { ko: `${c.department.ko}: ${tail}`, en: `${c.department.en}: ${tail}` };
};

/** Items 3–5 (and, from 2026-09-11, 6–7), shared by full, partial and possible notices. */
const commonItems = (ctx: NoticeContext, fields: readonly string[], withRemedies: boolean): NoticeItem[] => {
  const advice = adviceFor(fields.map((f) => ctx.field(f).def), fields);
  if (ctx.facts.advice !== null) advice.unshift(ctx.facts.advice);
  const m = measures(ctx);
  const c = contactText(ctx);
  const out = [
    item("WHAT_YOU_CAN_DO", "PIPA Art. 34(1)3", ["피해를 최소화하기 위해 하실 수 있는 일", lines(advice.map((a) => a.ko))], ["What you can do to limit the harm", lines(advice.map((a) => a.en))]),
    item("OUR_MEASURES_AND_REMEDY", "PIPA Art. 34(1)4", ["회사의 대응 조치 및 피해 구제 절차", m.ko], ["What we have done, and how to seek redress", m.en]),
    item("CONTACT", "PIPA Art. 34(1)5", ["피해 신고·상담 부서 및 연락처", c.ko], ["Where to report damage and ask questions", c.en]),
  ];
  if (withRemedies && ctx.version === "2026") {
    out.push(
      item(
        "REMEDY_DAMAGES",
        "PIPA Art. 34(1)6 (from 2026-09-11); Arts. 39, 39-2",
        ["손해배상 청구", "개인정보 보호법 제39조에 따라 손해배상을 청구할 수 있고, 제39조의2에 따라 손해액을 입증하지 않아도 300만원 이하의 법정손해배상을 청구할 수 있습니다."],
        ["Claiming damages", "You may claim damages (PIPA Art. 39), or statutory damages of up to KRW 3 million without proving the amount of the loss (Art. 39-2)."],
      ),
      item(
        "REMEDY_MEDIATION",
        "PIPA Art. 34(1)7 (from 2026-09-11); Art. 43",
        ["분쟁조정 신청", "개인정보 보호법 제43조에 따라 개인정보 분쟁조정위원회(www.kopico.go.kr)에 분쟁조정을 신청할 수 있습니다."],
        ["Dispute mediation", "You may apply to the Personal Information Dispute Mediation Committee (www.kopico.go.kr) for mediation (PIPA Art. 43)."],
      ),
    );
  }
  return out;
};

const SEPARATOR = "\n\n────────────────────────────────────────\n\n";

const assemble = (kind: NoticeKind, audience: NoticeAudience, heading: Bilingual, ctx: NoticeContext, items: NoticeItem[]): RenderedNotice => {
  const block = (lang: "ko" | "en") =>
    `${heading[lang]}\n(${lang === "ko" ? "사건 번호" : "incident"} ${ctx.incidentId})\n\n` +
    items.map((it, i) => `${i + 1}. ${it[lang].heading} [${it.article}]\n${it[lang].text}`).join("\n\n");
  return { kind, audience, title: `${heading.ko} / ${heading.en}`, body: `${block("ko")}${SEPARATOR}${block("en")}\n`, items };
};

export interface SubjectNoticeInput {
  kind: Extract<NoticeKind, "full" | "partial" | "followup" | "possible" | "no_breach">;
  audience: Extract<NoticeAudience, "subject" | "public">;
  /** The person's items; for a posting, every item in the scope. */
  fields: readonly string[];
  /** A posting: kept up until then (Decree 39(3)). */
  postUntil?: Date;
}

/**
 * A notice to people (one person, or the website posting). full: every item; partial: the fact,
 * what is known so far, items 3–5 and a promise to follow up (Decree 39(2)); followup: every item,
 * completing an earlier partial notice; possible: Decree 39-3's items; no_breach: a possible
 * breach turned out not to be one.
 */
export const renderSubjectNotice = (ctx: NoticeContext, input: SubjectNoticeInput): RenderedNotice => {
  const word = KIND_WORD[ctx.kind];
  const who = ctx.controller;
  const items: NoticeItem[] = [];
  const f = fieldsText(ctx, input.fields);
  const wh = whenAndHow(ctx);
  let heading: Bilingual;
  switch (input.kind) {
    case "full":
    case "followup":
      heading = {
        ko: `[${who.ko}] 개인정보 ${word.ko} 통지${input.kind === "followup" ? " (추가 통지)" : ""}`,
        en: `[${who.en}] Notice of a personal data ${word.en}${input.kind === "followup" ? " (follow-up)" : ""}`,
      };
      if (input.kind === "followup")
        items.push(item("PREVIOUS_NOTICE", "Decree Art. 39(2)", ["이전 통지", "앞서 확인된 사실을 먼저 알려드렸으며, 이번 통지로 확인된 나머지 사항을 알려드립니다."], ["Earlier notice", "We first told you what was known; this notice completes it with what has since been confirmed."]));
      items.push(
        item("ITEMS_LEAKED", "PIPA Art. 34(1)1", [`${word.ko}된 개인정보 항목`, f.ko], [`Personal data items affected (${word.en})`, f.en]),
        item("WHEN_AND_HOW", "PIPA Art. 34(1)2", [`${word.ko} 시점과 경위`, wh.ko], ["When and how it happened", wh.en]),
        ...commonItems(ctx, input.fields, true),
      );
      break;
    case "partial":
      heading = { ko: `[${who.ko}] 개인정보 ${word.ko} 사실 통지 (1차)`, en: `[${who.en}] Notice of a personal data ${word.en} (first notice)` };
      items.push(
        item("FACT_OF_BREACH", "Decree Art. 39(2)", ["알려드리는 사실", `${who.ko}에서 개인정보 ${word.ko} 사고가 발생하였습니다. (회사가 알게 된 시점: ${kst(ctx.awareAt)})`], ["What we are telling you", `A personal data ${word.en} occurred at ${who.en}. (The company became aware at ${kst(ctx.awareAt)}.)`]),
        item(
          "KNOWN_SO_FAR",
          "Decree Art. 39(2); PIPA Art. 34(1)1–2",
          ["지금까지 확인된 내용", `항목: ${f.ko || "확인 중"}\n${wh.ko}`],
          ["What is known so far", `Items: ${f.en || "still being established"}\n${wh.en}`],
        ),
        ...commonItems(ctx, input.fields, true),
        item("FOLLOW_UP_PROMISE", "Decree Art. 39(2)", ["추가 통지", "나머지 사항은 확인되는 대로 지체 없이 다시 알려드리겠습니다."], ["More to follow", "We will tell you the rest without delay as soon as it is confirmed."]),
      );
      break;
    case "possible":
      heading = { ko: `[${who.ko}] 개인정보 유출등 가능성 통지`, en: `[${who.en}] Notice of a possible personal data breach` };
      items.push(
        item("POSSIBLY_AFFECTED_ITEMS", "PIPA Art. 34(2) (2026); Decree Art. 39-3", ["유출등이 되었을 가능성이 있는 항목", f.ko || "확인 중"], ["Items that may be affected", f.en || "still being established"]),
        item("SUSPECTED_TIME_AND_CIRCUMSTANCES", "Decree Art. 39-3", ["유출등이 발생한 것으로 추정되는 시점과 경위", wh.ko], ["The suspected time and circumstances", wh.en]),
        ...commonItems(ctx, input.fields, false),
        item("WILL_NOTIFY_AGAIN", "Decree Art. 39-3", ["다시 알려드립니다", "유출등이 확인되면 다시 알려드리고, 유출등이 없었던 것으로 확인되면 즉시 알려드리겠습니다."], ["We will tell you again", "If a breach is confirmed we will notify you again; if it turns out there was none, we will tell you at once."]),
      );
      break;
    case "no_breach":
      heading = { ko: `[${who.ko}] 개인정보 유출등이 없었음을 알려드립니다`, en: `[${who.en}] No personal data breach occurred` };
      items.push(
        item("NO_BREACH", "PIPA Art. 34(2) (2026); Decree Art. 39-3", ["확인 결과", `앞서 알려드린 유출등 가능성을 조사한 결과, 개인정보 유출등은 없었던 것으로 확인되었습니다. (확인: ${kst(ctx.facts.noBreachAt ?? ctx.awareAt)})`], ["What we found", `We investigated the possible breach we told you about: no personal data breach occurred. (Confirmed ${kst(ctx.facts.noBreachAt ?? ctx.awareAt)}.)`]),
        item("CONTACT", "PIPA Art. 34(1)5", ["문의", contactText(ctx).ko], ["Questions", contactText(ctx).en]),
      );
      break;
  }
  if (input.audience === "public") {
    const until = input.postUntil ?? new Date(ctx.awareAt.getTime() + 30 * 24 * 3600_000);
    items.push(
      item(
        "POSTING_PERIOD",
        "Decree Art. 39(3)",
        ["게시 안내", `연락처를 알 수 없는 분들께 알려드리기 위해 ${kst(until)}까지 (30일 이상) 홈페이지에 게시합니다.`],
        ["About this posting", `Posted on our website until ${kst(until)} (at least 30 days) for those we cannot reach directly.`],
      ),
    );
  }
  return assemble(input.kind, input.audience, heading, ctx, items);
};

/** Which first notice a person gets: possible, partial while items 1–2 are unknown, else full. */
export const firstNoticeKind = (ctx: Pick<NoticeContext, "kind" | "facts" | "scope">): "full" | "partial" | "possible" =>
  ctx.kind === "possible" ? "possible" : itemsKnown(ctx.facts, ctx.scope) ? "full" : "partial";

export interface ReportInput {
  authority: "pipc_kisa" | "fsc_fss";
  /** Delivery counts of the notices so far. */
  notices: readonly OutboxCount[];
}

/**
 * A report to an authority: the notice items plus the people counted, the grounds and where the
 * notices stand. Partial (Decree 40(2)) while items 1–2 are unknown.
 */
export const renderReport = (ctx: NoticeContext, input: ReportInput): RenderedNotice => {
  const partial = !itemsKnown(ctx.facts, ctx.scope);
  const kind: NoticeKind = partial ? "partial_report" : "report";
  const word = KIND_WORD[ctx.kind];
  const scope = ctx.scope;
  const fields = scope?.fields.map((x) => x.field) ?? [];
  const perField = scope?.fields.map((x) => ({ ko: `${ctx.field(x.field).label.ko}: ${x.people}명`, en: `${ctx.field(x.field).label.en}: ${x.people} people` })) ?? [];
  const people = scope?.people;
  const grounds = ctx.kind === "possible" ? [] : regulatorReportGrounds(scope, ctx.facts);
  const sent = (status: string) => input.notices.filter((n) => n.status === status && n.audience === "subject").reduce((a, n) => a + n.count, 0);
  const postings = input.notices.filter((n) => n.audience === "public").reduce((a, n) => a + n.count, 0);
  const duty = computeDuties({ kind: ctx.kind, awareAt: ctx.awareAt, facts: ctx.facts, scope, withoutContact: null });
  const fsc = input.authority === "fsc_fss";
  const heading = fsc
    ? { ko: `[${ctx.controller.ko}] 개인신용정보 ${word.ko} 신고${partial ? " (1차)" : ""}`, en: `[${ctx.controller.en}] Report of a personal credit information ${word.en}${partial ? " (first report)" : ""}` }
    : { ko: `[${ctx.controller.ko}] 개인정보 ${word.ko} 신고${partial ? " (1차)" : ""}`, en: `[${ctx.controller.en}] Report of a personal data ${word.en}${partial ? " (first report)" : ""}` };
  const items: NoticeItem[] = [
    item("REPORTER", "Decree Art. 40(1)", ["신고인", `${ctx.controller.ko}, ${contactText(ctx).ko}`], ["Reported by", `${ctx.controller.en}, ${contactText(ctx).en}`]),
    item("ITEMS_LEAKED", "PIPA Art. 34(1)1", [`${word.ko}된 개인정보 항목`, perField.length > 0 ? lines(perField.map((p) => p.ko)) : "확인 중"], ["Personal data items affected", perField.length > 0 ? lines(perField.map((p) => p.en)) : "still being established"]),
    item(
      "PEOPLE_AFFECTED",
      fsc ? "Credit Information Act Art. 39-4(2)" : "Decree Art. 40(1)1",
      ["정보주체 수", people ? `${people.total}명 (연결 가능 ${people.linked}명, 탈퇴로 연결 불가 ${people.unlinkable}명${fsc ? `, 개인신용정보 ${people.credit}명` : ""})` : "확인 중"],
      ["People affected", people ? `${people.total} (${people.linked} identified, ${people.unlinkable} erased since and no longer identifiable${fsc ? `; ${people.credit} with credit information` : ""})` : "still being established"],
    ),
    item("WHEN_AND_HOW", "PIPA Art. 34(1)2", [`${word.ko} 시점과 경위`, whenAndHow(ctx).ko], ["When and how it happened", whenAndHow(ctx).en]),
    ...(fsc
      ? []
      : [
          item(
            "REPORT_GROUNDS",
            "Decree Art. 40(1)1–3",
            ["신고 사유", grounds.length > 0 ? lines(grounds) : "해당 없음"],
            ["Why this is reported", grounds.length > 0 ? lines(grounds) : "none"],
          ),
        ]),
    ...commonItems(ctx, fields, false),
    item(
      "NOTIFICATION_STATUS",
      "PIPA Art. 34(1); Decree Art. 39",
      ["정보주체 통지 현황", `발송 ${sent("sent")}건, 대기 ${sent("queued")}건, 실패 ${sent("failed")}건, 홈페이지 게시 ${postings}건; 통지 기한 ${duty[0]?.due ? kst(duty[0].due) : "-"}`],
      ["Notices to people", `${sent("sent")} sent, ${sent("queued")} queued, ${sent("failed")} failed, ${postings} website posting(s); due ${duty[0]?.due ? kst(duty[0].due) : "-"}`],
    ),
  ];
  if (partial)
    items.push(
      item("PARTIAL_REPORT", "Decree Art. 40(2)", ["추가 신고", "유출 항목과 시점·경위가 확인되는 대로 나머지 사항을 추가로 신고하겠습니다."], ["More to follow", "We will report the rest as soon as the items and the time and circumstances are confirmed."]),
    );
  return assemble(kind, input.authority, heading, ctx, items);
};
