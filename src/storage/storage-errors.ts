/**
 * Driver errors never reach callers as they are: their messages carry SQL and sometimes values.
 * Constraint violations the ports define become CONFLICT / NOT_FOUND; everything else is
 * `INTERNAL "storage failure"` with the driver error kept as `cause` for the server log only.
 */
import { HaechiError, isHaechiError } from "../core/errors.js";

export type DriverErrorKind = "unique" | "foreign_key" | "other";

/** Classifies better-sqlite3 (`SQLITE_CONSTRAINT_*`) and pg (SQLSTATE) errors. */
export const classifyDriverError = (e: unknown): DriverErrorKind => {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return "other";
  if (code === "SQLITE_CONSTRAINT_PRIMARYKEY" || code === "SQLITE_CONSTRAINT_UNIQUE" || code === "23505") {
    return "unique";
  }
  if (code === "SQLITE_CONSTRAINT_FOREIGNKEY" || code === "23503") return "foreign_key";
  return "other";
};

/**
 * `INTERNAL "storage failure"`, keeping the driver error as `cause` (never in the message); a
 * lost connection or an unacknowledged commit is `STORE_UNAVAILABLE` instead (unless a message
 * is given: opening the stores says what failed).
 */
export const storageFailure = (cause: unknown, message?: string): HaechiError => {
  if (message === undefined && isUnavailable(cause)) return unavailable(cause);
  const err = new HaechiError("INTERNAL", message ?? "storage failure");
  err.cause = cause;
  return err;
};

/** STORE_UNAVAILABLE, keeping the driver error as `cause`. */
function unavailable(cause: unknown): HaechiError {
  const err = new HaechiError(
    "STORE_UNAVAILABLE",
    "the database is unavailable or did not acknowledge the write (failover?): its outcome is unknown; retry, with the same Idempotency-Key for a write",
  );
  err.cause = cause;
  return err;
}

export interface ErrorMapping {
  /** Message for a CONFLICT when a unique constraint is violated. */
  unique?: string;
  /** Message for a NOT_FOUND when a foreign key points nowhere (e.g. unknown subject). */
  foreignKey?: string;
}

/**
 * A connection lost, a standby answering, or a commit not acknowledged (pg-pool.ts): the write's
 * outcome is unknown and the pool is finding the primary again. Retrying is safe.
 */
const UNAVAILABLE_CODES = new Set(["HAECHI_UNACKNOWLEDGED", "HAECHI_NOT_WRITABLE", "25006", "57P01", "57P02", "57P03", "ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH"]);
function isUnavailable(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === "string" && (UNAVAILABLE_CODES.has(code) || code.startsWith("08"))) return true;
  return e instanceof Error && /Connection terminated|connection is closed|Client has encountered a connection error|timeout exceeded when trying to connect/i.test(e.message);
}

/** Maps anything thrown by a driver call into the closed vocabulary. */
export const mapDriverError = (e: unknown, mapping: ErrorMapping = {}): HaechiError => {
  if (isHaechiError(e)) {
    // A failure wrapped on the way (storageFailure) keeps its cause: classify that.
    if (e.code === "INTERNAL" && e.cause !== undefined && isUnavailable(e.cause)) return unavailable(e.cause);
    return e;
  }
  if (isUnavailable(e)) return unavailable(e);
  const kind = classifyDriverError(e);
  if (kind === "unique" && mapping.unique !== undefined) return new HaechiError("CONFLICT", mapping.unique);
  if (kind === "foreign_key" && mapping.foreignKey !== undefined) {
    return new HaechiError("NOT_FOUND", mapping.foreignKey);
  }
  return storageFailure(e);
};

/** Runs a driver call, mapping whatever it throws. */
export const guard = async <T>(fn: () => T | Promise<T>, mapping?: ErrorMapping): Promise<T> => {
  try {
    return await fn();
  } catch (e) {
    throw mapDriverError(e, mapping);
  }
};

export const SUBJECT_EXISTS = "subject already exists";
export const SUBJECT_NOT_FOUND = "subject not found";
export const IDEMPOTENCY_EXISTS = "idempotency key already recorded";
export const CONSENT_EVENT_EXISTS = "consent event already recorded";
export const CHECKPOINT_EXISTS = "checkpoint already recorded for this seq";
export const PROVISION_EXISTS = "provision already exists";
export const PROVISION_NOT_FOUND = "provision not found";
export const PART_EXISTS = "provision part or ledger entry already recorded";
export const SUSPENSION_EXISTS = "suspension already recorded";
export const SCHEDULE_NOT_FOUND = "schedule not found";
export const INCIDENT_EXISTS = "incident already exists";
export const INCIDENT_NOT_FOUND = "incident not found";
export const NOTICE_EXISTS = "notice or outbox message already recorded";
/** A SQLite checkpoint that could not finish: a reader still holds a snapshot of the old WAL frames. */
export const PURGE_BLOCKED = "key store purge incomplete: a reader holds the write-ahead log; destroyed keys may remain there until the next purge";
/** A PostgreSQL VACUUM of the key tables that skipped one (e.g. the role does not own it). */
export const PURGE_SKIPPED = "key store purge incomplete: VACUUM skipped a key table";
export const REQUEST_EXISTS = "subject request already exists";
export const REQUEST_NOT_FOUND = "subject request not found";
export const OPERATOR_EXISTS = "a staff account with this id already exists (ids are never reused)";
