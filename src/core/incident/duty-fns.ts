/**
 * The legal duties an incident carries, computed from its facts and its scope. Pure: the same
 * incident always gives the same duties, and every duty names its article (LAW.md §7, §15 H).
 *
 * PIPA is stricter than the GDPR here: every affected person is told within 72 hours whatever
 * the risk, and the report to the PIPC/KISA has fixed thresholds.
 */
import type { Sensitivity } from "../catalog/catalog-schema.js";
import { INTEGRITY_KINDS, type IncidentFacts, type IncidentKind, type IncidentScope } from "./incident-types.js";

/** The 72-hour clock of PIPA Art. 34(1) and Decree 40(1), from awareness. */
export const INCIDENT_CLOCK_MS = 72 * 3600_000;

/**
 * Act 21445 (the 2026.3.10 amendment) and Decree 36671 are in force from 2026-09-11, Korean time
 * (midnight KST is 15:00 UTC the day before). An incident is judged by the law in force when the
 * company became aware of it.
 */
export const AMENDMENT_2026_IN_FORCE = new Date("2026-09-10T15:00:00.000Z");
export type LawVersion = "2023" | "2026";
export const lawVersionAt = (awareAt: Date): LawVersion => (awareAt.getTime() >= AMENDMENT_2026_IN_FORCE.getTime() ? "2026" : "2023");

/** The notice and report deadline: awareness + 72 hours. */
export const deadlineOf = (awareAt: Date): Date => new Date(awareAt.getTime() + INCIDENT_CLOCK_MS);

/** Time left until `deadline` as every incident response shows it. */
export const timeLeft = (deadline: Date, now: Date): { ms: number; text: string; overdue: boolean } => {
  const ms = deadline.getTime() - now.getTime();
  const abs = Math.abs(ms);
  const h = Math.floor(abs / 3600_000);
  const m = Math.floor((abs % 3600_000) / 60_000);
  return { ms, text: ms >= 0 ? `${h}h ${String(m).padStart(2, "0")}m left` : `overdue by ${h}h ${String(m).padStart(2, "0")}m`, overdue: ms < 0 };
};

/** What counts as "유출등" under each version of Art. 34 (2023: 34(1); 2026: Art. 23(2) definition). */
export const BREACH_KINDS: Record<LawVersion, readonly IncidentKind[]> = {
  "2023": ["leak", "loss", "theft"],
  "2026": ["leak", "loss", "theft", "forgery", "alteration", "damage"],
};

/** Whether the kind is a breach ("유출등") under the law in force at awareness. */
export const isBreach = (kind: IncidentKind, version: LawVersion): boolean => BREACH_KINDS[version].includes(kind);

/** Whether the scope counts the principal's writes (integrity kinds) as well as its reads. */
export const countsWrites = (kind: IncidentKind): boolean => INTEGRITY_KINDS.includes(kind);

/** Sensitive information (Art. 23; Decree 18, which includes biometric data for identification). */
const SENSITIVE: readonly Sensitivity[] = ["sensitive", "biometric"];
/** Unique identifying information (Art. 24; Decree 19: RRN, passport, driver's licence, alien registration). */
const UNIQUE_ID: readonly Sensitivity[] = ["unique_id", "rrn"];
/** Personal credit information (Credit Information Act Art. 2): the catalog marks it `credit`. */
export const CREDIT: readonly Sensitivity[] = ["credit"];

export const REPORT_THRESHOLD_PEOPLE = 1000;
export const CREDIT_REPORT_THRESHOLD_PEOPLE = 10_000;

/** Why the PIPC/KISA must be told (Decree 40(1)1–3); empty when none holds. */
export const regulatorReportGrounds = (
  scope: Pick<IncidentScope, "people" | "fields"> | null,
  facts: Pick<IncidentFacts, "intrusion">,
): string[] => {
  const grounds: string[] = [];
  if (scope !== null && scope.people.total >= REPORT_THRESHOLD_PEOPLE) grounds.push(`PEOPLE_${scope.people.total}_AT_LEAST_1000`);
  for (const f of scope?.fields ?? []) {
    if (f.people === 0) continue;
    if (SENSITIVE.includes(f.sensitivity as Sensitivity)) grounds.push(`SENSITIVE_FIELD:${f.field}`);
    if (UNIQUE_ID.includes(f.sensitivity as Sensitivity)) grounds.push(`UNIQUE_ID_FIELD:${f.field}`);
  }
  if (facts.intrusion) grounds.push("UNLAWFUL_EXTERNAL_ACCESS");
  return grounds;
};

