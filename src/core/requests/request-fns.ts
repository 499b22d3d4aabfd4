/**
 * Data-subject requests (PIPA Arts. 35–37; Decree Arts. 41–44; LAW §8, §15 I): the kinds, the
 * 10-day clock and the rules for postponing and refusing. Pure: no I/O, time passed in.
 *
 * The clock (PIPA Decree Art. 41(4)–(5) for access, 43(3) for correction and deletion, 44(2)
 * for suspension and withdrawal): the answer is due "within 10 days of the day the request was
 * received". The day of receipt is not counted (Civil Act Art. 157, which Art. 155 applies to
 * periods set by statute), so a request received on day D (Korean time) is due by the end of
 * D + 10, 24:00 KST. Civil Act Art. 161 would move a deadline falling on a Saturday or a public
 * holiday to the next working day; Haechi does not, so its deadline is never later than the
 * law's (it may be a day or two earlier). Portability (Art. 35-2; Decree 42-6(1)) is due
 * "without delay" with no number of days: Haechi holds it to the same 10 days (it answers at
 * once whenever it can fulfil the request itself). GDPR Art. 12(3) gives a month; the 10-day
 * clock meets both (LAW §15 I7).
 */
export const REQUEST_KINDS = ["access", "portability", "correction", "deletion", "suspension", "withdrawal"] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];

/** How the person made the request: the portal, a service's own app or API, or through an operator (phone, counter, letter). */
export const REQUEST_CHANNELS = ["portal", "service_api", "operator"] as const;
export type RequestChannel = (typeof REQUEST_CHANNELS)[number];

export const REQUEST_STATUSES = ["received", "in_progress", "extended", "completed", "refused", "withdrawn"] as const;
export type RequestStatus = (typeof REQUEST_STATUSES)[number];
/** Statuses whose clock is still running. */
export const OPEN_STATUSES: readonly RequestStatus[] = ["received", "in_progress", "extended"];
export const isOpen = (s: RequestStatus): boolean => OPEN_STATUSES.includes(s);

/** How the person was told of a postponement (Decree Art. 42(2): "서면등의 방법" — in writing or its equivalent). */
export const NOTICE_CHANNELS = ["email", "sms", "post", "app", "portal", "phone"] as const;
export type NoticeChannel = (typeof NOTICE_CHANNELS)[number];

export const REQUEST_ACTS = ["received", "fulfilment_failed", "extended", "completed", "refused", "withdrawn"] as const;
export type RequestAct = (typeof REQUEST_ACTS)[number];

export interface KindRule {
  /** The right and the article that grants it. */
  right: string;
  /** Where the 10-day answer comes from. */
  deadline: string;
  /** Where a postponement is allowed, or null: no postponement exists for this kind. */
  extension: string | null;
  /** The grounds for refusing, and the article that says the person must be told them and how to object. */
  refusal: string;
}

/** The rule for each kind, as the ledger cites it. */
export const KIND_RULES: Readonly<Record<RequestKind, KindRule>> = {
  access: {
    right: "PIPA Art. 35(1) (GDPR Art. 15)",
    deadline: "PIPA Art. 35(3); Decree Art. 41(4)-(5): within 10 days of receipt",
    extension: "PIPA Art. 35(3) second sentence; Decree Art. 42(2): postponed with the reason told within 10 days of receipt; access without delay once the reason ends",
    refusal: "PIPA Art. 35(4); Decree Art. 42(1)-(2): the reason and how to object, within 10 days of receipt",
  },
  portability: {
    right: "PIPA Art. 35-2(1) (GDPR Art. 20)",
    deadline: "PIPA Decree Art. 42-6(1): without delay (held to 10 days of receipt)",
    extension: "PIPA Decree Art. 42-6(1) second sentence: postponed with the reason told; sent without delay once it ends",
    refusal: "PIPA Art. 35-2(6); Decree Art. 42-8: the fact and the reason, without delay",
  },
  correction: {
    right: "PIPA Art. 36(1) (GDPR Art. 16)",
    deadline: "PIPA Art. 36(2); Decree Art. 43(3): the result within 10 days of receipt",
    extension: null,
    refusal: "PIPA Art. 36(2); Decree Art. 43(3): the fact, the reason and how to object, within 10 days of receipt",
  },
  deletion: {
    right: "PIPA Art. 36(1) (GDPR Art. 17)",
    deadline: "PIPA Art. 36(2); Decree Art. 43(3): the result within 10 days of receipt",
    extension: null,
    refusal: "PIPA Art. 36(1) proviso; Decree Art. 43(3): the fact, the reason and how to object, within 10 days of receipt",
  },
  suspension: {
    right: "PIPA Art. 37(1) (GDPR Arts. 18, 21)",
    deadline: "PIPA Art. 37(1); Decree Art. 44(2): the result within 10 days of receipt",
    extension: null,
    refusal: "PIPA Art. 37(2), (4); Decree Art. 44(2): the fact, the reason and how to object, within 10 days of receipt",
  },
  withdrawal: {
    right: "PIPA Art. 37(1), (3) (GDPR Art. 7(3))",
    deadline: "PIPA Art. 37(1); Decree Art. 44(2): the result within 10 days of receipt",
    extension: null,
    refusal: "PIPA Art. 37(2), (4); Decree Art. 44(2): the fact, the reason and how to object, within 10 days of receipt",
  },
};

