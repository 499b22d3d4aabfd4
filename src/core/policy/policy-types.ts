import type { LegalBasis, Masking } from "../catalog/catalog-schema.js";
import type { ConsentState } from "../ports.js";

/** Closed reason codes for a denial (or for a field withheld from an allowed read). */
export const REASON_CODES = [
  "UNKNOWN_PRINCIPAL",
  "UNKNOWN_PURPOSE",
  "UNKNOWN_FIELD",
  "PURPOSE_NOT_ALLOWED_FOR_PRINCIPAL",
  "ROLE_NOT_PERMITTED",
  "PURPOSE_NOT_COLLECTING",
  "NO_LEGAL_BASIS",
  "CONSENT_WITHDRAWN",
  "CONSENT_STALE",
  "FIELD_NOT_IN_PURPOSE",
  "SEPARATE_CONSENT_REQUIRED",
  "RRN_CONSENT_NOT_A_BASIS",
  "NOT_FOUND",
  "SUBJECT_DORMANT",
] as const;
export type ReasonCode = (typeof REASON_CODES)[number];

export interface Reason {
  code: ReasonCode;
  /** Human-readable, never containing personal data. */
  message: string;
  purpose?: string;
  field?: string;
  notice?: string;
}

export type AccessAction = "read" | "write" | "lookup";

export interface AccessRequest {
  principal: string;
  purpose: string;
  action: AccessAction;
  /** Fields asked for; `null` means "every field of the purpose" (blocked ones are withheld). */
  fields: readonly string[] | null;
}

/** What the engine needs to know about the subject. */
export interface SubjectFacts {
  found: boolean;
  /**
   * Separated under the dormancy policy: every ordinary read, write and lookup is refused, for
   * any principal, until the subject is reactivated (the service's reactivation is evaluated as
   * the write it is, without this flag).
   */
  dormant?: boolean;
  consents: readonly ConsentState[];
}

export type Decision =
  | {
      effect: "allow";
      purpose: string;
      basis: LegalBasis;
      fields: string[];
      masks: Record<string, Masking>;
      /** Fields of an implicit request left out, each with its reason. */
      withheld: Reason[];
    }
  | { effect: "deny"; reasons: Reason[] };
