/**
 * The policy engine: pure, synchronous, no I/O. Given the catalog, a request and the facts about
 * the subject, it returns a Decision value; it never throws to mean "deny" (Keto's tri-state
 * habit). Anything that is not an explicit allow is a deny, and the caller audits every denial.
 */
import type { Catalog, FieldDef, Masking, PurposeDef } from "../catalog/catalog-schema.js";
import { consentStanding } from "../consent/consent-fns.js";
import type { AccessRequest, Decision, Reason, SubjectFacts } from "./policy-types.js";

const separateCategory = (f: FieldDef): "sensitive" | "unique_id" | null =>
  f.sensitivity === "sensitive" || f.sensitivity === "biometric" ? "sensitive" : f.sensitivity === "unique_id" ? "unique_id" : null;

/** Bases on which an RRN may be processed (PIPA Art. 24-2(1)); consent is never one. */
const RRN_BASES = new Set(["law", "vital_interest"]);

/**
 * Checks one field for the purpose; returns the reason it is blocked, or null.
 * `purposeStanding` carries the consent standing of the purpose's own notice, if any.
 */
const fieldBlock = (
  catalog: Catalog,
  purposeName: string,
  purpose: PurposeDef,
  field: string,
  facts: SubjectFacts,
  staleFields: ReadonlySet<string>,
  now: Date,
): Reason | null => {
  const def = catalog.fields[field];
  if (!def) return { code: "UNKNOWN_FIELD", field, message: `field "${field}" is not in the catalog` };
  if (!purpose.fields.includes(field)) {
    return { code: "FIELD_NOT_IN_PURPOSE", field, purpose: purposeName, message: `field "${field}" is not needed for purpose "${purposeName}"` };
  }
  if (def.sensitivity === "rrn" && (!RRN_BASES.has(purpose.basis) || !purpose.statute)) {
    return {
      code: "RRN_CONSENT_NOT_A_BASIS",
      field,
      purpose: purposeName,
      message: `resident registration numbers need a statutory basis (PIPA Art. 24-2); purpose "${purposeName}" rests on ${purpose.basis}`,
    };
  }
  if (staleFields.has(field)) {
    return { code: "CONSENT_STALE", field, purpose: purposeName, notice: purpose.notice, message: `the notice for "${purposeName}" changed for field "${field}"; re-consent is needed` };
  }
  const category = separateCategory(def);
  if (category && purpose.basis !== "law") {
    // PIPA Art. 23 / 24: a separate consent of that category whose notice names the field.
    const ok = Object.entries(catalog.notices).some(([name, n]) => {
      if (n.category !== category) return false;
      const s = consentStanding(catalog, facts.consents, name, now);
      return s.kind === "granted" && !s.staleAll && !s.staleFields.has(field) && s.version.items.includes(field);
    });
    if (!ok) {
      return {
        code: "SEPARATE_CONSENT_REQUIRED",
        field,
        purpose: purposeName,
        message: `field "${field}" is ${def.sensitivity} data and needs a separate ${category} consent (PIPA Art. ${category === "sensitive" ? "23" : "24"})`,
      };
    }
  }
  return null;
};

/** Evaluates one access request. */
export const evaluate = (catalog: Catalog, req: AccessRequest, facts: SubjectFacts, now: Date): Decision => {
  const deny = (...reasons: Reason[]): Decision => ({ effect: "deny", reasons });
  const principal = catalog.principals[req.principal];
  if (!principal) return deny({ code: "UNKNOWN_PRINCIPAL", message: `principal "${req.principal}" is not in the catalog` });
  const purpose = catalog.purposes[req.purpose];
  if (!purpose) return deny({ code: "UNKNOWN_PURPOSE", purpose: req.purpose, message: `purpose "${req.purpose}" is not registered` });
  if (!principal.purposes.includes(req.purpose)) {
    return deny({
      code: "PURPOSE_NOT_ALLOWED_FOR_PRINCIPAL",
      purpose: req.purpose,
      message: `principal "${req.principal}" may not use purpose "${req.purpose}"`,
    });
  }
  // The sealed legal-retention store is for retention principals only, and they only for it.
  const retentionPurpose = req.purpose === "legal_retention";
  if (retentionPurpose !== (principal.role === "legal_retention")) {
    return deny({ code: "ROLE_NOT_PERMITTED", purpose: req.purpose, message: `role "${principal.role}" may not use purpose "${req.purpose}"` });
  }
  if (req.action === "write" && !purpose.collects) {
    return deny({ code: "PURPOSE_NOT_COLLECTING", purpose: req.purpose, message: `purpose "${req.purpose}" does not collect data` });
  }
  if (!facts.found) return deny({ code: "NOT_FOUND", message: "subject not found" });
  // After the principal's own checks, so a caller without the purpose learns nothing more.
  if (facts.dormant === true) {
    return deny({
      code: "SUBJECT_DORMANT",
      message: "the account is dormant: its data was separated after a period of inactivity (catalog dormancy); reactivate it when the person returns (POST /v1/subjects/{id}/reactivate)",
    });
  }

  // The purpose's own legal basis.
  let staleFields: ReadonlySet<string> = new Set();
  if (purpose.basis === "consent") {
    const standing = purpose.notice ? consentStanding(catalog, facts.consents, purpose.notice, now) : ({ kind: "none" } as const);
    if (standing.kind === "none") {
      return deny({ code: "NO_LEGAL_BASIS", purpose: req.purpose, notice: purpose.notice, message: `purpose "${req.purpose}" needs consent and none is recorded` });
    }
    if (standing.kind === "withdrawn") {
      return deny({ code: "CONSENT_WITHDRAWN", purpose: req.purpose, notice: purpose.notice, message: `consent for "${req.purpose}" was withdrawn` });
    }
    if (standing.staleAll) {
      return deny({
        code: "CONSENT_STALE",
        purpose: req.purpose,
        notice: purpose.notice,
        message: `the notice for "${req.purpose}" changed since consent was given (v${standing.version.version}); re-consent is needed`,
      });
    }
    staleFields = standing.staleFields;
  }

  const explicit = req.fields !== null;
  const asked = req.fields ?? purpose.fields;
  const fields: string[] = [];
  const blocked: Reason[] = [];
  for (const f of new Set(asked)) {
    const r = fieldBlock(catalog, req.purpose, purpose, f, facts, staleFields, now);
    if (r) blocked.push(r);
    else fields.push(f);
  }
  if (blocked.length > 0 && (explicit || fields.length === 0)) return deny(...blocked);

  const masks: Record<string, Masking> = {};
  for (const f of fields) {
    const m = purpose.masked[f];
    if (m && m !== "none") masks[f] = m;
  }
  return { effect: "allow", purpose: req.purpose, basis: purpose.basis, fields, masks, withheld: blocked };
};
