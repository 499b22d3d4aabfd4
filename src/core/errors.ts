/**
 * The closed error vocabulary. Every failure Haechi reports carries one of these codes;
 * `http/error-map.ts` maps each to a status exhaustively (the compiler checks it).
 */
export const ERROR_CODES = [
  // request shape
  "BAD_REQUEST",
  "VALIDATION_FAILED",
  "UNKNOWN_FIELD",
  "UNKNOWN_PURPOSE",
  "UNKNOWN_NOTICE",
  "REQUIRED_FIELD_MISSING",
  "PAYLOAD_TOO_LARGE",
  "UNSUPPORTED_MEDIA_TYPE",
  // authentication
  "UNAUTHENTICATED",
  "AUTH_LOCKED",
  /** Detection throttled the principal: its requests are capped for a while (retry later). */
  "PRINCIPAL_THROTTLED",
  /** Detection (or an operator) suspended the principal: refused until an operator lifts it. */
  "PRINCIPAL_SUSPENDED",
  // authorisation / policy
  "ACCESS_DENIED",
  "RRN_CONSENT_NOT_A_BASIS",
  "SEPARATE_CONSENT_REQUIRED",
  "FIELD_NOT_IN_PURPOSE",
  /** The provision gate refused; `details.reasons` names every failing condition. */
  "PROVISION_DENIED",
  // state
  "NOT_FOUND",
  "CONFLICT",
  "IDEMPOTENCY_MISMATCH",
  /** The subject is dormant (separated after inactivity): reactivate it first. */
  "SUBJECT_DORMANT",
  // catalog / configuration
  "CATALOG_INVALID",
  "CONFIG_INVALID",
  // integrity
  "AUDIT_UNAVAILABLE",
  "AUDIT_TAMPERED",
  "KEY_UNAVAILABLE",
  /**
   * The database is failing over, or did not acknowledge a write: the outcome is unknown. Retry
   * (with the same Idempotency-Key for a write); nothing applies twice.
   */
  "STORE_UNAVAILABLE",
  // generic
  "RATE_LIMITED",
  "INTERNAL",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** A failure with a code from the closed vocabulary. `details` must never hold personal data. */
export class HaechiError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;
  constructor(code: ErrorCode, message: string, details?: unknown) {
    super(message);
    this.name = "HaechiError";
    this.code = code;
    this.details = details;
  }
}

export const isHaechiError = (e: unknown): e is HaechiError => e instanceof HaechiError;

export const fail = (code: ErrorCode, message: string, details?: unknown): never => {
  throw new HaechiError(code, message, details);
};