/**
 * The grounds a refusal may rest on, by kind, with the article that allows it. A refusal names
 * one; anything else is not a lawful ground and is refused.
 */
export const REFUSAL_GROUNDS = {
  access: {
    LAW_PROHIBITS: "PIPA Art. 35(4)1: a law prohibits or limits access",
    HARMS_OTHERS: "PIPA Art. 35(4)2: harm to another's life or body, or unfair harm to their property or interests",
    PUBLIC_DUTY: "PIPA Art. 35(4)3: specified public-sector functions",
    IDENTITY_UNVERIFIED: "PIPA Decree Art. 46: the requester is not the person or a proper agent",
  },
  portability: {
    OUT_OF_SCOPE: "PIPA Art. 35-2(1): not data processed on consent or contract, or derived data",
    IDENTITY_UNVERIFIED: "PIPA Decree Art. 42-8(1)6: the person's identity is not confirmed",
    EXCESSIVE: "PIPA Decree Art. 42-8(1)10: excessive repetition without a just cause",
    COERCION_SUSPECTED: "PIPA Decree Art. 42-8(1)11: signs of deception or coercion",
    HARMS_OTHERS: "PIPA Decree Art. 42-8(1)3: harm to a third party's rights or interests",
  },
  correction: {
    NOT_INACCURATE: "PIPA Art. 36(2): investigated; the data is accurate",
    IDENTITY_UNVERIFIED: "PIPA Decree Art. 46: the requester is not the person or a proper agent",
  },
  deletion: {
    REQUIRED_BY_LAW: "PIPA Art. 36(1) proviso: another law specifies the data as data to be collected",
    IDENTITY_UNVERIFIED: "PIPA Decree Art. 46: the requester is not the person or a proper agent",
  },
  suspension: {
    LAW_OR_OBLIGATION: "PIPA Art. 37(2)1: a law requires it or it is needed to meet a legal obligation",
    HARMS_OTHERS: "PIPA Art. 37(2)2: harm to another's life or body, or unfair harm to their property or interests",
    PUBLIC_DUTY: "PIPA Art. 37(2)3: a public institution's statutory duty",
    CONTRACT_NOT_TERMINATED: "PIPA Art. 37(2)4: the contract cannot be performed otherwise and the person has not clearly terminated it",
    IDENTITY_UNVERIFIED: "PIPA Decree Art. 46: the requester is not the person or a proper agent",
  },
  withdrawal: {
    LAW_OR_OBLIGATION: "PIPA Art. 37(2)1: a law requires it or it is needed to meet a legal obligation",
    HARMS_OTHERS: "PIPA Art. 37(2)2: harm to another's life or body, or unfair harm to their property or interests",
    PUBLIC_DUTY: "PIPA Art. 37(2)3: a public institution's statutory duty",
    CONTRACT_NOT_TERMINATED: "PIPA Art. 37(2)4: the contract cannot be performed otherwise and the person has not clearly terminated it",
    IDENTITY_UNVERIFIED: "PIPA Decree Art. 46: the requester is not the person or a proper agent",
  },
} as const satisfies Record<RequestKind, Record<string, string>>;

export const ALL_REFUSAL_GROUNDS = [...new Set(Object.values(REFUSAL_GROUNDS).flatMap((g) => Object.keys(g)))].sort();

const DAY_MS = 24 * 3600_000;
/** Korean Standard Time: UTC+9, no daylight saving. */
const KST_OFFSET_MS = 9 * 3600_000;
/** The answer period, in days (Decree Arts. 41(4), 43(3), 44(2)). */
export const ANSWER_DAYS = 10;
/**
 * The outer limit of a postponement: three months from receipt (GDPR Art. 12(3): one month,
 * extendable by two). PIPA sets no number ("until the reason ends"); a postponement without an
 * end would be a refusal, so Haechi holds every postponement to the GDPR limit (LAW §15 I7).
 */
export const EXTENSION_LIMIT_MONTHS = 3;

