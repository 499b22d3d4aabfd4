/**
 * Cross-reference and legal checks on a catalog that has passed (or partly passed) the zod
 * schema. Pure: takes parsed sections, returns issues; never throws to mean "invalid".
 *
 * Each rule has a stable code (`CatalogIssueCode`) that tests, the CLI and editors can rely on,
 * and a severity: an error rejects the catalog; a warning lets it load because a gate refuses the
 * affected operation at run time (an incomplete consignment contract must stay demonstrable).
 * Rules that come from the law name the article in their message.
 */
import { durationMs, isTimeZone, parseCidr } from "../detection/detection-fns.js";
import {
  CONTRACT_CLAUSE_ARTICLE,
  CONTRACT_CLAUSES,
  ISO_PERIOD_RE,
  TRANSFER_BASIS_LETTER,
  type Catalog,
  type FieldDef,
  type NoticeDef,
  type NoticeVersion,
  type ProvisionBasis,
} from "./catalog-schema.js";

/**
 * `error`: the catalog is rejected. `warning`: it loads, but a gate refuses the affected operation
 * at run time (e.g. an incomplete consignment contract), so the refusal can be demonstrated.
 */
export type CatalogSeverity = "error" | "warning";

/** One problem in a catalog: where (a YAML path such as `purposes.marketing.fields[2]`), what, and a stable code. */
export type CatalogIssue = {
  path: string;
  message: string;
  code: CatalogIssueCode | (string & {});
  severity: CatalogSeverity;
  /** 1-based position in the YAML text, when it could be located. */
  line?: number;
  column?: number;
};

/** The stable issue codes. Never rename one; add new ones at the end of their group. */
export const CATALOG_ISSUE_CODES = [
  // reading
  "FILE_UNREADABLE",
  "YAML_SYNTAX",
  "YAML_DUPLICATE_KEY",
  // shape (from the zod schema)
  "UNKNOWN_KEY",
  "REQUIRED",
  "INVALID_TYPE",
  "INVALID_VALUE",
  "INVALID_FORMAT",
  "INVALID_NAME",
  "BAD_PERIOD",
  "TOO_SMALL",
  "TOO_BIG",
  "SCHEMA_INVALID",
  // references
  "UNKNOWN_FIELD_REF",
  "UNKNOWN_PURPOSE_REF",
  "UNKNOWN_NOTICE_REF",
  "UNKNOWN_RETENTION_RULE",
  "DUPLICATE_REF",
  "UNKNOWN_RECIPIENT_REF",
  "UNKNOWN_DECISION_REF",
  "UNKNOWN_PRINCIPAL_REF",
  // notices (PIPA Art. 15(2), 22)
  "NOTICE_REQUIRED",
  "NOTICE_MISSING_ITEM",
  "NOTICE_ITEMS_MISSING_FIELD",
  "NOTICE_VERSION_ORDER",
  "NOTICE_EFFECTIVE_ORDER",
  "NOTICE_CATEGORY_MISMATCH",
  "MARKETING_NOTICE_NOT_OPTIONAL",
  "NOTICE_RECIPIENT_REQUIRED",
  "NOTICE_RECIPIENT_UNEXPECTED",
  "NOTICE_RECIPIENT_NOT_OVERSEAS",
  // bases (PIPA Art. 15(1), 23, 24, 24-2)
  "STATUTE_REQUIRED",
  "RRN_CONSENT_NOT_A_BASIS",
  "SEPARATE_CONSENT_REQUIRED",
  "LEGAL_RETENTION_BASIS",
  // fields and purposes
  "MASKED_FIELD_NOT_IN_PURPOSE",
  "MINIMISE_NOT_AUTO",
  "LOOKUP_NOT_ALLOWED",
  "BAD_PATTERN",
  // retention rules
  "RETAINED_FIELD_NOT_READABLE",
  "RETENTION_TRIGGER_NOT_KEPT",
  // principals
  "PRINCIPAL_ROLE_PURPOSE",
  "PRINCIPAL_ROLE_RECIPIENT",
  // recipients: provision (PIPA Art. 17; Credit Information Act Art. 32)
  "RECIPIENT_FIELD_NOT_IN_PURPOSES",
  "PROVISION_ITEM_MISSING",
  "PROVISION_BASIS_REQUIRED",
  "RECIPIENT_NOTICE_MISMATCH",
  "CREDIT_CONSENT_REQUIRED",
  // recipients: consignment (PIPA Art. 26; Decree Art. 28)
  "CONSIGNEE_OWN_PURPOSE",
  "CONTRACT_REQUIRED",
  "CONTRACT_CLAUSE_MISSING",
  "CONTRACT_OWN_USE_ALLOWED",
  "CONTRACT_NOT_LISTED",
  "CONTRACT_PURPOSE_NOT_COVERED",
  "CONTRACT_END_BEFORE_START",
  "SUB_ENTRUSTMENT_NOT_APPROVED",
  // recipients: overseas transfer (PIPA Art. 28-8)
  "TRANSFER_REQUIRED",
  "TRANSFER_NOT_OVERSEAS",
  "TRANSFER_BASIS_INCOMPLETE",
  "TRANSFER_BASIS_NOT_APPLICABLE",
  "TRANSFER_MEASURES_MISSING",
  "EQUIVALENCE_COUNTRY_NOT_COVERED",
  "EQUIVALENCE_EXCLUDED_FIELD",
  "DECISION_EXPIRES_BEFORE_EFFECTIVE",
  // dormancy (LAW §11.1, §15 E7)
  "DORMANCY_PERIOD_ZERO",
  "DORMANCY_DESTROY_AFTER_NOT_SEPARATE",
  "DORMANCY_NOTICE_TOO_LONG",
  "DORMANCY_SEPARATED_FOREVER",
  // incident response (PIPA Art. 34; Decree 39)
  "INCIDENT_RESPONSE_MISSING",
  "INCIDENT_CONTACT_FIELD_UNSUITED",
  // notifications (ADR 0011; PIPA Art. 20-2; Decree 15-3)
  "NOTIFICATION_CONTACT_UNSUITED",
  "ANNUAL_NOTICE_ALERT_WITHOUT_HISTORY",
  "ANNUAL_NOTICE_EXCLUDES_CONSENT_RECIPIENT",
  // detection (issue 5; Safety Standard Art. 6(1), 8)
  "DETECTION_WINDOW_ZERO",
  "DETECTION_PURPOSE_NOT_ALLOWED",
  "DETECTION_TIME_ZONE_UNKNOWN",
  "DETECTION_BAD_NETWORK",
  "DETECTION_EMPTY_HOURS",
  "DETECTION_NOTHING_WATCHED",
  // privacy policy (PIPA Art. 30; Decree 31)
  "POLICY_COOKIES_INCOMPLETE",
  "POLICY_AUTOMATED_DECISIONS_INCOMPLETE",
] as const;
export type CatalogIssueCode = (typeof CATALOG_ISSUE_CODES)[number];