/** Whether the Credit Information Act's report to the FSC/FSS is due (Art. 39-4(2); Decree 34-4). */
export const financialReportDue = (scope: Pick<IncidentScope, "people"> | null): boolean =>
  scope !== null && scope.people.credit >= CREDIT_REPORT_THRESHOLD_PEOPLE;

export const DUTY_CODES = [
  "NOTIFY_SUBJECTS",
  "NOTIFY_POSSIBLE_BREACH",
  "NOTIFY_NO_BREACH",
  "WEBSITE_POSTING",
  "REPORT_PIPC_KISA",
  "REPORT_FSC_FSS",
] as const;
export type DutyCode = (typeof DUTY_CODES)[number];

export interface Duty {
  code: DutyCode;
  required: boolean;
  article: string;
  /** When it must be done by (ISO); null when it is not required or has no fixed time. */
  due: string | null;
  /** Closed codes: why it is (or is not) required. */
  grounds: string[];
  /** One sentence a privacy officer can act on. */
  reason: string;
}

export interface DutyInput {
  kind: IncidentKind;
  awareAt: Date;
  facts: IncidentFacts;
  scope: IncidentScope | null;
  /** People the notices could not reach directly (no contact field), once notices were prepared; null before. */
  withoutContact: number | null;
}

/** Items of a breach notice (Art. 34(1)): five, seven from 2026-09-11 (remedies, 34(1)6–7). */
export const noticeItemCount = (version: LawVersion): number => (version === "2026" ? 7 : 5);

/** The article the PIPC/KISA report stands on: 34(3) in the 2023 numbering, 34(4) from 2026-09-11. */
const reportArticle = (v: LawVersion) => (v === "2026" ? "PIPA Art. 34(4); Decree Art. 40(1)" : "PIPA Art. 34(3); Decree Art. 40(1)");

/** Items 1–2 (what leaked; when and how) are known: otherwise the first notice is partial (Decree 39(2)). */
export const itemsKnown = (facts: IncidentFacts, scope: IncidentScope | null): boolean =>
  scope !== null && scope.fields.length > 0 && facts.circumstances !== null && (facts.occurredFrom !== null || scope.first !== null);

/**
 * Every duty of the incident, required or not, each with its article, deadline and grounds.
 * A kind that is no breach under the law at awareness carries no duty (and says why).
 */