/**
 * The 10-day deadline of a request received at `receivedAt`: 24:00 KST at the end of the tenth
 * day after the day of receipt (see the file comment for the reading of Civil Act Arts. 157, 161).
 */
export const deadlineOf = (receivedAt: Date): Date => {
  const local = new Date(receivedAt.getTime() + KST_OFFSET_MS);
  const endLocal = Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate() + ANSWER_DAYS + 1);
  return new Date(endLocal - KST_OFFSET_MS);
};

/** The latest date a postponement may run to (receipt + 3 months, the same instant of day). */
export const extensionLimitOf = (receivedAt: Date): Date => {
  const d = new Date(receivedAt.getTime());
  d.setUTCMonth(d.getUTCMonth() + EXTENSION_LIMIT_MONTHS);
  return d;
};

/** Time left until `deadline`, in days and hours, as the ledger shows it. */
export const timeLeft = (deadline: Date, now: Date): { ms: number; text: string; overdue: boolean } => {
  const ms = deadline.getTime() - now.getTime();
  const abs = Math.abs(ms);
  const d = Math.floor(abs / DAY_MS);
  const h = Math.floor((abs % DAY_MS) / 3600_000);
  const span = d > 0 ? `${d}d ${h}h` : `${h}h ${String(Math.floor((abs % 3600_000) / 60_000)).padStart(2, "0")}m`;
  return { ms, text: ms >= 0 ? `${span} left` : `overdue by ${span}`, overdue: ms < 0 };
};

/** Whether a request in `status` with `deadline` is overdue at `now` (open and past its deadline). */
export const isOverdue = (status: RequestStatus, deadline: Date, now: Date): boolean => isOpen(status) && deadline.getTime() < now.getTime();

export interface ExtensionInput {
  until: Date;
  reason: string;
  notice: { at: Date; channel: NoticeChannel };
}

export type ExtensionCheck = { ok: true } | { ok: false; code: "NOT_EXTENDABLE" | "NOT_OPEN" | "NOTICE_LATE" | "NOTICE_IN_FUTURE" | "UNTIL_NOT_LATER" | "UNTIL_BEYOND_LIMIT"; message: string };

/**
 * Checks a postponement (PIPA Art. 35(3) second sentence; Decree Arts. 42(2), 42-6(1)):
 * - only access and portability may be postponed; correction, deletion, suspension and
 *   withdrawal have a fixed 10-day answer (Decree 43(3), 44(2)): refuse with reasons or complete;
 * - the request must still be open;
 * - the person must have been told, with the reason, before the deadline being extended ran out
 *   (for the first postponement that is the 10 days of Decree 42(2)), and not in the future;
 * - the new date must be later than the current deadline and within the outer limit
 *   (`extensionLimitOf`).
 */
export const checkExtension = (
  req: { kind: RequestKind; status: RequestStatus; receivedAt: Date; deadline: Date },
  input: ExtensionInput,
  now: Date,
): ExtensionCheck => {
  const rule = KIND_RULES[req.kind];
  if (rule.extension === null) {
    return {
      ok: false,
      code: "NOT_EXTENDABLE",
      message: `a ${req.kind} request cannot be postponed: the result is due within 10 days of receipt (${rule.deadline}); complete it or refuse it with the reason and how to object`,
    };
  }
  if (!isOpen(req.status)) return { ok: false, code: "NOT_OPEN", message: `the request is ${req.status}` };
  if (input.notice.at.getTime() > now.getTime()) return { ok: false, code: "NOTICE_IN_FUTURE", message: "the notice to the person cannot be dated in the future: record it once it is sent" };
  if (input.notice.at.getTime() > req.deadline.getTime()) {
    return {
      ok: false,
      code: "NOTICE_LATE",
      message: `the person must be told of a postponement and its reason before the deadline (${req.deadline.toISOString()}) runs out (${rule.extension}); it is overdue: complete or refuse it`,
    };
  }
  if (input.until.getTime() <= req.deadline.getTime()) {
    return { ok: false, code: "UNTIL_NOT_LATER", message: `the new deadline must be later than the current one (${req.deadline.toISOString()})` };
  }
  const limit = extensionLimitOf(req.receivedAt);
  if (input.until.getTime() > limit.getTime()) {
    return {
      ok: false,
      code: "UNTIL_BEYOND_LIMIT",
      message: `a postponement may run to ${limit.toISOString()} at the latest (three months from receipt, GDPR Art. 12(3)); beyond that, refuse with the reason`,
    };
  }
  return { ok: true };
};

/** The refusal ground's article for the kind, or undefined when it is not a ground for that kind. */
export const refusalGround = (kind: RequestKind, ground: string): string | undefined =>
  (REFUSAL_GROUNDS[kind] as Record<string, string>)[ground];
