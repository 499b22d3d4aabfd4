/**
 * The provision gate's decisions: pure, synchronous, no I/O (like the policy engine).
 *
 * `checkProvision` decides whether a provision job may run at all and what it legally is:
 *  - A transfer labelled consignment is one only if the contract exists, has the seven clauses,
 *    is in force, is publicly listed, covers the work, forbids the trustee's own use, and every
 *    sub-trustee is approved (PIPA Art. 26; LAW §15 C1). Otherwise it is a provision and needs
 *    consent or another Art. 17(1) ground (Supreme Court 2016do13263; the KakaoPay decision).
 *  - Overseas, one Art. 28-8(1) basis must hold, with its data-type exclusions (LAW §15 D1-D2).
 *  - Hashing, masking or encryption never changes any of this (FSS 2024-08-13).
 * Every failing condition is reported, not only the first.
 *
 * `subjectExclusion` decides, per person, whether that person may be included.
 */
import {
  CONTRACT_CLAUSES,
  CONTRACT_CLAUSE_ARTICLE,
  MASKINGS,
  TRANSFER_BASIS_LETTER,
  type Catalog,
  type Masking,
  type RecipientDef,
} from "../catalog/catalog-schema.js";
import { consentStanding, effectiveVersion } from "../consent/consent-fns.js";
import { evaluate } from "../policy/policy-fns.js";
import type { ConsentState, ExportFormat, ProvisionClass, SuspensionRow } from "../ports.js";

/** Closed codes for refusing a provision job. */
export const GATE_CODES = [
  "RECIPIENT_UNKNOWN",
  "RECIPIENT_SUSPENDED",
  "PRINCIPAL_NOT_ALLOWED",
  "PURPOSE_NOT_ALLOWED_FOR_PRINCIPAL",
  "UNKNOWN_PURPOSE",
  "PURPOSE_NOT_ALLOWED_FOR_RECIPIENT",
  "FIELD_NOT_ALLOWED",
  "POPULATION_OUT_OF_SCOPE",
  "CONSIGNMENT_CONTRACT_MISSING",
  "CONSIGNMENT_CONTRACT_INCOMPLETE",
  "CONSIGNMENT_CONTRACT_NOT_IN_FORCE",
  "CONSIGNMENT_WORK_NOT_COVERED",
  "CONSIGNMENT_NOT_DISCLOSED",
  "RECIPIENT_PURPOSE_NOT_CONTROLLERS",
  "SUB_ENTRUSTMENT_NOT_APPROVED",
  "PROVISION_BASIS_MISSING",
  "PROVISION_NOTICE_INCOMPLETE",
  "CREDIT_CONSENT_REQUIRED",
  "TRANSFER_DENIED",
  "TRANSFER_MEASURES_MISSING",
] as const;
export type GateCode = (typeof GATE_CODES)[number];

/** Closed codes for leaving one person out of a provision (the plan counts them). */
export const EXCLUSION_CODES = [
  "NOT_IN_POPULATION",
  "SOURCE_NO_LEGAL_BASIS",
  "SOURCE_CONSENT_WITHDRAWN",
  "SOURCE_CONSENT_STALE",
  "SOURCE_SEPARATE_CONSENT_REQUIRED",
  "SOURCE_NOT_PERMITTED",
  "PROVISION_CONSENT_ABSENT",
  "PROVISION_CONSENT_WITHDRAWN",
  "PROVISION_CONSENT_STALE",
  "TRANSFER_CONSENT_ABSENT",
  "TRANSFER_CONSENT_WITHDRAWN",
  "TRANSFER_CONSENT_STALE",
  "NO_DATA",
] as const;
export type ExclusionCode = (typeof EXCLUSION_CODES)[number];

/** Hashing, or any mask the catalog knows. */
export const TRANSFORMS = ["hash", ...MASKINGS] as const;
export type Transform = "hash" | Masking;