export const computeDuties = (input: DutyInput): Duty[] => {
  const { kind, awareAt, facts, scope } = input;
  const version = lawVersionAt(awareAt);
  const due = deadlineOf(awareAt).toISOString();
  const people = scope?.people.total ?? null;
  const duties: Duty[] = [];

  if (kind === "possible") {
    const inForce = version === "2026";
    duties.push({
      code: "NOTIFY_POSSIBLE_BREACH",
      required: inForce && facts.noBreachAt === null,
      article: "PIPA Art. 34(2) (2026); Decree Arts. 39-2, 39-3",
      due: inForce && facts.noBreachAt === null ? due : null,
      grounds: inForce ? [facts.possibleGround === null ? "POSSIBLE_BREACH" : `POSSIBLE_BREACH:${facts.possibleGround.toUpperCase()}`] : ["AWARE_BEFORE_2026_09_11"],
      reason: !inForce
        ? "the notice of a possible breach exists from 2026-09-11; this incident's awareness is earlier"
        : facts.noBreachAt !== null
          ? "found not to be a breach: tell those notified immediately instead"
          : "within 72 hours of awareness: what may be affected, the suspected time and circumstances, items 3–5 and a promise to notify again; posted on the website for ≥ 30 days where contacts are unknown",
    });
    if (facts.noBreachAt !== null) {
      duties.push({
        code: "NOTIFY_NO_BREACH",
        required: inForce,
        article: "PIPA Art. 34(2) (2026); Decree Art. 39-3",
        due: facts.noBreachAt,
        grounds: ["NO_BREACH_FOUND"],
        reason: "tell those given the possible-breach notice immediately that there was no breach",
      });
    }
    duties.push({
      code: "REPORT_PIPC_KISA",
      required: false,
      article: reportArticle(version),
      due: null,
      grounds: ["NOT_CONFIRMED"],
      reason: "a possible breach is reported once confirmed: record the confirmation (the kind it turned out to be) and the duties of a breach follow",
    });
    return duties;
  }

  if (!isBreach(kind, version)) {
    duties.push({
      code: "NOTIFY_SUBJECTS",
      required: false,
      article: "PIPA Art. 34(1) (2023 wording)",
      due: null,
      grounds: ["NOT_A_BREACH_BEFORE_2026_09_11"],
      reason: `${kind} became a "유출등" only on 2026-09-11 (Act 21445); this incident's awareness is earlier, so Art. 34 does not apply to it (telling people is still advisable)`,
    });
    return duties;
  }

  const credit = (scope?.people.credit ?? 0) > 0;
  duties.push({
    code: "NOTIFY_SUBJECTS",
    required: people === null || people > 0,
    article: `PIPA Art. 34(1); Decree Art. 39${credit ? "; Credit Information Act Art. 39-4(1)" : ""}`,
    due: people === null || people > 0 ? due : null,
    grounds: people === null ? ["SCOPE_NOT_YET_KNOWN"] : people > 0 ? [`PEOPLE_${people}`] : ["NO_PEOPLE_IN_SCOPE"],
    reason:
      people === null
        ? "every affected person must be told within 72 hours: compute the scope to know who"
        : people > 0
          ? `tell all ${people} within 72 hours with the ${noticeItemCount(version)} items of Art. 34(1)${itemsKnown(facts, scope) ? "" : "; items 1–2 are not known yet, so a partial first notice and follow-ups (Decree 39(2))"}`
          : "the scope found nobody affected",
  });

  const unlinkable = scope?.people.unlinkable ?? 0;
  const withoutContact = input.withoutContact;
  const postingNeeded = unlinkable > 0 || (withoutContact ?? 0) > 0;
  duties.push({
    code: "WEBSITE_POSTING",
    required: postingNeeded,
    article: "Decree Art. 39(3)",
    due: postingNeeded ? due : null,
    grounds: [
      ...(unlinkable > 0 ? [`ERASED_UNLINKABLE_${unlinkable}`] : []),
      ...((withoutContact ?? 0) > 0 ? [`NO_CONTACT_${withoutContact}`] : []),
      ...(withoutContact === null && unlinkable === 0 ? ["CONTACTS_NOT_YET_CHECKED"] : []),
    ],
    reason: postingNeeded
      ? "people who cannot be reached directly are told by a posting on the website for at least 30 days"
      : withoutContact === null
        ? "known when the notices are prepared: anyone without contact details is told by the website posting"
        : "everyone can be reached directly",
  });

  const grounds = regulatorReportGrounds(scope, facts);
  const exempt = facts.riskReduced !== null;
  duties.push({
    code: "REPORT_PIPC_KISA",
    required: grounds.length > 0 && !exempt,
    article: reportArticle(version),
    due: grounds.length > 0 && !exempt ? due : null,
    grounds: exempt && grounds.length > 0 ? [...grounds, "RISK_SUBSTANTIALLY_REDUCED"] : grounds.length > 0 ? grounds : ["BELOW_THRESHOLDS"],
    reason:
      grounds.length === 0
        ? "fewer than 1,000 people, no sensitive or unique-identifying item, no unlawful external access"
        : exempt
          ? `not required: the route is known and retrieval or deletion made the risk substantially lower (Decree 40(1) proviso): ${facts.riskReduced!.reason}`
          : "report to the PIPC or KISA within 72 hours (privacy.go.kr is customary; the channel is \"written form etc.\"); a partial report first if items 1–2 are not known (Decree 40(2))",
  });

  const financial = financialReportDue(scope);
  duties.push({
    code: "REPORT_FSC_FSS",
    required: financial,
    article: "Credit Information Act Art. 39-4(2); Enforcement Decree Art. 34-4",
    // "Without delay": the 72-hour clock is the latest this system accepts.
    due: financial ? due : null,
    grounds: [`CREDIT_PEOPLE_${scope?.people.credit ?? 0}${financial ? "_AT_LEAST_10000" : "_BELOW_10000"}`],
    reason: financial
      ? "report to the FSC or FSS without delay, with the notice and the measures taken, and publicise it for the period the FSC sets (a commercial enterprise reports to the PIPC/KISA instead, Art. 39-4(4))"
      : "fewer than 10,000 people's credit information",
  });
  return duties;
};