/**
 * The parts of a catalog the checks look at. `controller` may be absent when it failed the schema;
 * the checks that need the controller's country (overseas transfer) are then skipped.
 */
export type CatalogSections = Pick<
  Catalog,
  "fields" | "purposes" | "notices" | "principals" | "retention_rules" | "recipients" | "equivalence_decisions"
> & {
  controller?: Pick<Catalog["controller"], "country">;
  dormancy?: Catalog["dormancy"];
  detection?: Catalog["detection"];
  incident_response?: Catalog["incident_response"];
  notifications?: Catalog["notifications"];
  privacy_policy?: Catalog["privacy_policy"];
};

/**
 * Names declared in the YAML, whether or not their definition parsed. References to a declared
 * but malformed entry are not reported again as unknown (the schema issue already says why).
 */
export type DeclaredNames = {
  fields: ReadonlySet<string>;
  purposes: ReadonlySet<string>;
  notices: ReadonlySet<string>;
  retention_rules: ReadonlySet<string>;
  recipients: ReadonlySet<string>;
  equivalence_decisions: ReadonlySet<string>;
};

/** Name of the purpose reserved for the sealed legal-retention store (PIPA Art. 21(3)). */
export const LEGAL_RETENTION_PURPOSE = "legal_retention";

/** Sensitivities on which a blind index would invite enumeration of small value spaces. */
const NO_LOOKUP = new Set<FieldDef["sensitivity"]>(["rrn", "sensitive", "biometric", "card", "account", "credit"]);

/** Art. 15(2) item labels, used in NOTICE_MISSING_ITEM messages. */
export const NOTICE_ITEM_LABELS = {
  purpose: "Art. 15(2)1 purpose of collection and use",
  items: "Art. 15(2)2 items collected",
  retention: "Art. 15(2)3 retention and use period",
  refusal: "Art. 15(2)4 right to refuse and disadvantage of refusing",
  "refusal.right": "Art. 15(2)4 right to refuse",
  "refusal.disadvantage": "Art. 15(2)4 disadvantage of refusing",
} as const;