export interface ProvisionRequest {
  recipient: string;
  /** The controller's purpose the data was collected for. */
  purpose: string;
  label: ProvisionClass;
  fields: string[];
  /** Who is asked for: subjects for whom each of these purposes stands (empty: everyone). */
  population: { purposes: string[] };
  format: ExportFormat;
  /** Hashing or masking fields; never exempts the transfer from any check. */
  transform: Record<string, Transform>;
}

export interface GateReason {
  code: GateCode;
  message: string;
  /** The article the condition comes from. */
  article: string;
  field?: string;
}

export interface ProvisionPlan {
  classification: ProvisionClass;
  /** e.g. `consignment:CT-2024-001` or `consent:nsf_provision`. */
  basis: string;
  /** Overseas only: `A:consent:<notice>`, `B:law:<statute>`, `C:contract_necessity`, `D:certification:<id>`, `E:equivalence:<decision>`. */
  transferBasis: string | null;
  country: string;
  overseas: boolean;
  fields: string[];
  /** Population purposes actually applied (the request's, which include the recipient's). */
  populationPurposes: string[];
  /** Notices each person must have granted (provision consent, overseas consent). */
  provisionNotice: string | null;
  transferNotice: string | null;
  /** Facts worth telling the caller (e.g. that hashing exempts nothing). */
  notes: string[];
}

export type GateDecision =
  | { effect: "allow"; plan: ProvisionPlan }
  | { effect: "deny"; classification: ProvisionClass; reasons: GateReason[]; notes: string[] };

const TRANSFORM_NOTE =
  "hashing, masking or encryption does not exempt a transfer: the result is still personal (pseudonymised) information (PIPA Art. 2(1-2); FSS 2024-08-13)";

const today = (now: Date) => now.toISOString().slice(0, 10);

/** Statutes a non-consent provision rests on: PIPA Art. 17(1)2 with these Art. 15(1) grounds. */
const WITHIN_PURPOSE_BASES = new Set(["law", "public_duty", "vital_interest", "legitimate_interest", "public_safety"]);

/** Consignment conditions (PIPA Art. 26; LAW §15 C1). Returns the failures. */
const consignmentFailures = (r: RecipientDef, name: string, purpose: string, now: Date): GateReason[] => {
  const out: GateReason[] = [];
  // A declared purpose of the recipient's own makes it a provision, whatever the label.
  if (r.kind === "third_party" || r.recipient_purpose !== undefined) {
    out.push({
      code: "RECIPIENT_PURPOSE_NOT_CONTROLLERS",
      article: "PIPA Art. 17(1), 26; Supreme Court 2016do13263",
      message: `CONSIGNMENT_DENIED: recipient ${name} processes for its own purpose (${textOf(r.recipient_purpose) ?? "undeclared"}), not the controller's: this is a provision`,
    });
  }
  const c = r.contract;
  if (!c) {
    out.push({ code: "CONSIGNMENT_CONTRACT_MISSING", article: "PIPA Art. 26(1)", message: `no consignment contract with ${name} is recorded` });
    return out;
  }
  const missing = CONTRACT_CLAUSES.filter((k) => !c.clauses.includes(k));
  if (missing.length > 0) {
    out.push({
      code: "CONSIGNMENT_CONTRACT_INCOMPLETE",
      article: "PIPA Art. 26(1); Decree Art. 28(1)",
      message: `contract ${c.reference} lacks ${missing.map((k) => `${k} (${CONTRACT_CLAUSE_ARTICLE[k]})`).join(", ")}`,
    });
  }
  const d = today(now);
  if (c.start > d || (c.end !== undefined && c.end < d)) {
    out.push({
      code: "CONSIGNMENT_CONTRACT_NOT_IN_FORCE",
      article: "PIPA Art. 26(1)",
      message: `contract ${c.reference} runs ${c.start} to ${c.end ?? "open-ended"}; today is ${d}`,
    });
  }
  if (!c.purposes.includes(purpose)) {
    out.push({
      code: "CONSIGNMENT_WORK_NOT_COVERED",
      article: "PIPA Art. 26(1)3",
      message: `contract ${c.reference} does not cover work for purpose "${purpose}" (it covers ${c.purposes.join(", ")})`,
    });
  }
  if (!c.own_use_prohibited) {
    out.push({
      code: "RECIPIENT_PURPOSE_NOT_CONTROLLERS",
      article: "PIPA Art. 26(1)1, 26(5)",
      message: `contract ${c.reference} does not forbid ${name} to use the data for its own purposes`,
    });
  }
  if (!c.public_listing) {
    out.push({ code: "CONSIGNMENT_NOT_DISCLOSED", article: "PIPA Art. 26(2)", message: `${name} and its work are not publicly listed` });
  }
  for (const s of c.sub_entrustments) {
    if (!s.approved) {
      out.push({
        code: "SUB_ENTRUSTMENT_NOT_APPROVED",
        article: "PIPA Art. 26(6)",
        message: `sub-trustee ${s.name} (${s.country}) has no approval from the controller`,
      });
    }
  }
  return out;
};

