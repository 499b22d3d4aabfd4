/**
 * The one mapping from the closed error vocabulary to HTTP statuses. `satisfies` makes the
 * compiler reject a new error code that has no status.
 */
import type { ErrorCode } from "../core/errors.js";

export const httpStatus = {
  BAD_REQUEST: 400,
  VALIDATION_FAILED: 400,
  UNKNOWN_FIELD: 400,
  UNKNOWN_PURPOSE: 400,
  UNKNOWN_NOTICE: 400,
  REQUIRED_FIELD_MISSING: 400,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNAUTHENTICATED: 401,
  AUTH_LOCKED: 429,
  PRINCIPAL_THROTTLED: 429,
  PRINCIPAL_SUSPENDED: 403,
  ACCESS_DENIED: 403,
  RRN_CONSENT_NOT_A_BASIS: 403,
  SEPARATE_CONSENT_REQUIRED: 403,
  FIELD_NOT_IN_PURPOSE: 403,
  PROVISION_DENIED: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  IDEMPOTENCY_MISMATCH: 422,
  SUBJECT_DORMANT: 409,
  CATALOG_INVALID: 500,
  CONFIG_INVALID: 500,
  AUDIT_UNAVAILABLE: 503,
  AUDIT_TAMPERED: 500,
  KEY_UNAVAILABLE: 503,
  STORE_UNAVAILABLE: 503,
  RATE_LIMITED: 429,
  INTERNAL: 500,
} as const satisfies Record<ErrorCode, number>;

/** The wire shape of every error. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; requestId: string; details?: unknown };
}

/** The error body for a request (what `sendError` sends, and what an idempotency key stores for a refusal). */
export const errorBody = (requestId: string, code: ErrorCode, message: string, details?: unknown): ErrorBody => ({
  error: { code, message, requestId, ...(details === undefined ? {} : { details }) },
});
