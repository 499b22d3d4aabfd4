/**
 * Audit entry types. One entry records one access decision or event with the fields the PIPC
 * Safety Standard Art. 8 asks of an access log — who (principal), when (at), from where (source),
 * whose data (subjectRef), what action (action) — plus purpose, fields and the decision.
 */

export type AuditEffect = "allow" | "deny" | "error" | "info";

export const AUDIT_EFFECTS: readonly AuditEffect[] = ["allow", "deny", "error", "info"];

export type AuditMetaValue = string | number | boolean | null;

export interface AuditEntry {
  /** ISO 8601 UTC with milliseconds, e.g. `2025-01-02T03:04:05.678Z`. */
  at: string;
  requestId: string;
  /** The authenticated principal; null when authentication failed before one was known. */
  principal: string | null;
  /** Client IP (Art. 8 "location"). */
  source: string | null;
  /** e.g. "subject.read", "subject.create", "consent.grant", "auth.failure", "lookup", "keys.rotate". */
  action: string;
  effect: AuditEffect;
  purpose: string | null;
  /** The subject's audit pseudonym (crypto/), never an internal id or personal data. */
  subjectRef: string | null;
  /** Field names touched (names only, never values). */
  fields: string[];
  /** Closed reason codes (policy decision reasons, error codes). */
  reasons: string[];
  /** Number of records touched by a bulk action (exports, sweeps). */
  count?: number;
  /** Extra non-personal facts; keys are sorted in the canonical form. */
  meta?: Record<string, AuditMetaValue>;
}

/** What callers hand to the audit log: `at` is stamped from the clock when absent. */
export type AuditInput = Omit<AuditEntry, "at"> & { at?: string };

export type VerifyProblemKind =
  | "hash_mismatch"
  | "seq_gap"
  | "seq_order"
  | "truncated"
  | "checkpoint_mismatch"
  | "bad_signature"
  | "body_invalid"
  /** A searchable copy (at, subjectRef, principal, action) differs from the hashed body. */
  | "copy_mismatch";

export interface VerifyProblem {
  /** The seq the problem is anchored at (the entry, or the checkpoint's seq). */
  seq: number;
  kind: VerifyProblemKind;
  /** Human-readable; never holds entry contents. */
  detail: string;
}

export interface VerifyResult {
  ok: boolean;
  /** Rows read. */
  entries: number;
  /** The last row read (stored hash, hex), or null for an empty log. */
  head: { seq: number; hash: string } | null;
  /** The first `maxProblems` problems, in log order (signature problems first). */
  problems: VerifyProblem[];
  /** All problems found, including those left out of `problems`. */
  problemCount: number;
  /** Trusted checkpoints compared against the chain (bad signatures excluded). */
  checkpointsChecked: number;
}