const textOf = (t: unknown): string | undefined =>
  t === undefined ? undefined : typeof t === "string" ? t : (t as { en: string }).en;

/** Provision conditions (PIPA Art. 17(1)-(2); Credit Information Act Art. 32). */
const provisionFailures = (catalog: Catalog, r: RecipientDef, name: string, purpose: string, fields: string[], now: Date): GateReason[] => {
  const out: GateReason[] = [];
  const basis = r.provision_basis;
  if (!basis) {
    out.push({
      code: "PROVISION_BASIS_MISSING",
      article: "PIPA Art. 17(1)",
      message: `a provision to ${name} needs the person's consent or another PIPA Art. 17(1) ground, and none is recorded`,
    });
  } else if (basis === "consent") {
    const notice = r.notice ? catalog.notices[r.notice] : undefined;
    if (!notice || notice.category !== "provision" || notice.recipient !== name) {
      out.push({
        code: "PROVISION_BASIS_MISSING",
        article: "PIPA Art. 17(1)1, 17(2)",
        message: `no provision consent notice for ${name} is declared`,
      });
    } else {
      const v = effectiveVersion(notice, now);
      const uncovered = v ? fields.filter((f) => !v.items.includes(f)) : fields;
      if (uncovered.length > 0) {
        out.push({
          code: "PROVISION_NOTICE_INCOMPLETE",
          article: "PIPA Art. 17(2)3",
          message: `the provision notice ${r.notice} in force does not name ${uncovered.join(", ")}`,
        });
      }
    }
  } else {
    const src = catalog.purposes[purpose];
    if (!src || !WITHIN_PURPOSE_BASES.has(src.basis) || !r.statute) {
      out.push({
        code: "PROVISION_BASIS_MISSING",
        article: "PIPA Art. 17(1)2",
        message: `a provision on basis ${basis} must stay within a purpose collected under PIPA Art. 15(1)2, 3, 5, 6 or 7 with a recorded statute; purpose "${purpose}" rests on ${src?.basis ?? "nothing"} (contract necessity is not a basis for provision)`,
      });
    }
  }
  const credit = fields.filter((f) => catalog.fields[f]?.sensitivity === "credit");
  if (credit.length > 0 && basis !== "consent" && !r.credit_exception) {
    out.push({
      code: "CREDIT_CONSENT_REQUIRED",
      article: "Credit Information Act Art. 32(1)",
      message: `personal credit information (${credit.join(", ")}) may be provided only with the person's consent for this provision, or a recorded Art. 32(6) exception`,
    });
  }
  return out;
};