/** Renders path segments the way a YAML author reads them: `a.b[2].c`, quoting odd keys. */
export const formatPath = (segments: readonly (string | number)[]): string => {
  let out = "";
  for (const s of segments) {
    if (typeof s === "number") out += `[${s}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(s)) out += out === "" ? s : `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out === "" ? "(root)" : out;
};

/**
 * Highest-numbered version of a notice; on a tie (an invalid catalog) the later entry, since
 * authors append new versions. Does not rely on the list being ordered.
 */
export const latestOf = (notice: NoticeDef): NoticeVersion | undefined =>
  notice.versions.reduce<NoticeVersion | undefined>((best, v) => (best === undefined || v.version >= best.version ? v : best), undefined);

/** Separate-consent category a field needs under PIPA Art. 22(1)5-6, 23, 24. RRNs have none: consent cannot cover them. */
export const separateCategoryOf = (field: Pick<FieldDef, "sensitivity">): "sensitive" | "unique_id" | null => {
  switch (field.sensitivity) {
    case "sensitive":
    case "biometric":
      return "sensitive";
    case "unique_id":
      return "unique_id";
    default:
      return null;
  }
};

const textsOf = (t: unknown): string[] => (typeof t === "string" ? [t] : t && typeof t === "object" ? Object.values(t).map(String) : []);
const isBlank = (t: unknown): boolean => textsOf(t).length === 0 || textsOf(t).some((s) => s.trim() === "");

// ─── recipients (the provision gate: PIPA Art. 17, 26, 28-8; Credit Information Act Art. 32) ───

type Segments = (string | number)[];
type Recipient = Catalog["recipients"][string];

/** What the recipient checks share with `checkCatalog`: the sections, the declared names, and where to report. */
type Checker = {
  catalog: CatalogSections;
  known: DeclaredNames;
  add: (segments: Segments, code: CatalogIssueCode, message: string) => void;
  warn: (segments: Segments, code: CatalogIssueCode, message: string) => void;
  /** Whether a country is abroad; undefined when the controller's country is not known (it failed the schema). */
  isOverseas: (country: string) => boolean | undefined;
};

/** The article behind each non-consent provision basis: PIPA Art. 17(1)2 with the 15(1) ground. */
const PROVISION_BASIS_ARTICLE: Record<Exclude<ProvisionBasis, "consent">, string> = {
  law: "PIPA Art. 17(1)2, 15(1)2",
  public_duty: "PIPA Art. 17(1)2, 15(1)3",
  vital_interest: "PIPA Art. 17(1)2, 15(1)5",
  legitimate_interest: "PIPA Art. 17(1)2, 15(1)6",
  public_safety: "PIPA Art. 17(1)2, 15(1)7",
};

/** PIPA Art. 17(2)1, 28-8(2)3: provision and overseas-transfer consent is given for a named recipient. */
const checkNoticeRecipient = (ctx: Checker, name: string, n: NoticeDef): void => {
  const { add, known, catalog } = ctx;
  const at: Segments = ["notices", name, "recipient"];
  const article = n.category === "provision" ? "PIPA Art. 17(2)1" : "PIPA Art. 28-8(2)3";
  if (n.category !== "provision" && n.category !== "overseas_transfer") {
    if (n.recipient !== undefined)
      add(
        at,
        "NOTICE_RECIPIENT_UNEXPECTED",
        `notice "${name}" is of category ${n.category}: only provision and overseas_transfer notices name a recipient (PIPA Art. 17(2)1, 28-8(2)3)`,
      );
    return;
  }
  if (n.recipient === undefined) {
    add(at, "NOTICE_RECIPIENT_REQUIRED", `${n.category} notice "${name}" must name the recipient the consent is for (${article})`);
    return;
  }
  if (!known.recipients.has(n.recipient)) {
    add(at, "UNKNOWN_RECIPIENT_REF", `unknown recipient "${n.recipient}" in notice "${name}" (${article})`);
    return;
  }
  const r = catalog.recipients[n.recipient];
  if (n.category === "overseas_transfer" && r !== undefined && ctx.isOverseas(r.country) === false)
    add(
      at,
      "NOTICE_RECIPIENT_NOT_OVERSEAS",
      `overseas_transfer notice "${name}" names recipient "${n.recipient}", which is in ${r.country}, the controller's own country: there is no overseas transfer to consent to (PIPA Art. 28-8(1)1)`,
    );
};

/** A recipient: references, then the rules of its kind, then the overseas-transfer rules. */
const checkRecipient = (ctx: Checker, name: string, r: Recipient): void => {
  const { add, known, catalog } = ctx;
  const at: Segments = ["recipients", name];
  const who = r.kind === "third_party" ? `third party "${name}"` : `consignee "${name}"`;

  // References.
  const refs = (key: "purposes" | "fields", list: readonly string[], segments: Segments) => {
    const seen = new Set<string>();
    const names = key === "fields" ? known.fields : known.purposes;
    list.forEach((item, i) => {
      if (seen.has(item)) add([...segments, i], "DUPLICATE_REF", `${key === "fields" ? "field" : "purpose"} "${item}" is listed twice in ${who}`);
      seen.add(item);
      if (!names.has(item))
        add(
          [...segments, i],
          key === "fields" ? "UNKNOWN_FIELD_REF" : "UNKNOWN_PURPOSE_REF",
          `unknown ${key === "fields" ? "field" : "purpose"} "${item}" in ${who}`,
        );
    });
  };
  refs("purposes", r.purposes, [...at, "purposes"]);
  refs("fields", r.fields, [...at, "fields"]);
  refs("purposes", r.population.purposes, [...at, "population", "purposes"]);
  if (r.contract !== undefined) refs("purposes", r.contract.purposes, [...at, "contract", "purposes"]);
  if (r.notice !== undefined && !known.notices.has(r.notice))
    add([...at, "notice"], "UNKNOWN_NOTICE_REF", `unknown notice "${r.notice}" in ${who} (PIPA Art. 17(2))`);
  if (r.transfer?.notice !== undefined && !known.notices.has(r.transfer.notice))
    add([...at, "transfer", "notice"], "UNKNOWN_NOTICE_REF", `unknown notice "${r.transfer.notice}" in the transfer to ${who} (PIPA Art. 28-8(2))`);
  if (r.transfer?.decision !== undefined && !known.equivalence_decisions.has(r.transfer.decision))
    add(
      [...at, "transfer", "decision"],
      "UNKNOWN_DECISION_REF",
      `unknown equivalence decision "${r.transfer.decision}" in the transfer to ${who} (PIPA Art. 28-8(1)5)`,
    );

  // A recipient receives only fields its source purposes hold (purpose limitation, PIPA Art. 3(2), 18(1)).
  const sourceParsed = r.purposes.every((p) => catalog.purposes[p] !== undefined || !known.purposes.has(p));
  if (sourceParsed) {
    r.fields.forEach((field, i) => {
      if (!known.fields.has(field)) return;
      if (!r.purposes.some((p) => catalog.purposes[p]?.fields.includes(field)))
        add(
          [...at, "fields", i],
          "RECIPIENT_FIELD_NOT_IN_PURPOSES",
          `${who} would receive "${field}", which none of its purposes (${r.purposes.join(", ")}) holds: data may be provided only within the purposes it was collected for (PIPA Art. 18(1))`,
        );
    });
  }

  if (r.kind === "third_party") checkThirdParty(ctx, name, r, at, who);
  else checkConsignee(ctx, r, at, who);
  checkTransfer(ctx, name, r, at, who);
};

/** Third-party provision: the 17(2) items and a 17(1) basis; credit information needs consent (Credit Information Act Art. 32). */
const checkThirdParty = (ctx: Checker, name: string, r: Recipient, at: Segments, who: string): void => {
  const { add, catalog } = ctx;
  if (r.recipient_purpose === undefined)
    add([...at, "recipient_purpose"], "PROVISION_ITEM_MISSING", `${who} needs recipient_purpose: the recipient's own purpose of use is a consent item (PIPA Art. 17(2)2)`);
  if (r.retention === undefined)
    add([...at, "retention"], "PROVISION_ITEM_MISSING", `${who} needs retention: the recipient's retention and use period is a consent item (PIPA Art. 17(2)4)`);
  if (r.provision_basis === undefined) {
    add(
      [...at, "provision_basis"],
      "PROVISION_BASIS_REQUIRED",
      `${who} needs a provision_basis: providing personal data to a third party needs consent or another basis (PIPA Art. 17(1))`,
    );
  } else if (r.provision_basis === "consent") {
    if (r.notice === undefined)
      add([...at, "notice"], "NOTICE_REQUIRED", `${who} is provided to on consent, which needs the provision notice the consent is given on (PIPA Art. 17(1)1, 17(2))`);
    else checkRecipientNotice(ctx, name, r, [...at, "notice"], r.notice, "provision", who);
  } else if (r.statute === undefined) {
    add(
      [...at, "statute"],
      "STATUTE_REQUIRED",
      `${who} is provided to on ${r.provision_basis}, which needs the statute or record relied on (${PROVISION_BASIS_ARTICLE[r.provision_basis]})`,
    );
  }

  // Credit information: prior, individual consent for each provision unless an Art. 32(6) exception is recorded.
  if (r.provision_basis !== undefined && r.provision_basis !== "consent" && r.credit_exception === undefined) {
    r.fields.forEach((field, i) => {
      if (catalog.fields[field]?.sensitivity !== "credit") return;
      add(
        [...at, "fields", i],
        "CREDIT_CONSENT_REQUIRED",
        `${who} would receive credit information "${field}" on ${r.provision_basis}: personal credit information is provided only on consent (Credit Information Act Art. 32(1)) unless credit_exception names an Art. 32(6) exception`,
      );
    });
  }
};

/** Consignment: the Art. 26(1) contract, disclosure (26(2)), sub-entrustment approval (26(6)). */
const checkConsignee = (ctx: Checker, r: Recipient, at: Segments, who: string): void => {
  const { add, warn, known } = ctx;
  for (const key of ["provision_basis", "notice", "recipient_purpose"] as const) {
    if (r[key] !== undefined)
      add(
        [...at, key],
        "CONSIGNEE_OWN_PURPOSE",
        `${who} has ${key}, but a consignee processes for the controller's purposes only; data sent for the recipient's own purpose is a third-party provision (kind third_party) (PIPA Art. 26(5), 17(1); Supreme Court 2016도13263)`,
      );
  }
  const c = r.contract;
  if (c === undefined) {
    add([...at, "contract"], "CONTRACT_REQUIRED", `${who} needs the written consignment contract (PIPA Art. 26(1))`);
    return;
  }
  const missing = CONTRACT_CLAUSES.filter((clause) => !c.clauses.includes(clause));
  if (missing.length > 0)
    warn(
      [...at, "contract", "clauses"],
      "CONTRACT_CLAUSE_MISSING",
      `the contract of ${who} lacks ${missing.map((m) => `${m} (${CONTRACT_CLAUSE_ARTICLE[m]})`).join(", ")}; the provision gate refuses with CONSIGNMENT_CONTRACT_INCOMPLETE (PIPA Art. 26(1); Decree Art. 28(1))`,
    );
  if (!c.own_use_prohibited)
    warn(
      [...at, "contract", "own_use_prohibited"],
      "CONTRACT_OWN_USE_ALLOWED",
      `the contract of ${who} does not forbid the trustee's own use of the data, so the provision gate refuses it as a consignment with RECIPIENT_PURPOSE_NOT_CONTROLLERS (PIPA Art. 26(5); Supreme Court 2016도13263)`,
    );
  if (c.public_listing === undefined)
    warn(
      [...at, "contract", "public_listing"],
      "CONTRACT_NOT_LISTED",
      `${who} and its work are not disclosed (no public_listing), so the provision gate refuses it as a consignment with CONSIGNMENT_NOT_DISCLOSED (PIPA Art. 26(2); Decree Art. 28(2))`,
    );
  if (c.end !== undefined && c.end < c.start)
    add([...at, "contract", "end"], "CONTRACT_END_BEFORE_START", `the contract of ${who} ends (${c.end}) before it starts (${c.start}) (PIPA Art. 26(1))`);
  // Compare only once the contract's own references resolve (unknown ones are reported above).
  if (c.purposes.every((p) => known.purposes.has(p)))
    r.purposes.forEach((p, i) => {
      if (!c.purposes.includes(p) && known.purposes.has(p))
        warn(
          [...at, "purposes", i],
          "CONTRACT_PURPOSE_NOT_COVERED",
          `purpose "${p}" of ${who} is not among the contract's purposes: the entrusted work does not cover it, so the provision gate refuses that purpose with CONSIGNMENT_WORK_NOT_COVERED (PIPA Art. 26(1)3)`,
        );
    });
  c.sub_entrustments.forEach((sub, i) => {
    if (sub.approved === undefined)
      warn(
        [...at, "contract", "sub_entrustments", i],
        "SUB_ENTRUSTMENT_NOT_APPROVED",
        `sub-entrustment of ${who} to "${sub.name}" has no approval date; the provision gate refuses with SUB_ENTRUSTMENT_NOT_APPROVED (PIPA Art. 26(6))`,
      );
  });
};

/** Overseas transfer: a basis from PIPA Art. 28-8(1)1-5, complete for its letter. */
const checkTransfer = (ctx: Checker, name: string, r: Recipient, at: Segments, who: string): void => {
  const { add, warn, catalog } = ctx;
  const overseas = ctx.isOverseas(r.country);
  if (overseas === undefined) return;
  const t = r.transfer;
  if (!overseas) {
    if (t !== undefined)
      warn(
        [...at, "transfer"],
        "TRANSFER_NOT_OVERSEAS",
        `${who} is in ${r.country}, the controller's own country: a transfer basis applies only to overseas recipients (PIPA Art. 28-8(1))`,
      );
    return;
  }
  if (t === undefined) {
    add(
      [...at, "transfer"],
      "TRANSFER_REQUIRED",
      `${who} is in ${r.country}: an overseas transfer needs a recorded basis, consent (A), law (B), contract_necessity (C), certification (D) or equivalence (E) (PIPA Art. 28-8(1))`,
    );
    return;
  }
  const tat: Segments = [...at, "transfer"];
  const letter = `basis ${TRANSFER_BASIS_LETTER[t.basis]}, PIPA Art. 28-8(1)`;
  switch (t.basis) {
    case "consent":
      if (t.notice === undefined)
        add([...tat, "notice"], "NOTICE_REQUIRED", `the transfer to ${who} rests on separate consent, which needs its overseas_transfer notice (${letter}1, 28-8(2))`);
      else checkRecipientNotice(ctx, name, r, [...tat, "notice"], t.notice, "overseas_transfer", who);
      break;
    case "law":
      if (t.statute === undefined)
        add([...tat, "statute"], "STATUTE_REQUIRED", `the transfer to ${who} rests on law, which needs the statute or treaty that provides for it (${letter}2)`);
      break;
    case "contract_necessity":
      if (r.kind === "third_party")
        add(
          [...tat, "basis"],
          "TRANSFER_BASIS_NOT_APPLICABLE",
          `the transfer to ${who} cannot rest on contract necessity: it covers entrustment or storage only, never a provision (${letter}3)`,
        );
      if (t.disclosed === undefined)
        add(
          [...tat, "disclosed"],
          "TRANSFER_BASIS_INCOMPLETE",
          `the transfer to ${who} rests on contract necessity, which needs the Art. 28-8(2) items disclosed in the privacy policy or notified (disclosed) (${letter}3; Decree Art. 29-7)`,
        );
      break;
    case "certification":
      if (t.certification === undefined)
        add(
          [...tat, "certification"],
          "TRANSFER_BASIS_INCOMPLETE",
          `the transfer to ${who} rests on certification, which needs the recipient's PIPC-designated certification (scheme, id, valid_until) (${letter}4; Decree Art. 29-8)`,
        );
      break;
    case "equivalence": {
      if (t.decision === undefined) {
        add(
          [...tat, "decision"],
          "TRANSFER_BASIS_INCOMPLETE",
          `the transfer to ${who} rests on equivalence, which needs the PIPC decision (name in equivalence_decisions) (${letter}5)`,
        );
        break;
      }
      // An unknown decision is reported with the references; a malformed one by the schema.
      const d = catalog.equivalence_decisions[t.decision];
      if (d === undefined) break;
      if (!d.countries.includes(r.country))
        add(
          [...tat, "decision"],
          "EQUIVALENCE_COUNTRY_NOT_COVERED",
          `equivalence decision "${t.decision}" does not cover ${r.country}, where ${who} is (${letter}5)`,
        );
      r.fields.forEach((field, i) => {
        const s = catalog.fields[field]?.sensitivity;
        if (s !== undefined && d.excludes.includes(s))
          warn(
            [...at, "fields", i],
            "EQUIVALENCE_EXCLUDED_FIELD",
            `field "${field}" is ${s}, which equivalence decision "${t.decision}" excludes; the provision gate refuses to transfer it to ${who} on this basis (TRANSFER_DENIED) (${letter}5)`,
          );
      });
      break;
    }
  }
  if (!t.measures.safety || !t.measures.grievance) {
    const lacking = [!t.measures.safety && "safety measures", !t.measures.grievance && "grievance handling and dispute resolution"].filter(Boolean).join(" and ");
    warn(
      [...tat, "measures"],
      "TRANSFER_MEASURES_MISSING",
      `the transfer to ${who} lacks ${lacking} agreed in the contract, which every overseas transfer needs; the provision gate refuses with TRANSFER_MEASURES_MISSING (PIPA Art. 28-8(4); Decree Art. 29-10)`,
    );
  }
};

/**
 * The notice a recipient's consent rests on: of the right category, for this recipient, and
 * listing every field the recipient receives in its version in force (PIPA Art. 17(2)3, 28-8(2)1).
 */
const checkRecipientNotice = (
  ctx: Checker,
  name: string,
  r: Recipient,
  at: Segments,
  notice: string,
  category: "provision" | "overseas_transfer",
  who: string,
): void => {
  const { add, known, catalog } = ctx;
  const base = category === "provision" ? "PIPA Art. 17(2)" : "PIPA Art. 28-8(2)";
  // An unknown notice is reported with the references; a malformed one by the schema.
  const n = catalog.notices[notice];
  if (n === undefined) return;
  // The wrong notice: its items say nothing about this recipient, so they are not compared.
  if (n.category !== category) {
    add(at, "RECIPIENT_NOTICE_MISMATCH", `notice "${notice}" of ${who} must be of category ${category}, not ${n.category} (${base}; PIPA Art. 22(1))`);
    return;
  }
  if (n.recipient !== name) {
    add(
      at,
      "RECIPIENT_NOTICE_MISMATCH",
      `notice "${notice}" of ${who} is for ${n.recipient === undefined ? "no recipient" : `recipient "${n.recipient}"`}: consent to give data to one recipient does not cover another (${category === "provision" ? "PIPA Art. 17(2)1" : "PIPA Art. 28-8(2)3"})`,
    );
    return;
  }
  const latest = latestOf(n);
  if (latest === undefined) return;
  const items = new Set(latest.items);
  const itemArticle = category === "provision" ? "PIPA Art. 17(2)3" : "PIPA Art. 28-8(2)1";
  r.fields.forEach((field, i) => {
    if (!items.has(field) && known.fields.has(field))
      add(
        ["recipients", name, "fields", i],
        "NOTICE_ITEMS_MISSING_FIELD",
        `${who} would receive "${field}", which is not among the items of ${category} notice "${notice}" v${latest.version} (${itemArticle})`,
      );
  });
};

/** A period's length in days on the average Gregorian calendar (enough to order two periods); null if malformed. */
const approxDays = (period: string): number | null => {
  const m = ISO_PERIOD_RE.exec(period);
  if (m === null) return null;
  const n = (g: string | undefined) => (g === undefined ? 0 : Number.parseInt(g, 10));
  return n(m[1]) * 365.2425 + n(m[2]) * 30.436875 + n(m[3]);
};

/** The dormancy policy's own coherence (its periods are checked for form by the schema). */
const checkDormancy = (ctx: Checker, d: NonNullable<Catalog["dormancy"]>): void => {
  const at = ["dormancy"];
  const after = approxDays(d.after);
  if (after === 0)
    ctx.add([...at, "after"], "DORMANCY_PERIOD_ZERO", "after must be longer than zero: every account would be dormant at once");
  if (d.destroy_after !== undefined && d.action !== "separate")
    ctx.add(
      [...at, "destroy_after"],
      "DORMANCY_DESTROY_AFTER_NOT_SEPARATE",
      `destroy_after applies only to action separate (it erases separated accounts); with action ${d.action} the account is erased at once when after (${d.after}) has passed`,
    );
  const destroyAfter = d.destroy_after === undefined ? null : approxDays(d.destroy_after);
  if (d.action === "separate" && destroyAfter === 0)
    ctx.add(
      [...at, "destroy_after"],
      "DORMANCY_PERIOD_ZERO",
      "destroy_after must be longer than zero; to erase inactive accounts at once, use action destroy",
    );
  if (d.notice_before !== undefined) {
    const notice = approxDays(d.notice_before);
    if (notice !== null && after !== null && after > 0 && notice >= after)
      ctx.add(
        [...at, "notice_before"],
        "DORMANCY_NOTICE_TOO_LONG",
        `notice_before (${d.notice_before}) must be shorter than after (${d.after}): the notice goes out before the period of inactivity ends (PIPC guidance 2023)`,
      );
    else if (notice !== null && d.action === "separate" && destroyAfter !== null && destroyAfter > 0 && notice >= destroyAfter)
      ctx.add(
        [...at, "notice_before"],
        "DORMANCY_NOTICE_TOO_LONG",
        `notice_before (${d.notice_before}) must be shorter than destroy_after (${d.destroy_after}): people are told before their separated account is erased too`,
      );
  }
  if (d.action === "separate" && d.destroy_after === undefined)
    ctx.warn(
      [...at, "action"],
      "DORMANCY_SEPARATED_FOREVER",
      "separated accounts are kept until the person returns or deletes the account: declare destroy_after, the period after which they are erased (PIPA Art. 21(1): destroy once the declared retention period ends)",
    );
};

/**
 * The detection section's references and coherence: every principal, purpose and recipient it
 * names exists (and a baseline's purpose is one its principal may use), windows are longer than
 * zero, time zones are known IANA names, networks parse, working hours are not empty. A rule
 * that watches nothing, and a baseline for a purpose its principal may not use, are warnings.
 */
const checkDetection = (ctx: Checker, principals: ReadonlySet<string>, d: NonNullable<Catalog["detection"]>): void => {
  const { add, warn, known, catalog } = ctx;
  const principal = (segments: Segments, p: string, what: string): boolean => {
    if (principals.has(p)) return true;
    add(segments, "UNKNOWN_PRINCIPAL_REF", `unknown principal "${p}" ${what}`);
    return false;
  };
  const zone = (segments: Segments, tz: string) => {
    if (!isTimeZone(tz)) add(segments, "DETECTION_TIME_ZONE_UNKNOWN", `unknown time zone "${tz}": use an IANA name such as Asia/Seoul`);
  };
  zone(["detection", "time_zone"], d.time_zone);
  for (const key of ["per", "for"] as const) {
    if (durationMs(d.throttle[key]) === 0) add(["detection", "throttle", key], "DETECTION_WINDOW_ZERO", `${key} must be longer than zero`);
  }
  for (const [name, r] of Object.entries(d.rules)) {
    const at: Segments = ["detection", "rules", name];
    r.principals?.forEach((p, i) => principal([...at, "principals", i], p, `in the principals rule "${name}" watches`));
    if ("window" in r && durationMs(r.window) === 0)
      add([...at, "window"], "DETECTION_WINDOW_ZERO", "window must be longer than zero: nothing could be counted in it");
    if (r.cooldown !== undefined && durationMs(r.cooldown) === null) add([...at, "cooldown"], "BAD_PERIOD", "cooldown is not a duration");
    const nothing = (what: string) => warn([...at, "type"], "DETECTION_NOTHING_WATCHED", `rule "${name}" watches nothing: ${what}`);
    switch (r.type) {
      case "volume":
        if (Object.keys(r.baselines).length === 0) nothing("declare baselines (principal → purpose → reads per window)");
        for (const [p, byPurpose] of Object.entries(r.baselines)) {
          if (!principal([...at, "baselines", p], p, `in the baselines of rule "${name}"`)) continue;
          for (const purpose of Object.keys(byPurpose)) {
            const here = [...at, "baselines", p, purpose];
            if (!known.purposes.has(purpose)) add(here, "UNKNOWN_PURPOSE_REF", `unknown purpose "${purpose}"`);
            else if (catalog.principals[p] !== undefined && !catalog.principals[p].purposes.includes(purpose))
              warn(here, "DETECTION_PURPOSE_NOT_ALLOWED", `principal "${p}" may not use purpose "${purpose}": a baseline for it is never reached`);
          }
        }
        break;
      case "off_hours":
        if (r.time_zone !== undefined) zone([...at, "time_zone"], r.time_zone);
        if (Object.keys(r.hours).length === 0) nothing("declare hours per principal");
        for (const [p, h] of Object.entries(r.hours)) {
          principal([...at, "hours", p], p, `in the hours of rule "${name}"`);
          if (h.from === h.to)
            add([...at, "hours", p], "DETECTION_EMPTY_HOURS", `from and to are both ${h.from}: the hours would be empty (a whole day is 00:00-24:00)`);
          else if (h.from === "00:00" && h.to === "24:00" && new Set(h.days).size === 7) nothing(`principal "${p}" has every hour of every day`);
        }
        break;
      case "export_volume":
        for (const key of Object.keys(r.baselines)) {
          const here = [...at, "baselines", key];
          if (r.per === "recipient" && !known.recipients.has(key)) add(here, "UNKNOWN_RECIPIENT_REF", `unknown recipient "${key}"`);
          if (r.per === "principal") principal(here, key, `in the baselines of rule "${name}"`);
        }
        break;
      case "new_network":
        for (const [p, nets] of Object.entries(r.networks)) {
          principal([...at, "networks", p], p, `in the networks of rule "${name}"`);
          nets.forEach((n, i) => {
            if (parseCidr(n) === null)
              add([...at, "networks", p, i], "DETECTION_BAD_NETWORK", `"${n}" is not a network: write an address or CIDR such as 10.0.0.0/8 or 2001:db8::/32`);
          });
        }
        break;
      default:
        break;
    }
  }
};

/**
 * Runs every cross-reference and legal check. `declared` defaults to the names present in
 * `catalog` (the fully parsed case).
 */
export const checkCatalog = (catalog: CatalogSections, declared?: DeclaredNames): CatalogIssue[] => {
  const issues: CatalogIssue[] = [];
  const add = (segments: (string | number)[], code: CatalogIssueCode, message: string) =>
    issues.push({ path: formatPath(segments), code, message, severity: "error" });
  const warn = (segments: (string | number)[], code: CatalogIssueCode, message: string) =>
    issues.push({ path: formatPath(segments), code, message, severity: "warning" });
  const known: DeclaredNames = declared ?? {
    fields: new Set(Object.keys(catalog.fields)),
    purposes: new Set(Object.keys(catalog.purposes)),
    notices: new Set(Object.keys(catalog.notices)),
    retention_rules: new Set(Object.keys(catalog.retention_rules)),
    recipients: new Set(Object.keys(catalog.recipients)),
    equivalence_decisions: new Set(Object.keys(catalog.equivalence_decisions)),
  };
  const home = catalog.controller?.country;
  const ctx: Checker = { catalog, known, add, warn, isOverseas: (country) => (home === undefined ? undefined : country !== home) };

  // ── fields ──────────────────────────────────────────────────────────────
  for (const [name, f] of Object.entries(catalog.fields)) {
    if (f.minimise !== undefined && f.class !== "auto")
      add(["fields", name, "minimise"], "MINIMISE_NOT_AUTO", `minimise applies at generation, so only to fields of class auto (this one is ${f.class})`);
    if (f.lookup && NO_LOOKUP.has(f.sensitivity))
      add(
        ["fields", name, "lookup"],
        "LOOKUP_NOT_ALLOWED",
        `lookup is not allowed on ${f.sensitivity} fields: a blind index over a small value space invites enumeration`,
      );
    if (f.pattern !== undefined) {
      try {
        new RegExp(f.pattern);
      } catch (e) {
        add(["fields", name, "pattern"], "BAD_PATTERN", `pattern is not a valid regular expression: ${(e as Error).message}`);
      }
    }
  }

  // ── notices ─────────────────────────────────────────────────────────────
  for (const [name, n] of Object.entries(catalog.notices)) {
    if (n.category === "marketing" && !n.optional)
      add(
        ["notices", name, "optional"],
        "MARKETING_NOTICE_NOT_OPTIONAL",
        "a marketing notice must be optional: service may not be refused for declining marketing (PIPA Art. 22(5))",
      );
    checkNoticeRecipient(ctx, name, n);
    const latest = latestOf(n);
    n.versions.forEach((v, i) => {
      const at = ["notices", name, "versions", i];
      // Unreachable after the schema (which rejects blank text) but kept so the rule holds on its own.
      for (const [key, value] of [
        ["purpose", v.purpose],
        ["retention", v.retention],
        ["refusal.right", v.refusal.right],
        ["refusal.disadvantage", v.refusal.disadvantage],
      ] as const) {
        if (isBlank(value))
          add([...at, ...key.split(".")], "NOTICE_MISSING_ITEM", `notice version ${v.version} lacks the ${NOTICE_ITEM_LABELS[key]} (PIPA Art. 15(2))`);
      }
      const prev = n.versions[i - 1];
      if (prev !== undefined) {
        if (v.version <= prev.version)
          add([...at, "version"], "NOTICE_VERSION_ORDER", `versions must strictly increase: ${v.version} follows ${prev.version}`);
        if (v.effective < prev.effective)
          add([...at, "effective"], "NOTICE_EFFECTIVE_ORDER", `effective dates must not go backwards: ${v.effective} follows ${prev.effective}`);
      }
      const seen = new Set<string>();
      v.items.forEach((item, j) => {
        const here = [...at, "items", j];
        if (seen.has(item)) add(here, "DUPLICATE_REF", `field "${item}" is listed twice`);
        seen.add(item);
        const f = catalog.fields[item];
        if (f === undefined) {
          // Older versions may name fields since removed; only the version in force must resolve.
          if (v === latest && !known.fields.has(item)) add(here, "UNKNOWN_FIELD_REF", `unknown field "${item}"`);
          return;
        }
        if (f.sensitivity === "rrn")
          add(here, "RRN_CONSENT_NOT_A_BASIS", `field "${item}" is an RRN; consent is never a basis for processing RRNs (PIPA Art. 24-2(1))`);
        if (n.category === "sensitive" && separateCategoryOf(f) !== "sensitive")
          add(
            here,
            "NOTICE_CATEGORY_MISMATCH",
            `a sensitive-data notice may list only sensitive or biometric fields; "${item}" is ${f.sensitivity} (PIPA Art. 22(1)5, 23(1)1)`,
          );
        if (n.category === "unique_id" && f.sensitivity !== "unique_id")
          add(
            here,
            "NOTICE_CATEGORY_MISMATCH",
            `a unique-identifier notice may list only unique_id fields; "${item}" is ${f.sensitivity} (PIPA Art. 22(1)6, 24(1)1)`,
          );
      });
    });
  }

  // ── purposes ────────────────────────────────────────────────────────────
  for (const [name, p] of Object.entries(catalog.purposes)) {
    const at = ["purposes", name];
    const seen = new Set<string>();
    p.fields.forEach((field, i) => {
      if (seen.has(field)) add([...at, "fields", i], "DUPLICATE_REF", `field "${field}" is listed twice`);
      seen.add(field);
      if (!known.fields.has(field)) add([...at, "fields", i], "UNKNOWN_FIELD_REF", `unknown field "${field}"`);
    });
    for (const key of Object.keys(p.masked)) {
      if (!p.fields.includes(key))
        add([...at, "masked", key], "MASKED_FIELD_NOT_IN_PURPOSE", `"${key}" is not one of this purpose's fields`);
    }
    p.retention.rules.forEach((rule, i) => {
      if (!known.retention_rules.has(rule))
        add([...at, "retention", "rules", i], "UNKNOWN_RETENTION_RULE", `unknown retention rule "${rule}"`);
    });

    if ((p.basis === "law" || p.basis === "public_duty") && p.statute === undefined)
      add([...at, "statute"], "STATUTE_REQUIRED", `basis ${p.basis} needs the statute that provides for the processing (PIPA Art. 15(1)${p.basis === "law" ? "2" : "3"})`);
    if (name === LEGAL_RETENTION_PURPOSE && p.basis !== "law")
      add(
        [...at, "basis"],
        "LEGAL_RETENTION_BASIS",
        "legal_retention holds data only because another law requires it, so its basis must be law (PIPA Art. 21(1) proviso, 21(3))",
      );

    // PIPA Art. 24-2: an RRN needs a specific statute (or urgent vital interest); consent is never a basis.
    const rrnIndex = p.fields.findIndex((f) => catalog.fields[f]?.sensitivity === "rrn");
    if (rrnIndex >= 0) {
      const rrn = p.fields[rrnIndex];
      if (p.basis !== "law" && p.basis !== "vital_interest")
        add(
          [...at, "basis"],
          "RRN_CONSENT_NOT_A_BASIS",
          `purpose uses the RRN field "${rrn}" (fields[${rrnIndex}]), which needs basis law with a statute; ${p.basis} is not a basis for RRNs (PIPA Art. 24-2(1))`,
        );
      else if (p.basis === "vital_interest" && p.statute === undefined)
        add(
          [...at, "statute"],
          "RRN_CONSENT_NOT_A_BASIS",
          `purpose uses the RRN field "${rrn}": name the statute or PIPC notice that permits it (PIPA Art. 24-2(1))`,
        );
    }

    // Consent rests on a notice whose version in force lists every field (PIPA Art. 15(2)2).
    let latest: NoticeVersion | undefined;
    if (p.basis === "consent") {
      if (p.notice === undefined)
        add([...at, "notice"], "NOTICE_REQUIRED", "basis consent needs the notice the consent is given on (PIPA Art. 15(2))");
      else if (!known.notices.has(p.notice)) add([...at, "notice"], "UNKNOWN_NOTICE_REF", `unknown notice "${p.notice}"`);
      else {
        const n = catalog.notices[p.notice];
        latest = n === undefined ? undefined : latestOf(n);
        if (latest !== undefined) {
          const items = new Set(latest.items);
          p.fields.forEach((field, i) => {
            if (!items.has(field) && known.fields.has(field))
              add(
                [...at, "fields", i],
                "NOTICE_ITEMS_MISSING_FIELD",
                `field "${field}" is not among the items of notice "${p.notice}" v${latest?.version} (PIPA Art. 15(2)2)`,
              );
          });
        }
      }
    }

    // Sensitive and unique-id fields: separate consent or a statute, nothing else (PIPA Art. 23(1), 24(1)).
    p.fields.forEach((field, i) => {
      const f = catalog.fields[field];
      const category = f === undefined ? null : separateCategoryOf(f);
      if (category === null) return;
      const article = category === "sensitive" ? "PIPA Art. 23(1)" : "PIPA Art. 24(1)";
      if (p.basis === "law") return;
      if (p.basis !== "consent") {
        add(
          [...at, "fields", i],
          "SEPARATE_CONSENT_REQUIRED",
          `field "${field}" is ${f?.sensitivity}: it may be processed only on separate consent or a statute, not on ${p.basis} (${article})`,
        );
        return;
      }
      const covered = Object.entries(catalog.notices).some(([, n]) => n.category === category && latestOf(n)?.items.includes(field));
      // A declared-but-malformed notice may be the one; the schema issue already reports it.
      const unparsed = [...known.notices].some((nn) => catalog.notices[nn] === undefined);
      if (!covered && !unparsed)
        add(
          [...at, "fields", i],
          "SEPARATE_CONSENT_REQUIRED",
          `field "${field}" is ${f?.sensitivity}: it needs a separate notice of category ${category} listing it (${article}, 22(1))`,
        );
    });
  }

  // ── retention rules (PIPA Art. 21(1) proviso, 21(3)) ───────────────────
  const sealedReadable = new Set(catalog.purposes[LEGAL_RETENTION_PURPOSE]?.fields ?? []);
  for (const [name, r] of Object.entries(catalog.retention_rules)) {
    const at = ["retention_rules", name];
    r.fields.forEach((field, i) => {
      if (!known.fields.has(field)) add([...at, "fields", i], "UNKNOWN_FIELD_REF", `unknown field "${field}"`);
      else if (!sealedReadable.has(field))
        warn(
          [...at, "fields", i],
          "RETAINED_FIELD_NOT_READABLE",
          `field "${field}" is kept by ${name} but purpose ${LEGAL_RETENTION_PURPOSE} does not list it, so nobody could read it for the law's purpose (PIPA Art. 21(3))`,
        );
    });
    if (r.when !== undefined && !r.fields.includes(r.when))
      add([...at, "when"], "RETENTION_TRIGGER_NOT_KEPT", `"when: ${r.when}" must be one of the rule's fields`);
  }

  // ── principals ──────────────────────────────────────────────────────────
  for (const [name, pr] of Object.entries(catalog.principals)) {
    const seen = new Set<string>();
    pr.purposes.forEach((purpose, i) => {
      const here = ["principals", name, "purposes", i];
      if (seen.has(purpose)) add(here, "DUPLICATE_REF", `purpose "${purpose}" is listed twice`);
      seen.add(purpose);
      if (!known.purposes.has(purpose)) add(here, "UNKNOWN_PURPOSE_REF", `unknown purpose "${purpose}"`);
      if (pr.role === "service" && purpose === LEGAL_RETENTION_PURPOSE)
        add(
          here,
          "PRINCIPAL_ROLE_PURPOSE",
          "a service principal may not use legal_retention: retained data is kept apart with narrower access (PIPA Art. 21(3))",
        );
      if (pr.role === "legal_retention" && purpose !== LEGAL_RETENTION_PURPOSE)
        add(here, "PRINCIPAL_ROLE_PURPOSE", `a legal_retention principal may use only the legal_retention purpose, not "${purpose}"`);
    });
    const seenRecipients = new Set<string>();
    pr.recipients.forEach((recipient, i) => {
      const here = ["principals", name, "recipients", i];
      if (seenRecipients.has(recipient)) add(here, "DUPLICATE_REF", `recipient "${recipient}" is listed twice`);
      seenRecipients.add(recipient);
      if (!known.recipients.has(recipient)) add(here, "UNKNOWN_RECIPIENT_REF", `unknown recipient "${recipient}"`);
      if (pr.role === "legal_retention")
        add(
          here,
          "PRINCIPAL_ROLE_RECIPIENT",
          `legal_retention principal "${name}" may not send data to recipient "${recipient}": retained data is kept only because a law requires it, apart from other data (PIPA Art. 21(3))`,
        );
      else if (pr.role === "operator")
        add(
          here,
          "PRINCIPAL_ROLE_RECIPIENT",
          `operator principal "${name}" may not send data to recipient "${recipient}": operators read no personal data (least privilege, Safety Standard Art. 5(1))`,
        );
    });
  }

  // ── recipients (the provision gate) ─────────────────────────────────────
  for (const [name, r] of Object.entries(catalog.recipients)) checkRecipient(ctx, name, r);

  // ── dormancy (LAW §11.1, §15 E7) ─────────────────────────────────────────
  if (catalog.dormancy !== undefined) checkDormancy(ctx, catalog.dormancy);

  // ── incident response (PIPA Art. 34; Decree 39) ─────────────────────────
  if (catalog.incident_response === undefined) {
    // Only where the whole catalog parsed: a partial one cannot tell a missing section from a broken one.
    if (declared === undefined)
      warn(
        ["incident_response"],
        "INCIDENT_RESPONSE_MISSING",
        "no incident_response: breach notices name the privacy officer as the contact (PIPA Art. 34(1)5) and, with no contact fields, every person is reached only by the website posting (Decree 39(3))",
      );
  } else {
    const seen = new Set<string>();
    catalog.incident_response.contact_fields.forEach((field, i) => {
      const at = ["incident_response", "contact_fields", i];
      if (seen.has(field)) add(at, "DUPLICATE_REF", `field "${field}" is listed twice`);
      seen.add(field);
      const f = catalog.fields[field];
      if (f === undefined) {
        if (!known.fields.has(field)) add(at, "UNKNOWN_FIELD_REF", `unknown field "${field}"`);
      } else if (f.sensitivity !== "general" || f.type !== "string")
        add(at, "INCIDENT_CONTACT_FIELD_UNSUITED", `field "${field}" is ${f.sensitivity} ${f.type}: a notice is delivered to a general string field (an e-mail address or a phone number)`);
    });
  }
  // ── notifications (ADR 0011; PIPA Art. 20-2; Decree 15-3) ────────────────
  if (catalog.notifications !== undefined) checkNotifications(ctx, catalog.notifications);

  // ── detection (issue 5; Safety Standard Art. 6(1), 8) ─────────────────────
  if (catalog.detection !== undefined) checkDetection(ctx, new Set(Object.keys(catalog.principals)), catalog.detection);

  // ── privacy policy (PIPA Art. 30(1)7) ───────────────────────────────────
  const cookies = catalog.privacy_policy?.cookies;
  if (cookies?.used === true) {
    for (const key of ["purpose", "refuse"] as const) {
      if (cookies[key] === undefined)
        add(
          ["privacy_policy", "cookies", key],
          "POLICY_COOKIES_INCOMPLETE",
          `cookies are used, so the privacy policy must say ${key === "purpose" ? "what they are used for" : "how to refuse them"} (PIPA Art. 30(1)7)`,
        );
    }
  }

  const automated = catalog.privacy_policy?.automated_decisions;
  if (automated?.used === true && automated.description === undefined)
    add(
      ["privacy_policy", "automated_decisions", "description"],
      "POLICY_AUTOMATED_DECISIONS_INCOMPLETE",
      "automated decisions are made, so the privacy policy must describe them in advance: purpose and who is affected, main data types, criteria and procedure, how to refuse or ask for an explanation (PIPA Art. 37-2; Decree Art. 44-4)",
    );

  // ── equivalence decisions (PIPA Art. 28-8(1)5) ──────────────────────────
  for (const [name, d] of Object.entries(catalog.equivalence_decisions)) {
    if (d.expires !== undefined && d.expires < d.effective)
      add(
        ["equivalence_decisions", name, "expires"],
        "DECISION_EXPIRES_BEFORE_EFFECTIVE",
        `equivalence decision "${name}" expires (${d.expires}) before it takes effect (${d.effective}) (PIPA Art. 28-8(1)5)`,
      );
  }

  return issues;
};

/** Contact fields must hold an address; the annual notice's exclusions must name what the law leaves out. */
const checkNotifications = (ctx: Checker, n: NonNullable<Catalog["notifications"]>): void => {
  const { catalog, known, add } = ctx;
  const seen = new Set<string>();
  n.contacts.forEach((c, i) => {
    const at = ["notifications", "contacts", i, "field"];
    if (seen.has(c.field)) add(at, "DUPLICATE_REF", `field "${c.field}" is listed twice`);
    seen.add(c.field);
    const f = catalog.fields[c.field];
    if (f === undefined) {
      if (!known.fields.has(c.field)) add(at, "UNKNOWN_FIELD_REF", `unknown field "${c.field}"`);
    } else if (f.sensitivity !== "general" || f.type !== "string")
      add(at, "NOTIFICATION_CONTACT_UNSUITED", `field "${c.field}" is ${f.sensitivity} ${f.type}: a notice is delivered to a general string field (an address)`);
  });
  const a = n.annual_notice;
  if (a === undefined) return;
  if (n.contacts.some((c) => c.channel === "app_alert") && a.history_url === undefined)
    add(
      ["notifications", "annual_notice", "history_url"],
      "ANNUAL_NOTICE_ALERT_WITHOUT_HISTORY",
      "an app_alert contact may carry the annual notice only as a pointer to where the history can be seen (Decree 15-3(4)): set history_url",
    );
  a.excluded_purposes.forEach((p, i) => {
    if (catalog.purposes[p] === undefined && !known.purposes.has(p)) add(["notifications", "annual_notice", "excluded_purposes", i], "UNKNOWN_PURPOSE_REF", `unknown purpose "${p}"`);
  });
  a.excluded_recipients.forEach((r, i) => {
    const at = ["notifications", "annual_notice", "excluded_recipients", i];
    const rec = catalog.recipients[r];
    if (rec === undefined) {
      if (!known.recipients.has(r)) add(at, "UNKNOWN_RECIPIENT_REF", `unknown recipient "${r}"`);
    } else if (rec.kind !== "third_party" || rec.provision_basis !== "law")
      add(
        at,
        "ANNUAL_NOTICE_EXCLUDES_CONSENT_RECIPIENT",
        `recipient "${r}" is not a third party provided to under a law: only disclosures to investigators (Communications Secret Protection Act Arts. 13, 13-2, 13-4; Telecommunications Business Act Art. 83(3)) may be left out of the annual notice (Decree 15-3(3))`,
      );
  });
};