/** Overseas transfer (PIPA Art. 28-8(1), (4)). Returns the basis label, or the failures. */
const transferCheck = (
  catalog: Catalog,
  r: RecipientDef,
  name: string,
  classification: ProvisionClass,
  fields: string[],
  now: Date,
): { basis: string | null; notice: string | null; failures: GateReason[] } => {
  const t = r.transfer;
  const head = `TRANSFER_DENIED country=${r.country} recipient=${name}`;
  const deny = (why: string[]): { basis: null; notice: null; failures: GateReason[] } => ({
    basis: null,
    notice: null,
    failures: [{ code: "TRANSFER_DENIED", article: "PIPA Art. 28-8(1)", message: `${head} ${why.join("; ")}` }],
  });
  if (!t) {
    return deny([
      "basis=none",
      "consent(A) absent",
      "no law or treaty (B)",
      classification === "provision" ? "C not applicable to PROVISION" : "contract necessity (C) not recorded",
      "no certification (D)",
      "no equivalence decision (E)",
    ]);
  }
  const letter = TRANSFER_BASIS_LETTER[t.basis];
  const failures: GateReason[] = [];
  if (!t.measures.safety || !t.measures.grievance) {
    failures.push({
      code: "TRANSFER_MEASURES_MISSING",
      article: "PIPA Art. 28-8(4); Decree Art. 29-10",
      message: `the transfer contract with ${name} lacks ${[!t.measures.safety && "safety measures", !t.measures.grievance && "grievance handling"].filter(Boolean).join(" and ")}`,
    });
  }
  const d = today(now);
  let basis: string | null = null;
  let notice: string | null = null;
  const why: string[] = [`basis=${t.basis}(${letter})`];
  switch (t.basis) {
    case "consent": {
      const n = t.notice ? catalog.notices[t.notice] : undefined;
      if (!n || n.category !== "overseas_transfer" || n.recipient !== name) why.push("consent(A) notice for this recipient not declared");
      else {
        basis = `A:consent:${t.notice}`;
        notice = t.notice!;
      }
      break;
    }
    case "law":
      if (t.statute) basis = `B:law:${t.statute}`;
      else why.push("no statute or treaty recorded (B)");
      break;
    case "contract_necessity":
      if (classification !== "consignment") why.push("C not applicable to PROVISION (PIPA Art. 28-8(1)3 covers entrustment or storage only)");
      else if (!t.disclosed) why.push("C items not disclosed in the privacy policy or notified (Decree Art. 29-7)");
      else basis = `C:contract_necessity:${t.disclosed}`;
      break;
    case "certification":
      if (!t.certification) why.push("no certification recorded (D)");
      else if (t.certification.valid_until < d) why.push(`certification ${t.certification.scheme} ${t.certification.id} expired on ${t.certification.valid_until} (D)`);
      else basis = `D:certification:${t.certification.scheme}:${t.certification.id}`;
      break;
    case "equivalence": {
      const dec = t.decision ? catalog.equivalence_decisions[t.decision] : undefined;
      if (!dec) {
        why.push("no equivalence decision recorded (E)");
        break;
      }
      const problems: string[] = [];
      if (!dec.countries.includes(r.country)) problems.push(`decision ${t.decision} does not cover ${r.country}`);
      if (dec.effective > d) problems.push(`decision ${t.decision} takes effect on ${dec.effective}`);
      if (dec.expires !== undefined && dec.expires < d) problems.push(`decision ${t.decision} expired on ${dec.expires}`);
      const excluded = fields.filter((f) => {
        const s = catalog.fields[f]?.sensitivity;
        return s !== undefined && dec.excludes.includes(s);
      });
      if (excluded.length > 0) {
        problems.push(
          `decision ${t.decision} excludes ${excluded.map((f) => `${f} (${catalog.fields[f]!.sensitivity})`).join(", ")}`,
        );
      }
      if (problems.length > 0) why.push(...problems.map((p) => `${p} (E)`));
      else basis = `E:equivalence:${t.decision}`;
      break;
    }
  }
  if (basis === null) failures.push(...deny(why).failures);
  return { basis, notice, failures };
};

/**
 * Decides whether a provision job may run. `suspensions` are the active kill-switch orders.
 */
export const checkProvision = (
  catalog: Catalog,
  principalName: string,
  req: ProvisionRequest,
  suspensions: readonly SuspensionRow[],
  now: Date,
): GateDecision => {
  const reasons: GateReason[] = [];
  const notes = Object.keys(req.transform).length > 0 ? [TRANSFORM_NOTE] : [];
  const r = catalog.recipients[req.recipient];
  if (!r) {
    return {
      effect: "deny",
      classification: req.label,
      notes,
      reasons: [{ code: "RECIPIENT_UNKNOWN", article: "PIPA Art. 17(2)1, 26(2)", message: `recipient "${req.recipient}" is not in the catalog` }],
    };
  }
  const principal = catalog.principals[principalName];
  if (!principal || principal.role !== "service" || !principal.recipients.includes(req.recipient)) {
    reasons.push({
      code: "PRINCIPAL_NOT_ALLOWED",
      article: "Safety Standard Art. 5",
      message: `principal "${principalName}" may not provide data to ${req.recipient}`,
    });
  }
  for (const s of suspensions) {
    if ((s.scope === "recipient" && s.target === req.recipient) || (s.scope === "country" && s.target === r.country)) {
      reasons.push({
        code: "RECIPIENT_SUSPENDED",
        article: "PIPA Art. 28-9",
        message: `transfers to ${s.scope} ${s.target} are suspended by order ${s.order} since ${s.at.toISOString()}`,
      });
    }
  }
  const purpose = catalog.purposes[req.purpose];
  if (!purpose) {
    reasons.push({ code: "UNKNOWN_PURPOSE", article: "PIPA Art. 15(1)", message: `purpose "${req.purpose}" is not registered` });
  } else {
    if (principal && !principal.purposes.includes(req.purpose)) {
      reasons.push({
        code: "PURPOSE_NOT_ALLOWED_FOR_PRINCIPAL",
        article: "PIPA Art. 18(1)",
        message: `principal "${principalName}" may not use purpose "${req.purpose}"`,
      });
    }
    if (!r.purposes.includes(req.purpose)) {
      reasons.push({
        code: "PURPOSE_NOT_ALLOWED_FOR_RECIPIENT",
        article: "PIPA Art. 18(1)",
        message: `data collected for "${req.purpose}" may not go to ${req.recipient} (allowed: ${r.purposes.join(", ")})`,
      });
    }
  }
  for (const f of new Set(req.fields)) {
    const why = !catalog.fields[f]
      ? "is not in the catalog"
      : !r.fields.includes(f)
        ? `is not among the fields ${req.recipient} may receive (${r.fields.join(", ")})`
        : purpose && !purpose.fields.includes(f)
          ? `is not held for purpose "${req.purpose}"`
          : null;
    if (why) reasons.push({ code: "FIELD_NOT_ALLOWED", article: "PIPA Art. 3(1), 17(2)3", field: f, message: `field ${f} ${why}` });
  }
  const unknownPop = req.population.purposes.filter((p) => !catalog.purposes[p]);
  const missingPop = r.population.purposes.filter((p) => !req.population.purposes.includes(p));
  if (missingPop.length > 0 || unknownPop.length > 0) {
    reasons.push({
      code: "POPULATION_OUT_OF_SCOPE",
      article: "PIPA Art. 3(1); LAW §15 C2",
      message:
        missingPop.length > 0
          ? `${req.recipient} may receive only subjects of ${missingPop.join(", ")}; the request asks for ${req.population.purposes.length === 0 ? "everyone" : req.population.purposes.join(", ")}`
          : `population purposes ${unknownPop.join(", ")} are not registered`,
    });
  }

  let classification: ProvisionClass = req.label;
  if (req.label === "consignment") {
    const failures = consignmentFailures(r, req.recipient, req.purpose, now);
    if (failures.length > 0) {
      reasons.push(...failures);
      classification = "provision";
    }
  }
  let basis = "";
  if (classification === "provision") {
    reasons.push(...provisionFailures(catalog, r, req.recipient, req.purpose, req.fields, now));
    basis = r.provision_basis === "consent" ? `consent:${r.notice}` : `${r.provision_basis}:${r.statute ?? ""}`;
  } else {
    basis = `consignment:${r.contract!.reference}`;
  }
  const overseas = r.country !== catalog.controller.country;
  let transferBasis: string | null = null;
  let transferNotice: string | null = null;
  if (overseas) {
    const t = transferCheck(catalog, r, req.recipient, classification, req.fields, now);
    reasons.push(...t.failures);
    transferBasis = t.basis;
    transferNotice = t.notice;
  }
  if (reasons.length > 0) return { effect: "deny", classification, reasons, notes };
  return {
    effect: "allow",
    plan: {
      classification,
      basis,
      transferBasis,
      country: r.country,
      overseas,
      fields: [...new Set(req.fields)],
      populationPurposes: [...new Set(req.population.purposes)],
      provisionNotice: classification === "provision" && r.provision_basis === "consent" ? r.notice! : null,
      transferNotice,
      notes,
    },
  };
};

/** Whether a purpose stands for a person: its basis holds (consent granted and current). */
const purposeStands = (catalog: Catalog, purposeName: string, consents: readonly ConsentState[], now: Date): boolean => {
  const p = catalog.purposes[purposeName];
  if (!p) return false;
  if (p.basis !== "consent") return true;
  if (!p.notice) return false;
  const s = consentStanding(catalog, consents, p.notice, now);
  return s.kind === "granted" && !s.staleAll;
};

const consentExclusion = (
  catalog: Catalog,
  consents: readonly ConsentState[],
  notice: string,
  fields: readonly string[],
  now: Date,
  prefix: "PROVISION" | "TRANSFER",
): ExclusionCode | null => {
  const s = consentStanding(catalog, consents, notice, now);
  if (s.kind === "none") return `${prefix}_CONSENT_ABSENT`;
  if (s.kind === "withdrawn") return `${prefix}_CONSENT_WITHDRAWN`;
  if (s.staleAll || fields.some((f) => s.staleFields.has(f) || !s.version.items.includes(f))) return `${prefix}_CONSENT_STALE`;
  return null;
};

const SOURCE_CODES: Partial<Record<string, ExclusionCode>> = {
  NO_LEGAL_BASIS: "SOURCE_NO_LEGAL_BASIS",
  CONSENT_WITHDRAWN: "SOURCE_CONSENT_WITHDRAWN",
  CONSENT_STALE: "SOURCE_CONSENT_STALE",
  SEPARATE_CONSENT_REQUIRED: "SOURCE_SEPARATE_CONSENT_REQUIRED",
};

/**
 * Why one person must be left out of an allowed provision, or null to include them.
 * `present` is how many of the plan's fields the person has.
 */
export const subjectExclusion = (
  catalog: Catalog,
  principal: string,
  purpose: string,
  plan: ProvisionPlan,
  consents: readonly ConsentState[],
  present: number,
  now: Date,
): ExclusionCode | null => {
  for (const p of plan.populationPurposes) if (!purposeStands(catalog, p, consents, now)) return "NOT_IN_POPULATION";
  // The data must be lawfully held for its purpose, field by field (separate consents too).
  const d = evaluate(catalog, { principal, purpose, action: "read", fields: plan.fields }, { found: true, consents }, now);
  if (d.effect === "deny") return SOURCE_CODES[d.reasons[0]!.code] ?? "SOURCE_NOT_PERMITTED";
  if (plan.provisionNotice) {
    const x = consentExclusion(catalog, consents, plan.provisionNotice, plan.fields, now, "PROVISION");
    if (x) return x;
  }
  if (plan.transferNotice) {
    const x = consentExclusion(catalog, consents, plan.transferNotice, plan.fields, now, "TRANSFER");
    if (x) return x;
  }
  return present === 0 ? "NO_DATA" : null;
};

/** The last moment to object to a suspension order: 7 days (PIPA Art. 28-9; Decree Art. 29-12). */
export const objectionDeadline = (orderedAt: Date): Date => new Date(orderedAt.getTime() + 7 * 24 * 3600 * 1000);

/** One line per refusal reason, for messages and the CLI. */
export const formatGateReasons = (reasons: readonly GateReason[]): string =>
  reasons.map((r) => `${r.code}: ${r.message} [${r.article}]`).join("\n");
